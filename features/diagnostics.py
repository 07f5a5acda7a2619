"""What a researcher checks before believing a ranking comparison: how much preference signal each match
feature carries on its own (its univariate test AUC), the smallest difference the run could detect, and
the warnings a small or badly fitted experiment deserves."""

from __future__ import annotations

from features.match import match_feature_names
from recplug.metrics.classification import MetricUndefined, auc
from recplug.metrics.intervals import MetricRow

Z_POWER = 2.8  # 1.96 (two-sided 5%) + 0.84 (80% power): a difference this many SEs away is detected
MIN_EVENTS, MIN_USERS = 1000, 1000  # below these an evaluation set gets a warning


def univariate_auc(run, sources: list[str]) -> dict[str, dict[str, float | None]]:
    """Per match-feature source and feature: the test-period AUC of the feature alone (0.5: no signal;
    below 0.5: signal the other way). Each row's value comes from its own fold's table."""
    test = run.imps.rows("test")
    labels = run.imps.label[test]
    out: dict[str, dict[str, float | None]] = {}
    for source in sources:
        values, _ = run.match_values(source)
        m = run.match_settings
        names = match_feature_names(m.top_k, m.bins, prefix=f"{source}_")
        out[source] = {}
        for j, name in enumerate(names):
            try:
                out[source][name] = round(auc(labels, values[test, j]), 4)
            except MetricUndefined:
                out[source][name] = None
    return out


def minimum_detectable(row: MetricRow) -> float:
    """The smallest true difference this comparison would detect with 80% power at the 5% level:
    2.8 standard errors, the SE read off the row's 95% interval (width / 3.92)."""
    return Z_POWER * (row["ci_high"] - row["ci_low"]) / 3.92


def fit_warnings(curves: dict[str, list[dict]], ranker: str = "dlrm") -> list[str]:
    """A variant whose best epoch is its first (on any seed) was selected before it learnt, or overfits
    at once: its comparison says little about the features."""
    out = []
    for variant, runs in curves.items():
        first = [r["seed"] for r in runs if r.get("best_epoch") == 0 and len(r.get("valid_auc", [])) > 1]
        if first:
            out.append(
                f"{ranker} ranker, '{variant}': the best epoch is the first on seed(s) {first} (selection AUC "
                f"{[round(a, 4) for a in next(r for r in runs if r['seed'] == first[0])['valid_auc']]}): "
                "the ranker overfits at once or the selection window is too small"
            )
    return out


def size_warnings(what: str, events: int, users: int) -> list[str]:
    """A warning when an evaluation set is small (fewer than 1,000 events or users)."""
    if events < MIN_EVENTS or users < MIN_USERS:
        return [
            f"{what}: {events:,} events from {users:,} users; below {MIN_EVENTS:,} events or {MIN_USERS:,} "
            "users an interval is wide and a difference hard to see"
        ]
    return []
