"""Row-wise vector helpers shared by every layer (numpy; torch code uses `F.normalize`)."""

from __future__ import annotations

import numpy as np


def unit_rows(x: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """Each row divided by its L2 norm (rows of norm below `eps` are divided by `eps`: zero stays zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)
