"""The ranking experiment: train each variant with several seeds on the training period, score the test
period, and report AUC / GAUC / logloss (all test impressions and those on cold items) with user-level
bootstrap intervals, plus each variant's paired difference to the baseline.

`RankingRun` holds what every variant and seed share (impressions with histories, context features,
sources, cached match features, vocabularies); `run_ranking` is the whole experiment.
Outputs: in the `RankingLayout` of `out_dir` (`<variant>/seed<k>/{metrics.json, test_scores.npy,
model.safetensors}` and `metrics.json`, the rows and summary). A variant x seed whose outputs exist for the same inputs is reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file

from features.context import ContextFeatures
from features.experiment_rows import point_metrics, ranking_rows, split_counts
from features.impressions import Impressions, load_impressions
from features.layout import RankingLayout
from features.ranking import RankingModel
from features.scorer import RankingScorer
from features.sparse import ItemAttribute
from features.tables import FeatureTable, cached_match_features, file_hash, load_table
from features.train import FitInfo, RankingConfig, fit, predict, torch_threads
from features.variant import MatchSettings, Variant, VariantFeatures
from recplug.data import load_dataset
from recplug.data.io import atomic_write, atomic_write_text
from recplug.data.schema import INTERACTIONS_FILE
from recplug.data.vocabulary import Vocabulary
from recplug.metrics.intervals import MetricRow

log = logging.getLogger(__name__)
DEFAULT_VARIANTS = ("baseline", "+match", "+sid", "+match+sid")


class RankingRun:
    """Shared inputs of all variants and seeds on one dataset."""

    def __init__(
        self,
        data_dir: str | Path,
        feature_sources: dict[str, str | Path],
        cfg: RankingConfig | None = None,
        features_dir: str | Path | None = None,
        progress: bool = True,
    ):
        self.cfg, self.progress = cfg or RankingConfig(), progress
        self.features_dir = None if features_dir is None else Path(features_dir)
        self.ds = load_dataset(data_dir)
        self.default_source = next(iter(feature_sources), "student")
        item_ids = self.ds.items["item_id"].to_numpy()
        self.sources: dict[str, FeatureTable] = {
            name: load_table(name, folder, item_ids, f"dataset '{self.ds.meta.name}'")
            for name, folder in feature_sources.items()
        }
        self.imps: Impressions = load_impressions(self.ds, self.cfg.max_history)
        self.context = ContextFeatures(
            self.ds.interactions, self.ds.meta.positive_rule.expr(), prior_until=self.ds.meta.splits.valid_end
        )
        imps = self.imps
        self.context_values = self.context(imps.user_id, imps.item_id, imps.ts, imps.hist.lengths)
        self.fit_rows, self.select_rows = imps.fit_rows(self.cfg.fit_on, self.cfg.select_fraction)
        self.users = Vocabulary.of(imps.user_id[self.fit_rows])
        self.items = Vocabulary.of(imps.item_id[self.fit_rows])
        items = self.ds.items
        self.category = (
            ItemAttribute.of(items["item_id"].to_numpy(), items["category"].to_numpy())
            if "category" in items.columns
            else None
        )
        self.data_key = {
            "dataset": self.ds.meta.name,
            "interactions": file_hash(Path(data_dir) / INTERACTIONS_FILE),
            "max_history": self.cfg.max_history,
        }
        self._match: dict[str, tuple[np.ndarray, dict]] = {}

    @property
    def match_settings(self) -> MatchSettings:
        return MatchSettings(self.cfg.top_k, self.cfg.decay, self.cfg.bins)

    def match_values(self, source: str) -> tuple[np.ndarray, dict]:
        """Match features of every impression from one source (computed once, cached on disk)."""
        if source not in self._match:
            m = self.match_settings
            with torch_threads(self.cfg.threads):
                self._match[source] = cached_match_features(
                    self.sources[source],
                    self.imps,
                    self.features_dir,
                    self.data_key,
                    top_k=m.top_k,
                    decay=m.decay,
                    bins=m.bins,
                    progress=self.progress,
                )
        return self._match[source]

    def variant(self, name: str) -> Variant:
        return Variant.parse(name, self.default_source)

    def pipeline(self, variant: Variant) -> VariantFeatures:
        return VariantFeatures(
            variant, self.users, self.items, self.category, self.context, self.sources, self.match_settings
        )

    def inputs(self, pipeline: VariantFeatures) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Dense and sparse inputs of every impression for this variant."""
        imps = self.imps
        pre = {"context": self.context_values} | {s: self.match_values(s)[0] for s in pipeline.variant.match}
        dense = pipeline.dense(imps.user_id, imps.item_id, imps.ts, imps.hist, pre)
        return dense, pipeline.sparse(imps.user_id, imps.item_id)

    def new_model(self, pipeline: VariantFeatures, dense: np.ndarray | None = None) -> RankingModel:
        """An untrained model; with `dense`, standardised by the training period's mean and std."""
        mean = std = None
        if dense is not None:
            fitted = dense[self.fit_rows]
            mean, std = fitted.mean(0), fitted.std(0)
        return RankingModel(pipeline.sparse_sizes, len(pipeline.dense_names), self.cfg.model, mean, std)

    def train(self, variant: Variant, seed: int) -> tuple[RankingModel, VariantFeatures, FitInfo, np.ndarray]:
        """(model, pipeline, fit info, test-period probabilities) for one variant and seed."""
        import torch

        pipeline = self.pipeline(variant)
        dense, sparse = self.inputs(pipeline)
        imps = self.imps
        with torch_threads(self.cfg.threads):
            torch.manual_seed(seed)
            model = self.new_model(pipeline, dense)
            info = fit(
                model,
                dense,
                sparse,
                imps.label,
                self.fit_rows,
                self.select_rows,
                self.cfg,
                seed,
                self.progress,
                desc=f"ranking {variant.name} seed {seed}",
            )
            scores = predict(model, dense, sparse, imps.rows("test"), self.cfg.eval_batch_size)
        return model, pipeline, info, scores

    def load_model(self, variant: Variant, path: str | Path) -> tuple[RankingModel, VariantFeatures]:
        """A model saved by `run_ranking` (its `model.safetensors`), with the pipeline that feeds it."""
        pipeline = self.pipeline(variant)
        model = self.new_model(pipeline)
        model.load_state_dict(load_file(str(path)))
        return model, pipeline

    def scorer(self, model: RankingModel, pipeline: VariantFeatures) -> RankingScorer:
        return RankingScorer(model, pipeline, self.cfg.eval_batch_size, self.cfg.threads)

    def leakage(self, variant: Variant) -> list[str]:
        """Sources fitted on interactions later than some of the ranker's fitting impressions: their
        features there were computed from a table that saw those impressions' own labels."""
        fit_ts = self.imps.ts[self.fit_rows]
        out = []
        for name in sorted(variant.sources):
            cutoff = self.sources[name].cutoff
            early = int((fit_ts < cutoff).sum()) if cutoff is not None else 0
            if early:
                out.append(
                    f"variant '{variant.name}': source '{name}' was fitted on interactions before {cutoff}, "
                    f"after {early} of the {len(fit_ts)} impressions the ranker is fitted on (fit_on="
                    f"'{self.cfg.fit_on}'): its features there saw their own labels; use fit_on='valid'"
                )
        return out

    def run_key(self, variant: Variant, seed: int) -> str:
        """What a variant x seed's outputs depend on: reused only when this is unchanged."""
        key = {
            "cfg": self.cfg.model_dump(mode="json"),
            "data": self.data_key,
            "variant": variant.name,
            "seed": seed,
            "sources": {s: self.sources[s].fingerprint for s in sorted(variant.sources)},
        }
        return hashlib.blake2b(json.dumps(key, sort_keys=True).encode(), digest_size=8).hexdigest()


