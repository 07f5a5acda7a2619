"""CRE metrics, warm and cold items separately, 95% bootstrap intervals:
- collaborative i2i Recall@50/100: pairs co-engaged in the test period (from the content metrics) and,
  on a generated world, each item's true nearest neighbour by the collaborative vectors;
- user-sequence benchmark: history -> next positive item, Recall@1/10/25, "vanilla" (random history
  items) and "filtered" (history items of the target's category);
- alignment with each teacher: top-10 neighbour overlap and Kendall tau of pair similarities.
The content metrics (content i2i, q2i, NMI) come from the student's own evaluation."""

from __future__ import annotations

import numpy as np
import torch

from recplug.data import Dataset
from recplug.metrics import metric_row
from recplug.metrics.intervals import MetricRow, statistic_row
from recplug.student.cre.interest_views import top_by_score
from recplug.student.cre.sequence_encoder import SequenceEncoder
from recplug.student.cre.sequences import sequence_samples
from recplug.student.cre.teachers import TeacherTargets
from recplug.student.evaluate import catalog_ranks, kendall_tau_of, recall_rows
from recplug.student.items import ItemStore

SEQ_KS = (1, 10, 25)
I2I_KS = (50, 100)
EXPERIMENT = "cre"


def _split_rows(name, variant, ranks, cold, ks) -> list[MetricRow]:
    rows = recall_rows(name, variant, ranks[~cold], "warm", 500, ks, EXPERIMENT)
    if cold.any():
        rows += recall_rows(name, variant, ranks[cold], "cold", 500, ks, EXPERIMENT)
    return rows


def true_neighbour_rows(
    emb: np.ndarray,
    store: ItemStore,
    cold_rows: np.ndarray,
    truth,
    variant: str,
    n: int = 2000,
    seed: int = 0,
) -> list[MetricRow]:
    """Each sampled item's true nearest neighbour (world's collaborative vectors) retrieved by the
    student among all items. Queries: up to n/2 warm and n/2 cold items."""
    rng = np.random.default_rng([seed, 81])
    picks = []
    for group in (np.flatnonzero(~cold_rows), np.flatnonzero(cold_rows)):
        if len(group):
            picks.append(rng.choice(group, min(n // 2, len(group)), replace=False))
    q = np.concatenate(picks)
    nb = truth.neighbours(store.item_ids[q], 1, candidates=store.item_ids)[:, 0]
    ranks = catalog_ranks(emb[q], emb, store.rows(nb), exclude_self=q)
    return _split_rows("true-neighbour i2i", variant, ranks, cold_rows[q], I2I_KS)


def sequence_benchmark_rows(
    ds: Dataset,
    store: ItemStore,
    emb: np.ndarray,
    seq: SequenceEncoder,
    cold_rows: np.ndarray,
    variant: str,
    length: int = 10,
    n: int = 3000,
    seed: int = 0,
) -> list[MetricRow]:
    """Test-period positives as targets; histories from everything before each target."""
    s = ds.meta.splits
    samples = sequence_samples(
        ds,
        store,
        target_since=s.valid_end,
        target_until=s.end + 1,
        pool=50,
        min_history=1,
        max_samples=n,
        seed=seed,
    )
    if not len(samples):
        return []
    rng = np.random.default_rng([seed, 83])
    histories = {"vanilla": top_by_score(samples.pool, rng.random(samples.pool.shape), length)}
    cats = np.array([c or "" for c in store.category], dtype=object)
    if (cats != "").any():
        same = (cats[np.maximum(samples.pool, 0)] == cats[samples.targets][:, None]) & (
            cats[samples.targets][:, None] != ""
        )
        histories["filtered"] = top_by_score(samples.pool, np.where(same, 1.0, -np.inf), length)
    rows = []
    for name, hist in histories.items():
        keep = (hist >= 0).any(1)
        if not keep.any():
            continue
        h = hist[keep]
        with torch.no_grad():
            x = torch.as_tensor(emb[np.maximum(h, 0)])
            q = seq(x, torch.as_tensor(h >= 0)).numpy()
        ranks = catalog_ranks(q, emb, samples.targets[keep])
        rows += _split_rows(f"user-sequence {name}", variant, ranks, cold_rows[samples.targets[keep]], SEQ_KS)
    return rows


def teacher_alignment_rows(
    emb: np.ndarray, teacher: TeacherTargets, variant: str, k: int = 10, n: int = 1000, seed: int = 0
) -> list[MetricRow]:
    """Over the items the teacher covers: share of the student's top-k neighbours that are also the
    teacher's, and Kendall tau between student and teacher cosine on random item pairs."""
    cov = np.flatnonzero(teacher.covered)
    if len(cov) <= k + 1:
        return []
    rng = np.random.default_rng([seed, 87])
    q = rng.choice(cov, min(n, len(cov)), replace=False)
    s_emb, t_emb = emb[cov], teacher.vectors[cov]
    pos = np.searchsorted(cov, q)

    def topk(x, queries):
        sims = x[queries] @ x.T
        sims[np.arange(len(queries)), queries] = -np.inf
        return np.argpartition(-sims, k, axis=1)[:, :k]

    a, b = topk(s_emb, pos), topk(t_emb, pos)
    overlap = (a[:, :, None] == b[:, None, :]).any(2).mean(1)
    rows = [metric_row(EXPERIMENT, variant, f"{teacher.name} teacher top-{k} overlap", "warm", overlap, 500)]
    i, j = rng.choice(cov, 500), rng.choice(cov, 500)
    s_sim = (emb[i] * emb[j]).sum(1)
    t_sim = (teacher.vectors[i] * teacher.vectors[j]).sum(1)
    tau = kendall_tau_of(s_sim, t_sim)
    rows.append(
        statistic_row(
            EXPERIMENT, variant, f"{teacher.name} teacher kendall tau", "warm", tau, len(i), seed=seed
        )
    )
    return rows
