"""Survey answers (NPS, CES, CSAT), reviews and social mentions whose scores follow what
happened in the journey.

Scores come from a latent "mood": the customer's own disposition plus the effect of the
moment asked about (a late parcel, a damaged one, an unresolved contact, a late refund...).
CES is customer *effort* on 1-7: higher means harder (worse). A share of answers carries a
comment, in the customer's language; a few comments are deliberately nasty (``<script>``,
e-mail address, phone number, IBAN) to exercise escaping and masking.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from klantreis.demo.blocks import Block, json_object, jstr, take
from klantreis.demo.clock import DAY, HOUR
from klantreis.demo.contacts import CONTACT_CHANNELS, Contacts, contact_ids
from klantreis.demo.orders import CARRIERS, Fulfilment
from klantreis.demo.texts import NASTY_COMMENTS, render_comments

__all__ = ["delivery_effect", "feedback_blocks"]

SURVEY_CHANNELS = ("email", "web", "app")
_SERVICE_MOOD = np.array([-0.55, -0.15, 0.1, 0.3, 0.6, 0.35])
_SERVICE_EFFORT = np.array([2.0, 2.9, 2.3, 2.3, 2.6, 2.5])


def _score(
    center: np.ndarray, rng: np.random.Generator, noise: float, lo: int, hi: int
) -> np.ndarray:
    return np.clip(np.rint(center + rng.normal(0, noise, len(center))), lo, hi)


def csat(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _score(3.95 + 0.95 * m, rng, 0.55, 1, 5)


def nps(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _score(7.7 + 1.7 * m, rng, 1.1, 0, 10)


def ces(effort: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _score(effort, rng, 0.8, 1, 7)


def delivery_effect(f: Fulfilment) -> np.ndarray:
    """How the delivery moves the customer's mood (negative = worse)."""
    late_days = np.minimum(f.late_hours / 24, 3)
    effect = np.where(f.late, -0.9 - 0.35 * late_days, 0.45)
    return effect - 0.3 * f.attempt_failed - 1.8 * f.damaged - 2.5 * f.not_received


class _Ctx(NamedTuple):
    journey_ids: pa.Array
    english: np.ndarray
    rng: np.random.Generator
    now_us: int
    #: Per order: 1 for a returning customer ("terugkerend"), 0 for a new one ("nieuw").
    segment: np.ndarray


class _Survey:
    """Builds the answer blocks of one survey type, sharing respondents, times and comments."""

    def __init__(
        self,
        code: str,
        name: str,
        idx: np.ndarray,
        t: np.ndarray,
        journey_ids: pa.Array,
        english: np.ndarray,
        rng: np.random.Generator,
        seq: np.ndarray | None = None,
        segment: np.ndarray | None = None,
    ) -> None:
        self.code, self.name, self.idx, self.t, self.seq = code, name, idx, t, seq
        self.rng, self.english = rng, english[idx]
        self.channel = rng.choice(3, size=len(idx), p=[0.55, 0.25, 0.2])
        parts: list[pa.Array | str] = ['"', take(journey_ids, idx), f"-S{code}"]
        if seq is not None:
            parts.append(pc.cast(pa.array(seq), pa.string()))
        parts.append('"')
        self.survey_id = pc.binary_join_element_wise(*parts, "")
        #: Extra JSON attrs per respondent (values are JSON texts), e.g. the contact asked about.
        self.extra: dict[str, Any] = {}
        if segment is not None:
            self.extra["segment"] = jstr(
                (("nieuw", "terugkerend"), segment[idx].astype("int64")), len(idx)
            )

    def comments(self, topics: list[str], share: float = 0.35) -> list[str | None]:
        chosen = np.nonzero(self.rng.random(len(self.idx)) < share)[0]
        texts = render_comments([topics[i] for i in chosen], self.english[chosen], self.rng)
        out: list[str | None] = [None] * len(self.idx)
        for i, text in zip(chosen.tolist(), texts, strict=True):
            out[i] = text
        return out

    def block(
        self,
        metric: str,
        score: np.ndarray,
        touchpoint: str,
        owner: object,
        text: list[str | None] | None = None,
        subset: np.ndarray | None = None,
    ) -> Block:
        keep = np.arange(len(self.idx)) if subset is None else subset
        n = len(keep)
        k = pa.array(keep, pa.int64())
        extra = {key: value.take(k) for key, value in self.extra.items()}
        return Block(
            kind="survey.response",
            code=f"s{self.code}{metric}",
            order=self.idx[keep],
            t=self.t[keep],
            seq=None if self.seq is None else self.seq[keep],
            touchpoint=touchpoint,
            channel=(SURVEY_CHANNELS, self.channel[keep]),
            owner=owner if isinstance(owner, str) else (CARRIERS, owner[keep]),  # type: ignore[index]
            metric=metric,
            score=score[keep],
            lang=(("nl", "en"), self.english[keep].astype("int64")),
            text=None if text is None else [text[i] for i in keep.tolist()],
            attrs=json_object(
                n, survey_id=self.survey_id.take(k), survey=f'"{self.name}"', **extra
            ),
        )


