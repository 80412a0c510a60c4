"""New reasons: group contacts no reason fits (``unknown``) into clusters, describe each with
its top terms and the texts nearest its centre, and flag clusters that grow week over week.

TF-IDF over words (1-2) without Dutch and English stop words, then MiniBatchKMeans; the number
of clusters defaults to about sqrt(n / 2), between 2 and 20.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import MiniBatchKMeans
from sklearn.feature_extraction.text import TfidfVectorizer

from klantreis.contacts.metrics import period_of
from klantreis.contacts.taxonomy import UNKNOWN
from klantreis.contacts.text import normalise, stop_words

__all__ = ["Cluster", "cluster_texts", "new_reason_clusters"]


@dataclass
class Cluster:
    id: int
    size: int
    top_terms: list[str]
    examples: list[str]
    weekly: dict[str, int] = field(default_factory=dict)
    last_week: int = 0
    previous_week: int = 0
    growing: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _auto_k(n: int) -> int:
    return max(2, min(20, round(math.sqrt(n / 2))))


def cluster_texts(
    texts: list[str], k: int | None = None, seed: int = 0, terms: int = 6, examples: int = 3
) -> tuple[np.ndarray, list[Cluster]]:
    """Cluster labels per text and a description of each cluster (largest first)."""
    if len(texts) < 2:
        return np.zeros(len(texts), dtype=int), []
    vec = TfidfVectorizer(
        ngram_range=(1, 2),
        sublinear_tf=True,
        min_df=1,
        stop_words=sorted(stop_words()),
        token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
    )
    docs = [normalise(t) for t in texts]
    x = vec.fit_transform(docs)
    k = min(k or _auto_k(len(texts)), len(texts))
    km = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=1024).fit(x)
    names = np.asarray(vec.get_feature_names_out())
    out = []
    for c in range(k):
        members = np.nonzero(km.labels_ == c)[0]
        if not len(members):
            continue
        centre = km.cluster_centers_[c]
        top = [str(t) for t in names[np.argsort(-centre)[:terms]] if t]
        sims = np.asarray(x[members] @ centre).ravel()
        nearest = members[np.argsort(-sims)[:examples]]
        out.append(Cluster(c, len(members), top, [texts[i] for i in nearest]))
    out.sort(key=lambda cl: (-cl.size, cl.id))
    return km.labels_, out


def new_reason_clusters(
    contacts: pd.DataFrame,
    k: int | None = None,
    seed: int = 0,
    min_growing: int = 3,
    tz: str = "Europe/Amsterdam",
) -> list[Cluster]:
    """Clusters of the ``unknown`` contacts, with weekly counts and a growth flag: a cluster
    grows when its last week has at least ``min_growing`` contacts and 1.5x the week before."""
    unknown = contacts[(contacts["reason"] == UNKNOWN) & contacts["text"].notna()]
    if len(unknown) < 2:
        return []
    labels, clusters = cluster_texts(unknown["text"].astype(str).tolist(), k, seed)
    weeks = period_of(unknown["occurred_at"], "week", tz).to_numpy()
    all_weeks = sorted(set(weeks))
    for cl in clusters:
        counts = pd.Series(weeks[labels == cl.id]).value_counts()
        cl.weekly = {w: int(counts.get(w, 0)) for w in all_weeks}
        series = list(cl.weekly.values())
        cl.last_week = series[-1] if series else 0
        cl.previous_week = series[-2] if len(series) > 1 else 0
        cl.growing = cl.last_week >= min_growing and cl.last_week > 1.5 * cl.previous_week
    return clusters
