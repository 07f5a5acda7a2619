"""Value rules of the data contract, beyond dtypes: times in seconds, event labels 0 or 1, finite numbers,
ids inside int64, non-empty queries.

One table read by validation (naming the dataset's file) and by the importers (naming the source file),
so a value one refuses the other refuses too. A rule is a polars expression over one column that holds on
the bad rows; `check` names the first bad row of each broken rule, its value, and how many rows are like it.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from recplug.data.errors import DatasetError, first_bad
from recplug.data.schema import INTERACTIONS_FILE, ITEMS_FILE, LABEL_COLUMNS, QUERIES_FILE

MAX_SECONDS = 10**10  # 2286-11-20 in seconds since the epoch: a larger time is in a smaller unit
INT64_MAX = 2**63 - 1
BINARY_LABELS = ("click", "like", "finish", "purchase", "play")  # one event each: 0 or 1 (or booleans)
NON_NEGATIVE_LABELS = ("watch_time",)  # durations
# `rating` and `weight` take any finite number: rating scales vary, event weights may be negative
TIME_UNITS = (  # (smallest value, unit, divisor) of epoch times written in units finer than seconds
    (MAX_SECONDS, "milliseconds", "1000"),
    (MAX_SECONDS * 10**3, "microseconds", "1,000,000"),
    (MAX_SECONDS * 10**6, "nanoseconds", "1,000,000,000"),
)


@dataclass(frozen=True)
class Rule:
    column: str
    bad: pl.Expr  # true on the rows that break the rule
    problem: str  # what is wrong with such a value, and what is expected


def time_rules(column: str) -> list[Rule]:
    """Seconds since the epoch: not negative, not milli- / micro- / nanoseconds (hinting the divisor)."""
    c = pl.col(column)
    rules = [Rule(column, c < 0, "is negative; times are seconds since 1970-01-01 UTC")]
    upper = [lo for lo, _, _ in TIME_UNITS[1:]] + [None]
    for (lo, unit, divisor), hi in zip(TIME_UNITS, upper, strict=True):
        bad = c >= lo if hi is None else (c >= lo) & (c < hi)
        problem = f"looks like {unit} since the epoch; divide by {divisor} (times are seconds)"
        rules.append(Rule(column, bad, problem))
    return rules


def id_rules(column: str, dtype: pl.DataType) -> list[Rule]:
    """Ids become int64: an unsigned 64-bit id above its maximum does not fit."""
    if dtype != pl.UInt64:
        return []
    return [Rule(column, pl.col(column) > INT64_MAX, f"does not fit int64 (at most {INT64_MAX})")]


def required_rules(columns: list[str]) -> list[Rule]:
    """Every row holds a value (for importers; validation names null rows in its own words)."""
    return [Rule(c, pl.col(c).is_null(), "is empty; every row needs one") for c in columns]


def label_rules(column: str, dtype: pl.DataType) -> list[Rule]:
    """Finite numbers; events 0 or 1; durations not negative."""
    if dtype == pl.Boolean or not dtype.is_numeric():
        return []
    c = pl.col(column)
    finite = c.is_finite() if dtype.is_float() else pl.lit(True)
    rules = [Rule(column, ~finite, "is not a finite number")] if dtype.is_float() else []
    if column in BINARY_LABELS:
        what = (
            f"is not 0 or 1; '{column}' is one event per row (graded values belong in 'rating' or 'weight')"
        )
        rules.append(Rule(column, finite & (c != 0) & (c != 1), what))
    if column in NON_NEGATIVE_LABELS:
        rules.append(Rule(column, finite & (c < 0), f"is negative; '{column}' is a duration"))
    return rules


def rules_for(file: str, schema: dict[str, pl.DataType]) -> list[Rule]:
    """The value rules of the contract columns `schema` holds (columns of an accepted dtype only)."""
    rules: list[Rule] = []
    for column in ("user_id", "item_id", "session_id"):
        if column in schema:
            rules += id_rules(column, schema[column])
    if file == INTERACTIONS_FILE:
        rules += time_rules("ts") if "ts" in schema else []
        for column in LABEL_COLUMNS:
            rules += label_rules(column, schema[column]) if column in schema else []
    if file == ITEMS_FILE and "created_ts" in schema:
        rules += time_rules("created_ts")
    if file == QUERIES_FILE:
        if "query" in schema:
            empty = pl.col("query").str.strip_chars().str.len_chars() == 0
            rules.append(Rule("query", empty, "is empty; a query needs text"))
        if "score" in schema and schema["score"].is_float():
            rules.append(Rule("score", ~pl.col("score").is_finite(), "is not a finite number"))
    return [r for r in rules if schema[r.column] != pl.Null]


def check(frame: pl.DataFrame | pl.LazyFrame, rules: list[Rule], file: str) -> list[DatasetError]:
    """One error per broken rule (one pass counts them all; a second finds each broken rule's first row)."""
    if not rules:
        return []
    lf = frame.lazy()
    counts = (
        lf.select(r.bad.fill_null(False).sum().alias(str(i)) for i, r in enumerate(rules)).collect().row(0)
    )
    errors = [
        first_bad(lf, r.column, r.bad, file, r.problem, count=n)
        for r, n in zip(rules, counts, strict=True)
        if n
    ]
    return [e for e in errors if e is not None]


def raise_first(frame: pl.DataFrame | pl.LazyFrame, rules: list[Rule], file: str) -> None:
    """Raise the first broken rule's error (importers stop at the first bad value)."""
    errors = check(frame, rules, file)
    if errors:
        raise errors[0]
