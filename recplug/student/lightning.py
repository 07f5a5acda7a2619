"""Content training as a LightningModule / LightningDataModule pair.

Each step: one source (stochastic specialization); for every pattern of that source, the valid samples
(both sides have the view's modalities) are encoded in one forward pass with all other patterns;
InfoNCE over the Matryoshka prefixes with the source's learnable temperature (or COSENT for graded
sources), plus per-modality and gated-fusion terms on omni patterns, plus mined hard negatives in
stage III.
"""

from __future__ import annotations

import math

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from recplug.student.fit import CountersInCheckpoint
from recplug.student.items import ItemStore
from recplug.student.losses import cosent, info_nce, matryoshka_info_nce
from recplug.student.modeling import OmniEncoder
from recplug.student.sampler import SourceSteps
from recplug.student.sources import PairSet, subset
from recplug.student.views import Encoding, Entries, encode_inputs


def side_entries(pairs: PairSet, idx: np.ndarray, view, side: str) -> Entries:
    rows = pairs.query_rows if side == "query" else pairs.target_rows
    texts = pairs.query_texts if side == "query" else pairs.target_texts
    if rows is not None:
        return Entries(view, item_rows=rows[idx])
    return Entries(view, texts=[texts[i] for i in idx])


def is_omni(view) -> bool:
    return set(view.modalities) == {"text", "image", "audio"}


def known_positive_mask(pairs: PairSet, idx: np.ndarray) -> np.ndarray:
    """[i, j] True when sample j's target is a positive of sample i too: the same target (item or
    label text) or the same query (a query with several relevant items). Such j are not negatives."""
    tgt = (
        pairs.target_rows[idx]
        if pairs.target_rows is not None
        else np.array([pairs.target_texts[i] for i in idx], dtype=object)
    )
    group = pairs.query_groups[idx]
    return (tgt[:, None] == tgt[None, :]) | (group[:, None] == group[None, :])