def _save_npy(path: str, values: np.ndarray) -> None:
    with open(path, "wb") as f:  # a handle: np.save would add ".npy" to a temporary name
        np.save(f, values)


def _seed_outputs(run: RankingRun, variant: Variant, seed: int, layout: RankingLayout) -> np.ndarray:
    """Test scores of one variant x seed: reused from the layout's folder when written for the same inputs."""
    key = run.run_key(variant, seed)
    metrics_path, scores_path = layout.metrics(variant.slug, seed), layout.scores(variant.slug, seed)
    if metrics_path.is_file() and scores_path.is_file():
        if json.loads(metrics_path.read_text()).get("run_key") == key:
            return np.load(scores_path, allow_pickle=False)
    model, pipeline, info, scores = run.train(variant, seed)
    # scores and model first, metrics.json (holding the key) last: a killed run is never reused
    atomic_write(layout.model(variant.slug, seed), lambda tmp: save_file(model.state_dict(), tmp))
    atomic_write(scores_path, lambda tmp: _save_npy(tmp, scores))
    test = run.imps.rows("test")
    catalogue = run.ds.items["item_id"].to_numpy()
    sources = {}
    for s in sorted(variant.sources):
        source = run.sources[s]
        sources[s] = {"item_coverage": source.coverage, "cutoff_ts": source.cutoff}
        if s in variant.match:
            sources[s] |= run.match_values(s)[1]
        if s in variant.sid:
            sources[s]["semantic_missing_items"] = source.semantic.missing(catalogue)
    report = {
        "run_key": key,
        "variant": variant.name,
        "seed": seed,
        "test": point_metrics(run.imps, scores),
        "fit": info.__dict__,
        "fit_on": run.cfg.fit_on,
        "fit_impressions": len(run.fit_rows),
        "select_impressions": len(run.select_rows),
        "leakage": run.leakage(variant),
        "test_impressions": len(test),
        "test_cold_impressions": int(run.imps.cold[test].sum()),
        "histories_truncated": run.imps.hist.truncated,
        "max_history": run.cfg.max_history,
        "sources": sources,
        "dense_features": pipeline.dense_names,
        "sparse_features": pipeline.sparse_sizes,
        "config": run.cfg.model_dump(mode="json"),
    }
    atomic_write_text(metrics_path, json.dumps(report, indent=2))
    return scores