def _inject_nasty(
    text: list[str | None], english: np.ndarray, score: np.ndarray, visible: np.ndarray
) -> None:
    """Put the nasty comments on the lowest-scored commented answers given before now
    (deterministic, in every batch)."""
    commented = [i for i, t in enumerate(text) if t is not None and visible[i]]
    slots = sorted(commented, key=lambda i: score[i])[: len(NASTY_COMMENTS)]
    for i, (lang, comment) in zip(slots, NASTY_COMMENTS, strict=False):
        text[i] = comment
        english[i] = lang == "en"


def _delivery_survey(f: Fulfilment, mood: np.ndarray, ctx: _Ctx) -> list[Block]:
    journey_ids, english, rng, _, _ = ctx
    idx = np.nonzero(f.shipped & (rng.random(f.n) < np.where(f.late, 0.36, 0.30)))[0]
    t = f.t_delivered[idx] + rng.uniform(2 * HOUR, 48 * HOUR, len(idx)).astype("int64")
    s = _Survey("b", "na_bezorging", idx, t, journey_ids, english, rng, segment=ctx.segment)
    m = mood[idx] + delivery_effect(f)[idx]
    c_score = csat(m, rng)
    topics = np.where(
        f.damaged[idx],
        "beschadigd",
        np.where(
            f.late[idx] | f.not_received[idx],
            "bezorging_laat",
            np.where(c_score >= 4, "bezorging_goed", "algemeen_slecht"),
        ),
    )
    text = s.comments(topics.tolist())
    _inject_nasty(text, s.english, c_score, t <= ctx.now_us)
    asked_nps = np.nonzero(rng.random(len(idx)) < 0.75)[0]
    owner = f.carrier[idx]
    return [
        s.block("csat", c_score, "bezorging", owner, text),
        s.block("nps", nps(0.8 * m, rng), "bezorging", owner, subset=asked_nps),
    ]


def _order_survey(f: Fulfilment, mood: np.ndarray, ctx: _Ctx) -> list[Block]:
    journey_ids, english, rng, _, _ = ctx
    idx = np.nonzero(rng.random(f.n) < 0.18)[0]
    t = f.t_order[idx] + rng.uniform(0.2 * HOUR, 3 * HOUR, len(idx)).astype("int64")
    s = _Survey("o", "na_bestelling", idx, t, journey_ids, english, rng, segment=ctx.segment)
    failed = f.pay_failed[idx]
    m = mood[idx] + np.where(failed, -0.9, 0.35)
    effort = 2.0 + 1.8 * failed - 0.4 * mood[idx]
    topics = np.where(failed, "algemeen_slecht", "algemeen_goed").tolist()
    return [
        s.block("ces", ces(effort, rng), "bestellen", "webshop", s.comments(topics, 0.2)),
        s.block("nps", nps(m, rng), "bestellen", "webshop"),
    ]


def _contact_survey(c: Contacts, mood: np.ndarray, ctx: _Ctx) -> list[Block]:
    journey_ids, english, rng, _, _ = ctx
    pick = np.nonzero(rng.random(len(c.order)) < 0.3)[0]
    idx = c.order[pick]
    t = (
        c.t[pick]
        + (c.response_minutes[pick] * 60e6).astype("int64")
        + rng.uniform(0.5 * HOUR, 30 * HOUR, len(pick)).astype("int64")
    )
    s = _Survey(
        "k", "na_contact", idx, t, journey_ids, english, rng, seq=c.seq[pick], segment=ctx.segment
    )
    ch, resolved, repeat = c.channel[pick], c.resolved[pick], c.repeat[pick]
    s.extra["contact_id"] = jstr(contact_ids(c, journey_ids).take(pa.array(pick, pa.int64())), 0)
    s.extra["channel_asked"] = jstr((CONTACT_CHANNELS, ch), 0)
    m = mood[idx] + _SERVICE_MOOD[ch] + np.where(resolved, 0.5, -1.2) - 0.4 * repeat
    effort = _SERVICE_EFFORT[ch] + 2.0 * ~resolved + 0.8 * repeat - 0.3 * mood[idx]
    c_score = csat(m, rng)
    topics = np.where(resolved & (c_score >= 4), "service_goed", "service_slecht").tolist()
    asked_nps = np.nonzero(rng.random(len(pick)) < 0.5)[0]
    return [
        s.block("csat", c_score, "klantenservice", "customer_service", s.comments(topics)),
        s.block("ces", ces(effort, rng), "klantenservice", "customer_service"),
        s.block("nps", nps(m, rng), "klantenservice", "customer_service", subset=asked_nps),
    ]


