"""The two teacher kinds behind one interface, so training, checkpointing, evaluation and export are
written once. A kind knows its model, how to batch its examples, its loss, and how to embed."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from teachers.batch import TeacherBatch, make_kjt
from teachers.config import TeacherConfig
from teachers.data import TeacherData, ragged_gather
from teachers.losses import sampled_softmax_loss
from teachers.models import IDTower, SeqTower
from teachers.models.id_tower import FEATURES as ID_FEATURES
from teachers.models.seq_tower import FEATURES as SEQ_FEATURES

EMBED_CHUNK = 4096


class TeacherKind(ABC):
    """One teacher kind (the ID tower or the sequence tower) behind the interface training,
    checkpointing, evaluation and export use: its model, its examples and batches, its loss, and how it
    embeds items and users. `KINDS[name](data, cfg)` builds one.

    Args:
        data: the positives before the cut-off, with vocabularies and histories.
        cfg: the teacher's config (kind, sizes, optimiser, epochs, seed).
    """

    def __init__(self, data: TeacherData, cfg: TeacherConfig):
        self.data, self.cfg = data, cfg

    # --- examples and batches -------------------------------------------------------------------
    @abstractmethod
    def n_examples(self) -> int: ...

    @abstractmethod
    def make_batch(self, examples: np.ndarray) -> TeacherBatch: ...

    def steps_per_epoch(self) -> int:
        return max(self.n_examples() // self.cfg.batch_size, 1)

    def total_steps(self) -> int:
        if self.cfg.max_steps is not None:
            return self.cfg.max_steps
        return max(math.ceil(self.cfg.epochs * self.steps_per_epoch()), 1)

    def examples_at(self, step: int, rank: int = 0, world_size: int = 1) -> np.ndarray:
        """The examples of global step `step` for `rank`: a pure function of (seed, step), which is what
        makes a resumed run see exactly the batches an uninterrupted run would."""
        spe = self.steps_per_epoch()
        epoch, pos = divmod(step, spe)
        perm = self._epoch_order(epoch)
        b = self.cfg.batch_size
        batch = perm[pos * b : (pos + 1) * b] if len(perm) >= b else perm
        per_rank = len(batch) // world_size
        return batch[rank * per_rank : (rank + 1) * per_rank].copy()  # the epoch's order stays intact

    def _epoch_order(self, epoch: int) -> np.ndarray:
        """The epoch's example order, drawn once per epoch (drawn again every step it cost O(examples)
        per step: 76% of the ID teacher's time on the large world's 2.4M positives)."""
        if getattr(self, "_order", (None, None))[0] != epoch:
            self._order = (
                epoch,
                np.random.default_rng([self.cfg.seed, epoch]).permutation(self.n_examples()),
            )
        return self._order[1]

    def batches(self, start: int, stop: int, rank: int = 0, world_size: int = 1) -> Iterator[TeacherBatch]:
        for step in range(start, stop):
            yield self.make_batch(self.examples_at(step, rank, world_size))

    # --- model ----------------------------------------------------------------------------------
    @abstractmethod
    def build(self, device: torch.device | None = None) -> nn.Module: ...

    @abstractmethod
    def objective(self, model: nn.Module) -> nn.Module: ...

    # --- embeddings (unsharded model, for evaluation and export) ---------------------------------
    @abstractmethod
    def query_embeddings(
        self, model: nn.Module, user_rows: np.ndarray, lengths: np.ndarray, values: np.ndarray
    ) -> torch.Tensor: ...

    @abstractmethod
    def item_embeddings(self, model: nn.Module, item_rows: np.ndarray) -> torch.Tensor: ...

    def log_q(self) -> torch.Tensor:
        """log of each item row's share of positives (row 0 never sampled: a tiny floor)."""
        f = self.data.item_freq
        return torch.as_tensor(np.log(np.maximum(f, 0.5) / f.sum()), dtype=torch.float32)


