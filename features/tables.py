"""Feature tables: an embedding folder (the student's, a teacher's, or a user's own export) whose
vectors give match features and whose `semantic_ids.parquet`, when present, gives semantic-id features.

Match features of a frozen table never change, so they are computed once per (table, dataset,
settings) by `MatchFeatures` itself and cached as safetensors; every ranking variant and seed reuses them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save

from features.impressions import Impressions
from features.match import MatchFeatures, MatchStats, compute_match_features, coverage
from features.semantic import SEMANTIC_IDS_FILE, SemanticIds, read_semantic_ids
from recplug.data.artifacts import atomic_write, count_work, digest, fingerprint
from recplug.data.embedding_checks import check_dataset
from recplug.data.embeddings import EMBEDDINGS_FILE, EmbeddingTable, read_embeddings


@dataclass
class FeatureTable:
    name: str
    folder: Path
    table: EmbeddingTable
    semantic: SemanticIds | None
    coverage: float  # share of the dataset's items that have a vector

    def match_module(
        self, top_k: int = 5, decay: float = 0.9, bins: int = 8, precision: str = "fp32"
    ) -> MatchFeatures:
        return MatchFeatures(
            self.table, top_k=top_k, decay=decay, bins=bins, prefix=f"{self.name}_", precision=precision
        )

    @property
    def cutoff(self) -> int | None:
        """The latest interaction time the table was fitted on, when its metadata says (teachers
        write `data_cutoff_ts`); impressions before it would see features fitted on their own labels."""
        meta = self.table.metadata
        value = meta.get("data_cutoff_ts", (meta.get("data") or {}).get("cutoff"))
        return None if value is None else int(value)

    @property
    def fingerprint(self) -> str:
        """Content hash of the embedding file (what the cached match features depend on)."""
        return digest(self.folder / EMBEDDINGS_FILE)


def load_table(name: str, folder: str | Path, item_ids: np.ndarray, dataset: str = "") -> FeatureTable:
    """Read an embedding folder (and its semantic ids) and check they describe this dataset's items
    (`dataset`: its name): a file whose ids miss every item (e.g. exported from another dataset) is
    refused by `read_embeddings`, not used as zeros; low coverage is a warning in `table.warnings`."""
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    who = f"feature source '{name}'"
    table = read_embeddings(folder, dataset_ids=item_ids, dataset=dataset, who=who)
    semantic = None
    if (folder / SEMANTIC_IDS_FILE).exists():
        semantic = read_semantic_ids(folder)
        table.warnings += check_dataset(
            folder / SEMANTIC_IDS_FILE, semantic.ids, {}, item_ids, dataset, who=f"the semantic ids of {who}"
        )
    return FeatureTable(name, folder, table, semantic, coverage(table.ids, item_ids))


def cached_match_features(
    source: FeatureTable,
    imps: Impressions,
    cache_dir: Path | None,
    key: dict,
    *,
    top_k: int = 5,
    decay: float = 0.9,
    bins: int = 8,
    precision: str = "fp32",
    progress: bool = True,
    cache_name: str | None = None,
) -> tuple[np.ndarray, dict]:
    """(n, F) match features of every impression and their counts (rows, missing ids), read from
    `cache_dir/<cache_name or source>/match.safetensors` when it was written for the same inputs, else
    computed."""
    module = source.match_module(top_k, decay, bins, precision)
    # one file carrying its own fingerprint: it is written atomically, so it needs no separate stamp
    settings = {"top_k": top_k, "decay": decay, "bins": bins}
    if precision != "fp32":  # (fp32 keeps the fingerprints of caches written before the option)
        settings["precision"] = precision
    key_hash = fingerprint({**key, "table": source.fingerprint, **settings})
    path = None if cache_dir is None else Path(cache_dir) / (cache_name or source.name) / "match.safetensors"
    if path is not None and path.is_file():
        with safe_open(path, "np") as f:
            meta = f.metadata() or {}
            if meta.get("fingerprint") == key_hash:
                return f.get_tensor("features"), json.loads(meta["stats"])
    values, stats = compute_match_features(
        module, imps.hist, imps.item_id, progress=progress, desc=f"match features ({source.name})"
    )
    info = stats_dict(stats, source, imps)
    if path is not None:
        meta = {
            "fingerprint": key_hash,
            "stats": json.dumps(info),
            "names": json.dumps(module.feature_names),
        }
        data = save({"features": values}, metadata=meta)
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
        count_work()
    return values, info


def stats_dict(stats: MatchStats, source: FeatureTable, imps: Impressions) -> dict:
    return {
        "rows": stats.rows,
        "history_entries": stats.history_entries,
        "missing_history": stats.missing_history,
        "missing_items": stats.missing_items,
        "histories_truncated": imps.hist.truncated,
        "item_coverage": source.coverage,
    }
