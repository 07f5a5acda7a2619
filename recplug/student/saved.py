"""Load a saved student: its `save_pretrained` folder (config.json + model.safetensors) and its run
config, checked first so that a bad folder is refused in one line naming the file and what is wrong
(no config.json, a config of another model, weights missing: an incomplete save, weights truncated
or of another architecture) instead of a transformers traceback or, worse, a model whose missing
weights were silently initialised at random. Safetensors only, local only: nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path

from recplug.data.errors import BadFileError
from recplug.data.read_errors import one_line, read_json
from recplug.data.weight_files import safetensors_header

WEIGHTS = "model.safetensors"
SHARD_INDEX = "model.safetensors.index.json"


def _weight_shapes(folder: Path) -> dict[str, list[int]]:
    """{tensor name: shape} over the folder's safetensors (one file, or the shards of an index)."""
    if (folder / WEIGHTS).exists():
        files = [folder / WEIGHTS]
    elif (folder / SHARD_INDEX).exists():
        index = read_json(folder / SHARD_INDEX, "student weight index")
        files = [folder / f for f in sorted(set((index.get("weight_map") or {}).values()))]
    else:
        pickled = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt*")]
        found = f" (found {pickled}: pickled weights are never loaded)" if pickled else ""
        raise BadFileError(
            f"{folder}: incomplete student model folder: config.json but no {WEIGHTS}{found}; "
            "was the save interrupted? save or copy the model again",
            file=str(folder / WEIGHTS),
        )
    shapes = {}
    for f in files:
        shapes |= {k: v["shape"] for k, v in safetensors_header(f, "student weights").items()}
    return shapes


def load_encoder(folder: str | Path):
    """The OmniEncoder saved in `folder` (a run's model/ folder), every file checked first."""
    from recplug.student.model_config import OmniConfig
    from recplug.student.modeling import OmniEncoder

    folder = Path(folder)
    if not folder.is_dir():
        problem = "is a file" if folder.exists() else "does not exist"
        raise BadFileError(
            f"{folder}: {problem}; a student model folder (config.json + {WEIGHTS}) was expected",
            file=str(folder),
        )
    config_path = folder / "config.json"
    if not config_path.exists():
        raise BadFileError(
            f"{folder}: not a saved student model (no config.json; a run folder holds it in model/)",
            file=str(config_path),
        )
    raw = read_json(config_path, "student model config")
    if raw.get("model_type") != OmniConfig.model_type:
        raise BadFileError(
            f"{config_path}: not a recplug student config (model_type {raw.get('model_type')!r}, expected "
            f"'{OmniConfig.model_type}')",
            file=str(config_path),
        )
    _weight_shapes(folder)  # present, complete safetensors
    try:
        config = OmniConfig.from_dict(raw)
    except (ValueError, TypeError, KeyError) as e:
        raise BadFileError(
            f"{config_path}: invalid student config: {one_line(e)}", file=str(config_path)
        ) from None
    model, info = _from_pretrained(OmniEncoder, folder, config, strict=True)
    if model is None:  # tensors of another shape: load again, leniently, to say which
        _, info = _from_pretrained(OmniEncoder, folder, config, strict=False)
    differs = _differences(info)
    if differs:
        raise BadFileError(
            f"{folder / WEIGHTS}: the weights do not fit the architecture in config.json ({differs}): "
            "written by another model or config?",
            file=str(folder / WEIGHTS),
        )
    return model


def _from_pretrained(cls, folder: Path, config, strict: bool):
    """(model, loading info) with transformers' own load report silenced; (None, {}) when strict
    loading found tensors of another shape."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return cls.from_pretrained(
            str(folder),
            config=config,
            local_files_only=True,
            use_safetensors=True,
            output_loading_info=True,
            ignore_mismatched_sizes=not strict,
        )
    except RuntimeError as e:
        if strict and "mismatched" in str(e):
            return None, {}
        raise BadFileError(
            f"{folder}: cannot load the student model: {one_line(e)}", file=str(folder)
        ) from None
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise BadFileError(
            f"{folder}: cannot load the student model: {one_line(e)}", file=str(folder)
        ) from None
    finally:
        hf_logging.set_verbosity(level)


def _differences(info: dict) -> str:
    parts = []
    for key, words in (("missing_keys", "missing"), ("unexpected_keys", "unexpected")):
        keys = sorted(info.get(key) or [])
        if keys:
            parts.append(f"{len(keys)} tensor(s) {words} (e.g. '{keys[0]}')")
    shaped = sorted(info.get("mismatched_keys") or [], key=str)
    if shaped:
        first = shaped[0]
        example = (
            f"'{first[0]}' {tuple(first[1])} in the file, {tuple(first[2])} in the model"
            if isinstance(first, tuple | list) and len(first) == 3
            else repr(first)
        )
        parts.append(f"{len(shaped)} of another shape (e.g. {example})")
    return ", ".join(parts)


def load_run_config(folder: str | Path):
    """The StudentConfig a student run folder was trained with (its config.json)."""
    from recplug.data.config_file import validate_config
    from recplug.student.train_config import StudentConfig

    folder = Path(folder)
    path = folder / "config.json"
    if not path.exists():
        raise BadFileError(
            f"{folder}: not a student run folder (no config.json): train one with `recplug student train`",
            file=str(path),
        )
    return validate_config(StudentConfig, read_json(path, "student run config"), path, "student run")
