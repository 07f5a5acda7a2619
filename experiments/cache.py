"""Stage caching: a stage's output folder carries the hash of the config that made it, and a stage
whose folder holds the same hash is skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recplug.data.fingerprint import fingerprint
from recplug.data.io import atomic_write_text

STAMP = ".stage.json"


def is_done(folder: Path, config: Any) -> bool:
    stamp = Path(folder) / STAMP
    if not stamp.is_file():
        return False
    try:
        return json.loads(stamp.read_text()).get("config_hash") == fingerprint(config)
    except json.JSONDecodeError:
        return False


def mark_done(folder: Path, config: Any, **info: Any) -> None:
    atomic_write_text(
        Path(folder) / STAMP,
        json.dumps({"config_hash": fingerprint(config), "config": config, **info}, indent=2, default=str),
    )