def _return_survey(f: Fulfilment, mood: np.ndarray, ctx: _Ctx) -> list[Block]:
    journey_ids, english, rng, _, _ = ctx
    idx = np.nonzero(f.refunded & (rng.random(f.n) < 0.3))[0]
    t = f.t_refund[idx] + rng.uniform(2 * HOUR, 48 * HOUR, len(idx)).astype("int64")
    s = _Survey("r", "na_retour", idx, t, journey_ids, english, rng, segment=ctx.segment)
    late = f.t_refund[idx] > f.refund_deadline[idx]
    m = mood[idx] + np.where(late, -1.3, 0.25)
    topics = np.where(late, "retour_slecht", "retour_goed").tolist()
    return [
        s.block("csat", csat(m, rng), "retour", "warehouse", s.comments(topics)),
        s.block("ces", ces(2.2 + 1.5 * late - 0.3 * mood[idx], rng), "retour", "warehouse"),
    ]


def _invoice_survey(f: Fulfilment, mood: np.ndarray, ctx: _Ctx) -> list[Block]:
    journey_ids, english, rng, _, _ = ctx
    idx = np.nonzero(f.shipped & (rng.random(f.n) < np.where(f.bounced, 0.15, 0.05)))[0]
    t = f.t_invoice[idx] + rng.uniform(2 * DAY, 6 * DAY, len(idx)).astype("int64")
    s = _Survey("f", "na_factuur", idx, t, journey_ids, english, rng, segment=ctx.segment)
    bounced = f.bounced[idx]
    m = mood[idx] + np.where(bounced, -1.4, 0.2)
    topics = np.where(bounced, "factuur_slecht", "algemeen_goed").tolist()
    return [s.block("csat", csat(m, rng), "factuur", "finance", s.comments(topics, 0.25))]


def _reviews(f: Fulfilment, mood: np.ndarray, ctx: _Ctx) -> Block:
    english, rng = ctx.english, ctx.rng
    idx = np.nonzero(f.shipped & (rng.random(f.n) < 0.06))[0]
    m = mood[idx] + 0.7 * delivery_effect(f)[idx]
    stars = _score(3.9 + 1.1 * m, rng, 0.6, 1, 5)
    topics = np.where(
        stars >= 4, "algemeen_goed", np.where(f.late[idx], "bezorging_laat", "algemeen_slecht")
    ).tolist()
    return Block(
        kind="review.posted",
        code="rv",
        order=idx,
        t=f.t_delivered[idx] + rng.uniform(DAY, 10 * DAY, len(idx)).astype("int64"),
        touchpoint="reviews",
        channel="web",
        owner="marketing",
        metric="stars",
        score=stars,
        text=render_comments(topics, english[idx], rng),
        lang=(("nl", "en"), english[idx].astype("int64")),
        attrs=json_object(len(idx), platform='"reviewsite"'),
    )


def _mentions(f: Fulfilment, ctx: _Ctx) -> Block:
    """Public posts: mostly angry ones after late, missing or damaged parcels."""
    english, rng = ctx.english, ctx.rng
    r = rng.random(f.n)
    angry = f.shipped & (((f.late | f.not_received) & (r < 0.05)) | (f.damaged & (r < 0.08)))
    happy = f.shipped & ~f.late & ~f.damaged & (r < 0.004)
    idx = np.nonzero(angry | happy)[0]
    n = len(idx)
    topics = np.where(
        f.damaged[idx], "beschadigd", np.where(happy[idx], "bezorging_goed", "bezorging_laat")
    ).tolist()
    texts = ["@huisenhaard " + t for t in render_comments(topics, english[idx], rng)]
    platform = jstr((("x", "instagram", "facebook"), rng.integers(0, 3, n)), n)
    sentiment = jstr((("positief", "negatief"), angry[idx].astype("int64")), n)
    return Block(
        kind="social.mention",
        code="sm",
        order=idx,
        t=f.t_delivered[idx] + rng.uniform(HOUR, 20 * HOUR, n).astype("int64"),
        touchpoint="reviews",
        channel="social",
        owner="marketing",
        text=texts,
        lang=(("nl", "en"), english[idx].astype("int64")),
        attrs=json_object(n, platform=platform, sentiment=sentiment),
    )


def feedback_blocks(
    f: Fulfilment,
    c: Contacts,
    mood: np.ndarray,
    english: np.ndarray,
    journey_ids: pa.Array,
    rng: np.random.Generator,
    now_us: int,
    segment: np.ndarray,
) -> list[Block]:
    """Every survey answer, review and social mention of the batch."""
    ctx = _Ctx(journey_ids, english, rng, now_us, segment)
    return (
        _delivery_survey(f, mood, ctx)
        + _order_survey(f, mood, ctx)
        + _contact_survey(c, mood, ctx)
        + _return_survey(f, mood, ctx)
        + _invoice_survey(f, mood, ctx)
        + [_reviews(f, mood, ctx), _mentions(f, ctx)]
    )
