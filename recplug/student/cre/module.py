"""CRE training as a LightningModule: four sources, one per step (stochastic specialization).

- `seq2item`: a user's history (chosen by an interest view drawn per sample) -> sequence encoder ->
  InfoNCE against the next positive item's embedding; history and target items are encoded together,
  each distinct item once, with gradients.
- `seq_user`: the user's latest history through the sequence encoder and a head, aligned with each
  sequence teacher's exported user state.
- `id2item`: items through one projection head per teacher, aligned with the frozen teacher vectors of
  the covered items (InfoNCE + optional cosine + relational on the student's own embedding).
- `aux_i2i`: co-engagement item pairs, item-to-item InfoNCE: keeps the content/behaviour ability.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch import nn

from recplug.student.cre.config import SOURCES, CREConfig
from recplug.student.cre.interest_views import recent, select_history
from recplug.student.cre.losses import ProjectionHead, align_loss
from recplug.student.cre.sequence_encoder import SequenceEncoder
from recplug.student.cre.sequences import SequenceSamples
from recplug.student.cre.teachers import TeacherTargets
from recplug.student.embed import embed_items
from recplug.student.fit import CountersInCheckpoint, StepRefresh
from recplug.student.items import ItemStore
from recplug.student.losses import info_nce, matryoshka_info_nce
from recplug.student.media_features import MediaFeatures
from recplug.student.modeling import OmniEncoder
from recplug.student.views import Encoding, Entries, View, encode_inputs


@dataclass
class CREData:
    """Everything the sources sample from, as store rows."""

    samples: SequenceSamples  # seq2item
    user_ids: np.ndarray  # seq_user: users with a teacher state ...
    user_pools: np.ndarray  # ... and their latest history pool (U, P)
    id_rows: np.ndarray  # id2item: items covered by at least one teacher
    aux_pairs: tuple[np.ndarray, np.ndarray]  # aux_i2i: co-engaged (query, target) rows
    n_labels: int = 3

    def sizes(self) -> list[int]:
        return [len(self.samples), len(self.id_rows), len(self.aux_pairs[0]), len(self.user_ids)]


# a `freeze` name -> the encoder's sub-modules it may be (the scratch encoder or a pretrained tower)
PERCEPTION = {"vision": ("vision", "image_tower"), "audio": ("audio", "audio_tower")}


class CREModule(CountersInCheckpoint, L.LightningModule):
    """CRE as a LightningModule: each step draws one of the four sources (module docstring) and trains
    the student, the sequence encoder and one projection head per teacher table; the perception
    encoders named in `cfg.freeze` stay frozen.

    Args:
        encoder: the content-trained student, trained further.
        seq_encoder: turns a history's item embeddings into one user vector.
        store, tokenizer, item_view: the items and how they are embedded.
        teachers: the frozen teacher tables (items, and user states where given).
        data: what each source samples from (`CREData`).
        cfg: the CRE config (batch sizes, alignment terms, interest views, freeze).
        lr: the learning rate (each phase sets its own).
    """

    def __init__(
        self,
        encoder: OmniEncoder,
        seq_encoder: SequenceEncoder,
        store: ItemStore,
        tokenizer,
        item_view: View,
        teachers: list[TeacherTargets],
        data: CREData,
        cfg: CREConfig,
        lr: float,
    ):
        super().__init__()
        self.encoder, self.seq_encoder = encoder, seq_encoder
        self.store, self.tokenizer, self.item_view = store, tokenizer, item_view
        self.teachers, self.data, self.cfg, self.lr = teachers, data, cfg, lr
        dim = encoder.config.hidden_size
        hidden = cfg.align.head_hidden
        self.item_heads = nn.ModuleDict({t.name: ProjectionHead(dim, t.dim, hidden) for t in teachers})
        self.user_heads = nn.ModuleDict(
            {t.name: ProjectionHead(dim, t.user_dim, hidden) for t in teachers if t.user_vectors is not None}
        )
        for name in cfg.freeze:
            # 'vision' / 'audio' name the perception encoder whichever it is: scratch or a pretrained tower
            part = next(
                (
                    getattr(encoder, n)
                    for n in PERCEPTION.get(name, (name,))
                    if isinstance(getattr(encoder, n, None), nn.Module)
                ),
                None,
            )
            if part is None:
                children = [n for n, _ in encoder.named_children()]
                raise ValueError(f"freeze: the student has no sub-module '{name}'; it has {children}")
            part.requires_grad_(False)
        # the frozen perception encoders' outputs, once per item (they were a third of a step's time)
        self.media = MediaFeatures.compute(
            encoder, store, image="vision" in cfg.freeze, audio="audio" in cfg.freeze, batch=cfg.embed_batch
        )
        self.enc = Encoding(max_text_tokens=cfg.max_text_tokens, field_dropout=cfg.field_dropout)
        self.dims = tuple(encoder.config.matryoshka_dims)
        # behaviour space for the collaborative views: the first teacher's item table
        self.collab = teachers[0].vectors if teachers else None
        self.content: np.ndarray | None = None  # student item embeddings, refreshed by ContentCache
        self.counters = {"view_" + v: 0 for v in cfg.views}

    # -- encoding -------------------------------------------------------------------------------
    def encode_rows(self, rows: np.ndarray, rng: np.random.Generator | None) -> torch.Tensor:
        inputs, _ = encode_inputs(
            self.store, self.tokenizer, [Entries(self.item_view, item_rows=rows)], self.enc, rng
        )
        inputs = self.media.inputs(inputs, rows)
        return self.encoder(**{k: v.to(self.device) for k, v in inputs.items()}).embedding

    def histories(self, pool, pool_bits, targets, target_bits, rng) -> np.ndarray:
        """(B, L) history rows: each sample through an interest view drawn at random."""
        views = np.asarray(self.cfg.views)[rng.integers(0, len(self.cfg.views), len(pool))]
        out = np.full((len(pool), self.cfg.history_len), -1, dtype=np.int64)
        content = self.content if self.content is not None else np.zeros((len(self.store.item_ids), 1))
        for v in np.unique(views):
            sel = views == v
            self.counters["view_" + v] += int(sel.sum())
            out[sel] = select_history(
                str(v),
                pool[sel],
                pool_bits[sel],
                targets[sel],
                target_bits[sel],
                length=self.cfg.history_len,
                content=content,
                collab=self.collab,
                clusters=self.cfg.interest_clusters,
                n_labels=self.data.n_labels,
            )
        return out

    def sequence_embedding(
        self, history: np.ndarray, extra_rows: np.ndarray, rng
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(sequence vectors (B, d), embeddings of extra_rows): all distinct items encoded once."""
        rows, inverse = np.unique(np.concatenate([history[history >= 0], extra_rows]), return_inverse=True)
        emb = self.encode_rows(rows, rng)
        n_hist = int((history >= 0).sum())
        hist = torch.zeros(*history.shape, emb.shape[1], device=self.device, dtype=emb.dtype)
        mask = torch.as_tensor(history >= 0, device=self.device)
        hist[mask] = emb[torch.as_tensor(inverse[:n_hist], device=self.device)]
        return self.seq_encoder(hist, mask), emb[torch.as_tensor(inverse[n_hist:], device=self.device)]

    # -- sources --------------------------------------------------------------------------------
    def seq2item(self, idx, rng):
        s = self.data.samples.subset(idx[: self.cfg.seq_batch_size])
        history = self.histories(s.pool, s.pool_bits, s.targets, s.target_bits, rng)
        q, t = self.sequence_embedding(history, s.targets, rng)
        same = torch.as_tensor(s.targets[:, None] == s.targets[None, :], device=self.device)
        return info_nce(q, t, self.cfg.seq_temperature, same_target=same), {}

    def seq_user(self, idx, rng):
        idx = idx[: self.cfg.seq_batch_size]
        users, pool = self.data.user_ids[idx], self.data.user_pools[idx]
        # a teacher's user state describes the latest history: the `recent` view, not a drawn one
        history = recent(pool, self.cfg.history_len)
        q, _ = self.sequence_embedding(history, np.zeros(0, dtype=np.int64), rng)
        terms = [
            (f"{t.name}_user", self.user_heads[t.name], t.user_rows(users), t.user_vectors)
            for t in self.teachers
            if t.user_vectors is not None
        ]
        return self._align_teachers(q, terms)

    def id2item(self, idx, rng):
        rows = self.data.id_rows[idx[: self.cfg.batch_size]]
        emb = self.encode_rows(rows, rng)
        terms = [
            (t.name, self.item_heads[t.name], np.where(t.covered[rows], rows, -1), t.vectors)
            for t in self.teachers
        ]
        return self._align_teachers(emb, terms)

    def _align_teachers(self, x: torch.Tensor, terms) -> tuple[torch.Tensor | float, dict]:
        """Sum of alignment losses, one per (name, head, target row per sample or -1, target table):
        samples without a teacher row are left out of that teacher's term."""
        total, logs = 0.0, {}
        for name, head, rows, table in terms:
            ok = np.flatnonzero(rows >= 0)
            if len(ok) < 2:
                continue
            target = torch.as_tensor(table[rows[ok]], device=self.device)
            loss, parts = self._align(head, x[ok], target, student=x[ok])
            total = total + loss
            logs |= {f"{name}_{k}": v for k, v in parts.items()}
        return total, logs

    def aux_i2i(self, idx, rng):
        idx = idx[: self.cfg.batch_size]
        q, t = self.data.aux_pairs[0][idx], self.data.aux_pairs[1][idx]
        emb = self.encode_rows(np.concatenate([q, t]), rng)
        same = torch.as_tensor(t[:, None] == t[None, :], device=self.device)
        loss = matryoshka_info_nce(
            emb[: len(q)], emb[len(q) :], self.cfg.aux_temperature, self.dims, same_target=same
        )
        return loss / len(self.dims), {}

    def _align(self, head, x, target, student):
        a = self.cfg.align
        return align_loss(
            head(x),
            target,
            a.temperature,
            student=student,
            cosine_weight=a.cosine_weight,
            relational_weight=a.relational_weight,
        )

    # -- Lightning ------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        step, source = int(batch["step"]), int(batch["source"])
        torch.manual_seed(self.cfg.seed * 1_000_003 + step)  # dropout depends on the step only: resumable
        rng = np.random.default_rng([self.cfg.seed, 71, step])
        name = SOURCES[source]
        loss, logs = getattr(self, name)(batch["indices"].numpy(), rng)
        if not torch.is_tensor(loss):  # no teacher covered this batch: an empty step
            loss = sum(p.sum() * 0.0 for p in self.parameters() if p.requires_grad)
        if not torch.isfinite(loss):
            raise RuntimeError(
                f"CRE loss is {float(loss)} at step {step} (source {name}); lower the learning rate"
            )
        n = len(batch["indices"])
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log(f"train/loss_{name}", loss, batch_size=n)
        for k, v in logs.items():
            self.log(f"train/{name}_{k}", v, batch_size=n)
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(
            [p for p in self.parameters() if p.requires_grad], lr=self.lr, weight_decay=self.cfg.weight_decay
        )


class ContentCache(StepRefresh):
    """Refreshes the student's item embeddings that the content-aware views rank by."""

    def __init__(self, every: int, batch: int):
        super().__init__(every)
        self.batch = batch

    def refresh(self, module: CREModule, step: int) -> None:
        module.content = embed_items(
            module.encoder,
            module.store,
            module.tokenizer,
            module.item_view,
            batch=self.batch,
            media=module.media,
        )
        module.encoder.train()

    def saved(self, module: CREModule) -> dict:
        content = module.content
        return {} if content is None else {"content": torch.from_numpy(np.ascontiguousarray(content))}

    def restore(self, module: CREModule, state: dict) -> None:
        module.content = state["content"].numpy()
