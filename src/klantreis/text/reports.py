"""The rows behind ``klantreis contacts sentiment`` and ``klantreis contacts themes``: plain
dicts per text, ready for a table or JSON.

Both use the trained model in use in the store's model registry (``TextContext``) when there
is one, and otherwise the shipped baseline (the sentiment lexicon, the theme file's example
phrases); :func:`model_used` says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from klantreis.text.sentiment import LexiconSentiment, ScoreSentiment
from klantreis.text.themes import ThemeTagger, default_themes

if TYPE_CHECKING:
    from klantreis.text.models import TextContext

__all__ = ["ModelUsed", "model_used", "sentiment_rows", "theme_rows"]

#: ``{"kind", "version", "trained"}``: the model that produced the rows (version None: the
#: shipped baseline).
ModelUsed = dict[str, Any]


def model_used(kind: str, version: str | None) -> ModelUsed:
    return {"kind": kind, "version": version, "trained": version is not None}


def sentiment_rows(
    texts: Sequence[str], context: TextContext | None = None
) -> tuple[list[dict[str, Any]], ModelUsed]:
    """Per text: its score and label, and each sentence with span, score and label; and the
    model used (the trained sentiment version in use in ``context``, else the lexicon)."""
    model = context.sentiment_model() if context is not None else None
    version = context.versions_in_use()["sentiment"] if model is not None and context else None
    lex = LexiconSentiment()
    if model is not None and texts:
        scores = [float(s) for s in model.score(list(texts))]
        labels: list[str] = list(model.labels(list(texts)))
    else:
        scores = [lex.comment(t) for t in texts]
        labels = [lex.label(t) for t in texts]
    rows = []
    for text, score, label in zip(texts, scores, labels, strict=True):
        sentences = model.sentences(text) if isinstance(model, ScoreSentiment) else []
        rows.append(
            {
                "text": text,
                "score": round(score, 4),
                "label": label,
                "sentences": [
                    {
                        "text": s.text,
                        "start": s.start,
                        "end": s.end,
                        "score": s.score,
                        "label": s.label,
                    }
                    for s in sentences or lex.sentences(text)
                ],
            }
        )
    return rows, model_used("sentiment", version)


def theme_rows(
    texts: Sequence[str],
    themes_path: str | Path | None = None,
    lang: str = "nl",
    context: TextContext | None = None,
) -> tuple[list[dict[str, Any]], ModelUsed]:
    """Per text: the themes found, with confidence and touchpoint; and the model used (the
    trained tagger in use in ``context`` when its themes are those of ``themes_path``, else
    the cold start from the theme file's example phrases)."""
    taxonomy = default_themes(themes_path)
    tagger, version = _tagger(taxonomy.ids(), context)
    if tagger is None:
        tagger = ThemeTagger(taxonomy).fit()
    names = tagger.taxonomy
    rows = []
    for text, tags in zip(texts, tagger.tag(texts), strict=True):
        rows.append(
            {
                "text": text,
                "themes": [
                    {
                        "theme": t,
                        "name": names.get(t).name(lang),
                        "touchpoint": names.get(t).touchpoint,
                        "confidence": c,
                    }
                    for t, c in tags.items()
                ],
            }
        )
    return rows, model_used("themes", version)


def _tagger(
    theme_ids: list[str], context: TextContext | None
) -> tuple[ThemeTagger | None, str | None]:
    """The trained tagger in use and its version, if it tags the same themes."""
    version = context.versions_in_use()["themes"] if context is not None else None
    if context is None or version is None:
        return None, None
    tagger = context.tagger()
    if tagger.theme_ids != theme_ids:
        return None, None
    return tagger, version
