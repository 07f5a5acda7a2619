"""Adaptive multi-source balancing: embed a sample of every training source and every validation set
with an early model, cluster each with k-means, compare the centroid sets of each (source, validation)
pair by entropic optimal transport (Sinkhorn on cost 1 - cosine), turn each source's total similarity
into sampling weights with a softmax."""

from __future__ import annotations

import faiss
import numpy as np

from recplug.data.vectors import unit_rows


def kmeans_centroids(x: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """L2-normalised k-means centroids of the rows of x (k capped by the number of rows)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    k = max(1, min(k, len(x) // 2 if len(x) >= 4 else 1))
    km = faiss.Kmeans(x.shape[1], k, niter=20, seed=seed, spherical=True, verbose=False)
    km.train(x)
    c = km.centroids
    return unit_rows(c)


def sinkhorn_similarity(a: np.ndarray, b: np.ndarray, epsilon: float = 0.1, iters: int = 200) -> float:
    """1 - (entropic OT cost between uniform measures on centroid sets a and b, cost 1 - cosine)."""
    cost = 1.0 - a @ b.T
    kernel = np.exp(-cost / epsilon)
    u = np.ones(len(a)) / len(a)
    v = np.ones(len(b)) / len(b)
    r, c = u.copy(), v.copy()
    for _ in range(iters):
        r = u / np.maximum(kernel @ c, 1e-30)
        c = v / np.maximum(kernel.T @ r, 1e-30)
    plan = r[:, None] * kernel * c[None, :]
    return float(1.0 - (plan * cost).sum())


def balance_weights(
    source_embeddings: list[np.ndarray],
    validation_embeddings: list[np.ndarray],
    k: int,
    epsilon: float,
    temperature: float,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(sampling weights per source, similarity matrix [source, validation set])."""
    src = [kmeans_centroids(e, k, seed) for e in source_embeddings]
    val = [kmeans_centroids(e, k, seed) for e in validation_embeddings]
    sim = np.array([[sinkhorn_similarity(s, v, epsilon) for v in val] for s in src])
    scores = sim.sum(1)
    z = (scores - scores.max()) / temperature
    w = np.exp(z)
    return w / w.sum(), sim
