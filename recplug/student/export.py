"""Export a trained student: the model (`save_pretrained`, with its tokenizer), the item embeddings,
semantic IDs and the metadata the embedding-file format asks for."""

from __future__ import annotations

import shutil

import numpy as np
import polars as pl

from recplug.data.artifacts import atomic_folder
from recplug.data.embeddings import write_embeddings, write_metadata
from recplug.data.id_map import with_keys
from recplug.data.io import write_parquet
from recplug.student.modeling import OmniEncoder
from recplug.student.run import StudentRun
from recplug.student.semantic_ids import reconstruction_error, residual_kmeans


def export_student(
    run: StudentRun, encoder: OmniEncoder, emb: np.ndarray, kind: str = "student", extra: dict | None = None
) -> None:
    out = run.out
    with atomic_folder(out / "model") as tmp:
        encoder.save_pretrained(tmp)
        if (out / "tokenizer").is_dir():
            shutil.copytree(out / "tokenizer", tmp / "tokenizer")
    write_embeddings(out / "embeddings.parquet", run.store.item_ids, emb, dataset=run.ds.root)
    codes, books = residual_kmeans(emb, levels=3, codes=64, seed=run.cfg.seed)
    write_parquet(
        with_keys(
            pl.DataFrame(
                {"item_id": run.store.item_ids, **{f"sid_{i}": codes[:, i] for i in range(codes.shape[1])}}
            ),
            run.ds.root,
        ),
        out / "semantic_ids.parquet",
    )
    write_metadata(
        out,
        {
            "kind": kind,
            "data_cutoff_ts": run.cutoff,
            "dim": int(emb.shape[1]),
            "matryoshka_dims": list(encoder.config.matryoshka_dims),
            "similarity": "cosine (vectors are L2-normalised; a prefix of d dims, re-normalised, is a d-dim embedding)",
            "n_items": int(len(emb)),
            "semantic_ids": {
                "levels": int(codes.shape[1]),
                "codes_per_level": int(books[0].shape[0]),
                "mean_reconstruction_error": reconstruction_error(emb, codes, books),
            },
            "item_report": run.store.report,
            **(extra or {}),
        },
    )
