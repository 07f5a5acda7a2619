"""Load a trained teacher folder back (config from metadata.json, weights from model.safetensors)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from recplug.data import load_dataset
from recplug.data.errors import BadFileError, describe_validation_error
from recplug.data.read_errors import read_json
from recplug.data.weight_files import load_into
from teachers.config import TeacherConfig
from teachers.data import TeacherData
from teachers.export import MODEL_FILE
from teachers.kinds import KINDS, TeacherKind


def load_teacher(folder: str | Path, data_dir: str | Path):
    """(kind, model, dataset) for a folder written by `train_teacher`; the dataset must be the one it
    was trained on (checked by the data fingerprint)."""
    folder = Path(folder)
    meta_path = folder / "metadata.json"
    if not meta_path.exists() or not (folder / MODEL_FILE).exists():
        raise BadFileError(
            f"{folder}: not a trained teacher folder (needs metadata.json and {MODEL_FILE}"
            + (f"; {MODEL_FILE} is missing: an incomplete export?" if meta_path.exists() else "")
            + ")",
            file=str(folder),
        )
    meta = read_json(meta_path, "teacher metadata")
    if not isinstance(meta.get("config"), dict):
        raise BadFileError(
            f"{meta_path}: no 'config' object: not written by `recplug teachers train`", file=str(meta_path)
        )
    try:
        cfg = TeacherConfig.model_validate(meta["config"])
    except ValidationError as e:
        raise BadFileError(
            describe_validation_error(e, f"{meta_path}: bad 'config': "), file=str(meta_path)
        ) from None
    ds = load_dataset(data_dir)
    data = TeacherData.from_dataset(ds, cfg)
    if data.fingerprint != meta.get("data"):
        raise ValueError(
            f"{folder}: trained on {meta.get('data')}, but {data_dir} gives {data.fingerprint}: another dataset?"
        )
    kind: TeacherKind = KINDS[cfg.kind](data, cfg)
    model = kind.build()
    load_into(model, folder / MODEL_FILE, "teacher weights")
    model.eval()
    return kind, model, ds


def evaluate_saved(folder: str | Path, data_dir: str | Path):
    from teachers.train import evaluate_model

    kind, model, ds = load_teacher(folder, data_dir)
    return evaluate_model(ds, kind, model)
