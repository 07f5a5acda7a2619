"""What every benchmark prints above its table and stores beside it: the machine it ran on (cores,
torch threads, torch build, CPU model) and the results as JSON, so figures from two machines or two
runs are never compared blind; and the one timer of a call they share."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any


def timed_call(fn) -> tuple[Any, float]:
    """(fn(), its wall-clock seconds)."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    import torch

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def describe(info: dict[str, Any]) -> str:
    return (
        f"{info['cpu']}; {info['usable_cores']} of {info['cores']} cores usable, "
        f"{info['torch_threads']} torch threads; torch {info['torch']}"
        + (" (CUDA)" if info["cuda"] else " (CPU)")
    )


def report(out: str | Path, name: str, markdown: str, results: Any) -> None:
    """Print the machine and the table; write OUT/NAME.md and OUT/NAME.json (machine + results)."""
    info = machine_info()
    text = f"Machine: {describe(info)}\n\n{markdown}\n"
    print(text)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(text)
    (out / f"{name}.json").write_text(
        json.dumps({"machine": info, "results": results}, indent=2, default=str)
    )
    print(f"wrote {out / f'{name}.md'} and {out / f'{name}.json'}")
