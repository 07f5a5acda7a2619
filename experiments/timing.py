"""Wall time and peak memory of a block, printed for the user (sub-commands and pipeline stages)."""

from __future__ import annotations

import resource
import sys
import time
from contextlib import contextmanager


def peak_rss_mib() -> float:
    """Peak resident memory of this process and its finished children, MiB (Linux reports KiB). The
    process's own peak is VmHWM where /proc has it: ru_maxrss survives exec, so a spawned worker (the
    CRE ablation's) would report the peak of the process it was forked from."""
    own = _high_water_kib() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def _high_water_kib() -> int | None:
    try:
        with open("/proc/self/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), None)
    except OSError:
        return None


@contextmanager
def timed(label: str):
    """Print wall time and peak memory of a block to stderr (so stdout stays clean for reports)."""
    t0 = time.perf_counter()
    yield
    print(
        f"[{label}] {time.perf_counter() - t0:.1f} s, peak memory {peak_rss_mib():.0f} MiB", file=sys.stderr
    )
