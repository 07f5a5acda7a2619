"""Stochastic specialization: every optimiser step takes its whole batch from ONE source, drawn by the
source weights. The draw is a pure function of (seed, step), so every data-parallel rank draws the same
source without talking to the others, and a resumed run draws what the uninterrupted one would."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import IterableDataset


def source_for_step(weights: np.ndarray, seed: int, step: int) -> int:
    p = np.asarray(weights, dtype=np.float64)
    p = p / p.sum()
    return int(np.random.default_rng([seed, 11, step]).choice(len(p), p=p))


def indices_for_step(
    n_pairs: int, batch_size: int, seed: int, step: int, rank: int, world: int
) -> np.ndarray:
    """This rank's slice of the step's global batch (drawn without replacement)."""
    rng = np.random.default_rng([seed, 13, step])
    total = min(batch_size * world, n_pairs)
    idx = rng.choice(n_pairs, total, replace=False)
    per = total // world
    return np.sort(idx[rank * per : (rank + 1) * per])


class SourceSteps(IterableDataset):
    """Yields {step, source, indices} from the trainer's current step to `max_steps`."""

    def __init__(
        self,
        sizes: list[int],
        weights: Callable[[], np.ndarray],
        batch_size: int,
        seed: int,
        max_steps: int,
        start_step: Callable[[], int],
    ):
        self.sizes, self.weights, self.batch_size, self.seed = sizes, weights, batch_size, seed
        self.max_steps, self.start_step = max_steps, start_step

    def __iter__(self) -> Iterator[dict]:
        rank, world = (
            (dist.get_rank(), dist.get_world_size())
            if dist.is_available() and dist.is_initialized()
            else (0, 1)
        )
        for step in range(self.start_step(), self.max_steps):
            s = source_for_step(self.weights(), self.seed, step)
            idx = indices_for_step(self.sizes[s], self.batch_size, self.seed, step, rank, world)
            yield {"step": step, "source": s, "indices": torch.as_tensor(idx)}
