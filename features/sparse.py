"""Sparse id features of the ranking model: item attributes as rows and the KeyedJaggedTensor that
carries one id per row for each feature (user, item, category, semantic-id codes); id vocabularies are
`recplug.data.vocabulary.Vocabulary`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchrec import KeyedJaggedTensor

from recplug.data.schema import positions_in
from recplug.data.vocabulary import UNKNOWN_ROW


@dataclass
class ItemAttribute:
    """A categorical item attribute (e.g. `category`) as a row per item: known for every item in the
    catalogue, cold ones included, because it comes from item metadata rather than interactions."""

    item_ids: np.ndarray  # sorted
    codes: np.ndarray  # (n,) rows in 1..size-1, 0 where the item has no value
    size: int

    @classmethod
    def of(cls, item_ids: np.ndarray, values: np.ndarray) -> ItemAttribute:
        order = np.argsort(item_ids, kind="stable")
        values = np.asarray(values, dtype=object)[order]
        present = np.array([v is not None for v in values])
        levels = np.unique(values[present].astype(str)) if present.any() else np.zeros(0, str)
        codes = np.zeros(len(values), np.int64)
        codes[present] = np.searchsorted(levels, values[present].astype(str)) + 1
        return cls(np.asarray(item_ids, np.int64)[order], codes, len(levels) + 1)

    def rows(self, item_ids: np.ndarray) -> np.ndarray:
        pos = positions_in(self.item_ids, np.asarray(item_ids, dtype=np.int64))
        return np.where(pos >= 0, self.codes[np.maximum(pos, 0)], UNKNOWN_ROW)


def id_kjt(columns: dict[str, np.ndarray]) -> KeyedJaggedTensor:
    """A KeyedJaggedTensor with exactly one id per row for each named (n,) column."""
    keys = list(columns)
    n = len(columns[keys[0]]) if keys else 0
    values = (
        np.concatenate([np.asarray(columns[k], dtype=np.int64) for k in keys])
        if keys
        else np.zeros(0, np.int64)
    )
    return KeyedJaggedTensor.from_lengths_sync(
        keys=keys, values=torch.from_numpy(values), lengths=torch.ones(len(keys) * n, dtype=torch.int32)
    )
