"""How users behave: the logging policy that chooses impressions, the labels drawn from true
affinity, and the return model that decides who comes back tomorrow.

`ReturnModel` and `draw_labels` are what the LT simulator reuses with a ranking variant in place of
the logging policy, so the two never disagree about how users respond.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recplug.data.world.config import WorldConfig
from recplug.data.world.latents import Latents


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Labels:
    click: np.ndarray
    finish: np.ndarray
    like: np.ndarray

    def satisfaction(self) -> np.ndarray:
        """Per-impression satisfaction: finishes and likes count, a bare click little."""
        return 0.2 * self.click + 0.5 * self.finish + 1.0 * self.like


def draw_labels(cfg: WorldConfig, affinity: np.ndarray, rng: np.random.Generator) -> Labels:
    a = affinity + cfg.label_noise * rng.standard_normal(affinity.shape)
    click = rng.random(a.shape) < sigmoid(cfg.click_alpha * a + cfg.click_beta)
    finish = click & (rng.random(a.shape) < sigmoid(cfg.finish_alpha * a + cfg.finish_beta))
    like = click & (rng.random(a.shape) < sigmoid(cfg.like_alpha * a + cfg.like_beta))
    return Labels(click, finish, like)


class ReturnModel:
    """p(user returns next day) rises with a decayed average of the satisfaction of their sessions."""

    def __init__(self, cfg: WorldConfig, activity: np.ndarray):
        self.cfg, self.activity = cfg, activity

    def initial_state(self) -> np.ndarray:
        return np.full(len(self.activity), self.cfg.satisfaction_ref)

    def update(self, state: np.ndarray, users: np.ndarray, day_satisfaction: np.ndarray) -> np.ndarray:
        """New state after `users` had sessions with mean per-impression satisfaction `day_satisfaction`."""
        state = state.copy()
        lam = self.cfg.satisfaction_decay
        state[users] = lam * state[users] + (1 - lam) * day_satisfaction
        return state

    def p_return(self, state: np.ndarray) -> np.ndarray:
        c = self.cfg
        return sigmoid(
            c.return_base
            + c.return_activity * np.log(self.activity)
            + c.return_satisfaction * (state - c.satisfaction_ref)
        )


class LoggingPolicy:
    """A biased production system: candidates from popular, fresh and random items, ranked by a mix of
    noisy true affinity (partial personalisation) and popularity, then sampled (Gumbel top-k)."""

    def __init__(self, latents: Latents):
        self.latents, self.cfg = latents, latents.cfg
        self.log_pop = np.log(latents.items.popularity)
        self.cum_pop = np.cumsum(latents.items.popularity**self.cfg.candidate_popularity_power)
        created = latents.items.created_day
        self.n_available = np.searchsorted(created, np.arange(self.cfg.n_days), side="right")

    def candidates(self, n_sessions: int, day: int, rng: np.random.Generator) -> np.ndarray:
        cfg, items = self.cfg, self.latents.items
        n_avail = self.n_available[day]
        c = cfg.candidates_per_session
        n_pop, n_fresh = int(c * cfg.candidate_mix[0]), int(c * cfg.candidate_mix[1])
        pop = np.searchsorted(
            self.cum_pop[:n_avail], rng.random((n_sessions, n_pop)) * self.cum_pop[n_avail - 1]
        )
        fresh_lo = np.searchsorted(items.created_day, max(day - self.cfg.fresh_window_days + 1, 1))
        if fresh_lo >= n_avail:  # nothing fresh yet: uniform instead
            fresh_lo = 0
        fresh = rng.integers(fresh_lo, n_avail, (n_sessions, n_fresh))
        uniform = rng.integers(0, n_avail, (n_sessions, c - n_pop - n_fresh))
        return np.minimum(np.concatenate([pop, fresh, uniform], axis=1), n_avail - 1)

    def choose(
        self, users: np.ndarray, cand: np.ndarray, day: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(items shown, their true affinity), each (sessions, impressions); no item twice in a session."""
        cfg = self.cfg
        aff = self.latents.affinity_grid(users, cand, day)
        score = cfg.policy_personalisation * (aff + cfg.policy_noise * rng.standard_normal(aff.shape))
        score += (1 - cfg.policy_personalisation) * self.log_pop[cand]
        score += rng.gumbel(size=score.shape)
        order = np.argsort(cand, axis=1, kind="stable")
        dup = np.zeros_like(cand, dtype=bool)
        sorted_c = np.take_along_axis(cand, order, axis=1)
        np.put_along_axis(dup, order[:, 1:], sorted_c[:, 1:] == sorted_c[:, :-1], axis=1)
        score[dup] = -np.inf
        k = cfg.impressions_per_session
        top = np.argpartition(-score, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(score, top, axis=1), axis=1), axis=1)
        return np.take_along_axis(cand, top, axis=1), np.take_along_axis(aff, top, axis=1)
