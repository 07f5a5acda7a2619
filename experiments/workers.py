"""Independent jobs of a stage on processes with one torch thread each, this process among them.

The pipeline's models are small: a second torch thread speeds one of them up 1.4-1.5x on 2 cores,
while two processes of one thread each finish two independent jobs (CRE ablation variants, LT
simulations) nearly 2x sooner than one after the other. A job is a module-level function; what it
needs that is costly to build (a prepared student, a ranking run) is built once per process with
`per_process` and kept for that process's next jobs (`forget` lets this process's go).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

_BUILT: dict = {}  # what `per_process` built in this process, by key


def per_process(key: Any, build: Callable[[], Any]) -> Any:
    """`build()`, once per process and key."""
    if key not in _BUILT:
        _BUILT[key] = build()
    return _BUILT[key]


def forget() -> None:
    """Drop what `per_process` built in this process."""
    _BUILT.clear()


def one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=one_thread
    )


def here_and_in_processes(fn: Callable, jobs: Sequence[tuple], workers: int) -> list[Any]:
    """`fn(*job)` of every job, in the jobs' order, with this process as one of the `workers` (one
    torch thread while it takes jobs) and `workers - 1` spawned ones: what this process built with
    `per_process` serves its jobs without a copy, so the stage's memory grows by one process fewer.
    Every process takes the next job when it frees up; the first failure stops new jobs and is raised."""
    import torch

    results: list[Any] = [None] * len(jobs)
    order = iter(range(len(jobs)))
    lock, settled = threading.Lock(), threading.Condition()
    counts = {"submitted": 0, "finished": 0}
    errors: list[BaseException] = []

    def take() -> int | None:
        with lock:
            return None if errors else next(order, None)

    with _pool(max(1, min(workers - 1, len(jobs) - 1))) as pool:

        def submit() -> None:
            i = take()
            if i is not None:
                with settled:
                    counts["submitted"] += 1
                pool.submit(fn, *jobs[i]).add_done_callback(lambda f: finish(f, i))

        def finish(f: Future, i: int) -> None:
            if f.exception() is not None:
                errors.append(f.exception())
            else:
                results[i] = f.result()
                submit()  # before this job counts as finished: the wait below never sees a gap
            with settled:
                counts["finished"] += 1
                settled.notify_all()

        for _ in range(workers - 1):
            submit()
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            while (i := take()) is not None:
                results[i] = fn(*jobs[i])
        except BaseException as e:
            errors.append(e)
        finally:
            torch.set_num_threads(before)
        with settled:
            settled.wait_for(lambda: counts["finished"] == counts["submitted"])
    if errors:
        raise errors[0]
    return results
