"""Training and prediction loops for the ranking model: Adam (optionally with weight decay), shuffled
mini-batches of precomputed inputs, the epoch with the best selection-window AUC kept, and optional
early stopping after `patience` epochs without improvement.

Set the torch thread count explicitly (`RankingConfig.threads`): on a small shared CPU, the default
(one thread per core) makes each step tens of times slower as soon as other work is running.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from features.history import DEFAULT_MAX_HISTORY
from features.negatives import NegativeConfig
from features.ranking import ModelConfig, RankingModel
from features.sparse import id_kjt
from recplug.metrics.classification import MetricUndefined, auc


class RankingConfig(BaseModel):
    """The ranking experiment: the DLRM-DCN's sizes, which period it is fitted on, selection and early
    stopping, match-feature settings, bootstrap draws, threads. Each field's description is its
    documentation."""

    model_config = ConfigDict(extra="forbid")

    model: ModelConfig = Field(default_factory=ModelConfig)
    max_history: int = Field(
        DEFAULT_MAX_HISTORY, ge=1, description="history items per impression (newest kept)"
    )
    top_k: int = Field(5, ge=1)
    decay: float = Field(0.9, gt=0, le=1, description="recency weight per history position")
    bins: int = Field(8, ge=1, description="similarity histogram bins over [-1, 1]")
    match_precision: Literal["fp32", "bf16"] = Field(
        "fp32",
        description="match features from fp32 vectors, or bf16 (vectors and similarities rounded to "
        "bfloat16: about 3 digits, faster on CPUs with AVX512-BF16 / AMX; see the match_features benchmark)",
    )
    fit_on: Literal["valid", "forward", "train"] = Field(
        "valid",
        description="rows the ranker is fitted on: 'valid' (after the feature tables' training-period "
        "cutoff: leak-free), 'forward' (every pre-test row after the first fold's cut-off, each row's "
        "features from tables cut off before it: leak-free, most of the log) or 'train' (only leak-free "
        "for tables that never saw the logs)",
    )
    select_fraction: float = Field(
        0.2, gt=0, lt=1, description="fit_on=valid: last share of it used to select the epoch"
    )
    batch_size: int = Field(4096, ge=2)
    min_steps_per_epoch: int = Field(
        30,
        ge=1,
        description="smaller batches when the fitting set is small, so an epoch is still this many steps",
    )
    epochs: int = Field(3, ge=1)
    lr: float = Field(3e-3, gt=0)
    select_on_valid: bool = Field(True, description="keep the epoch with the best validation AUC")
    patience: int | None = Field(
        None,
        ge=1,
        description="stop when the selection window's AUC has not improved for this many epochs "
        "(None: train all `epochs`)",
    )
    weight_decay: float = Field(0.0, ge=0, description="Adam's L2 penalty on every parameter (0: none)")
    weight_decay_grid: list[float] | None = Field(
        None,
        description="fit the DLRM-DCN once per weight decay and keep the one with the best selection-window "
        "AUC (a choice on validation rows, never on the test period); None: `weight_decay` alone",
    )
    rankers: list[Literal["dlrm", "gbdt"]] = Field(
        default_factory=lambda: ["dlrm"],
        min_length=1,
        description="'dlrm' (TorchRec DLRM-DCN over id tables and dense features) and/or 'gbdt' "
        "(LightGBM on the dense features alone); each variant is trained and reported with each",
    )
    gbdt: dict = Field(default_factory=dict, description="GBDTConfig keys (features/gbdt.py)")
    negatives: NegativeConfig | None = Field(
        None,
        description="sampled negatives for a log without them (features/negatives.py); None: the logged rows only",
    )
    catalog_queries: int | None = Field(
        None,
        ge=0,
        description="full-catalog Recall@k / NDCG@k over this many test users' first basket (None: 200 "
        "when negatives are sampled, else 0)",
    )
    catalog_ks: list[int] = Field(default_factory=lambda: [10, 50], min_length=1)
    eval_batch_size: int = Field(65536, ge=1)
    threads: int = Field(
        1, ge=1, description="torch threads while training (1 is fastest on a busy 2-core CPU)"
    )
    n_boot: int = Field(500, ge=10, description="user-level bootstrap resamples for intervals")


@dataclass
class FitInfo:
    seconds: float = 0.0
    steps: int = 0
    best_epoch: int = -1
    train_loss: list[float] = field(default_factory=list)  # mean per epoch
    valid_auc: list[float] = field(default_factory=list)  # per epoch (empty without validation rows)
    weight_decay: float | None = None  # the one kept (from `weight_decay_grid`, or the config's)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def batch_inputs(dense: np.ndarray, sparse: dict[str, np.ndarray], rows: np.ndarray):
    return torch.from_numpy(dense[rows]), id_kjt({k: v[rows] for k, v in sparse.items()})


@torch.no_grad()
def predict(
    model: RankingModel,
    dense: np.ndarray,
    sparse: dict[str, np.ndarray],
    rows: np.ndarray,
    batch_size: int = 65536,
) -> np.ndarray:
    """Probabilities for `rows` of the precomputed inputs."""
    model.eval()
    out = np.empty(len(rows), np.float32)
    for lo in range(0, len(rows), batch_size):
        part = rows[lo : lo + batch_size]
        out[lo : lo + len(part)] = torch.sigmoid(model(*batch_inputs(dense, sparse, part))).numpy()
    return out


def fit(
    model: RankingModel,
    dense: np.ndarray,
    sparse: dict[str, np.ndarray],
    labels: np.ndarray,
    train_rows: np.ndarray,
    valid_rows: np.ndarray,
    cfg: RankingConfig,
    seed: int,
    progress: bool = True,
    desc: str = "ranking",
) -> FitInfo:
    """Train in place; with validation rows (and `select_on_valid`) the best epoch's weights are kept."""
    if len(train_rows) == 0:
        raise ValueError("no training impressions (ts < train_end): cannot train a ranking model")
    rng = np.random.default_rng(seed)
    batch_size = max(2, min(cfg.batch_size, -(-len(train_rows) // cfg.min_steps_per_epoch)))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    info, best, best_auc = FitInfo(), None, -np.inf
    start = time.perf_counter()
    steps_per_epoch = -(-len(train_rows) // batch_size)
    bar = tqdm(total=steps_per_epoch * cfg.epochs, desc=desc, disable=not progress, unit="step")
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(train_rows)
        losses = []
        for lo in range(0, len(order), batch_size):
            rows = order[lo : lo + batch_size]
            logits = model(*batch_inputs(dense, sparse, rows))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, torch.from_numpy(labels[rows])
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            info.steps += 1
            bar.update()
            if info.steps % 20 == 0:
                bar.set_postfix(epoch=epoch, loss=f"{np.mean(losses[-20:]):.4f}")
        info.train_loss.append(float(np.mean(losses)))
        if len(valid_rows) and cfg.select_on_valid:
            try:
                score = auc(
                    labels[valid_rows], predict(model, dense, sparse, valid_rows, cfg.eval_batch_size)
                )
            except MetricUndefined:
                continue
            info.valid_auc.append(score)
            if score > best_auc:
                best, best_auc, info.best_epoch = copy.deepcopy(model.state_dict()), score, epoch
            elif cfg.patience is not None and epoch - info.best_epoch >= cfg.patience:
                break  # early stopping: `patience` epochs without a better selection AUC
    bar.close()
    if best is not None:
        model.load_state_dict(best)
    else:
        info.best_epoch = cfg.epochs - 1
    info.seconds = time.perf_counter() - start
    return info
