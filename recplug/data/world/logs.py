"""Simulate the impression log day by day, streaming each day's rows out so that the large preset
never holds the whole log in memory."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from recplug.data.world.behaviour import LoggingPolicy, ReturnModel, draw_labels
from recplug.data.world.config import DAY, START_TS
from recplug.data.world.latents import Latents, rng_for

SECONDS_PER_IMPRESSION = 30

INTERACTION_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("item_id", pa.int64()),
        ("ts", pa.int64()),
        ("session_id", pa.int64()),
        ("click", pa.int8()),
        ("finish", pa.int8()),
        ("like", pa.int8()),
    ]
)


def simulate_logs(latents: Latents) -> Iterator[pa.Table]:
    """Yield one arrow table per simulated day, rows sorted by time."""
    cfg = latents.cfg
    policy = LoggingPolicy(latents)
    returns = ReturnModel(cfg, latents.users.activity)
    state = returns.initial_state()
    next_session = 0
    k = cfg.impressions_per_session
    for day in range(cfg.n_days):
        rng = rng_for(latents.seed, 100, day)
        active = np.flatnonzero(rng.random(cfg.n_users) < returns.p_return(state))
        n_sess = 1 + rng.poisson((cfg.sessions_per_active_day - 1) * latents.users.activity[active])
        sat_sum = np.zeros(cfg.n_users)
        sat_n = np.zeros(cfg.n_users)
        parts = []
        for lo in range(0, len(active), cfg.user_chunk):
            users = np.repeat(active[lo : lo + cfg.user_chunk], n_sess[lo : lo + cfg.user_chunk])
            cand = policy.candidates(len(users), day, rng)
            shown, aff = policy.choose(users, cand, day, rng)
            labels = draw_labels(cfg, aff, rng)
            sat = labels.satisfaction().sum(1)
            np.add.at(sat_sum, users, sat)
            np.add.at(sat_n, users, k)
            start = START_TS + day * DAY + rng.integers(0, DAY - k * SECONDS_PER_IMPRESSION, len(users))
            ts = start[:, None] + SECONDS_PER_IMPRESSION * np.arange(k)[None, :]
            session = next_session + np.arange(len(users))
            next_session += len(users)
            parts.append(
                {
                    "user_id": np.repeat(users + 1, k),
                    "item_id": shown.ravel() + 1,
                    "ts": ts.ravel(),
                    "session_id": np.repeat(session, k),
                    "click": labels.click.ravel().astype(np.int8),
                    "finish": labels.finish.ravel().astype(np.int8),
                    "like": labels.like.ravel().astype(np.int8),
                }
            )
        state = returns.update(state, active, sat_sum[active] / np.maximum(sat_n[active], 1))
        if not parts:
            continue
        cols = {name: np.concatenate([p[name] for p in parts]) for name in INTERACTION_SCHEMA.names}
        order = np.lexsort((cols["session_id"], cols["ts"]))
        yield pa.table({name: v[order] for name, v in cols.items()}, schema=INTERACTION_SCHEMA)
