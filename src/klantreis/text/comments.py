"""A labelled set of scored webshop comments you can share: themes (multi-label) and an NPS
score per comment, Dutch and English, deterministic for a seed.

Every comment joins one to three theme clauses ("Pakket kwam twee dagen later dan beloofd en
de bezorger was onbeschoft."); its score follows from the clauses' polarity plus noise, as a
real NPS answer would. Each theme's clauses are split in two halves: ``part="train"`` uses
one, ``part="test"`` the other, so a test comment's wording was never seen in training.
The clauses are written for this set (not the theme file's example phrases).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["CLAUSES", "Comment", "generate_comments"]

# theme -> lang -> [(clause, polarity +1/-1)]
CLAUSES: dict[str, dict[str, list[tuple[str, int]]]] = {
    "late_delivery": {
        "nl": [
            ("het pakket kwam twee dagen na de beloofde datum", -1),
            ("ik heb de hele dag thuis zitten wachten en er kwam niemand", -1),
            ("de levering liep een week vertraging op", -1),
            ("de bezorging was pas na het weekend in plaats van vrijdag", -1),
        ],
        "en": [
            ("the parcel came two days after the promised date", -1),
            ("i stayed home all day waiting and nobody came", -1),
            ("the delivery was delayed by a week", -1),
            ("it only arrived after the weekend instead of friday", -1),
        ],
    },
    "fast_delivery": {
        "nl": [
            ("de volgende ochtend lag het al op de mat", 1),
            ("razendsnel in huis", 1),
            ("binnen een dag bezorgd", 1),
            ("precies in het aangegeven tijdvak afgeleverd", 1),
        ],
        "en": [
            ("it was on my doormat the next morning", 1),
            ("delivered lightning fast", 1),
            ("arrived within a day", 1),
            ("dropped off right inside the time window", 1),
        ],
    },
    "rude_driver": {
        "nl": [
            ("de bezorger was ontzettend onbeschoft", -1),
            ("de chauffeur smeet de doos gewoon over de schutting", -1),
            ("de koerier schreeuwde tegen mij toen ik niet meteen opendeed", -1),
            ("de pakketbezorger was kortaf en chagrijnig", -1),
        ],
        "en": [
            ("the driver was incredibly rude", -1),
            ("the courier simply tossed the box over the fence", -1),
            ("the delivery guy shouted at me when i did not open right away", -1),
            ("the driver was grumpy and short with me", -1),
        ],
    },
    "damaged_parcel": {
        "nl": [
            ("de doos was ingedeukt en de inhoud beschadigd", -1),
            ("het glas was gebroken bij aankomst", -1),
            ("alles zat los in een veel te grote doos en was kapot", -1),
            ("er zat een flinke kras op toen ik het uitpakte", -1),
        ],
        "en": [
            ("the box was dented and the contents damaged", -1),
            ("the glass was broken on arrival", -1),
            ("everything was loose in a huge box and got smashed", -1),
            ("there was a deep scratch on it when i unpacked it", -1),
        ],
    },
    "wrong_invoice": {
        "nl": [
            ("op de factuur stond een hoger bedrag dan bij het afrekenen", -1),
            ("ik kreeg een aanmaning terwijl ik allang betaald had", -1),
            ("er is twee keer afgeschreven", -1),
            ("de korting stond niet op de rekening", -1),
        ],
        "en": [
            ("the invoice showed more than i paid at checkout", -1),
            ("i got a payment reminder although i had paid long ago", -1),
            ("i was charged twice", -1),
            ("the discount was missing from the bill", -1),
        ],
    },
    "slow_refund": {
        "nl": [
            ("mijn geld was pas na drie weken terug", -1),
            ("ik wacht nog steeds op de terugbetaling", -1),
            ("het terugstorten duurde eindeloos", -1),
            ("ik moest drie keer bellen voor mijn geld", -1),
        ],
        "en": [
            ("my money only came back after three weeks", -1),
            ("i am still waiting for the refund", -1),
            ("the repayment took forever", -1),
            ("i had to call three times to get my money", -1),
        ],
    },
    "easy_return": {
        "nl": [
            ("terugsturen was een fluitje van een cent", 1),
            ("het retourlabel zat er al bij", 1),
            ("inleveren bij het servicepunt ging zonder gedoe", 1),
            ("ruilen voor een andere maat was zo geregeld", 1),
        ],
        "en": [
            ("sending it back was a piece of cake", 1),
            ("the return label was already in the box", 1),
            ("dropping it at the service point was no hassle", 1),
            ("swapping for another size was sorted in no time", 1),
        ],
    },
    "friendly_service": {
        "nl": [
            ("de medewerker aan de telefoon dacht echt met me mee", 1),
            ("via de chat werd ik heel aardig geholpen", 1),
            ("mijn vraag werd binnen een uur keurig beantwoord", 1),
            ("de klantenservice was super behulpzaam", 1),
        ],
        "en": [
            ("the agent on the phone really thought along with me", 1),
            ("the chat team helped me very kindly", 1),
            ("my question was answered properly within an hour", 1),
            ("customer service was super helpful", 1),
        ],
    },
    "poor_service": {
        "nl": [
            ("ik hing een half uur in de wacht", -1),
            ("op mijn mail is nooit gereageerd", -1),
            ("elke medewerker vertelde een ander verhaal", -1),
            ("de klantenservice wimpelde me af", -1),
        ],
        "en": [
            ("i was on hold for half an hour", -1),
            ("my e-mail never got a reply", -1),
            ("every agent told me a different story", -1),
            ("customer service brushed me off", -1),
        ],
    },
    "product_quality": {
        "nl": [
            ("het materiaal voelt stevig en degelijk", 1),
            ("na een week ging de rits al stuk", -1),
            ("de stof is prachtig en zit heerlijk", 1),
            ("het apparaat maakt een raar geluid en valt tegen", -1),
        ],
        "en": [
            ("the material feels solid and sturdy", 1),
            ("the zip broke after a week", -1),
            ("the fabric is lovely and comfortable", 1),
            ("the device makes a weird noise and is disappointing", -1),
        ],
    },
    "website_checkout": {
        "nl": [
            ("de site bleef hangen bij het betalen", -1),
            ("bestellen ging heel makkelijk via de app", 1),
            ("ik kon mijn kortingscode nergens invullen", -1),
            ("de website is overzichtelijk", 1),
        ],
        "en": [
            ("the site froze during payment", -1),
            ("ordering through the app was very easy", 1),
            ("i could not find where to enter my discount code", -1),
            ("the website is well organised", 1),
        ],
    },
    "price": {
        "nl": [
            ("voor deze prijs kun je het niet laten liggen", 1),
            ("de verzendkosten zijn belachelijk hoog", -1),
            ("elders is het een stuk goedkoper", -1),
            ("scherp geprijsd vergeleken met andere winkels", 1),
        ],
        "en": [
            ("at this price it is a steal", 1),
            ("the shipping fee is ridiculously high", -1),
            ("it is a lot cheaper elsewhere", -1),
            ("keenly priced compared to other shops", 1),
        ],
    },
}

_NO_THEME = {
    "nl": ["Geen opmerkingen.", "Prima zo.", "Niets aan toe te voegen.", "Verder oké."],
    "en": ["No comments.", "All fine.", "Nothing to add.", "Otherwise ok."],
}
_JOIN = {"nl": [", ", " en ", ". ", ", maar "], "en": [", ", " and ", ". ", ", but "]}


@dataclass(frozen=True)
class Comment:
    text: str
    lang: str
    themes: tuple[str, ...]
    score: int  # NPS 0-10
    polarities: tuple[int, ...]  # per theme clause, +1 or -1


def _clause(theme: str, lang: str, part: str, rng: random.Random) -> tuple[str, int]:
    options = CLAUSES[theme][lang]
    half = options[0::2] if part == "train" else options[1::2]
    return rng.choice(half)


def _score(polarities: list[int], rng: random.Random) -> int:
    s = 8.0 + sum(rng.uniform(0.5, 1.2) if p > 0 else -rng.uniform(2.5, 4.0) for p in polarities)
    return max(0, min(10, round(s + rng.gauss(0, 1.0))))


def _one(lang: str, part: str, rng: random.Random) -> Comment:
    k = rng.choices([0, 1, 2, 3], weights=[0.06, 0.5, 0.32, 0.12])[0]
    themes = rng.sample(sorted(CLAUSES), k)
    if not themes:
        return Comment(rng.choice(_NO_THEME[lang]), lang, (), _score([], rng), ())
    clauses = [_clause(t, lang, part, rng) for t in themes]
    text = clauses[0][0]
    for clause, _ in clauses[1:]:
        text += rng.choice(_JOIN[lang]) + clause
    text = text[0].upper() + text[1:] + rng.choice([".", "!", ""])
    polarities = [p for _, p in clauses]
    return Comment(text, lang, tuple(themes), _score(polarities, rng), tuple(polarities))


def generate_comments(n: int, seed: int = 0, part: str = "train") -> list[Comment]:
    """``n`` comments, half Dutch and half English; ``part`` picks the clause half."""
    if part not in ("train", "test"):
        raise ValueError("part is 'train' or 'test'")
    rng = random.Random(f"comments:{part}:{seed}")
    return [_one("nl" if i % 2 == 0 else "en", part, rng) for i in range(n)]
