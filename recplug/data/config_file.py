"""YAML config files into typed (pydantic) configs, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from recplug.data.errors import describe_validation_error

M = TypeVar("M", bound=BaseModel)


def read_config_file(path: str | Path | None) -> dict:
    """The mapping in a YAML file ({} without a path)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: config file not found")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of config keys, got {type(raw).__name__}")
    return raw


def validate_config(model: type[M], raw: dict, path: str | Path | None, what: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        where = f"{path}: " if path else ""
        raise ValueError(describe_validation_error(e, f"{where}invalid {what} config: ")) from None
