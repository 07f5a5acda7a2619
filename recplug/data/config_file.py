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
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (a YAML config was expected)") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of config keys, got {type(raw).__name__}")
    return raw


def parse_yaml(text: str, where: str):
    """The value of a YAML text; bad YAML is a one-line ValueError naming `where`, line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ValueError(f"{where}: invalid YAML{at}: {problem}") from None


def validate_config(model: type[M], raw: dict, path: str | Path | None, what: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        where = f"{path}: " if path else ""
        raise ValueError(describe_validation_error(e, f"{where}invalid {what} config: ")) from None
