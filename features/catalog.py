"""Full-catalog evaluation of a ranker: Recall@k and NDCG@k of its scores over every item available at
the moment, for the test period's positives. It needs no negatives, so it is the check on an AUC
measured against sampled ones (sampled metrics can rank models differently from full ones).

Queries: one per sampled test user, the user's first test basket (every item the user engaged with
positively at that ts). Candidates: every catalog item available at that ts (created or first logged
by then), minus the items the user engaged with before (always keeping the basket's own items). Each
positive's rank takes the middle of its ties. Queries are drawn by `seed` from the users with a test
positive, the same for every variant and seed, so differences are paired.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from features.history import Histories
from features.impressions import Impressions, item_availability
from recplug.data import Dataset


@dataclass
class CatalogQueries:
    user_id: np.ndarray  # (q,)
    ts: np.ndarray  # (q,)
    hist: Histories  # (q,) each query's history (the impressions')
    positives: list[np.ndarray]  # per query: the basket's items
    candidates: list[np.ndarray]  # per query: the items scored (positives included)
    extra: pl.DataFrame | None  # per query: the basket's context columns (its first row's)

    def __len__(self) -> int:
        return len(self.user_id)

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(query of each candidate row, user, item, ts), candidates flattened query after query."""
        counts = np.array([len(c) for c in self.candidates], dtype=np.int64)
        group = np.repeat(np.arange(len(self)), counts)
        items = np.concatenate(self.candidates) if len(self) else np.zeros(0, np.int64)
        return group, self.user_id[group], items, self.ts[group]


def catalog_queries(ds: Dataset, imps: Impressions, n: int, seed: int = 0) -> CatalogQueries:
    """Up to `n` users' first test baskets with their candidate items."""
    logged = np.ones(len(imps), bool) if imps.sampled is None else ~imps.sampled
    rows = np.flatnonzero((imps.period == 2) & (imps.label > 0) & logged)
    frame = pl.DataFrame(
        {"row": rows, "user_id": imps.user_id[rows], "ts": imps.ts[rows], "item_id": imps.item_id[rows]}
    )
    first = frame.group_by("user_id").agg(pl.col("ts").min()).sort("user_id")
    rng = np.random.default_rng(seed)
    users = first["user_id"].to_numpy()
    pick = (
        np.sort(rng.choice(len(users), size=min(n, len(users)), replace=False))
        if len(users)
        else np.zeros(0, int)
    )
    chosen = first[pick]
    baskets = (
        frame.join(chosen, on=["user_id", "ts"], how="inner")
        .group_by("user_id", "ts")
        .agg(pl.col("item_id").unique().sort(), pl.col("row").min())
        .sort("user_id")
    )
    inter = ds.interactions if isinstance(ds.interactions, pl.DataFrame) else ds.interactions.collect()
    catalog, available = item_availability(ds, inter)
    positive = inter.filter(ds.meta.positive_rule.expr()).select("user_id", "item_id", "ts")
    before = (
        positive.join(baskets.select("user_id", pl.col("ts").alias("t")), on="user_id")
        .filter(pl.col("ts") < pl.col("t"))
        .group_by("user_id")
        .agg(pl.col("item_id").unique())
    )
    seen = dict(zip(before["user_id"].to_list(), before["item_id"].to_list(), strict=True))
    candidates, positives = [], []
    for user, t, items in zip(baskets["user_id"], baskets["ts"], baskets["item_id"], strict=True):
        items = np.asarray(items, dtype=np.int64)
        pool = catalog[available <= t]
        pool = pool[~np.isin(pool, np.setdiff1d(np.asarray(seen.get(user, []), np.int64), items))]
        candidates.append(np.union1d(pool, items))
        positives.append(items)
    first_rows = baskets["row"].to_numpy()
    return CatalogQueries(
        user_id=baskets["user_id"].to_numpy(),
        ts=baskets["ts"].to_numpy(),
        hist=imps.hist.take(first_rows),
        positives=positives,
        candidates=candidates,
        extra=None if imps.extra is None else imps.extra[first_rows],
    )


def catalog_metrics(queries: CatalogQueries, scores: np.ndarray, ks: list[int]) -> dict[str, np.ndarray]:
    """Per query: recall@k (share of the basket in the top k) and ndcg@k, from the scores of the
    flattened candidate rows (`CatalogQueries.rows` order)."""
    out = {f"{m}@{k}": np.zeros(len(queries)) for k in ks for m in ("recall", "ndcg")}
    lo = 0
    for q, (cands, pos) in enumerate(zip(queries.candidates, queries.positives, strict=True)):
        s = scores[lo : lo + len(cands)]
        lo += len(cands)
        target = s[np.searchsorted(cands, pos)]
        ranks = (
            1.0 + (s[None, :] > target[:, None]).sum(1) + 0.5 * ((s[None, :] == target[:, None]).sum(1) - 1)
        )
        for k in ks:
            gain = np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0).sum()
            ideal = (1.0 / np.log2(np.arange(2, min(len(pos), k) + 2))).sum()
            out[f"recall@{k}"][q] = float((ranks <= k).mean())
            out[f"ndcg@{k}"][q] = float(gain / ideal)
    return out
