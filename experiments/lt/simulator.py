"""The LT simulator: continue the world past its logs with a ranking variant in place of the logging
policy, and count the days users come back.

Everything about users' response is the world's own code: candidates from `LoggingPolicy.candidates`,
labels from `draw_labels` on the true affinity, satisfaction from `Labels.satisfaction`, return
probability and state update from `ReturnModel`. Only the ranking of the candidates is the variant's.

Each simulated day (world day `start.day + t`; candidates come from the catalogue of the last logged
day, its "fresh" items included, since items created later exist in no log and in no variant's
tables; interests keep drifting as the world's latents extrapolate):
1. active users: uniform < `p_return(state)`; sessions per active user as in `simulate_logs`;
2. session s of every active user, in rounds s = 0, 1, ... (sessions evenly spaced over the day):
   the scorer ranks the session's candidates given the user's history so far (positives of earlier
   sessions that day included),
   the top `impressions_per_session` distinct items are shown, in score order;
3. shown items get their labels, positives are prepended to the history, and at the end of the day
   the mean per-impression satisfaction updates the return state.

Common random numbers: every random draw of a day comes from its own generator keyed by (world
seed, simulation seed, day, purpose), and is drawn for *all* simulated users and *all* candidates
whatever the variant does: return uniforms and session counts per user, candidate lists per (simulated
user, session slot), a tie-break key per candidate, and label noise per (simulated user, session slot,
candidate). So two variants of the same seed face the same users, candidates and outcomes; a
candidate shown by both gets the same click / finish / like. Variants diverge only where their choices
differ and through the states and histories those choices lead to, which keeps paired differences low
in variance.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from experiments.lt.result import LIGHT_SHARE, LTResult
from experiments.lt.scorers import Scorer
from experiments.lt.start import LTStart, lt_start, prepend
from features.history import Histories
from recplug.data import Dataset
from recplug.data.world import World
from recplug.data.world.behaviour import LoggingPolicy, draw_labels
from recplug.data.world.config import DAY, START_TS
from recplug.data.world.latents import rng_for

LT_STREAM = 500  # keeps the simulator's generators apart from the world's own streams
RETURN, SESSIONS, CANDIDATES, TIES, LABELS = range(5)


@dataclass
class Day:
    """One day's common random numbers and outcomes, the same for every variant of a seed."""

    active: np.ndarray  # (n_users,) bool
    n_sess: np.ndarray  # (n_users,) sessions each user would have if active
    first: np.ndarray  # (n_users,) row of each simulated user's first session in the arrays below
    cand: np.ndarray  # (sessions, C) candidate item rows
    ties: np.ndarray  # (sessions, C) tie-break keys
    satisfaction: np.ndarray  # (sessions, C) satisfaction if shown (0 for inactive users)
    positive: np.ndarray  # (sessions, C) bool: a positive engagement if shown


