"""Match features: how similar a candidate is to what the user engaged with, measured with a frozen
item-embedding table (the student's, a teacher's, or any file in the embedding contract).

`MatchFeatures` is an ordinary TorchRec module: its table lives in an un-pooled `EmbeddingCollection`,
so `DistributedModelParallel` shards it like any other table, and it can sit inside a ranking model next
to the trainable tables. Its input is a `KeyedJaggedTensor` of table rows ("hist_item": the history,
most recent first; "item": exactly one candidate per row); `MatchFeatures.input` builds it from ids.
Row 0 is a reserved zero row for ids the table does not have: they are masked out and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torchrec import EmbeddingCollection, EmbeddingConfig, KeyedJaggedTensor
from tqdm.auto import tqdm

from features.history import Histories
from recplug.data.embeddings import EmbeddingTable
from recplug.data.schema import positions_in
from recplug.data.vectors import unit_rows

MISSING_ROW = 0


@dataclass
class MatchInput:
    """The module's input for a batch, and how many ids in it the table does not have."""

    features: KeyedJaggedTensor
    missing_history: int  # history entries with no row (masked out)
    missing_items: int  # candidates with no row (their similarity features are zero)


@dataclass
class MatchStats:
    rows: int = 0
    history_entries: int = 0
    missing_history: int = 0
    missing_items: int = 0

    def add(self, hist: Histories, inp: MatchInput) -> None:
        self.rows += len(hist)
        self.history_entries += len(hist.items)
        self.missing_history += inp.missing_history
        self.missing_items += inp.missing_items


def match_feature_names(top_k: int, bins: int, prefix: str = "") -> list[str]:
    """The names of `MatchFeatures`' columns, in order (no table needed to know them)."""
    names = ["max", "mean", f"top{top_k}_mean", "recency_mean"]
    names += [f"sim_bin{j}" for j in range(bins)]
    names += ["log1p_history", "empty_history", "missing_item"]
    return [prefix + n for n in names]


