"""Write a trained teacher's outputs: item embeddings, user states, metadata, and the final weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from recplug.data.artifacts import fingerprint
from recplug.data.embeddings import EMBEDDINGS_FILE, USER_STATES_FILE, write_embeddings, write_metadata
from recplug.data.io import atomic_write
from teachers.kinds import TeacherKind

MODEL_FILE = "model.safetensors"


def export_teacher(
    out: Path, kind: TeacherKind, model: torch.nn.Module, extra: dict[str, Any]
) -> dict[str, Any]:
    """Embeddings of every warm item and every user with history at the cut-off; metadata.json last."""
    data, cfg = kind.data, kind.cfg
    item_rows = np.arange(1, data.items.size)
    model.eval()
    items = kind.item_embeddings(model, item_rows).numpy()
    write_embeddings(out / EMBEDDINGS_FILE, data.items.ids_at(item_rows), items, dataset=data.root)
    user_rows = np.arange(1, data.users.size)
    lengths, values = data.final_histories(user_rows, cfg.history_len)
    users = kind.query_embeddings(model, user_rows, lengths, values).numpy()
    write_embeddings(out / USER_STATES_FILE, data.users.ids_at(user_rows), users, "user_id", data.root)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic_write(out / MODEL_FILE, lambda tmp: save_file(state, tmp))
    metadata = {
        "kind": cfg.kind,
        "dim": int(items.shape[1]),
        "similarity": "cosine (vectors are L2-normalised)",
        "n_items": int(len(item_rows)),
        "n_users": int(len(user_rows)),
        "data_cutoff_ts": data.cutoff,
        "data": data.fingerprint,
        "config_hash": fingerprint(cfg.model_dump(mode="json")),
        "config": json.loads(cfg.model_dump_json()),
        **extra,
    }
    write_metadata(out, metadata)
    return metadata
