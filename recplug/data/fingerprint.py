"""One fingerprint for "is this output still valid": a short hash of a JSON-able description (a config,
a stage key). Teachers stamp their checkpoints with it and the pipeline its stages."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def fingerprint(description: Any) -> str:
    """16 hex digits of sha256 over the canonical JSON (sorted keys; other objects as str)."""
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[:16]