@dataclass
class RankingResult:
    """What the experiment produced: report rows and the summary written to the layout's metrics.json
    (undefined metrics, split counts, leakage, how intervals are made, how much seeds widen them)."""

    rows: list[MetricRow]
    summary: dict
    layout: RankingLayout


def run_ranking(
    data_dir: str | Path,
    feature_sources: dict[str, str | Path],
    variants: Sequence[str] = DEFAULT_VARIANTS,
    seeds: Sequence[int] = (0, 1, 2),
    out_dir: str | Path = "runs/ranking",
    cfg: RankingConfig | None = None,
    features_dir: str | Path | None = None,
    progress: bool = True,
) -> RankingResult:
    """Train and evaluate every variant x seed; return report rows (experiment "ranking"): per variant
    and split ("all", "cold") the seed-mean auc / gauc / logloss with two-level (users, seeds)
    intervals, and "<metric>_diff" rows (variant - baseline, paired) when "baseline" is among the
    variants. `feature_sources` maps a source name to an embedding folder; the first is the default
    source of "+match" / "+sid". Match features are cached in `features_dir` (default:
    out_dir/../features)."""
    layout = RankingLayout(Path(out_dir))
    cfg = cfg or RankingConfig()
    features_dir = layout.root.parent / "features" if features_dir is None else features_dir
    run = RankingRun(data_dir, feature_sources, cfg, features_dir, progress)
    parsed = [run.variant(v) for v in variants]
    leakage = []
    for v in parsed:
        run.pipeline(v)  # every variant's sources and semantic ids are checked before any training
        leakage += run.leakage(v)
    for message in leakage:
        log.warning(message)
    scores = {v.name: [_seed_outputs(run, v, seed, layout) for seed in seeds] for v in parsed}
    widening: list[dict] = []
    rows, undefined = ranking_rows(run.imps, scores, cfg.n_boot, widening=widening)
    for message in undefined:
        log.warning(message)
    summary = {
        "rows": rows,
        "undefined": undefined,
        "splits": split_counts(run.imps),
        "leakage": leakage,
        "fit_on": cfg.fit_on,
        "seeds": list(seeds),
        "intervals": "two-level bootstrap: users, then training seeds (paired across variants)",
        "interval_widening": widening,
        "variants": list(variants),
    }
    atomic_write_text(layout.summary, json.dumps(summary, indent=2))
    return RankingResult(rows, summary, layout)
