"""What a log's labels allow: does it hold negatives at all? A purchase / play / click-only log does not
(every row meets the positive rule), and a ranking AUC or logloss on it is undefined until negatives
are sampled (features/negatives.py). `validate`, `describe` and the pipeline ask the same question here."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from recplug.data.meta import DatasetMeta


@dataclass(frozen=True)
class LabelBalance:
    rows: int
    positives: int

    @property
    def negatives(self) -> int:
        return self.rows - self.positives

    @property
    def implicit(self) -> bool:
        """No negatives (or no positives): one label value only."""
        return self.rows > 0 and (self.negatives == 0 or self.positives == 0)

    def note(self, meta: DatasetMeta) -> str | None:
        """A one-line note when the log has one label value only (None otherwise)."""
        if not self.implicit:
            return None
        which = "positive" if self.negatives == 0 else "negative"
        return (
            f"every one of the {self.rows:,} interactions is {which} under the positive rule "
            f"({meta.positive_rule.describe()}): an implicit log with no logged negatives; ranking metrics need "
            "sampled negatives (ranking.negatives in the pipeline config: uniform, popularity or exposure)"
        )


def label_balance(interactions: pl.DataFrame | pl.LazyFrame, meta: DatasetMeta) -> LabelBalance:
    got = (
        interactions.lazy()
        .select(pl.len().alias("rows"), meta.positive_rule.expr().fill_null(False).sum().alias("positives"))
        .collect()
        .row(0)
    )
    return LabelBalance(int(got[0]), int(got[1] or 0))
