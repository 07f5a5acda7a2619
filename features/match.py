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
from features.match_windows import UNREAD, Windows, windows_of, windows_of_groups
from recplug.data.embeddings import EmbeddingTable
from recplug.data.schema import positions_in
from recplug.data.vectors import unit_rows

MISSING_ROW = 0
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


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
        precision: "fp32" (the default: equal to scoring each row alone within 1e-6) or "bf16": the
            table's vectors and the similarities rounded to bfloat16 (products accumulate in fp32),
            about 3 significant digits; faster where the CPU multiplies bf16 natively (AVX512-BF16, AMX).
            Rankers trained on one precision should be scored with the same.

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
        precision: str = "fp32",
    ):
        super().__init__()
        if top_k < 1 or bins < 1 or not 0 < decay <= 1:
            raise ValueError(f"need top_k >= 1, bins >= 1, 0 < decay <= 1; got {top_k}, {bins}, {decay}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got '{precision}'")
        self.precision = precision
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
        """Table row of each item id; MISSING_ROW (a zero row, masked out) where the table has none.
        Ids up to a few times the table's size go through a dense id -> row array (one gather)."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        lookup = self._dense_rows()
        if lookup is None:
            return positions_in(self.item_ids, item_ids) + 1  # -1 -> MISSING_ROW
        inside = (item_ids >= 0) & (item_ids < len(lookup))
        return np.where(inside, lookup[np.where(inside, item_ids, 0)], MISSING_ROW)

    def _dense_rows(self) -> np.ndarray | None:
        if not hasattr(self, "_lookup"):
            top = int(self.item_ids[-1]) + 1 if len(self.item_ids) else 0
            ok = len(self.item_ids) and self.item_ids[0] >= 0 and top <= max(8 * len(self.item_ids), 1 << 20)
            self._lookup = None
            if ok:
                self._lookup = np.full(top, MISSING_ROW, dtype=np.int64)
                self._lookup[self.item_ids] = np.arange(1, len(self.item_ids) + 1)
        return self._lookup

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
        if self.precision != "fp32":  # the grouped path's rounding: inputs to bf16, products in fp32
            h, c = self._round(h), self._round(c)
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
        if self.precision != "fp32":
            sims = self._round(sims)
        padded = torch.ops.fbgemm.jagged_to_padded_dense(
            torch.cat([sims.clamp(-1.0, 1.0), hist_known.unsqueeze(-1).to(sims.dtype)], 1),
            [offsets],
            [width],
            0.0,
        )
        return self.from_similarities(padded[..., 0], padded[..., 1] > 0, cand_known)

    @torch.no_grad()
    def grouped(
        self, hist: Histories, group: np.ndarray, item_ids: np.ndarray, chunk_rows: int = 32768
    ) -> torch.Tensor:
        """The same features as `forward` when many rows share one history: `hist` holds one history
        per group, `group[i]` is row i's group. Each history's vectors are gathered once and scored
        against its rows' candidates in one GEMM (see `scored_windows`). Reads the local table."""
        windows = windows_of_groups(hist.items, hist.offsets[:-1], hist.lengths, group, self.rows_of)
        return self.scored_windows(windows, item_ids, chunk_rows)

    @torch.no_grad()
    def scored_windows(
        self,
        windows: Windows,
        item_ids: np.ndarray,
        chunk_rows: int = 32768,
        stats: MatchStats | None = None,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The features of rows whose histories are windows of one sequence (`features.match_windows`),
        equal to `forward`'s within 1e-6, into `out` when given; adds the ids the table lacks to `stats`.

        Each piece's candidates are multiplied with its stretch of the sequence in one batched GEMM;
        every row then takes its own window out of the product (a 4-byte gather per history slot
        instead of a vector per slot), slot-major (slot 0 the newest), so `_window_features`
        reduces over slots with whole-vector ops. Pieces of one class (rows up to 8 exactly, then in
        eights; stretches in eights of positions) go together in chunks of about `chunk_rows` rows,
        so padding stays small; chunks run on the worker threads, their gathers in buffers reused
        across chunks (fresh large tensors cost more in page faults than the copy itself)."""
        weight = self._table()
        dim, n_features = weight.shape[1], len(self.feature_names)
        counts = np.diff(windows.piece_start)
        row_class = np.where(counts <= 8, counts, 8 + (counts + 7) // 8)
        span_class = (windows.span + 7) // 8
        klass = row_class * (int(span_class.max(initial=0)) + 1) + span_class
        order = np.argsort(klass, kind="stable")
        order = order[counts[order] > 0]
        cnt_o, lo_o, span_o = counts[order], windows.lo[order], windows.span[order]
        # every row in piece order once (chunks are ranges of it): its piece, its slot in the piece
        row_start = np.concatenate([[0], np.cumsum(cnt_o)])
        piece_of = np.repeat(np.arange(len(order)), cnt_o)
        slot_all = np.arange(row_start[-1]) - row_start[piece_of]
        rows_all = windows.order[windows.piece_start[order][piece_of] + slot_all]
        cand_all = self.rows_of(item_ids)[rows_all]
        len_all = windows.length[rows_all]
        newest_all = windows.end[rows_all] - 1 - lo_o[piece_of]  # the newest item's column in the stretch
        out = torch.empty(len(windows), n_features) if out is None else out
        missing = []

        def score(lo: int, hi: int, buffers: _Buffers) -> None:
            n, r0, r1 = hi - lo, row_start[lo], row_start[hi]
            most, span = int(cnt_o[lo:hi].max()), max(int(span_o[lo:hi].max()), 1)
            positions = np.arange(span)
            inside = positions < span_o[lo:hi, None]
            rows_h = windows.seq[np.where(inside, lo_o[lo:hi, None] + positions, 0)]
            # positions no window reads (past a stretch, or between histories) hold any known row, so
            # the only unknown ones are history items the table lacks
            rows_h = np.where(inside & (rows_h != UNREAD), rows_h, weight.shape[0] - 1).reshape(-1)
            at = (piece_of[r0:r1] - lo) * most + slot_all[r0:r1]  # each row's place among the padded
            padded = np.full(n * most, MISSING_ROW, dtype=np.int64)  # the zero row pads
            padded[at] = cand_all[r0:r1]
            h = buffers.gather("h", weight, rows_h)
            # a stretch position without a table row: NaN, so every product with it says "unknown"
            unknown = np.flatnonzero(rows_h == MISSING_ROW)
            h.index_fill_(0, torch.from_numpy(unknown), float("nan"))
            c = buffers.gather("c", weight, padded).view(n, most, dim)
            size = n * most * span
            scores = buffers.get("s", size + 1, weight.dtype)  # + a NaN that slots past a history read
            torch.bmm(c, h.view(n, span, dim).transpose(1, 2), out=scores[:size].view(n, most, span))
            if scores.dtype != torch.float32:
                scores = buffers.get("s32", size + 1).copy_(scores)
            scores[size] = float("nan") if len(unknown) else 0.0
            # each row's window, slot-major (slot 0 = newest)
            lengths = len_all[r0:r1]
            slots = np.arange(max(int(lengths.max()), 1))[:, None]
            inside = slots < lengths
            index = np.where(inside, (at * span + newest_all[r0:r1]) - slots, size)
            sims = torch.take(scores, torch.from_numpy(index)).clamp_(-1.0, 1.0)
            cand_known = torch.from_numpy(cand_all[r0:r1] != MISSING_ROW)
            features, n_known = self._window_features(
                sims, lengths, torch.from_numpy(inside), cand_known, len(unknown) > 0
            )
            missing.append(int(lengths.sum()) - int(n_known.sum()))
            out.index_copy_(0, torch.from_numpy(rows_all[r0:r1]), features)

        workers = torch.get_num_threads()
        # a few chunks per worker at least, so a batch of a few thousand rows (a simulated day) uses them all
        chunk_rows = min(chunk_rows, max(1024, -(-len(rows_all) // (4 * workers))))
        ends = _chunk_ends(klass[order], cnt_o, chunk_rows)
        _in_parallel(score, list(zip([0, *ends[:-1]], ends, strict=True)), workers)
        if stats is not None:
            stats.rows += len(rows_all)
            stats.history_entries += int(windows.length.sum())
            stats.missing_history += sum(missing)
            stats.missing_items += int((cand_all == MISSING_ROW).sum())
        return out

    def _table(self) -> torch.Tensor:
        """The table in the module's precision (a bf16 copy made once, again if the weights change)."""
        weight = next(iter(self.ec.embeddings.values())).weight.detach()
        if self.precision == "fp32":
            return weight
        key = (weight.data_ptr(), weight._version)
        if getattr(self, "_low_key", None) != key:
            self._low_key, self._low_table = key, weight.to(PRECISIONS[self.precision])
        return self._low_table

    def _round(self, x: torch.Tensor) -> torch.Tensor:
        """x rounded to the module's precision, kept in fp32."""
        return x.to(PRECISIONS[self.precision]).float()

    def _window_features(
        self,
        sims: torch.Tensor,
        lengths: np.ndarray,
        inside: torch.Tensor,
        cand_known: torch.Tensor,
        any_unknown: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, F) features and each row's known history count, from slot-major similarities
        (slots, rows) of rows with `lengths` (`inside`: which slots lie in the row's history). With
        `any_unknown`, NaN marks a slot past the history or whose item is unknown; without, every
        slot inside a history is known and the slots past it hold 0 (a missing candidate's known
        slots hold 0). The same values as `from_similarities`; reductions run over slots on whole row
        vectors (the sums as one small matmul), and the top-k is an insertion network: two vector
        ops per slot instead of a sort per row."""
        width, n = sims.shape
        weights = torch.stack([torch.ones(width), self.decay ** torch.arange(width, dtype=sims.dtype)])
        cand_f = cand_known.to(sims.dtype)
        known = inside
        if any_unknown:
            known = sims == sims  # not NaN
            sims.nan_to_num_(0.0)
            n_known, known_weight = weights @ known.to(sims.dtype)
        else:
            n_known = torch.from_numpy(lengths).to(sims.dtype)
            known_weight = torch.cat([torch.zeros(1), weights[1].cumsum(0)])[torch.from_numpy(lengths)]
        denom = n_known.clamp(min=1)
        total, weighted = weights @ sims
        recency = weighted / known_weight.clamp(min=1e-12)
        # SimTier: one bincount over (row, bin) of every slot, the empty ones taken back out of the bin
        # of 0 (their similarity is 0); the index in int64 (a float one is exact only below 2**24);
        # (s + 1) * bins / 2 >= 0, so truncation is the floor
        at = torch.add(sims, 1.0).mul_(self.bins / 2).clamp_(max=self.bins - 1).to(torch.int64)
        at += torch.arange(n).mul_(self.bins)
        bins = torch.bincount(at.view(-1), minlength=n * self.bins).view(n, self.bins).to(sims.dtype)
        zero_bin = min(int((0.0 + 1) / 2 * self.bins), self.bins - 1)
        bins[:, zero_bin] -= width - n_known
        bins *= cand_f.unsqueeze(-1)
        top = self._top_sums(sims.masked_fill_(~known, float("-inf")))
        n_valid = n_known * cand_f
        columns = [
            torch.where(n_valid > 0, top[0], 0.0),
            total / denom,
            top[1] / n_valid.clamp(min=1, max=self.top_k),
            recency,
            *(bins / denom.unsqueeze(-1)).unbind(-1),
            torch.log1p(n_known),
            (n_known == 0).to(sims.dtype),
            1.0 - cand_f,
        ]
        return torch.stack(columns, -1), n_known

    def _top_sums(self, sims: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(max, sum of the top_k) of each row of slot-major `sims` (-inf where unknown): each slot's
        value c goes into each row's sorted top_k r (r[0] the largest) as
        r'[j] = max(r[j], min(r[j-1], c)), r[-1] = +inf: two vector ops per slot. Ranks still -inf
        at the end count 0."""
        n = sims.shape[1]
        ranks = torch.full((self.top_k + 1, n), float("-inf"))
        ranks[0] = float("inf")  # r[-1]
        above, ranks_ = ranks[:-1], ranks[1:]
        lower = torch.empty(self.top_k, n)
        for value in sims.unbind(0):
            torch.minimum(above, value, out=lower)
            torch.maximum(ranks_, lower, out=ranks_)
        top = ranks_.masked_fill_(ranks_ == float("-inf"), 0.0)
        return top[0], top.sum(0)

    def from_similarities(
        self, sims: torch.Tensor, known: torch.Tensor, cand_known: torch.Tensor
    ) -> torch.Tensor:
        """The features (..., F) from padded similarities (..., L), which history slots hold a known
        item (broadcast against sims: (..., L), or (G, 1, L) for one history shared by a group's
        candidates) and which candidates are known (...)."""
        width = sims.shape[-1]
        valid = known & cand_known.unsqueeze(-1)
        valid_f = valid.to(sims.dtype)
        n_valid = valid_f.sum(-1)
        denom = n_valid.clamp(min=1)
        zeroed = sims * valid_f
        # sorted: [..., 0] is the max
        top = sims.masked_fill(~valid, float("-inf")).topk(self.top_k, dim=-1).values
        decay = self.decay ** torch.arange(width, device=sims.device, dtype=sims.dtype)
        bin_of = ((sims + 1) / 2 * self.bins).floor_().long().clamp_(0, self.bins - 1)
        bins = torch.zeros(*sims.shape[:-1], self.bins, dtype=sims.dtype, device=sims.device)
        bins.scatter_add_(-1, bin_of, valid_f)
        known_hist = known.sum(-1).to(sims.dtype).expand_as(n_valid)
        columns = [
            torch.where(n_valid > 0, top[..., 0], torch.zeros_like(denom)),
            zeroed.sum(-1) / denom,
            top.masked_fill(torch.isinf(top), 0.0).sum(-1) / n_valid.clamp(min=1, max=self.top_k),
            (zeroed @ decay) / (valid_f @ decay).clamp(min=1e-12),
            *(bins / denom.unsqueeze(-1)).unbind(-1),
            torch.log1p(known_hist),
            (known_hist == 0).to(sims.dtype),
            (~cand_known).to(sims.dtype),
        ]
        return torch.stack(columns, -1)


def _in_parallel(work, chunks: list[tuple[int, int]], workers: int) -> None:
    """`work(lo, hi, buffers)` for every chunk, on `workers` Python threads with one torch thread each:
    small per-chunk tensors parallelise poorly inside an op, well across chunks (torch and numpy
    release the GIL). Restores the torch thread count after."""
    if workers <= 1 or len(chunks) < 2:
        buffers = _Buffers()
        for lo, hi in chunks:
            work(lo, hi, buffers)
        return
    import threading
    from concurrent.futures import ThreadPoolExecutor

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    local = threading.local()  # each worker its own buffers

    def run(chunk: tuple[int, int]) -> None:
        if not hasattr(local, "buffers"):
            local.buffers = _Buffers()
        work(*chunk, local.buffers)

    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, chunks))  # chunks taken as workers free up: uneven chunks balance
    finally:
        torch.set_num_threads(before)


