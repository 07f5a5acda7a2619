"""YAML config files into typed (pydantic) configs, with errors that name the file and the key path.

Every command reads its config the same way: the file, then `--set KEY=VALUE` overrides whose dotted
keys reach into sections and lists (`student.config.stages.0.steps=5`), then validation. A bad key is
reported as one line: the file, the full key path, what was wrong.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A config that does not validate: `problems` holds (key path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]], path: str | Path | None, what: str):
        self.problems, self.path, self.what = problems, path, what
        where = f"{path}: " if path else ""
        listed = "; ".join(f"key '{key or '<root>'}': {msg}" for key, msg in problems)
        super().__init__(f"{where}invalid {what} config: {listed}")

    def under(self, prefix: str, path: str | Path | None, what: str) -> ConfigError:
        """The same problems as keys of a section `prefix` of another config (e.g. 'teachers.id')."""
        return ConfigError([(".".join(filter(None, (prefix, k))), m) for k, m in self.problems], path, what)


def read_config_file(path: str | Path | None) -> dict:
    """The mapping in a YAML file ({} without a path)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: config file not found")
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a text file (byte {e.start} is not UTF-8)") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of config keys, got {type(raw).__name__}")
    return raw


def parse_sets(pairs: list[str] | None) -> dict[str, Any]:
    """`--set KEY=VALUE` options as {dotted key: YAML value} (`--set lr=1e-3`, `--set days=[7, 14]`)."""
    out = {}
    for kv in pairs or []:
        key, eq, value = kv.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE (e.g. --set epochs=2), got '{kv}'")
        out[key.strip()] = parse_yaml(value, f"--set {kv}")
    return out


def apply_overrides(
    raw: dict, overrides: dict[str, Any], source: str = "--set", model: type[BaseModel] | None = None
) -> dict:
    """`raw` with each override applied; a dotted key walks into mappings (made when missing) and into
    lists by index. A dotted key into a field `raw` leaves out starts from `model`'s default for it
    (`stages.0.steps=5` edits the default stages). None values are skipped (an option not given)."""
    out = copy.deepcopy(raw)
    for key, value in overrides.items():
        if value is None:
            continue
        parts = key.split(".")
        if not all(parts):
            raise ValueError(f"{source} {key}: empty part in the dotted key")
        field = model.model_fields.get(parts[0]) if model is not None and len(parts) > 1 else None
        if field is not None and out.get(parts[0]) is None:
            default = field.get_default(call_default_factory=True)
            out[parts[0]] = TypeAdapter(field.annotation).dump_python(default, mode="json")
        node: Any = out
        for depth, part in enumerate(parts):
            here = ".".join(parts[:depth]) or "<root>"
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ValueError(
                        f"{source} {key}: '{here}' is a list of {len(node)} entries; '{part}' is not an index "
                        f"of it (0-{len(node) - 1})"
                    )
                part = int(part)
            elif not isinstance(node, dict):
                raise ValueError(f"{source} {key}: '{here}' is {node!r}, not a section with keys")
            if last:
                node[part] = value
            else:
                if isinstance(node, dict) and node.get(part) is None:
                    node[part] = {}
                node = node[part]
    return out


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
    """`model` from `raw`, or a ConfigError naming every bad key path (and the file)."""
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        problems = [(".".join(str(p) for p in err["loc"]), err["msg"]) for err in e.errors()]
        raise ConfigError(problems, path, what) from None


def load_config_file(model: type[M], path: str | Path | None, overrides: dict[str, Any], what: str) -> M:
    """Read `path`, apply `overrides` (dotted keys), validate."""
    raw = apply_overrides(read_config_file(path), overrides, model=model)
    return validate_config(model, raw, path, what)