class MatchFeatures(nn.Module):
    """Dense (B, F) similarity features between each candidate and its history, from a frozen table.

    Per row, over the history items the table has (candidate missing: none): max, mean and top-k mean
    cosine (all of them when fewer than k), a recency-weighted mean (weight decay**position, position 0 = most recent), the share of
    similarities in each of `bins` equal bins over [-1, 1] (SimTier), log1p of the number of history
    items with a row, and indicators for an empty history and a missing candidate. Rows without any
    usable similarity get zeros. Gradients never reach the table (outputs are detached), so it stays
    frozen even inside a trained model whose sharder gives it a fused optimizer.

    Args:
        table: the embedding file's table (a student's, a teacher's or your own export).
        top_k: how many of the highest similarities the top-k mean averages.
        decay: recency weight per history position (position 0 the most recent).
        bins: SimTier histogram bins over [-1, 1].
        prefix: put before every feature name (several tables in one model).
        history_feature, candidate_feature: the KeyedJaggedTensor keys of the inputs.
        table_name: the EmbeddingCollection table's name (what a sharding plan names).

    Example:
        >>> match = MatchFeatures(read_embeddings("runs/demo/cre/embeddings.parquet"))
        >>> inp = match.input(Histories.from_lists([[12, 7], []]), np.array([40, 41]))
        >>> match(inp.features).shape  # (2, len(match.feature_names))
    """

    def __init__(
        self,
        table: EmbeddingTable,
        *,
        top_k: int = 5,
        decay: float = 0.9,
        bins: int = 8,
        prefix: str = "",
        history_feature: str = "hist_item",
        candidate_feature: str = "item",
        table_name: str = "match_table",
    ):
        super().__init__()
        if top_k < 1 or bins < 1 or not 0 < decay <= 1:
            raise ValueError(f"need top_k >= 1, bins >= 1, 0 < decay <= 1; got {top_k}, {bins}, {decay}")
        self.top_k, self.decay, self.bins, self.prefix = top_k, decay, bins, prefix
        self.history_feature, self.candidate_feature = history_feature, candidate_feature
        self.item_ids = np.asarray(table.ids, dtype=np.int64)  # sorted; row r + 1 holds item_ids[r]
        self.ec = EmbeddingCollection(
            tables=[
                EmbeddingConfig(
                    name=table_name,
                    embedding_dim=table.dim,
                    num_embeddings=len(table.ids) + 1,
                    feature_names=[history_feature, candidate_feature],
                )
            ],
        )
        weights = np.concatenate(
            [np.zeros((1, table.dim), np.float32), unit_rows(table.vectors).astype(np.float32)]
        )
        with torch.no_grad():
            self.ec.embeddings[table_name].weight.copy_(torch.from_numpy(weights))
        self.ec.requires_grad_(False)

    @property
    def feature_names(self) -> list[str]:
        return match_feature_names(self.top_k, self.bins, self.prefix)

    def rows_of(self, item_ids: np.ndarray) -> np.ndarray:
        """Table row of each item id; MISSING_ROW (a zero row, masked out) where the table has none."""
        return positions_in(self.item_ids, np.asarray(item_ids, dtype=np.int64)) + 1  # -1 -> MISSING_ROW

    def input(self, hist: Histories, item_ids: np.ndarray) -> MatchInput:
        """The KeyedJaggedTensor this module reads, for candidates `item_ids` and their histories."""
        if len(hist) != len(item_ids):
            raise ValueError(f"{len(hist)} histories but {len(item_ids)} candidates")
        rows_h, rows_c = self.rows_of(hist.items), self.rows_of(item_ids)
        kjt = KeyedJaggedTensor.from_lengths_sync(
            keys=[self.history_feature, self.candidate_feature],
            values=torch.from_numpy(np.concatenate([rows_h, rows_c])),
            lengths=torch.from_numpy(
                np.concatenate([hist.lengths, np.ones(len(item_ids), np.int64)]).astype(np.int32)
            ),
        )
        return MatchInput(kjt, int((rows_h == MISSING_ROW).sum()), int((rows_c == MISSING_ROW).sum()))

    def forward(self, features: KeyedJaggedTensor) -> torch.Tensor:
        looked_up = self.ec(features)
        hist_rows = features[self.history_feature].values()
        cand_rows = features[self.candidate_feature].values()
        lengths = features[self.history_feature].lengths().long()
        h = looked_up[self.history_feature].values().detach()
        c = looked_up[self.candidate_feature].values().detach()
        return self.from_vectors(h, lengths, c, hist_rows != MISSING_ROW, cand_rows != MISSING_ROW)

    def from_vectors(
        self,
        hist: torch.Tensor,
        lengths: torch.Tensor,
        cand: torch.Tensor,
        hist_known: torch.Tensor,
        cand_known: torch.Tensor,
    ) -> torch.Tensor:
        """The features from looked-up unit vectors: hist (N, d) ragged by `lengths` (B,), cand (B, d).
        Similarities come from one jagged x dense bmm (no (N, d) copy of the candidates); the rest
        works on a (B, L) padded matrix of them."""
        batch = lengths.numel()
        if cand.shape[0] != batch:
            raise ValueError(f"'{self.candidate_feature}' must hold exactly one id per row ({batch} rows)")
        offsets = torch.ops.fbgemm.asynchronous_complete_cumsum(lengths)
        width = max(int(lengths.max()) if batch else 0, self.top_k)
        sims = torch.ops.fbgemm.jagged_dense_bmm(hist, offsets, cand.unsqueeze(-1), width)[0]
        padded = torch.ops.fbgemm.jagged_to_padded_dense(
            torch.cat([sims.clamp(-1.0, 1.0), hist_known.unsqueeze(-1).to(sims.dtype)], 1),
            [offsets],
            [width],
            0.0,
        )
        return self.from_similarities(padded[..., 0], padded[..., 1] > 0, cand_known)

    @torch.no_grad()
    def grouped(self, hist: Histories, group: np.ndarray, item_ids: np.ndarray) -> torch.Tensor:
        """The same features as `forward` when many rows share one history (a session's candidates):
        `hist` holds one history per group, `group[i]` is row i's group. Each history is looked up
        once and scored against all its rows' candidates in one batched matmul, instead of being
        gathered again for every candidate. Reads the local table (an unsharded module)."""
        weight = next(iter(self.ec.embeddings.values())).weight
        width = max(int(hist.lengths.max()) if len(hist) else 0, self.top_k)
        within = np.arange(len(hist.items)) - np.repeat(hist.offsets[:-1], hist.lengths)
        rows_h = np.full((len(hist), width), MISSING_ROW, dtype=np.int64)
        rows_h[np.repeat(np.arange(len(hist)), hist.lengths), within] = self.rows_of(hist.items)
        present = np.zeros((len(hist), width), dtype=bool)
        present[np.repeat(np.arange(len(hist)), hist.lengths), within] = True
        rows_c = self.rows_of(item_ids)
        order = np.argsort(group, kind="stable")
        counts = np.bincount(group, minlength=len(hist))
        slot = np.arange(len(group)) - np.repeat(np.cumsum(counts) - counts, counts)
        cand = torch.zeros(len(hist), max(int(counts.max()) if len(group) else 0, 1), weight.shape[1])
        cand[group[order], slot] = weight[torch.from_numpy(rows_c[order])]
        sims_g = torch.bmm(cand, weight[torch.from_numpy(rows_h)].transpose(1, 2)).clamp(-1.0, 1.0)
        sims = torch.empty(len(group), width)
        sims[torch.from_numpy(order)] = sims_g[group[order], slot]
        known = torch.from_numpy((rows_h != MISSING_ROW)[group])
        return self.from_similarities(sims, known, torch.from_numpy(rows_c != MISSING_ROW))

    def from_similarities(
        self, sims: torch.Tensor, known: torch.Tensor, cand_known: torch.Tensor
    ) -> torch.Tensor:
        """The features from padded similarities (B, L), which history slots hold a known item (B, L),
        and which candidates are known (B,)."""
        batch, width = sims.shape
        valid = known & cand_known.unsqueeze(1)
        n_valid = valid.sum(1).to(sims.dtype)
        denom = n_valid.clamp(min=1)
        masked = sims.masked_fill(~valid, float("-inf"))
        zeroed = sims.masked_fill(~valid, 0.0)
        top = masked.topk(self.top_k, dim=1).values
        weights = (self.decay ** torch.arange(width, device=sims.device, dtype=sims.dtype)) * valid
        bin_of = ((sims + 1) / 2 * self.bins).floor().long().clamp(0, self.bins - 1)
        bins = torch.zeros(batch, self.bins, dtype=sims.dtype, device=sims.device)
        bins.scatter_add_(1, bin_of, valid.to(sims.dtype))
        known_hist = known.sum(1).to(sims.dtype)
        columns = [
            torch.where(n_valid > 0, masked.max(1).values, torch.zeros_like(denom)),
            zeroed.sum(1) / denom,
            top.masked_fill(torch.isinf(top), 0.0).sum(1) / n_valid.clamp(min=1, max=self.top_k),
            (weights * zeroed).sum(1) / weights.sum(1).clamp(min=1e-12),
            *(bins / denom.unsqueeze(1)).unbind(1),
            torch.log1p(known_hist),
            (known_hist == 0).to(sims.dtype),
            (~cand_known).to(sims.dtype),
        ]
        return torch.stack(columns, 1)


