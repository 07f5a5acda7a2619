"""Load a trained teacher folder back (config from metadata.json, weights from model.safetensors)."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file

from recplug.data import load_dataset
from teachers.config import TeacherConfig
from teachers.data import TeacherData
from teachers.export import MODEL_FILE
from teachers.kinds import KINDS, TeacherKind


def load_teacher(folder: str | Path, data_dir: str | Path):
    """(kind, model, dataset) for a folder written by `train_teacher`; the dataset must be the one it
    was trained on (checked by the data fingerprint)."""
    folder = Path(folder)
    meta_path = folder / "metadata.json"
    if not meta_path.is_file() or not (folder / MODEL_FILE).is_file():
        raise ValueError(f"{folder}: not a trained teacher folder (needs metadata.json and {MODEL_FILE})")
    meta = json.loads(meta_path.read_text())
    cfg = TeacherConfig.model_validate(meta["config"])
    ds = load_dataset(data_dir)
    data = TeacherData.from_dataset(ds, cfg)
    if data.fingerprint != meta.get("data"):
        raise ValueError(
            f"{folder}: trained on {meta.get('data')}, but {data_dir} gives {data.fingerprint}: another dataset?"
        )
    kind: TeacherKind = KINDS[cfg.kind](data, cfg)
    model = kind.build()
    model.load_state_dict(load_file(folder / MODEL_FILE))
    model.eval()
    return kind, model, ds


def evaluate_saved(folder: str | Path, data_dir: str | Path):
    from teachers.train import evaluate_model

    kind, model, ds = load_teacher(folder, data_dir)
    return evaluate_model(ds, kind, model)
