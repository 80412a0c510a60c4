"""Training-time augmentation of labelled contacts, so a model trained on short labelled texts
also reads long messages and typing errors.

Real messages wrap the reason in greetings, order numbers, how the customer paid and who they
are; those words say nothing about the reason but, unseen in training, pull a model towards
whichever reason they happen to resemble (a message mentioning "iDEAL" is not a payment
problem). ``augment`` adds copies of a share of the training texts wrapped in such neutral
sentences (shipped below, Dutch and English, written for this purpose) and with a few typing
errors, with the same label. Deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

__all__ = ["NEUTRAL", "augment", "typo"]

NEUTRAL = (
    "Goedendag.",
    "Beste mensen,",
    "Hallo daar,",
    "Mijn klantnummer is 000000.",
    "Ordernummer 000000.",
    "Ik heb de bestelling vorige maand geplaatst via de website.",
    "Ik heb betaald met iDEAL, dat ging prima.",
    "Ik bestel vaker bij jullie en was altijd tevreden.",
    "Ik heb het ook al via de chat geprobeerd.",
    "Ik schrijf namens mijn moeder.",
    "Het was een cadeau voor een verjaardag.",
    "Bedankt voor het lezen.",
    "Hopelijk kunnen jullie me helpen.",
    "Met hartelijke groet,",
    "Fijne dag nog.",
    "Good afternoon.",
    "Dear team,",
    "Hey,",
    "My customer number is 000000.",
    "Order reference 000000.",
    "I placed the order through the app last month.",
    "I paid by card at the time and that went fine.",
    "I shop with you a lot and have always been happy.",
    "I tried the chat already.",
    "I am writing on behalf of my father.",
    "It was meant as a birthday gift.",
    "Thanks for reading.",
    "Hope you can help me out.",
    "Warm regards,",
    "Have a nice day.",
)

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo(word: str, rng: random.Random) -> str:
    """One dropped, doubled, swapped or replaced letter inside a word of 4+ letters."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(4)
    if op == 0:
        return word[:i] + word[i + 1 :]
    if op == 1:
        return word[:i] + word[i] + word[i:]
    if op == 2:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    return word[:i] + rng.choice(_LETTERS) + word[i + 1 :]


def _variant(text: str, rng: random.Random, typo_rate: float) -> str:
    words = [typo(w, rng) if rng.random() < typo_rate else w for w in text.split(" ")]
    before = rng.sample(NEUTRAL, rng.randint(0, 2))
    after = rng.sample(NEUTRAL, rng.randint(0, 2))
    return " ".join([*before, " ".join(words), *after])


def augment(
    texts: Sequence[str],
    labels: Sequence[str],
    share: float = 0.5,
    typo_rate: float = 0.1,
    seed: int = 0,
    max_words: int = 12,
) -> tuple[list[str], list[str]]:
    """The texts and labels plus one wrapped, misspelt copy of ``share`` of the texts of at
    most ``max_words`` words (long messages already carry their own context)."""
    rng = random.Random(seed)
    out_x, out_y = list(texts), list(labels)
    for text, label in zip(texts, labels, strict=True):
        if text.count(" ") < max_words and rng.random() < share:
            out_x.append(_variant(text, rng, typo_rate))
            out_y.append(label)
    return out_x, out_y
