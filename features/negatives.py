"""Sampled negatives for implicit logs (purchases, plays, clicks with no logged impressions).

Each positive event (user u, item i, time t) gets `per_positive` items u did not engage with, drawn by
one of three samplers:
- `uniform`: any item available at t;
- `popularity`: items in proportion to their positives in the same period (train / valid / test), the
  distribution the positives themselves come from, so popularity alone cannot tell them apart;
- `exposure`: items other users engaged with on the same day, in proportion ("what was on the shelf
  that day"), the closest a log without impressions gets to what was shown.
A draw is rejected, and drawn again, when the item was not yet available at t (created, or first logged,
after t: never a future item), when u engaged with it positively anywhere in the same period (never one
of the user's positives in that window), or when it repeats another negative of the same (u, t). After
`max_rounds // 2` rounds the remaining slots draw uniformly (counted); slots still empty after
`max_rounds` are left out (counted). Reproducible: one numpy generator seeded by `seed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recplug.data.schema import positions_in

DAY = 86400


class NegativeConfig(BaseModel):
    """How negatives are sampled for a log without them (named in report.md)."""

    model_config = ConfigDict(extra="forbid")
    sampler: Literal["uniform", "popularity", "exposure"] = Field(
        "popularity",
        description="uniform, popularity (matched to the period's positives) or exposure (same day)",
    )
    per_positive: int = Field(4, ge=1, le=100, description="negatives drawn per positive event")
    seed: int = Field(0, description="the sampler's seed (the same seed gives the same negatives)")
    max_rounds: int = Field(20, ge=2, description="redraw rounds for rejected draws")

    def describe(self) -> str:
        return f"{self.sampler} sampler, {self.per_positive} per positive, seed {self.seed}"


@dataclass
class SampledNegatives:
    user_id: np.ndarray
    item_id: np.ndarray
    ts: np.ndarray
    source: np.ndarray  # the positive event (row of the positives given) each negative was drawn for
    stats: dict


def _ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, inverse = np.unique(values, return_inverse=True)
    return unique, inverse.astype(np.int64)


def _group_draw(
    rng, groups: np.ndarray, order_items: np.ndarray, starts: np.ndarray, counts: np.ndarray, n: int
):
    """For each of n slots with group g, one item of a uniformly drawn event of group g."""
    offset = np.floor(rng.random(n) * counts[groups]).astype(np.int64)
    return order_items[starts[groups] + offset]


def sample_negatives(
    user_id: np.ndarray,
    item_id: np.ndarray,
    ts: np.ndarray,
    period: np.ndarray,
    catalog: np.ndarray,
    available_from: np.ndarray,
    cfg: NegativeConfig,
) -> SampledNegatives:
    """Negatives for the positive events (user_id, item_id, ts, period) from `catalog` (item ids), each
    item drawable from `available_from` (its ts; int64 max: never)."""
    user_id, item_id, ts = (np.asarray(a, dtype=np.int64) for a in (user_id, item_id, ts))
    period = np.asarray(period, dtype=np.int64)
    rng = np.random.default_rng(cfg.seed)
    n_items = len(catalog)
    pos_item = positions_in(catalog, item_id)
    if (pos_item < 0).any():
        raise ValueError(f"{int((pos_item < 0).sum())} positive events name items outside the catalog")
    _, urank = _ranks(user_id)
    n_users = int(urank.max()) + 1 if len(urank) else 1

    def period_user_item(rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        return (period[rows] * n_users + urank[rows]) * n_items + items

    # (period, user, item) of every positive: what a negative must never be
    forbidden = np.unique(period_user_item(np.arange(len(user_id)), pos_item))
    # the event pools the matched samplers draw from: positives grouped by period, or by day
    group_of = {"popularity": period, "exposure": ts // DAY}.get(cfg.sampler)
    if group_of is not None:
        keys, group = _ranks(group_of)
        order = np.argsort(group, kind="stable")
        counts = np.bincount(group, minlength=len(keys))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pool_items = pos_item[order]

    k = cfg.per_positive
    slot_row = np.repeat(np.arange(len(user_id)), k)  # the positive each slot belongs to
    chosen = np.full(len(slot_row), -1, dtype=np.int64)
    pending = np.arange(len(slot_row))
    fallback = 0
    for round_ in range(cfg.max_rounds):
        if len(pending) == 0:
            break
        rows = slot_row[pending]
        uniform = group_of is None or round_ >= cfg.max_rounds // 2
        if uniform:
            draw = rng.integers(0, n_items, len(pending))
            fallback += len(pending) if group_of is not None else 0
        else:
            draw = _group_draw(rng, group[rows], pool_items, starts, counts, len(pending))
        ok = available_from[draw] <= ts[rows]
        ok &= ~np.isin(period_user_item(rows, draw), forbidden)
        chosen[pending[ok]] = draw[ok]
        # the same item twice for one (user, ts) (one positive's slots, or a basket's): keep the first
        filled = np.flatnonzero(chosen >= 0)
        combo = np.stack([urank[slot_row[filled]], ts[slot_row[filled]], chosen[filled]], 1)
        _, first = np.unique(combo, axis=0, return_index=True)
        repeat = np.ones(len(filled), bool)
        repeat[first] = False
        chosen[filled[repeat]] = -1
        pending = np.flatnonzero(chosen < 0)
    keep = np.flatnonzero(chosen >= 0)
    rows = slot_row[keep]
    stats = {
        "sampler": cfg.sampler,
        "per_positive": k,
        "seed": cfg.seed,
        "positives": len(user_id),
        "negatives": len(keep),
        "unfilled": int(len(slot_row) - len(keep)),
        "drawn_uniformly_after_rejections": int(fallback),
    }
    return SampledNegatives(user_id[rows], catalog[chosen[keep]], ts[rows], rows, stats)


def availability(item_ids: np.ndarray, created_ts: np.ndarray | None, first_logged: np.ndarray) -> np.ndarray:
    """Per item: the first time it may be a negative, the earlier of its creation and its first logged
    event (int64 max when neither is known)."""
    never = np.iinfo(np.int64).max

    def as_ts(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        out = np.full(values.shape, never, dtype=np.int64)
        known = ~np.isnan(values)
        out[known] = values[known].astype(np.int64)
        return out

    first = as_ts(first_logged)
    return first if created_ts is None else np.minimum(first, as_ts(created_ts))
