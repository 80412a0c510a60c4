"""The story a CX manager recognises holds in the demo data."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import duckdb

from klantreis.demo.clock import DemoPeriod


def one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return con.sql(sql).fetchall()[0]


def on_time(con: duckdb.DuckDBPyConnection, carrier: str, where: str = "true") -> float:
    return one(
        con,
        f"SELECT avg((NOT late)::INT) FROM deliveries WHERE late IS NOT NULL"
        f" AND carrier = 'carrier:{carrier}' AND {where}",
    )[0]


def test_carriers_differ_in_reliability(demo_db: duckdb.DuckDBPyConnection) -> None:
    snel, direct, vlot = (on_time(demo_db, c) for c in ("snelpost", "pakketdirect", "vlotbezorgd"))
    assert snel > 0.93
    assert 0.85 < direct < snel
    assert vlot < direct - 0.1
    assert 0.6 < vlot < 0.8


def test_vlotbezorgd_gets_worse_at_the_end(demo_db: duckdb.DuckDBPyConnection) -> None:
    end = DemoPeriod.ending().now.isoformat()
    early = on_time(demo_db, "vlotbezorgd", f"deadline < TIMESTAMPTZ '{end}' - INTERVAL 60 DAY")
    late = on_time(demo_db, "vlotbezorgd", f"deadline > TIMESTAMPTZ '{end}' - INTERVAL 14 DAY")
    assert late < early - 0.15
    snel_early = on_time(demo_db, "snelpost", f"deadline < TIMESTAMPTZ '{end}' - INTERVAL 60 DAY")
    snel_late = on_time(demo_db, "snelpost", f"deadline > TIMESTAMPTZ '{end}' - INTERVAL 14 DAY")
    assert abs(snel_late - snel_early) < 0.05


def test_late_deliveries_score_lower(demo_db: duckdb.DuckDBPyConnection) -> None:
    rows = demo_db.sql("""
        SELECT d.late, e.metric, avg(e.score), count(*)
        FROM events e JOIN deliveries d USING (journey_id)
        WHERE e.kind = 'survey.response' AND e.touchpoint = 'bezorging' AND d.late IS NOT NULL
        GROUP BY ALL""").fetchall()
    mean = {(late, metric): avg for late, metric, avg, _ in rows}
    assert all(n >= 100 for *_, n in rows)
    assert mean[(True, "csat")] < mean[(False, "csat")] - 1.0
    assert mean[(True, "nps")] < mean[(False, "nps")] - 1.5
    owners = {
        r[0]
        for r in demo_db.sql(
            "SELECT DISTINCT owner FROM events WHERE kind ="
            " 'survey.response' AND touchpoint = 'bezorging'"
        ).fetchall()
    }
    assert owners == {"carrier:snelpost", "carrier:pakketdirect", "carrier:vlotbezorgd"}


def test_where_is_my_parcel_follows_broken_promises(demo_db: duckdb.DuckDBPyConnection) -> None:
    broken_share, base_late = one(
        demo_db,
        """
        WITH c AS (SELECT DISTINCT journey_id FROM events WHERE kind = 'contact.inbound'
                   AND json_extract_string(attrs, '$.reason') = 'waar_is_mijn_pakket')
        SELECT avg((coalesce(d.late, d.deadline < TIMESTAMPTZ '2026-11-20 14:00+00'))::INT),
               (SELECT avg(late::INT) FROM deliveries)
        FROM c JOIN deliveries d USING (journey_id)""",
    )
    assert base_late < 0.2
    assert broken_share > 0.6
    per_carrier = dict(
        demo_db.sql("""
        SELECT d.carrier, count(c.journey_id) * 100.0 / count(*)
        FROM deliveries d LEFT JOIN (SELECT DISTINCT journey_id FROM events
             WHERE kind = 'contact.inbound' AND attrs LIKE '%waar_is_mijn_pakket%') c
             USING (journey_id) GROUP BY 1""").fetchall()
    )
    assert per_carrier["carrier:vlotbezorgd"] > 2 * per_carrier["carrier:snelpost"]


def test_bounced_invoices_lead_to_missing_invoice_contacts(
    demo_db: duckdb.DuckDBPyConnection,
) -> None:
    with_bounce, without_bounce = one(
        demo_db,
        """
        WITH b AS (SELECT DISTINCT journey_id FROM events WHERE kind = 'invoice.bounced'),
             f AS (SELECT DISTINCT journey_id FROM events WHERE kind = 'contact.inbound'
                   AND json_extract_string(attrs, '$.reason') = 'factuur_niet_ontvangen'),
             s AS (SELECT DISTINCT journey_id, journey_id IN (SELECT * FROM b) AS bounced
                   FROM events WHERE kind = 'invoice.sent')
        SELECT avg((journey_id IN (SELECT * FROM f))::INT) FILTER (WHERE bounced),
               avg((journey_id IN (SELECT * FROM f))::INT) FILTER (WHERE NOT bounced)
        FROM s""",
    )
    assert with_bounce > 0.25
    assert with_bounce > 10 * without_bounce
    first_after_bounce = one(
        demo_db,
        """
        SELECT bool_and(c.occurred_at > b.occurred_at)
        FROM events c JOIN events b USING (journey_id)
        WHERE c.kind = 'contact.inbound' AND b.kind = 'invoice.bounced'
          AND c.attrs LIKE '%factuur_niet_ontvangen%'""",
    )[0]
    assert first_after_bounce


def test_curt_on_the_phone_sweet_on_social(demo_db: duckdb.DuckDBPyConnection) -> None:
    rows = demo_db.sql("""
        SELECT channel, median(json_extract(attrs, '$.response_minutes')::DOUBLE),
               avg(json_extract(attrs, '$.resolved')::BOOLEAN::INT)
        FROM events WHERE kind = 'contact.inbound' GROUP BY 1""").fetchall()
    stats = {ch: (minutes, resolved) for ch, minutes, resolved in rows}
    assert set(stats) == {"phone", "email", "chat", "whatsapp", "social", "store"}
    assert stats["phone"][0] < stats["social"][0] / 5
    assert stats["phone"][1] < stats["social"][1] - 0.1
    csat = dict(
        demo_db.sql("""
        SELECT json_extract_string(attrs, '$.channel_asked'), avg(score) FROM events
        WHERE kind = 'survey.response' AND touchpoint = 'klantenservice' AND metric = 'csat'
        GROUP BY 1""").fetchall()
    )
    assert csat["phone"] < csat["social"] - 0.5


def test_unresolved_contacts_cost_more_effort(demo_db: duckdb.DuckDBPyConnection) -> None:
    rows = dict(
        demo_db.sql("""
        SELECT json_extract(c.attrs, '$.resolved')::BOOLEAN, avg(s.score)
        FROM events s JOIN events c
          ON json_extract_string(s.attrs, '$.contact_id')
             = json_extract_string(c.attrs, '$.contact_id')
        WHERE s.kind = 'survey.response' AND s.metric = 'ces' AND c.kind = 'contact.inbound'
        GROUP BY 1""").fetchall()
    )
    assert rows[False] > rows[True] + 1.0


def test_some_journeys_are_at_risk_now(demo_db: duckdb.DuckDBPyConnection) -> None:
    at_risk = one(
        demo_db,
        """
        SELECT count(*) FROM deliveries WHERE delivered_at IS NULL
          AND deadline > TIMESTAMPTZ '2026-11-20 14:00+00'
          AND deadline <= TIMESTAMPTZ '2026-11-20 14:00+00' + INTERVAL 4 HOUR""",
    )[0]
    assert 5 <= at_risk <= 200


def test_delivery_satisfaction_dips_at_the_end(demo_db: duckdb.DuckDBPyConnection) -> None:
    before, after = one(
        demo_db,
        """
        SELECT avg((score >= 4)::INT) FILTER (WHERE occurred_at
                   < TIMESTAMPTZ '2026-11-20 14:00+00' - INTERVAL 50 DAY),
               avg((score >= 4)::INT) FILTER (WHERE occurred_at
                   > TIMESTAMPTZ '2026-11-20 14:00+00' - INTERVAL 14 DAY)
        FROM events WHERE kind = 'survey.response' AND touchpoint = 'bezorging'
          AND metric = 'csat'""",
    )
    assert after < before - 0.06


def test_some_customers_order_again(demo_db: duckdb.DuckDBPyConnection) -> None:
    orders, customers, repeat_segment = one(
        demo_db,
        """
        SELECT count(*), count(DISTINCT customer_id),
               avg((json_extract_string(attrs, '$.segment') = 'terugkerend')::INT)
        FROM events WHERE kind = 'order.placed'""",
    )
    assert 0.5 * orders < customers < 0.9 * orders
    assert abs(repeat_segment - (1 - customers / orders)) < 1e-9


def test_each_journey_happens_in_a_sensible_order(demo_db: duckdb.DuckDBPyConnection) -> None:
    steps = [
        "web.visit",
        "order.placed",
        "payment.completed",
        "shipment.handed_over",
        "delivery.promised",
        "delivery.completed",
        "return.requested",
        "return.received",
        "refund.paid",
    ]
    cols = ", ".join(f"min(occurred_at) FILTER (WHERE kind = '{k}') AS \"{k}\"" for k in steps)
    demo_db.execute(
        f"CREATE OR REPLACE TEMP TABLE steps AS SELECT journey_id, {cols}"
        " FROM events GROUP BY journey_id"
    ).fetchall()
    for before, after in pairwise(steps):
        wrong = one(demo_db, f'SELECT count(*) FROM steps WHERE "{before}" > "{after}"')[0]
        assert wrong == 0, f"{before} after {after}"
    early_contacts = one(
        demo_db,
        """
        SELECT count(*) FROM events c JOIN steps s USING (journey_id)
        WHERE c.kind = 'contact.inbound' AND c.attrs LIKE '%waar_is_mijn_pakket%'
          AND c.occurred_at < s."shipment.handed_over" """,
    )[0]
    assert early_contacts == 0
