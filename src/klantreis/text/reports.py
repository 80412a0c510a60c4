"""The rows behind ``klantreis contacts sentiment`` and ``klantreis contacts themes``: plain
dicts per text, ready for a table or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from klantreis.text.sentiment import LexiconSentiment
from klantreis.text.themes import ThemeTagger, default_themes

__all__ = ["sentiment_rows", "theme_rows"]


def sentiment_rows(texts: Sequence[str]) -> list[dict[str, Any]]:
    """Per text: its score and label, and each sentence with span, score and label."""
    lex = LexiconSentiment()
    rows = []
    for text in texts:
        score = lex.comment(text)
        rows.append(
            {
                "text": text,
                "score": round(score, 4),
                "label": lex.label(text),
                "sentences": [
                    {
                        "text": s.text,
                        "start": s.start,
                        "end": s.end,
                        "score": s.score,
                        "label": s.label,
                    }
                    for s in lex.sentences(text)
                ],
            }
        )
    return rows


def theme_rows(
    texts: Sequence[str], themes_path: str | Path | None = None, lang: str = "nl"
) -> list[dict[str, Any]]:
    """Per text: the themes the example-phrase tagger finds, with confidence and touchpoint."""
    taxonomy = default_themes(themes_path)
    tagger = ThemeTagger(taxonomy).fit()
    rows = []
    for text, tags in zip(texts, tagger.tag(texts), strict=True):
        rows.append(
            {
                "text": text,
                "themes": [
                    {
                        "theme": t,
                        "name": taxonomy.get(t).name(lang),
                        "touchpoint": taxonomy.get(t).touchpoint,
                        "confidence": c,
                    }
                    for t, c in tags.items()
                ],
            }
        )
    return rows
