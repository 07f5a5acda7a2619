"""What an item embedding knows of each attribute of a generated world: a ridge probe per attribute,
held-out accuracy. Each attribute lives in exactly one modality, so the probe says which modality's
information survived training (e.g. a text-only student must sit at chance on image attributes)."""

from __future__ import annotations

import numpy as np

from recplug.data.world import GroundTruth
from recplug.data.world.checks import ridge_probe_hits
from recplug.data.world.vocab import ATTRIBUTES, word_table
from recplug.metrics.intervals import MetricRow, make_row, metric_row
from recplug.student.evaluate import catalog_ranks, recall_rows

MODALITIES = ("image", "audio", "text")


def _attribute_values(truth: GroundTruth, item_ids: np.ndarray) -> np.ndarray:
    return truth.latents.items.attrs[np.asarray(item_ids) - 1]  # (n, attributes)


def attribute_probe_rows(
    emb: np.ndarray,
    item_ids: np.ndarray,
    truth: GroundTruth,
    variant: str,
    experiment: str = "student",
    n_boot: int = 500,
    seed: int = 0,
) -> list[MetricRow]:
    """Per attribute "probe <name> (<modality>)", and per modality "<modality> attribute probe": each
    held-out item's share of that modality's attributes predicted right (bootstrap over items)."""
    values = _attribute_values(truth, item_ids)
    x = np.asarray(emb, dtype=np.float64)
    hits = {a.name: ridge_probe_hits(x, values[:, j], len(a.values), seed) for j, a in enumerate(ATTRIBUTES)}
    rows = [
        metric_row(experiment, variant, f"probe {a.name} ({a.modality})", "all", hits[a.name], n_boot)
        for a in ATTRIBUTES
    ]
    for m in MODALITIES:
        per_item = np.mean([hits[a.name] for a in ATTRIBUTES if a.modality == m], axis=0)
        rows.append(metric_row(experiment, variant, f"{m} attribute probe", "all", per_item, n_boot))
    return rows


def probe_chance_rows(
    item_ids: np.ndarray, truth: GroundTruth, experiment: str = "student"
) -> list[MetricRow]:
    """The same metrics for always predicting an attribute's most common value (variant "chance")."""
    values = _attribute_values(truth, item_ids)
    share = {a.name: np.bincount(values[:, j]).max() / len(values) for j, a in enumerate(ATTRIBUTES)}
    share |= {m: np.mean([share[a.name] for a in ATTRIBUTES if a.modality == m]) for m in MODALITIES}
    names = [(f"probe {a.name} ({a.modality})", a.name) for a in ATTRIBUTES]
    names += [(f"{m} attribute probe", m) for m in MODALITIES]
    return [
        make_row(experiment, "chance", metric, "all", (share[k],) * 3, len(values)) for metric, k in names
    ]


def names_text_attribute(texts: list[str]) -> np.ndarray:
    """(n,) bool: the query names a text attribute (a topic or style word); False means all its
    attribute words name image or audio attributes, which no item text shows."""
    text_words = {str(w) for a in ATTRIBUTES if a.modality == "text" for w in word_table(a.name)[0]}
    return np.array([bool(text_words & set(t.lower().split())) for t in texts], dtype=bool)


def q2i_by_query_words_rows(
    query_emb: np.ndarray,
    item_emb: np.ndarray,
    texts: list[str],
    targets: np.ndarray,
    warm: np.ndarray,
    variant: str,
    n_boot: int = 500,
    experiment: str = "student",
) -> list[MetricRow]:
    """q2i Recall@10/50 (warm targets) split by what the query names: media words only, or some text
    word. A text-only model can only guess on the first kind."""
    ranks = catalog_ranks(query_emb, item_emb, targets)
    has_text = names_text_attribute(texts)
    rows = []
    for name, sel in (("media-word queries", ~has_text & warm), ("text-word queries", has_text & warm)):
        if sel.any():
            rows += recall_rows(f"q2i, {name},", variant, ranks[sel], "warm", n_boot, (10, 50), experiment)
    return rows
