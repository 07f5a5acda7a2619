"""Checks that keep the world honest (docs/world.md): each attribute is recoverable from its own
modality and not from the others, content explains behaviour only in part.

The probes are deliberately simple (hand-made features + a ridge classifier), so a high score means
the signal is plainly there and a chance-level score means it is absent.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from recplug.data.media import decode_audio, decode_image
from recplug.data.vectors import unit_rows
from recplug.data.world.truth import GroundTruth
from recplug.data.world.vocab import ATTRIBUTES


def image_features(images: list[bytes]) -> np.ndarray:
    """Coarse colour layout plus the translation-invariant 2D spectrum of the grey image."""
    px = np.stack([decode_image(b) for b in images]).astype(np.float32) / 255.0  # (n, H, W, 3)
    n, h, w, _ = px.shape
    coarse = px.reshape(n, 4, h // 4, 4, w // 4, 3).mean((2, 4)).reshape(n, -1)
    # colour of the most saturated pixels (the shape), robust to where the shape sits
    sat = px.max(-1) - px.min(-1)
    top = np.argsort(sat.reshape(n, -1), axis=1)[:, -h * w // 8 :]
    shape_colour = np.take_along_axis(px.reshape(n, -1, 3), top[..., None], axis=1).mean(1)
    mask = (sat > 0.25).astype(np.float32)
    spec_mask = np.abs(np.fft.fft2(mask))[:, : h // 2, : w // 2].reshape(n, -1)
    grey = px.mean(-1) * mask
    spec_fill = np.abs(np.fft.fft2(grey))[:, : h // 2, : w // 2].reshape(n, -1)
    return np.concatenate([coarse, shape_colour, np.log1p(spec_mask), np.log1p(spec_fill)], axis=1)


def audio_features(clips: list[bytes], bins: int = 96) -> np.ndarray:
    """Log spectrum in coarse bins (pitch, timbre) and the spectrum of the envelope (tempo)."""
    waves = np.stack([decode_audio(b)[0] for b in clips])
    spec = np.abs(np.fft.rfft(waves, axis=1))
    usable = spec.shape[1] - spec.shape[1] % bins
    pooled = np.log1p(spec[:, :usable].reshape(len(waves), bins, -1).mean(-1))
    env = np.abs(waves)
    env_spec = np.abs(np.fft.rfft(env - env.mean(1, keepdims=True), axis=1))[:, 1:40]
    return np.concatenate([pooled, np.log1p(env_spec)], axis=1)


def text_features(
    items: pl.DataFrame, fields: tuple[str, ...] = ("title", "description", "tags")
) -> np.ndarray:
    """Bag of words over the item's text fields."""
    words = (
        items.select(
            pl.concat_str([pl.col(f).fill_null("") for f in fields if f in items.columns], separator=" ")
            .str.to_lowercase()
            .str.replace_all("#", "")
            .str.split(" ")
            .alias("w")
        )
        .with_row_index("row")
        .explode("w")
        .filter(pl.col("w") != "")
    )
    vocab = words["w"].unique().sort()
    col = words["w"].cast(pl.Enum(vocab)).to_physical().to_numpy()
    x = np.zeros((len(items), len(vocab)), dtype=np.float32)
    np.add.at(x, (words["row"].to_numpy(), col), 1.0)
    return x


def ridge_probe_hits(
    x: np.ndarray, y: np.ndarray, n_classes: int, seed: int = 0, ridge: float = 10.0
) -> np.ndarray:
    """Per held-out item (30%, fixed by `seed`): does a one-vs-all ridge classifier on standardised
    features, fitted on the other 70%, predict its class? Returns (held-out count,) bool."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    cut = int(0.7 * len(y))
    tr, te = order[:cut], order[cut:]
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
    z = (x - mu) / sd
    z = np.concatenate([z, np.ones((len(z), 1))], axis=1)
    targets = np.eye(n_classes)[y[tr]]
    w = np.linalg.solve(z[tr].T @ z[tr] + ridge * np.eye(z.shape[1]), z[tr].T @ targets)
    return (z[te] @ w).argmax(1) == y[te]


def ridge_probe_accuracy(
    x: np.ndarray, y: np.ndarray, n_classes: int, seed: int = 0, ridge: float = 10.0
) -> float:
    """Held-out accuracy (30%) of a one-vs-all ridge classifier on standardised features."""
    return float(ridge_probe_hits(x, y, n_classes, seed, ridge).mean())


def modality_probe(items: pl.DataFrame, truth: GroundTruth) -> pl.DataFrame:
    """Rows (attribute, attribute_modality, probe_modality, accuracy, chance) for every pair."""
    ids = items["item_id"].to_numpy()
    feats = {
        "image": image_features(items["image"].to_list()),
        "audio": audio_features(items["audio"].to_list()),
        "text": text_features(items),
    }
    attrs = truth.latents.items.attrs[ids - 1]
    rows = []
    for j, a in enumerate(ATTRIBUTES):
        y = attrs[:, j]
        chance = float(np.bincount(y, minlength=len(a.values)).max() / len(y))
        for modality, x in feats.items():
            acc = ridge_probe_accuracy(x, y, len(a.values))
            rows.append((a.name, a.modality, modality, acc, chance))
    return pl.DataFrame(
        rows, schema=["attribute", "attribute_modality", "probe_modality", "accuracy", "chance"], orient="row"
    )


def content_onehot(truth: GroundTruth) -> np.ndarray:
    """Every attribute one-hot, equally weighted: the best a content model that ignores behaviour can do."""
    attrs = truth.latents.items.attrs
    return np.concatenate([np.eye(len(a.values))[attrs[:, j]] for j, a in enumerate(ATTRIBUTES)], axis=1)


def neighbour_recall(
    embeddings: np.ndarray, truth: GroundTruth, k: int = 50, n_queries: int = 500, seed: int = 0
) -> float:
    """Recall@k of the world's true top-k neighbours (by v cosine) when ranking by `embeddings` cosine.
    Row i of `embeddings` is item_id i+1. Ties are broken at random so a constant embedding scores chance."""
    rng = np.random.default_rng(seed)
    q = rng.choice(truth.item_ids, size=min(n_queries, len(truth.item_ids)), replace=False)
    true = truth.neighbours(q, k)
    e = unit_rows(embeddings)
    sims = e[q - 1] @ e.T + 1e-6 * rng.random((len(q), len(e)))
    sims[np.arange(len(q)), q - 1] = -np.inf
    pred = np.argpartition(-sims, k, axis=1)[:, :k] + 1
    hits = (pred[:, :, None] == true[:, None, :]).any(1).sum(1)
    return float(hits.mean() / k)