class _Buffers:
    """Flat float tensors reused across chunks, grown when a chunk needs more."""

    def __init__(self):
        self.store: dict[tuple[str, torch.dtype], torch.Tensor] = {}

    def get(self, name: str, size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        buf = self.store.get((name, dtype))
        if buf is None or buf.numel() < size:
            buf = self.store[(name, dtype)] = torch.empty(max(size, 1 << 16), dtype=dtype)
        return buf[:size]

    def gather(self, name: str, weight: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        """weight[rows] as a (len(rows), dim) view of the buffer `name` (of the weight's dtype)."""
        out = self.get(name, len(rows) * weight.shape[1], weight.dtype).view(len(rows), weight.shape[1])
        return torch.index_select(weight, 0, torch.from_numpy(rows), out=out)


def _chunk_ends(klass: np.ndarray, rows: np.ndarray, chunk_rows: int) -> list[int]:
    """Ends of the chunks of sorted groups: at every change of class and about every `chunk_rows` rows."""
    total = np.cumsum(rows)
    by_size = np.searchsorted(
        total, np.arange(chunk_rows, int(total[-1]) if len(total) else 0, chunk_rows), "right"
    )
    ends = np.concatenate([np.flatnonzero(np.diff(klass)) + 1, by_size, [len(klass)]])
    return [int(e) for e in np.unique(ends) if e > 0]


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
    batch_size: int = 1 << 22,
    progress: bool = False,
    desc: str = "match features",
) -> tuple[np.ndarray, MatchStats]:
    """(n, F) float32 features for every (history, candidate) row, in batches of `batch_size` rows.
    Histories that say where they lie in the engagements (`Histories.end`, from `histories_before`)
    are scored as windows of that sequence: a user's successive histories overlap, so one GEMM per
    stretch of it serves a few dozen rows; other histories are grouped by their items
    (`MatchFeatures.grouped`). Both equal scoring each row alone (within 1e-6), several times faster.
    Used to precompute features once per frozen table and reuse them across ranking runs."""
    out = torch.empty(len(hist), len(module.feature_names))
    stats = MatchStats()
    starts = range(0, len(hist), batch_size)
    for lo in tqdm(starts, desc=desc, disable=not progress, unit="batch"):
        hi = min(lo + batch_size, len(hist))
        part = hist.slice(lo, hi)
        module.scored_windows(windows_of(part, module.rows_of), item_ids[lo:hi], stats=stats, out=out[lo:hi])
    return out.numpy(), stats
