"""What the student may train on, and what stays held out for choices and for evaluation.

Three rules keep every figure honest (nothing trained sees the test period, every choice is made on a
validation split):
- **Time**: training sources read interactions before `valid_start`; the co-engagement pairs of
  [valid_start, cutoff) are the validation set that adaptive balancing compares sources with. Nothing at
  or after the cut-off (the dataset's `train_end`) reaches any training source or choice.
- **Queries** (which have no time) are split three ways by a stable hash of their text: train /
  validation / test. Rewriting or adding test queries never moves another query's split.
- **Items**: inductive by default, only items created (or, without `created_ts`, first seen) before the
  cut-off train; brand-new items are embedded, never trained on. A held-out share of items never trains
  its category label, so category metrics are scored on labels no source saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl

from recplug.data import Dataset
from recplug.student.items import ItemStore

SPLITS = ("train", "valid", "test")


def stable_unit(keys: list[str], seed: int, salt: str) -> np.ndarray:
    """A number in [0, 1) per key from a hash of (seed, salt, key): the same key always gets the same
    number, whatever else is in the data."""
    out = np.empty(len(keys))
    for i, k in enumerate(keys):  # one hash per distinct query text or item id (thousands)
        h = hashlib.blake2b(f"{seed}|{salt}|{k}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(h, "little") / 2.0**64
    return out


def query_split(texts: pl.Series, seed: int, valid: float, test: float) -> pl.Series:
    """'train' / 'valid' / 'test' per query row, by its text (all rows of one text share a split)."""
    uniq = texts.unique().sort()
    u = stable_unit(uniq.to_list(), seed, "query")
    label = np.where(u < test, "test", np.where(u < test + valid, "valid", "train"))
    lookup = pl.DataFrame({"query": uniq, "split": label})
    return pl.DataFrame({"query": texts}).join(lookup, on="query", how="left", maintain_order="left")["split"]


def known_items(ds: Dataset, store: ItemStore, cutoff: int) -> np.ndarray:
    """bool per store row: the item existed before the cut-off (created_ts < cutoff, or, where the item
    has no created_ts, a first interaction before it). Items with neither are unknown (never trained)."""
    before = ds.interactions.lazy().filter(pl.col("ts") < cutoff).select(pl.col("item_id").unique()).collect()
    seen = np.isin(store.item_ids, before["item_id"].to_numpy())
    if "created_ts" not in ds.items.columns:
        return seen
    created = ds.items.select("item_id", "created_ts")
    rows = store.rows(created["item_id"].to_numpy())
    ok = rows >= 0
    ts = created["created_ts"].to_numpy()[ok].astype(np.float64)  # nulls -> nan
    known = seen.copy()
    has = ~np.isnan(ts)
    known[rows[ok][has]] = ts[has] < cutoff
    return known


@dataclass
class StudentHoldout:
    """The student's splits, built once per run (see the module docstring)."""

    item_ids: np.ndarray  # the store's item ids (rows of the masks below)
    cutoff: int  # nothing at or after this ts trains (the dataset's train_end)
    valid_start: int  # co-engagement in [valid_start, cutoff) is the validation set
    trainable: np.ndarray  # bool per store row: may appear in a training source
    label_trainable: np.ndarray  # bool per store row: its category label may train (i2c source)
    queries: dict[str, pl.DataFrame | None]  # 'train' / 'valid' / 'test' query rows
    transductive: bool

    @classmethod
    def build(
        cls,
        ds: Dataset,
        store: ItemStore,
        *,
        seed: int,
        valid_fraction: float,
        query_valid: float,
        query_test: float,
        category_holdout: float,
        transductive: bool,
    ) -> StudentHoldout:
        s = ds.meta.splits
        cutoff = s.train_end
        valid_start = int(cutoff - valid_fraction * (cutoff - s.start))
        trainable = (
            np.ones(len(store.item_ids), dtype=bool) if transductive else known_items(ds, store, cutoff)
        )
        held_label = stable_unit([str(i) for i in store.item_ids], seed, "category") < category_holdout
        queries: dict[str, pl.DataFrame | None] = dict.fromkeys(SPLITS)
        if ds.queries is not None:
            split = query_split(ds.queries["query"], seed, query_valid, query_test)
            for name in SPLITS:
                queries[name] = ds.queries.filter(split == name)
            if not transductive:  # a training query about a brand-new item would teach that item
                rows = store.rows(queries["train"]["item_id"].to_numpy())
                ok = (rows >= 0) & trainable[np.maximum(rows, 0)]
                queries["train"] = queries["train"].filter(pl.Series(ok))
        return cls(
            store.item_ids, cutoff, valid_start, trainable, trainable & ~held_label, queries, transductive
        )

    @property
    def category_held(self) -> np.ndarray:
        """bool per store row: the item's category label never trained (category metrics use these)."""
        return ~self.label_trainable

    def summary(self) -> dict:
        """Counts for metrics.json and report.md."""
        q = {k: (0 if v is None else v.height) for k, v in self.queries.items()}
        return {
            "mode": "transductive" if self.transductive else "inductive",
            "cutoff_ts": self.cutoff,
            "validation_start_ts": self.valid_start,
            "trainable_items": int(self.trainable.sum()),
            "untrained_items": int((~self.trainable).sum()),
            "category_labels_never_trained": int(self.category_held.sum()),
            "query_rows": q,
        }