def coverage(module_or_ids: MatchFeatures | np.ndarray, item_ids: np.ndarray) -> float:
    """Share of `item_ids` (e.g. a dataset's catalogue) that the table has a row for."""
    ids = module_or_ids.item_ids if isinstance(module_or_ids, MatchFeatures) else np.asarray(module_or_ids)
    item_ids = np.unique(np.asarray(item_ids, dtype=np.int64))
    return float(np.isin(item_ids, ids).mean()) if len(item_ids) else 0.0


@torch.no_grad()
def compute_match_features(
    module: MatchFeatures,
    hist: Histories,
    item_ids: np.ndarray,
    *,
    batch_size: int = 16384,
    progress: bool = False,
    desc: str = "match features",
) -> tuple[np.ndarray, MatchStats]:
    """(n, F) float32 features for every (history, candidate) row, computed by `module` in batches.
    Used to precompute features once per frozen table and reuse them across ranking runs."""
    device = module.ec.embeddings[next(iter(module.ec.embeddings))].weight.device
    out = np.empty((len(hist), len(module.feature_names)), dtype=np.float32)
    stats = MatchStats()
    starts = range(0, len(hist), batch_size)
    for lo in tqdm(starts, desc=desc, disable=not progress, unit="batch"):
        hi = min(lo + batch_size, len(hist))
        part = hist.slice(lo, hi)
        inp = module.input(part, item_ids[lo:hi])
        stats.add(part, inp)
        out[lo:hi] = module(inp.features.to(device)).cpu().numpy()
    return out, stats