class Simulator:
    def __init__(self, world: World, start: LTStart, users: np.ndarray, history_cap: int):
        self.world, self.start, self.cap = world, start, history_cap
        self.positive = world.meta().positive_rule
        self.cfg, self.latents = world.config, world.latents
        self.policy = LoggingPolicy(self.latents)
        self.returns = world.ground_truth().return_model
        self.simulated = np.zeros(self.cfg.n_users, dtype=bool)
        self.simulated[users] = True

    def draw_day(self, state: np.ndarray, seed: int, day: int) -> Day:
        cfg, n = self.cfg, self.cfg.n_users
        rng = lambda purpose: rng_for(self.world.seed, LT_STREAM, seed, day, purpose)  # noqa: E731
        active = (rng(RETURN).random(n) < self.returns.p_return(state)) & self.simulated
        n_sess = 1 + rng(SESSIONS).poisson((cfg.sessions_per_active_day - 1) * self.latents.users.activity)
        # session rows for the simulated users only: a 20% sample of users costs a fifth of a day
        rows_of = np.where(self.simulated, n_sess, 0)
        first = np.cumsum(rows_of) - rows_of
        catalogue_day = min(day, self.start.day - 1)  # no item exists that the logs did not
        cand = self.policy.candidates(int(rows_of.sum()), catalogue_day, rng(CANDIDATES))
        owner = np.repeat(np.arange(n), rows_of)
        live = np.flatnonzero(active[owner])
        aff = np.zeros(cand.shape)
        for lo in range(0, len(live), cfg.user_chunk):
            rows = live[lo : lo + cfg.user_chunk]
            aff[rows] = self.latents.affinity_grid(owner[rows], cand[rows], day)
        labels = draw_labels(cfg, aff, rng(LABELS))  # for every session: noise per (user, slot, candidate)
        positive = getattr(labels, self.positive.column) >= self.positive.min
        return Day(active, n_sess, first, cand, rng(TIES).random(cand.shape), labels.satisfaction(), positive)

    def show(
        self,
        scorer: Scorer,
        users: np.ndarray,
        sess: np.ndarray,
        hist: Histories,
        ts: np.ndarray,
        day: Day,
        pairs_per_call: int,
    ) -> np.ndarray:
        """(len(sess), k) candidate columns shown: top scores, distinct items, ties by the day's keys."""
        cand = day.cand[sess]
        c = cand.shape[1]
        scores = np.empty(cand.shape)
        step = max(1, pairs_per_call // c)
        for lo in range(0, len(sess), step):
            u = np.repeat(users[lo : lo + step], c)
            out = scorer(
                u + 1, cand[lo : lo + step].ravel() + 1, hist.take(u), np.repeat(ts[lo : lo + step], c)
            )
            out = np.asarray(out, dtype=np.float64)
            if out.shape != u.shape or np.isnan(out).any():
                raise ValueError(
                    f"scorer returned shape {out.shape} with NaNs={np.isnan(out).any()}; expected {u.shape} finite or -inf scores"
                )
            scores[lo : lo + step] = out.reshape(-1, c)
        scores[repeated(cand)] = -np.inf
        order = np.lexsort((day.ties[sess], -scores), axis=-1)
        return order[:, : self.cfg.impressions_per_session]

    def run(self, scorer: Scorer, seed: int, days: int, pairs_per_call: int, progress: bool, desc: str):
        """(active (days, n_users), mean satisfaction per impression (days,)) for one seed."""
        state, hist = self.start.state.copy(), self.start.histories
        k = self.cfg.impressions_per_session
        active_days = np.zeros((days, self.cfg.n_users), dtype=bool)
        mean_sat = np.zeros(days)
        for t in tqdm(range(days), desc=desc, unit="day", disable=not progress, leave=False):
            d = self.start.day + t
            day = self.draw_day(state, seed, d)
            act = np.flatnonzero(day.active)
            sat = np.zeros(self.cfg.n_users)
            for s in range(int(day.n_sess[act].max(initial=0))):
                users = act[day.n_sess[act] > s]
                sess = day.first[users] + s
                ts = START_TS + d * DAY + (s + 1) * DAY // (day.n_sess[users] + 1)
                cols = self.show(scorer, users, sess, hist, ts, day, pairs_per_call)
                sat[users] += np.take_along_axis(day.satisfaction[sess], cols, 1).sum(1)
                pos = np.take_along_axis(day.positive[sess], cols, 1)[:, ::-1]  # latest shown first
                items = np.take_along_axis(day.cand[sess], cols, 1)[:, ::-1] + 1
                hist = prepend(hist, users, pos.sum(1), items[pos], self.cap)
            state = self.returns.update(state, act, sat[act] / (k * day.n_sess[act]))
            active_days[t] = day.active
            mean_sat[t] = sat[act].sum() / max(k * day.n_sess[act].sum(), 1)
        return active_days, mean_sat


def repeated(cand: np.ndarray) -> np.ndarray:
    """(sessions, C) bool: True where the item already appeared earlier in the row."""
    order = np.argsort(cand, axis=1, kind="stable")
    sorted_c = np.take_along_axis(cand, order, axis=1)
    dup = np.zeros(cand.shape, dtype=bool)
    np.put_along_axis(dup, order[:, 1:], sorted_c[:, 1:] == sorted_c[:, :-1], axis=1)
    return dup


def simulate_lt(
    world: World,
    data: str | Path | Dataset | LTStart,
    scorer: Scorer | Sequence[Scorer],
    days: int = 14,
    seeds: Sequence[int] = (0, 1, 2),
    users: np.ndarray | None = None,
    *,
    variant: str = "variant",
    history_cap: int = 50,
    pairs_per_call: int = 1 << 16,
    progress: bool = True,
) -> LTResult:
    """Simulate `days` days after the logs with `scorer` ranking, once per seed.

    `data` is the dataset folder the world generated (or its `lt_start`, to share the replay between
    variants); `users` optionally restricts the simulation to these user ids (others never return).
    `scorer` is one ranker for every seed, or one per seed (seed k simulated with the k-th: the
    model trained with seed k, so the seeds carry model variance too).
    """
    t0 = time.perf_counter()
    start = data if isinstance(data, LTStart) else lt_start(world, data, history_cap)
    n = world.config.n_users
    ids = np.arange(1, n + 1) if users is None else np.unique(np.asarray(users, dtype=np.int64))
    if ids.min() < 1 or ids.max() > n:
        raise ValueError(f"users must be user ids in 1..{n}; got {ids.min()}..{ids.max()}")
    sim = Simulator(world, start, ids - 1, history_cap)
    seeds = tuple(int(s) for s in seeds)
    per_seed = list(scorer) if isinstance(scorer, Sequence) else [scorer] * len(seeds)
    if len(per_seed) != len(seeds):
        raise ValueError(f"'{variant}': {len(per_seed)} scorers for {len(seeds)} seeds; give one per seed")
    runs = [
        sim.run(sc, s, days, pairs_per_call, progress, f"LT {variant} seed {s}")
        for sc, s in zip(per_seed, seeds, strict=True)
    ]
    counts = start.positives[ids - 1]
    light = counts <= np.quantile(counts, LIGHT_SHARE)
    return LTResult(
        variant=variant,
        seeds=seeds,
        start_day=start.day,
        user_ids=ids,
        light=light,
        active=np.stack([a[:, ids - 1] for a, _ in runs]),
        satisfaction=np.stack([m for _, m in runs]),
        seconds=time.perf_counter() - t0,
    )
