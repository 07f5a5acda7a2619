"""The tabular ranker a practitioner fits first: LightGBM gradient-boosted trees on the same dense
features as the DLRM-DCN (context counts and rates, and each match source's similarity features), with
early stopping on the same time-held-out selection window. No id tables: what it gains from match
features is what they add to counts a ranker already has."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from features.train import FitInfo


class GBDTConfig(BaseModel):
    """LightGBM's settings (fixed a priori, not tuned on any reported figure)."""

    model_config = ConfigDict(extra="forbid")
    num_leaves: int = Field(31, ge=2)
    learning_rate: float = Field(0.05, gt=0)
    max_rounds: int = Field(1000, ge=1)
    early_stopping_rounds: int = Field(
        50, ge=1, description="stop after this many rounds without a better selection AUC"
    )
    min_child_samples: int = Field(100, ge=1)
    subsample: float = Field(0.8, gt=0, le=1, description="row share per tree (varies with the seed)")
    colsample: float = Field(0.8, gt=0, le=1, description="feature share per tree (varies with the seed)")
    reg_lambda: float = Field(1.0, ge=0)
    threads: int = Field(2, ge=1)


def fit_predict_gbdt(
    dense: np.ndarray,
    labels: np.ndarray,
    fit_rows: np.ndarray,
    select_rows: np.ndarray,
    predict_rows: np.ndarray,
    cfg: GBDTConfig,
    seed: int,
    names: list[str] | None = None,
) -> tuple[np.ndarray, FitInfo, object]:
    """Fit on `fit_rows`, stop on `select_rows`' AUC, return probabilities for `predict_rows`, the
    learning curve (selection AUC every 10 rounds, best round as `best_epoch` x 10) and the fitted
    model as a function of further dense rows."""
    import time

    import lightgbm as lgb

    start = time.perf_counter()
    params = {
        "objective": "binary",
        "metric": "auc",
        "num_leaves": cfg.num_leaves,
        "learning_rate": cfg.learning_rate,
        "min_child_samples": cfg.min_child_samples,
        "subsample": cfg.subsample,
        "subsample_freq": 1,
        "colsample_bytree": cfg.colsample,
        "reg_lambda": cfg.reg_lambda,
        "num_threads": cfg.threads,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    train = lgb.Dataset(dense[fit_rows], labels[fit_rows], feature_name=names or "auto", free_raw_data=True)
    valid = lgb.Dataset(dense[select_rows], labels[select_rows], reference=train)
    curve: dict = {}
    booster = lgb.train(
        params,
        train,
        num_boost_round=cfg.max_rounds,
        valid_sets=[valid],
        valid_names=["select"],
        callbacks=[
            lgb.early_stopping(cfg.early_stopping_rounds, verbose=False),
            lgb.record_evaluation(curve),
        ],
    )
    aucs = curve.get("select", {}).get("auc", [])
    info = FitInfo(
        seconds=time.perf_counter() - start,
        steps=booster.current_iteration(),
        best_epoch=max(booster.best_iteration - 1, 0) // 10,
        valid_auc=[float(a) for a in aucs[::10]],
    )
    scores = booster.predict(dense[predict_rows], num_iteration=booster.best_iteration)

    def predict_fn(x: np.ndarray) -> np.ndarray:
        return np.asarray(booster.predict(x, num_iteration=booster.best_iteration), dtype=np.float32)

    return np.asarray(scores, dtype=np.float32), info, predict_fn
