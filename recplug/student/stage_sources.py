"""Which sources a content stage trains on and with what weights: 'all', a list, or the 'closest' to
the validation sets by adaptive balancing (computed once, with the stage-I model, on validation data)."""

from __future__ import annotations

import logging

import numpy as np

from recplug.student.balancing import balance_weights
from recplug.student.embed import embed_entries
from recplug.student.modeling import OmniEncoder
from recplug.student.run import StudentRun
from recplug.student.train_config import StageSpec
from recplug.student.views import QUERY_VIEW

log = logging.getLogger(__name__)


def source_sample_embeddings(run: StudentRun, encoder: OmniEncoder, n: int) -> list[np.ndarray]:
    """Query-side embeddings of a sample of every source (its first pattern's query view)."""
    out = []
    for i, p in enumerate(run.pairsets):
        idx = np.random.default_rng([run.cfg.seed, 41, i]).choice(len(p), min(n, len(p)), replace=False)
        view = p.spec.views[p.spec.patterns[0][0]]
        if p.query_rows is not None:
            out.append(embed_entries(encoder, run.store, run.tokenizer, view, rows=p.query_rows[idx]))
        else:
            out.append(
                embed_entries(encoder, run.store, run.tokenizer, view, texts=[p.query_texts[j] for j in idx])
            )
    return out


def compute_balance(run: StudentRun, encoder: OmniEncoder) -> dict | None:
    """Balancing weights from the validation sets (validation-window co-engagement items, validation
    queries): never the test period's pairs or queries. None (the sources' own weights) when the data
    has no validation set."""
    b = run.cfg.balancing
    rows, texts = run.validation
    val = []
    if len(rows):
        val.append(embed_entries(encoder, run.store, run.tokenizer, run.cfg.item_view, rows=rows[: b.sample]))
    if texts:
        val.append(embed_entries(encoder, run.store, run.tokenizer, QUERY_VIEW, texts=texts[: b.sample]))
    if not val:
        log.warning("balancing skipped: no validation pairs or queries; the sources' own weights are used")
        return None
    src = source_sample_embeddings(run, encoder, b.sample)
    weights, sim = balance_weights(src, val, b.clusters, b.sinkhorn_epsilon, b.temperature, run.cfg.seed)
    return {
        "sources": [p.spec.name for p in run.pairsets],
        "weights": weights.tolist(),
        "similarity": sim.tolist(),
        "validation": {
            "coengagement_items": int(min(len(rows), b.sample)),
            "queries": min(len(texts), b.sample),
        },
    }


def stage_weights(run: StudentRun, stage: StageSpec, balance: dict | None) -> np.ndarray:
    names = [p.spec.name for p in run.pairsets]
    base = np.array(balance["weights"]) if balance else np.array([p.spec.weight for p in run.pairsets])
    if stage.sources == "all":
        keep = np.ones(len(names), dtype=bool)
    elif stage.sources == "closest":
        keep = np.zeros(len(names), dtype=bool)
        keep[np.argsort(-base)[: stage.closest_k]] = True
    else:
        keep = np.isin(names, stage.sources)
    w = np.where(keep, base, 0.0)
    if w.sum() <= 0:
        raise ValueError(f"stage '{stage.name}': no source with positive weight among {names}")
    return w / w.sum()