class ContentModule(CountersInCheckpoint, L.LightningModule):
    """Content training of the student as a LightningModule: each step draws its batch from one
    source (stochastic specialization, the source chosen by `SourceStepData`), scores every pattern
    whose modalities are present, and sums InfoNCE (or COSENT) over the Matryoshka prefixes, plus the
    per-modality and gated-fusion terms; mined hard negatives join the denominator when set.

    Args:
        encoder: the student being trained.
        store: the items (rows of every pair set).
        tokenizer: the run's tokenizer.
        pairsets: the training sources' pairs, in source order.
        lr, weight_decay: AdamW's.
        field_dropout: chance that each text field is dropped from a training item.
        max_text_tokens: tokens per text (longer ones are cut and counted in `counters`).
        modality_loss_weight: weight of the per-modality and gated-fusion terms.
        seed: makes each step's draws a pure function of (seed, step).
        text_dropout: share of training items shown through their image and audio alone.
    """

    def __init__(
        self,
        encoder: OmniEncoder,
        store: ItemStore,
        tokenizer,
        pairsets: list[PairSet],
        *,
        lr: float,
        weight_decay: float,
        field_dropout: float,
        max_text_tokens: int,
        modality_loss_weight: float,
        seed: int,
        text_dropout: float = 0.0,
    ):
        super().__init__()
        self.encoder, self.store, self.tokenizer, self.pairsets = encoder, store, tokenizer, pairsets
        self.lr, self.weight_decay, self.seed = lr, weight_decay, seed
        self.enc = Encoding(
            max_text_tokens=max_text_tokens, field_dropout=field_dropout, text_dropout=text_dropout
        )
        self.modality_loss_weight = modality_loss_weight
        self.log_temperature = nn.Parameter(torch.tensor([math.log(p.spec.temperature) for p in pairsets]))
        self.dims = tuple(encoder.config.matryoshka_dims)
        self.hard_negatives: dict[int, np.ndarray] = {}  # source -> (n_pairs, k) target rows, set by mining
        self.counters = {"truncated_texts": 0, "samples_without_pattern": 0}

    def temperature(self, source: int) -> torch.Tensor:
        return self.log_temperature[source].exp().clamp(min=0.01, max=1.0)

    def encode(self, entries: list[Entries], rng: np.random.Generator | None):
        inputs, stats = encode_inputs(self.store, self.tokenizer, entries, self.enc, rng)
        self.counters["truncated_texts"] += stats["truncated_texts"]
        return self.encoder(**{k: v.to(self.device) for k, v in inputs.items()})

    def source_loss(
        self, source: int, idx: np.ndarray, rng: np.random.Generator | None
    ) -> tuple[torch.Tensor, dict]:
        """Loss of one source's batch: every valid pattern scored in ONE forward pass."""
        pairs = self.pairsets[source]
        spec = pairs.spec
        entries, plan, valid_any = [], [], np.zeros(len(idx), dtype=bool)
        for qv, tv in spec.patterns:
            q = side_entries(pairs, idx, spec.views[qv], "query")
            t = side_entries(pairs, idx, spec.views[tv], "target")
            ok = q.present(self.store) & t.present(self.store)
            valid_any |= ok
            if ok.sum() < 2:
                continue
            sel = np.flatnonzero(ok)
            plan.append((qv, tv, len(entries), sel))
            entries += [
                side_entries(pairs, idx[sel], spec.views[qv], "query"),
                side_entries(pairs, idx[sel], spec.views[tv], "target"),
            ]
        self.counters["samples_without_pattern"] += int((~valid_any).sum())
        hard = None
        if (
            self.hard_negatives.get(source) is not None
            and spec.loss == "infonce"
            and pairs.target_rows is not None
        ):
            hard_rows = self.hard_negatives[source][idx].ravel()
            hard_rows = hard_rows[hard_rows >= 0]
            if len(hard_rows):
                hard = Entries(spec.views[spec.patterns[0][1]], item_rows=hard_rows)
                entries.append(hard)
        if not plan:
            return torch.zeros((), device=self.device, requires_grad=True), {"patterns": 0}
        out = self.encode(entries, rng)
        sizes = [len(e) for e in entries]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        piece = lambda field, k: getattr(out, field)[offsets[k] : offsets[k + 1]]  # noqa: E731
        tau = self.temperature(source)
        total, logs = 0.0, {}
        for qv, tv, k, sel in plan:
            qe, te = piece("embedding", k), piece("embedding", k + 1)
            if spec.loss == "cosent":
                loss = cosent(qe, te, torch.as_tensor(pairs.score[idx[sel]], device=self.device))
            else:
                same = torch.as_tensor(known_positive_mask(pairs, idx[sel]), device=self.device)
                extra = (
                    piece("embedding", len(entries) - 1)
                    if hard is not None and (qv, tv) == spec.patterns[0]
                    else None
                )
                masked = same
                if extra is not None:  # a mined negative that is this query's own target is no negative
                    own = pairs.target_rows[idx[sel]][:, None] == hard_rows[None, :]
                    masked = torch.cat([same, torch.as_tensor(own, device=self.device)], dim=1)
                loss = matryoshka_info_nce(qe, te, tau, self.dims, extra, masked) / len(self.dims)
                if is_omni(spec.views[qv]) and is_omni(spec.views[tv]):
                    loss = loss + self.modality_loss_weight * self.modality_terms(out, offsets, k, tau, same)
            logs[f"{qv}->{tv}"] = float(loss.detach())
            total = total + loss
        return total / len(plan), {"patterns": len(plan), **logs}

    def modality_terms(self, out, offsets, k, tau, same) -> torch.Tensor:
        """Vision-only and text-only query embeddings against the full target, and the gated fusion
        of query and target, where the query has the modality: the model cannot ignore images."""
        q = slice(offsets[k], offsets[k + 1])
        t = slice(offsets[k + 1], offsets[k + 2])
        terms = []
        for field, has in (("vision_embedding", out.has_image[q]), ("text_embedding", out.has_text[q])):
            h = has.nonzero().squeeze(1)
            if len(h) >= 2:
                terms.append(
                    info_nce(getattr(out, field)[q][h], out.embedding[t][h], tau, same_target=same[h][:, h])
                )
        terms.append(info_nce(out.gated_embedding[q], out.gated_embedding[t], tau, same_target=same))
        return sum(terms) / len(terms)

    def training_step(self, batch, batch_idx):
        step, source = int(batch["step"]), int(batch["source"])
        torch.manual_seed(self.seed * 1_000_003 + step)  # dropout depends on the step only: resumable
        rng = np.random.default_rng([self.seed, 17, step])
        loss, logs = self.source_loss(source, batch["indices"].numpy(), rng)
        name = self.pairsets[source].spec.name
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["indices"]))
        self.log(f"train/loss_{name}", loss, batch_size=len(batch["indices"]))
        self.log(f"train/temperature_{name}", self.temperature(source), batch_size=1)
        self.log("train/source", float(source), batch_size=1)
        if not torch.isfinite(loss):
            raise RuntimeError(
                f"student loss is {float(loss)} at step {step} (source {name}); lower the learning rate"
            )
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


class SourceStepData(L.LightningDataModule):
    """Batches of stochastic specialization: each step one source's indices (see sampler.py), from
    the trainer's current step on, so a resumed run continues the same sequence."""

    def __init__(self, sizes: list[int], weights: np.ndarray, batch_size: int, seed: int, max_steps: int):
        super().__init__()
        self.sizes, self.weights, self.batch_size = sizes, weights, batch_size
        self.seed, self.max_steps = seed, max_steps

    def train_dataloader(self):
        steps = SourceSteps(
            self.sizes,
            lambda: self.weights,
            self.batch_size,
            self.seed,
            self.max_steps,
            start_step=lambda: self.trainer.global_step if self.trainer is not None else 0,
        )
        return DataLoader(steps, batch_size=None, num_workers=0)


__all__ = ["ContentModule", "SourceStepData", "subset"]
