"""The world's hidden state: item attributes and collaborative vectors, users' interests, true affinity.

Everything here is a pure function of (config, seed) and cheap to rebuild, even for the large preset,
so evaluation code rebuilds the ground truth from a dataset's `dataset.json` instead of storing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recplug.data.vectors import unit_rows
from recplug.data.world.config import WorldConfig
from recplug.data.world.vocab import ATTRIBUTES

MAX_INTERESTS = 3


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator per (seed, stream...): parts of the world do not shift each other."""
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


@dataclass
class Items:
    attrs: np.ndarray  # (n, n_attributes) int: value index per attribute
    content_part: np.ndarray  # (n, d) W c_i
    specific_part: np.ndarray  # (n, d) e_i, shown by no modality
    vectors: np.ndarray  # (n, d) v_i = W c_i + s e_i
    popularity: np.ndarray  # (n,) heavy-tailed weight
    bias: np.ndarray  # (n,) b_i
    created_day: np.ndarray  # (n,) int, non-decreasing with the index (ids are given in creation order)
    media_seed: np.ndarray  # (n,) uint32 seed for rendering this item's image and audio


@dataclass
class Users:
    centres: np.ndarray  # (n, MAX_INTERESTS, d) interest centres at day 0
    drift: np.ndarray  # (n, MAX_INTERESTS, d) where the centres move by the last day
    n_interests: np.ndarray  # (n,) 1..3
    attribute_weights: np.ndarray  # (n, n_attributes): how much each attribute matters to the user
    activity: np.ndarray  # (n,) lognormal activity level


def attribute_tables(cfg: WorldConfig, seed: int) -> list[np.ndarray]:
    """W: one (n_values, d) projection per attribute, scaled by the attribute's importance."""
    rng = rng_for(seed, 1)
    return [a.importance * unit_rows(rng.normal(size=(len(a.values), cfg.collab_dim))) for a in ATTRIBUTES]


def make_items(cfg: WorldConfig, seed: int, tables: list[np.ndarray]) -> Items:
    rng = rng_for(seed, 2)
    n = cfg.n_items
    attrs = np.stack([rng.integers(0, len(a.values), size=n) for a in ATTRIBUTES], axis=1)
    content = sum(t[attrs[:, j]] for j, t in enumerate(tables))
    content = content / np.sqrt((content**2).sum(1).mean())
    specific = rng.normal(size=(n, cfg.collab_dim)) / np.sqrt(cfg.collab_dim)
    vectors = content + cfg.item_specific_scale * specific
    popularity = rng.pareto(cfg.popularity_pareto_alpha, size=n) + 1.0
    log_pop = np.log(popularity)
    bias = cfg.popularity_bias_scale * (log_pop - log_pop.mean()) / (log_pop.std() + 1e-9)
    n_initial = int(round(cfg.initial_item_share * n))
    later = np.sort(rng.integers(1, cfg.n_days, size=n - n_initial))
    created_day = np.concatenate([np.zeros(n_initial, dtype=np.int64), later])
    media_seed = rng.integers(0, 2**32 - 1, size=n, dtype=np.uint32)
    return Items(attrs, content, specific, vectors, popularity, bias, created_day, media_seed)


def make_users(cfg: WorldConfig, seed: int, tables: list[np.ndarray]) -> Users:
    rng = rng_for(seed, 3)
    n, d, k = cfg.n_users, cfg.collab_dim, MAX_INTERESTS
    n_interests = rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25], size=n)
    # each user weights attributes unequally (around the world's importance), the same for all interests
    weights = np.exp(rng.normal(0.0, 0.6, size=(n, len(ATTRIBUTES))))
    centres = np.zeros((n, k, d))
    for j, (a, t) in enumerate(zip(ATTRIBUTES, tables, strict=True)):
        prefs = rng.integers(0, len(a.values), size=(n, k))
        centres += weights[:, j, None, None] * t[prefs]
    centres = unit_rows(centres + 0.35 * rng.normal(size=(n, k, d)) / np.sqrt(d))
    drift = cfg.interest_drift * unit_rows(rng.normal(size=(n, k, d)))
    activity = np.exp(rng.normal(0.0, 0.5, size=n))
    return Users(centres, drift, n_interests, weights, activity)


class Latents:
    """Items, users and the true affinity between them."""

    def __init__(self, cfg: WorldConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self.tables = attribute_tables(cfg, seed)
        self.items = make_items(cfg, seed, self.tables)
        self.users = make_users(cfg, seed, self.tables)
        self._vectors32 = self.items.vectors.astype(np.float32)

    def centres_at(self, users: np.ndarray, day: float) -> np.ndarray:
        """(len(users), MAX_INTERESTS, d) interest centres on `day` (slow linear drift)."""
        frac = day / max(self.cfg.n_days - 1, 1)
        return self.users.centres[users] + frac * self.users.drift[users]

    def _interest_mask(self, users: np.ndarray) -> np.ndarray:
        return np.arange(MAX_INTERESTS)[None, :] < self.users.n_interests[users][:, None]

    def affinity_grid(self, users: np.ndarray, items: np.ndarray, day: float) -> np.ndarray:
        """True affinity a(u, i) = scale * max_k <m_uk, v_i> + b_i for each user row against
        `items`, which is either (n_items,) shared by all rows or (len(users), n_cand) per row.
        Float32 batched matmul: this is the hot path of log simulation."""
        m = self.centres_at(users, day).astype(np.float32)  # (U, K, d)
        v = self._vectors32[items]
        dots = v @ m.transpose(0, 2, 1) if v.ndim == 3 else np.einsum("ukd,nd->unk", m, v)  # (U, n, K)
        dots += np.where(self._interest_mask(users), 0.0, -np.inf).astype(np.float32)[:, None, :]
        return self.cfg.affinity_scale * dots.max(-1) + self.items.bias[items]

    def affinity_pairs(self, users: np.ndarray, items: np.ndarray, day: float | np.ndarray) -> np.ndarray:
        """True affinity of aligned (user, item[, day]) pairs."""
        day = np.broadcast_to(np.asarray(day, dtype=float), users.shape)
        frac = (day / max(self.cfg.n_days - 1, 1))[:, None, None]
        m = self.users.centres[users] + frac * self.users.drift[users]
        dots = np.einsum("ukd,ud->uk", m, self.items.vectors[items])
        dots = np.where(self._interest_mask(users), dots, -np.inf)
        return self.cfg.affinity_scale * dots.max(-1) + self.items.bias[items]