class IDTeacher(TeacherKind):
    def n_examples(self) -> int:
        return self.data.n_examples

    def _features(self, user_rows, hist_lengths, hist_values, item_rows) -> TeacherBatch:
        """Features of examples; `item_rows=None` fills the item side with row 0 (user queries)."""
        n = len(user_rows)
        ones = np.ones(n, dtype=np.int64)
        feats = {"user_id": (ones, user_rows), "hist_items": (hist_lengths, hist_values)}
        if item_rows is not None:
            feats |= {
                "item_id": (ones, item_rows),
                "item_category": (ones, self.data.item_category[item_rows]),
            }
        else:
            feats |= {
                "item_id": (ones, np.zeros(n, dtype=np.int64)),
                "item_category": (ones, np.zeros(n, dtype=np.int64)),
            }
        return TeacherBatch(make_kjt(feats, ID_FEATURES))

    def make_batch(self, examples: np.ndarray) -> TeacherBatch:
        d = self.data
        lengths, values = d.histories(examples, self.cfg.history_len)
        items = d.item_row[examples]
        return TeacherBatch(
            self._features(d.user_row[examples], lengths, values, items).features,
            {"items": torch.as_tensor(items)},
        )

    def build(self, device: torch.device | None = None) -> IDTower:
        c = self.cfg
        return IDTower(
            self.data.users.size,
            self.data.items.size,
            len(self.data.categories) + 1,
            c.embedding_dim,
            c.tower_hidden,
            c.output_dim,
            device=device,
        )

    def objective(self, model: nn.Module) -> nn.Module:
        return IDObjective(model, self.log_q() if self.cfg.logq_correction else None, self.cfg.temperature)

    def query_embeddings(self, model, user_rows, lengths, values) -> torch.Tensor:
        def one(s):
            return model(self._features(user_rows[s], *_slice_ragged(lengths, values, s), None).features)[0]

        return _chunked(one, len(user_rows))

    def item_embeddings(self, model, item_rows) -> torch.Tensor:
        n = len(item_rows)
        zeros = np.zeros(n, dtype=np.int64)

        def one(s):
            rows = item_rows[s]
            return model(self._features(zeros[: len(rows)], zeros[: len(rows)], zeros[:0], rows).features)[1]

        return _chunked(one, n)


class SeqTeacher(TeacherKind):
    def __init__(self, data: TeacherData, cfg: TeacherConfig):
        super().__init__(data, cfg)
        self.window_start, self.window_len = data.sequences(cfg.history_len, cfg.window_stride)

    def n_examples(self) -> int:
        return len(self.window_start)

    def _sequence_features(self, lengths, values, target_lengths, targets, negatives):
        n = len(lengths)
        per_row = np.zeros(n, dtype=np.int64)
        if len(negatives):
            per_row[:] = len(negatives) // n
            per_row[: len(negatives) % n] += 1
        cat = self.data.item_category
        return make_kjt(
            {
                "seq_items": (lengths, values),
                "target_items": (target_lengths, targets),
                "neg_items": (per_row, negatives),
                "seq_categories": (lengths, cat[values]),
                "target_categories": (target_lengths, cat[targets]),
                "neg_categories": (per_row, cat[negatives]),
            },
            SEQ_FEATURES,
        )

    def make_batch(self, examples: np.ndarray) -> TeacherBatch:
        d = self.data
        start, length = self.window_start[examples], self.window_len[examples]
        inputs = ragged_gather(d.item_row, start, length - 1)
        targets = ragged_gather(d.item_row, start + 1, length - 1)
        rng = np.random.default_rng(
            [self.cfg.seed, 7, int(examples[:1].sum()) if len(examples) else 0, len(examples)]
        )
        negatives = rng.integers(1, d.items.size, self.cfg.random_negatives)
        kjt = self._sequence_features(length - 1, inputs, length - 1, targets, negatives)
        return TeacherBatch(
            kjt, {"targets": torch.as_tensor(targets), "negatives": torch.as_tensor(negatives)}
        )

    def build(self, device: torch.device | None = None) -> SeqTower:
        c = self.cfg
        return SeqTower(
            self.data.items.size,
            len(self.data.categories) + 1,
            c.embedding_dim,
            c.history_len,
            c.n_layers,
            c.n_heads,
            c.dropout,
            device=device,
        )

    def objective(self, model: nn.Module) -> nn.Module:
        freq = torch.as_tensor(self.data.item_freq / self.data.item_freq.sum(), dtype=torch.float32)
        return SeqObjective(
            model,
            freq if self.cfg.logq_correction else None,
            self.cfg.temperature,
            self.data.items.size,
        )

    def query_embeddings(self, model, user_rows, lengths, values) -> torch.Tensor:
        def one(s):
            ln, v = _slice_ragged(lengths, values, s)
            out = model(self._sequence_features(ln, v, np.zeros_like(ln), v[:0], v[:0]))
            h = model.encode(out["seq_items"])
            return h[torch.arange(len(ln)), torch.as_tensor(np.maximum(ln, 1) - 1)]

        return _chunked(one, len(user_rows))

    def item_embeddings(self, model, item_rows) -> torch.Tensor:
        def one(s):
            rows = item_rows[s]
            ones = np.ones(len(rows), dtype=np.int64)
            out = model(self._sequence_features(ones, rows, ones * 0, rows[:0], rows[:0]))
            return SeqTower.item_vectors(out["seq_items"])

        return _chunked(one, len(item_rows))


