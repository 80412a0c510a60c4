"""Page modules: each exposes ``router`` (and optionally ``NAV``); listed in
``klantreis.web.PAGE_MODULES``."""
