"""The LT curve: cumulative active days per user against days since the variant started serving,
one line per variant with its 95% band (bootstrap over users, as in the report rows), next to the
daily share of active users."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.lt.result import LTResult  # noqa: E402
from recplug.metrics.intervals import bootstrap_ci  # noqa: E402


def _band(per_user_by_day: np.ndarray, n_boot: int) -> np.ndarray:
    """(3, days) mean, low, high of per-user values (days, users)."""
    return np.array([bootstrap_ci(v, n_boot=n_boot) for v in per_user_by_day]).T


def plot_lt_curves(results: Mapping[str, LTResult], path: str | Path, n_boot: int = 200) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (cum_ax, daily_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for name, res in results.items():
        x = np.arange(1, res.days + 1)
        active = res.active.mean(0)  # (days, users): each user's chance of being active, over seeds
        for ax, values in ((cum_ax, np.cumsum(active, 0)), (daily_ax, active)):
            mean, low, high = _band(values, n_boot)
            (line,) = ax.plot(x, mean, label=name)
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
    cum_ax.set(xlabel="days since start", ylabel="cumulative active days per user", title="LT curve")
    daily_ax.set(xlabel="days since start", ylabel="share of users active", title="daily active users")
    for ax in (cum_ax, daily_ax):
        ax.grid(alpha=0.3)
    cum_ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
