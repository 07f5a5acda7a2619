"""Semantic IDs: each embedding quantised by residual k-means into a few codes (level l clusters the
residual left by levels < l). The codes enter ranking models as ordinary sparse id features."""

from __future__ import annotations

import faiss
import numpy as np


def residual_kmeans(
    x: np.ndarray, levels: int = 3, codes: int = 64, seed: int = 0
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(codes (n, levels) int, codebooks per level). Codes per level are capped by the item count."""
    residual = np.ascontiguousarray(x, dtype=np.float32).copy()
    k = max(2, min(codes, len(x) // 4))
    out = np.zeros((len(x), levels), dtype=np.int64)
    books = []
    for level in range(levels):
        km = faiss.Kmeans(residual.shape[1], k, niter=25, seed=seed + level, verbose=False)
        km.train(residual)
        _, assign = km.index.search(residual, 1)
        out[:, level] = assign[:, 0]
        residual -= km.centroids[assign[:, 0]]
        books.append(km.centroids.copy())
    return out, books


def reconstruction_error(x: np.ndarray, codes: np.ndarray, books: list[np.ndarray]) -> float:
    recon = sum(b[codes[:, i]] for i, b in enumerate(books))
    return float(np.linalg.norm(x - recon, axis=1).mean())