class IDObjective(nn.Module):
    """Lookups and towers, then a leaf loss module (TorchRec's pipeline traces down to the tables only)."""

    def __init__(self, tower: IDTower, log_q: torch.Tensor | None, temperature: float):
        super().__init__()
        self.tower = tower
        self.loss = _InBatchLoss(log_q, temperature)

    def forward(self, batch: TeacherBatch) -> tuple[torch.Tensor, torch.Tensor]:
        user, item = self.tower(batch.features)
        return self.loss(user, item, batch.tensors["items"])


class _InBatchLoss(nn.Module):
    def __init__(self, log_q: torch.Tensor | None, temperature: float):
        super().__init__()
        self.temperature, self.use_log_q = temperature, log_q is not None
        self.register_buffer("log_q", log_q if log_q is not None else torch.zeros(0), persistent=False)

    def forward(
        self, user: torch.Tensor, item: torch.Tensor, items: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        log_q = self.log_q[items] if self.use_log_q else None
        loss = sampled_softmax_loss(
            user, item, torch.arange(len(items)), items, items, log_q, self.temperature
        )
        return loss, loss.detach()


class SeqObjective(nn.Module):
    def __init__(self, tower: SeqTower, freq: torch.Tensor | None, temperature: float, n_items: int):
        super().__init__()
        self.tower = tower
        self.loss = _NextItemLoss(freq, temperature, n_items)

    def forward(self, batch: TeacherBatch) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.tower(batch.features)
        hidden = self.tower.encoder(out["seq_items"])
        return self.loss(
            hidden,
            out["seq_items"],
            out["target_items"],
            out["neg_items"],
            batch.tensors["targets"],
            batch.tensors["negatives"],
        )


class _NextItemLoss(nn.Module):
    """Next-item sampled softmax over in-batch targets plus shared random negatives, log-Q corrected by
    each candidate's expected count (in-batch by popularity, random uniformly)."""

    def __init__(self, freq: torch.Tensor | None, temperature: float, n_items: int):
        super().__init__()
        self.temperature, self.n_items, self.use_log_q = temperature, n_items, freq is not None
        self.register_buffer("freq", freq if freq is not None else torch.zeros(0), persistent=False)

    def forward(
        self, hidden, seq, target_emb, neg_emb, targets, negatives
    ) -> tuple[torch.Tensor, torch.Tensor]:
        valid = torch.arange(hidden.shape[1])[None, :] < seq.lengths()[:, None]
        queries = hidden[valid]  # (M, d), in the order of the jagged targets
        cand = torch.cat([SeqTower.item_vectors(target_emb), SeqTower.item_vectors(neg_emb)])
        cand_items = torch.cat([targets, negatives])
        log_q = None
        if self.use_log_q:
            log_q = torch.log(len(targets) * self.freq[cand_items] + len(negatives) / (self.n_items - 1))
        # the other positives of the same sequence are the user's interests, not negatives
        rows = torch.repeat_interleave(torch.arange(hidden.shape[0]), seq.lengths())
        groups = torch.cat([rows, torch.full((len(negatives),), -1)])
        loss = sampled_softmax_loss(
            queries,
            cand,
            torch.arange(len(targets)),
            targets,
            cand_items,
            log_q,
            self.temperature,
            rows,
            groups,
        )
        return loss, loss.detach()


def _slice_ragged(lengths: np.ndarray, values: np.ndarray, s: slice) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    lo, hi = s.start, min(s.stop, len(lengths))
    return lengths[lo:hi], values[offsets[lo] : offsets[hi]]


@torch.no_grad()
def _chunked(fn, n: int) -> torch.Tensor:
    return torch.cat([fn(slice(lo, min(lo + EMBED_CHUNK, n))) for lo in range(0, n, EMBED_CHUNK)])


KINDS: dict[str, type[TeacherKind]] = {"id": IDTeacher, "seq": SeqTeacher}
