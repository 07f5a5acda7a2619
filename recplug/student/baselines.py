"""Baselines the student must beat: TF-IDF over the item's text (and the query's), no learning."""

from __future__ import annotations

import numpy as np
import polars as pl

from recplug.data.vectors import unit_rows
from recplug.student.items import ItemStore


class TfidfBaseline:
    """Bag-of-words TF-IDF fitted on the items' text fields; queries are embedded in the same space."""

    def __init__(self, store: ItemStore, fields: tuple[str, ...] = ("title", "description", "tags")):
        self.fields = [f for f in fields if f in store.texts]
        docs = [
            " ".join(t or "" for t in parts)
            for parts in zip(*(store.texts[f] for f in self.fields), strict=True)
        ]
        tokens = self._tokens(docs)
        self.vocab = tokens["w"].unique().sort()
        df = tokens.unique(["row", "w"]).group_by("w").len()
        idf = df.with_columns(idf=(np.log((1 + len(docs)) / (1 + pl.col("len"))) + 1.0))
        self.idf = idf.sort("w")["idf"].to_numpy()
        self.items = self._matrix(tokens, len(docs))

    @staticmethod
    def _tokens(docs: list[str]) -> pl.DataFrame:
        return (
            pl.DataFrame({"d": docs})
            .with_row_index("row")
            .select(
                "row",
                pl.col("d").str.to_lowercase().str.replace_all(r"[^a-z0-9 ]", " ").str.split(" ").alias("w"),
            )
            .explode("w")
            .filter(pl.col("w").is_not_null() & (pl.col("w") != ""))
        )

    def _matrix(self, tokens: pl.DataFrame, n: int) -> np.ndarray:
        known = tokens.filter(pl.col("w").is_in(self.vocab.implode()))
        col = known["w"].cast(pl.Enum(self.vocab)).to_physical().to_numpy()
        x = np.zeros((n, len(self.vocab)), dtype=np.float32)
        np.add.at(x, (known["row"].to_numpy(), col), 1.0)
        x *= self.idf[None, :]
        return unit_rows(x)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return self._matrix(self._tokens(texts), len(texts))
