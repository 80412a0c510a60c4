"""Write the synthetic Olist-style example exports in examples/data/ (deterministic).

    python examples/make_olist_style.py

The layout follows the public Olist e-commerce data set's order and review exports (column
names only); every value is generated here: no row comes from that data set. Late orders get
lower review scores and more complaints, as in real life, so that the worked example in
examples/README.md has a story to find: promise-kept rate, and the score difference between
late and on-time orders.
"""

from __future__ import annotations

import csv
import hashlib
import random
from datetime import datetime, timedelta
from pathlib import Path

DATA = Path(__file__).with_name("data")
FMT = "%Y-%m-%d %H:%M:%S"

ON_TIME_TEXTS = [
    "Chegou antes do prazo, recomendo.",
    "Produto bom e entrega rápida.",
    "Snel geleverd, prima product.",
    "Arrived early, well packed.",
    "",
]
LATE_TEXTS = [
    "Entrega atrasada, ninguém me avisou.",
    "O produto ainda não chegou e o prazo já passou.",
    "Pakket kwam een week te laat.",
    "Late delivery and no update from the carrier.",
    "",
]


def _hex(rng: random.Random) -> str:
    return hashlib.md5(str(rng.random()).encode()).hexdigest()


def main(orders: int = 300, seed: int = 2026) -> None:
    rng = random.Random(seed)
    start = datetime(2025, 9, 1, 8, 0, 0)
    order_rows: list[list[str]] = []
    review_rows: list[list[str]] = []
    for _ in range(orders):
        order_id, customer_id = _hex(rng), _hex(rng)
        bought = start + timedelta(minutes=rng.randrange(60 * 24 * 60))
        approved = bought + timedelta(minutes=rng.randrange(5, 600))
        estimate = (bought + timedelta(days=rng.choice([7, 10, 14]))).replace(
            hour=0, minute=0, second=0
        )
        status = rng.choices(["delivered", "shipped", "canceled"], [0.9, 0.06, 0.04])[0]
        carrier = delivered = ""
        late = False
        if status != "canceled":
            handed = approved + timedelta(hours=rng.randrange(4, 72))
            carrier = handed.strftime(FMT)
            if status == "delivered":
                late = rng.random() < 0.25
                days = rng.randrange(1, 9) if late else -rng.randrange(1, 6)
                when = estimate + timedelta(days=days, hours=rng.randrange(8, 21))
                delivered = max(when, handed + timedelta(hours=20)).strftime(FMT)
        order_rows.append(
            [
                order_id,
                customer_id,
                status,
                bought.strftime(FMT),
                approved.strftime(FMT),
                carrier,
                delivered,
                estimate.strftime(FMT),
            ]
        )
        if status == "delivered" and rng.random() < 0.85:
            weights = [30, 20, 20, 15, 15] if late else [2, 3, 10, 30, 55]
            score = rng.choices([1, 2, 3, 4, 5], weights)[0]
            reviewed = datetime.strptime(delivered, FMT) + timedelta(days=1)
            text = rng.choice(LATE_TEXTS if late else ON_TIME_TEXTS)
            review_rows.append(
                [
                    _hex(rng),
                    order_id,
                    str(score),
                    text,
                    reviewed.strftime("%Y-%m-%d 00:00:00"),
                    (reviewed + timedelta(hours=rng.randrange(2, 60))).strftime(FMT),
                ]
            )
    DATA.mkdir(exist_ok=True)
    with open(DATA / "olist_orders.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(
            [
                "order_id",
                "customer_id",
                "order_status",
                "order_purchase_timestamp",
                "order_approved_at",
                "order_delivered_carrier_date",
                "order_delivered_customer_date",
                "order_estimated_delivery_date",
            ]
        )
        out.writerows(order_rows)
    with open(DATA / "olist_reviews.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(
            [
                "review_id",
                "order_id",
                "review_score",
                "review_comment_message",
                "review_creation_date",
                "review_answer_timestamp",
            ]
        )
        out.writerows(review_rows)


if __name__ == "__main__":
    main()
