"""Page modules: each exposes ``router`` (and optionally ``NAV``), listed in ``PAGE_MODULES``
(also importable as ``klantreis.web.PAGE_MODULES``)."""

__all__ = ["PAGE_MODULES"]

#: Page modules; each exposes ``router`` (and optionally ``NAV``). Add yours here.
PAGE_MODULES: list[str] = [
    "klantreis.web.pages.index",
    "klantreis.web.pages.scores",
    "klantreis.web.pages.verbatims",
    "klantreis.web.pages.comments_themes",
    "klantreis.web.pages.comments_labels",
    "klantreis.web.pages.journeys",
    "klantreis.web.pages.contacts",
    "klantreis.web.pages.contacts_models",
    "klantreis.web.pages.proactive",
    "klantreis.web.pages.alerts",
    "klantreis.web.pages.cases",
    "klantreis.web.pages.surveys_invitations",
    "klantreis.web.pages.survey_form",
    "klantreis.web.pages.surveys",
]
