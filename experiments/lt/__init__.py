"""Lifetime (LT: active days per user over the next 7 / 14 days) offline: a user simulator on the
synthetic world, and a correlational proxy on real logs."""

from experiments.lt.result import LTResult, lt_rows
from experiments.lt.scorers import Scorer, popularity_scorer, random_scorer, true_affinity_scorer
from experiments.lt.simulator import simulate_lt
from experiments.lt.start import LTStart, lt_start

__all__ = [
    "LTResult",
    "LTStart",
    "Scorer",
    "lt_rows",
    "lt_start",
    "popularity_scorer",
    "random_scorer",
    "simulate_lt",
    "true_affinity_scorer",
]
