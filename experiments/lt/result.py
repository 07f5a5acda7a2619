"""What one simulated variant produced, and its report rows (LT7 / LT14 with intervals, and the paired
difference from a baseline variant).

Intervals: a two-level percentile bootstrap (`recplug.metrics.intervals.two_level_bootstrap`) that
resamples users and then seeds. Simulation seed k runs the ranking model of training seed k, so the seeds
carry model variance as well as simulation noise, and the interval holds both. A difference is paired:
per user and seed, variant minus baseline on the same simulation seed, so the common random numbers
cancel in the pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from recplug.metrics.intervals import MetricRow, diff_metric, make_row, two_level_bootstrap

EXPERIMENT = "lt"
LIGHT_SHARE = 0.2
COLUMNS = (
    "lt7",
    "lt14",
    "lt7_diff",
    "lt14_diff",
)  # the "light" split: this share of users with the fewest logged positives


@dataclass
class LTResult:
    variant: str
    seeds: tuple[int, ...]
    start_day: int  # the world day of simulated day 0
    user_ids: np.ndarray  # (U,) the simulated users
    light: np.ndarray  # (U,) bool: among the LIGHT_SHARE of users with the fewest logged positives
    active: np.ndarray  # (n_seeds, days, U) bool: user came back on that day
    satisfaction: np.ndarray  # (n_seeds, days) mean per-impression satisfaction of what was shown
    seconds: float  # wall time of the whole simulation, scorer included

    @classmethod
    def of_seeds(cls, parts: Sequence[LTResult]) -> LTResult:
        """One result from the same ranker's runs of single seeds (simulated apart, e.g. in parallel)."""
        first = parts[0]
        for p in parts[1:]:
            if p.variant != first.variant or not np.array_equal(p.user_ids, first.user_ids):
                raise ValueError(
                    f"'{p.variant}' and '{first.variant}': not runs of one ranker on one population"
                )
        return cls(
            variant=first.variant,
            seeds=tuple(s for p in parts for s in p.seeds),
            start_day=first.start_day,
            user_ids=first.user_ids,
            light=first.light,
            active=np.concatenate([p.active for p in parts]),
            satisfaction=np.concatenate([p.satisfaction for p in parts]),
            seconds=sum(p.seconds for p in parts),
        )

    @property
    def days(self) -> int:
        return self.active.shape[1]

    def lt(self, horizon: int) -> np.ndarray:
        """(n_seeds, U) active days in the first `horizon` simulated days (day 0 included)."""
        if not 1 <= horizon <= self.days:
            raise ValueError(f"LT{horizon} needs {horizon} simulated days; '{self.variant}' has {self.days}")
        return self.active[:, :horizon].sum(1)

    def daily_active(self) -> np.ndarray:
        """(n_seeds, days) share of users active each day."""
        return self.active.mean(2)

    def splits(self) -> dict[str, np.ndarray]:
        return {"all": np.ones(len(self.user_ids), dtype=bool), "light": self.light}


def _check_paired(a: LTResult, b: LTResult) -> None:
    if a.seeds != b.seeds or not np.array_equal(a.user_ids, b.user_ids) or a.start_day != b.start_day:
        raise ValueError(
            f"variants '{a.variant}' and '{b.variant}' were simulated on different seeds, users or start "
            f"days ({a.seeds} vs {b.seeds}); a paired difference needs the same ones"
        )


def lt_rows(
    results: Mapping[str, LTResult] | list[LTResult],
    baseline: str | None = None,
    horizons: tuple[int, ...] = (7, 14),
    n_boot: int = 1000,
    widening: list[dict] | None = None,
) -> list[MetricRow]:
    """Rows `lt{h}` per variant and split and, with a `baseline`, `lt{h}_diff` (variant - baseline)
    for every other variant, on the same users and seeds. Horizons beyond the simulation are skipped.
    When `widening` is a list, each difference row appends its users-only interval beside the one
    reported (users and seeds)."""
    by_name = {r.variant: r for r in results} if isinstance(results, list) else dict(results)
    if baseline is not None and baseline not in by_name:
        raise ValueError(f"baseline '{baseline}' is not among the variants {sorted(by_name)}")
    rows: list[MetricRow] = []
    for name, res in by_name.items():
        base = by_name[baseline] if baseline not in (None, name) else None
        if base is not None:
            _check_paired(res, base)
        for h in (h for h in horizons if h <= res.days):
            for split, mask in res.splits().items():
                n = int(mask.sum())
                est, _ = two_level_bootstrap(res.lt(h)[:, mask], n_boot)
                rows.append(make_row(EXPERIMENT, name, f"lt{h}", split, est, n))
                if base is not None:
                    est, users_only = two_level_bootstrap((res.lt(h) - base.lt(h))[:, mask], n_boot)
                    rows.append(make_row(EXPERIMENT, name, diff_metric(f"lt{h}"), split, est, n))
                    if widening is not None:
                        widening.append(
                            {
                                "variant": name,
                                "metric": diff_metric(f"lt{h}"),
                                "split": split,
                                "ci_users_only": list(users_only),
                                "ci_users_and_seeds": [est[1], est[2]],
                            }
                        )
    return rows
