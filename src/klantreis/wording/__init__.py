"""Every word and number a person reads, in Dutch (default) and English.

Where does a Dutch sentence come from? From here: the message catalogues (``nl.json``,
``en.json`` beside this module), locale-aware numbers, money, percentages and dates
(babel), plural nouns ("1 opmerking", "2 opmerkingen"), names of configured things
(touchpoints, stages, owners, promises from the journey configuration) and the sentences the
pages, the CLI and JSON ``label`` fields show (CX-index movers, statistical test names).
The analytics and contacts packages return keys and numbers; they never import this package
(a test checks it).

>>> w = Wording("nl")
>>> w.number(8.93, 2), Wording("en").number(8.93, 2)
('8,93', '8.93')
>>> w.count("noun.comment", 1), w.count("noun.comment", 2)
('1 opmerking', '2 opmerkingen')
"""

from __future__ import annotations

from klantreis.wording.core import (
    LANGUAGES,
    LOCALES,
    Wording,
    catalogue,
    format_delta,
    format_number,
)
from klantreis.wording.movers import driver_noun, driver_phrase, mover_label, mover_sentence
from klantreis.wording.names import Names
from klantreis.wording.stats import test_label

__all__ = [
    "LANGUAGES",
    "LOCALES",
    "Names",
    "Wording",
    "catalogue",
    "driver_noun",
    "driver_phrase",
    "format_delta",
    "format_number",
    "mover_label",
    "mover_sentence",
    "test_label",
]
