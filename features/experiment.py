"""The ranking experiment: train each variant with several seeds on the training period, score the test
period, and report AUC / GAUC / logloss (all test impressions and those on cold items) with user-level
bootstrap intervals, plus each variant's paired difference to the baseline.

`RankingRun` holds what every variant and seed share (impressions with histories, context features,
sources, cached match features, vocabularies); `run_ranking` is the whole experiment.
Outputs: in the `RankingLayout` of `out_dir` (`<variant>/seed<k>/{metrics.json, test_scores.npy,
model.safetensors}` and `metrics.json`, the rows and summary). A variant x seed whose outputs exist for the same inputs is reused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file

from features.catalog import catalog_metrics, catalog_queries
from features.context import ContextFeatures
from features.diagnostics import fit_warnings, size_warnings, univariate_auc
from features.experiment_rows import catalog_rows, point_metrics, ranking_rows, split_counts
from features.impressions import Impressions, load_impressions
from features.layout import RankingLayout
from features.ranking import RankingModel
from features.scorer import RankingScorer
from features.sparse import ItemAttribute
from features.tables import FeatureTable, cached_match_features, load_table
from features.train import FitInfo, RankingConfig, fit, predict, torch_threads
from features.variant import MatchSettings, Variant, VariantFeatures
from recplug.data import load_dataset
from recplug.data.artifacts import atomic_write, atomic_write_text, count_work, digest, fingerprint
from recplug.data.schema import INTERACTIONS_FILE
from recplug.data.vocabulary import Vocabulary
from recplug.metrics.intervals import MetricRow

log = logging.getLogger(__name__)
DEFAULT_VARIANTS = ("baseline", "+match", "+sid", "+match+sid")
EXPERIMENTS = {"dlrm": "ranking", "gbdt": "ranking_gbdt"}  # the rows' experiment per ranker
DEFAULT_CATALOG_QUERIES = 200  # full-catalog queries when negatives are sampled


class RankingRun:
    """Shared inputs of all variants and seeds on one dataset."""

    def __init__(
        self,
        data_dir: str | Path,
        feature_sources: dict[str, str | Path | Sequence[str | Path]],
        cfg: RankingConfig | None = None,
        features_dir: str | Path | None = None,
        progress: bool = True,
    ):
        """`feature_sources` maps a source name to an embedding folder, or (forward chaining) to the
        folders of the same source cut off at several times: each impression's match features then
        come from the latest table cut off at or before it, so no row's features saw its label."""
        self.cfg, self.progress = cfg or RankingConfig(), progress
        self.features_dir = None if features_dir is None else Path(features_dir)
        self.ds = load_dataset(data_dir)
        self.default_source = next(iter(feature_sources), "student")
        item_ids = self.ds.items["item_id"].to_numpy()
        self.tables: dict[str, list[FeatureTable]] = {}
        for name, folders in feature_sources.items():
            folders = [folders] if isinstance(folders, str | Path) else list(folders)
            tables = [load_table(name, f, item_ids, self.ds.meta.name) for f in folders]
            self.tables[name] = sorted(tables, key=lambda t: -np.inf if t.cutoff is None else t.cutoff)
        # the latest table of each source: what serves (the LT scorer), semantic ids, coverage
        self.sources: dict[str, FeatureTable] = {name: t[-1] for name, t in self.tables.items()}
        self.imps: Impressions = load_impressions(self.ds, self.cfg.max_history, self.cfg.negatives)
        imps = self.imps
        if len(imps) and imps.label.min() == imps.label.max():
            raise ValueError(
                f"dataset '{self.ds.meta.name}': every ranking row has label {imps.label[0]:g} under the positive "
                f"rule ({self.ds.meta.positive_rule.describe()}): no AUC or logloss is defined; set "
                "ranking negatives (RankingConfig.negatives: uniform, popularity or exposure)"
            )
        self.fit_rows, self.select_rows = imps.fit_rows(
            self.cfg.fit_on, self.cfg.select_fraction, start=self.first_cutoff
        )
        self.context = ContextFeatures(
            self.ds.interactions,
            self.ds.meta.positive_rule.expr(),
            prior_until=self.ds.meta.splits.valid_end,
            columns=self.ds.meta.context_columns,
        )
        values = self.context(imps.user_id, imps.item_id, imps.ts, imps.hist.lengths, imps.extra)
        self.dropped_context = self.context.drop_uninformative(values[self.fit_rows])
        self.context_values = values[:, self.context.keep]
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
            "interactions": digest(Path(data_dir) / INTERACTIONS_FILE),
            "max_history": self.cfg.max_history,
        } | (
            {"negatives": self.cfg.negatives.model_dump(), "rows": imps.fingerprint()}
            if self.cfg.negatives
            else {}
        )
        n_catalog = self.cfg.catalog_queries
        if n_catalog is None:
            n_catalog = DEFAULT_CATALOG_QUERIES if self.cfg.negatives else 0
        self.catalog = catalog_queries(self.ds, imps, n_catalog, seed=0) if n_catalog else None
        self._catalog_match: dict[str, np.ndarray] = {}
        self._match: dict[str, tuple[np.ndarray, dict]] = {}

    @property
    def match_settings(self) -> MatchSettings:
        return MatchSettings(self.cfg.top_k, self.cfg.decay, self.cfg.bins, self.cfg.match_precision)

    @property
    def first_cutoff(self) -> int | None:
        """Forward chaining: the earliest time every source has a table cut off at or before (the
        ranker is fitted on rows from here); None with one table per source."""
        folded = [t[0].cutoff for t in self.tables.values() if len(t) > 1]
        if not folded:
            return None
        if any(c is None for c in folded):
            raise ValueError("forward chaining needs every fold table's data_cutoff_ts in its metadata.json")
        return int(max(folded))

    def table_index(self, source: str) -> np.ndarray:
        """Per impression: which of the source's tables (sorted by cut-off) its features come from, the
        latest cut off at or before the impression (the first table for rows before every cut-off)."""
        cutoffs = [t.cutoff if t.cutoff is not None else -np.inf for t in self.tables[source]]
        return np.maximum(np.searchsorted(cutoffs, self.imps.ts, side="right") - 1, 0)

    def match_values(self, source: str) -> tuple[np.ndarray, dict]:
        """Match features of every impression from one source (computed once per table, cached on
        disk); with several tables, each row's from its own (`table_index`)."""
        if source not in self._match:
            m = self.match_settings
            tables = self.tables[source]
            computed = []
            with torch_threads(self.cfg.threads):
                for i, table in enumerate(tables):
                    computed.append(
                        cached_match_features(
                            table,
                            self.imps,
                            self.features_dir,
                            self.data_key,
                            top_k=m.top_k,
                            decay=m.decay,
                            bins=m.bins,
                            precision=m.precision,
                            progress=self.progress,
                            cache_name=table.name if len(tables) == 1 else f"{table.name}-fold{i}",
                        )
                    )
            if len(tables) == 1:
                self._match[source] = computed[0]
            else:
                index = self.table_index(source)
                values = computed[-1][0].copy()
                for i, (v, _) in enumerate(computed[:-1]):
                    values[index == i] = v[index == i]
                folds = [
                    {"cutoff_ts": t.cutoff, "rows": int((index == i).sum()), **info}
                    for i, (t, (_, info)) in enumerate(zip(tables, computed, strict=True))
                ]
                self._match[source] = (values, {"folds": folds})
        return self._match[source]

    def catalog_inputs(self, pipeline: VariantFeatures) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Dense and sparse inputs of the full-catalog candidate rows (`features.catalog`); each
        source's match features computed once (every query's history looked up once)."""
        q = self.catalog
        group, users, items, ts = q.rows()
        if "context" not in self._catalog_match:
            extra = None if q.extra is None else q.extra[group]
            self._catalog_match["context"] = self.context(users, items, ts, q.hist.lengths[group], extra)
        pre = {"context": self._catalog_match["context"]}
        for source, module in pipeline.match_modules.items():
            if source not in self._catalog_match:
                with torch_threads(self.cfg.threads):
                    self._catalog_match[source] = module.grouped(q.hist, group, items).numpy()
            pre[source] = self._catalog_match[source]
        return pipeline.dense(users, items, ts, None, pre), pipeline.sparse(users, items)

    def catalog_reference(self) -> dict[str, np.ndarray]:
        """Full-catalog metrics of the popularity reference: items by their positives before the query."""
        group, _, items, ts = self.catalog.rows()
        counts = self.context.item_liked.count_before(items, ts).astype(np.float64)
        return catalog_metrics(self.catalog, counts, self.cfg.catalog_ks)

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
        best = None
        with torch_threads(self.cfg.threads):
            # each weight decay of the grid is fitted; the selection window's best AUC picks one
            for wd in self.cfg.weight_decay_grid or [self.cfg.weight_decay]:
                torch.manual_seed(seed)
                model = self.new_model(pipeline, dense)
                info = fit(
                    model,
                    dense,
                    sparse,
                    imps.label,
                    self.fit_rows,
                    self.select_rows,
                    self.cfg.model_copy(update={"weight_decay": wd}),
                    seed,
                    self.progress,
                    desc=f"ranking {variant.name} seed {seed} wd {wd:g}",
                )
                info.weight_decay = wd
                score = max(info.valid_auc, default=-np.inf)
                if best is None or score > best[0]:
                    best = (score, model, info)
            _, model, info = best
            scores = predict(model, dense, sparse, imps.rows("test"), self.cfg.eval_batch_size)
        return model, pipeline, info, scores

    def catalog_scores(self, pipeline: VariantFeatures, model: RankingModel | None = None, predict_fn=None):
        """Per-query full-catalog metrics of a trained DLRM-DCN (`model`) or LightGBM (`predict_fn`)."""
        if self.catalog is None:
            return None
        dense, sparse = self.catalog_inputs(pipeline)
        if model is not None:
            with torch_threads(self.cfg.threads):
                scores = predict(model, dense, sparse, np.arange(len(dense)), self.cfg.eval_batch_size)
        else:
            scores = predict_fn(dense)
        return {k: v.tolist() for k, v in catalog_metrics(self.catalog, scores, self.cfg.catalog_ks).items()}

    def train_gbdt(
        self, variant: Variant, seed: int
    ) -> tuple[np.ndarray, FitInfo, VariantFeatures, dict | None]:
        """(test-period probabilities, fit info, pipeline, full-catalog metrics) of LightGBM on the
        variant's dense features."""
        from features.gbdt import GBDTConfig, fit_predict_gbdt

        pipeline = self.pipeline(variant)
        dense, _ = self.inputs(pipeline)
        scores, info, predict_fn = fit_predict_gbdt(
            dense,
            self.imps.label,
            self.fit_rows,
            self.select_rows,
            self.imps.rows("test"),
            GBDTConfig(**self.cfg.gbdt),
            seed,
            pipeline.dense_names,
        )
        return scores, info, pipeline, self.catalog_scores(pipeline, predict_fn=predict_fn)

    def load_model(self, variant: Variant, path: str | Path) -> tuple[RankingModel, VariantFeatures]:
        """A model saved by `run_ranking` (its `model.safetensors`), with the pipeline that feeds it."""
        pipeline = self.pipeline(variant)
        model = self.new_model(pipeline)
        model.load_state_dict(load_file(str(path)))
        return model, pipeline

    def scorer(self, model: RankingModel, pipeline: VariantFeatures) -> RankingScorer:
        return RankingScorer(model, pipeline, self.cfg.eval_batch_size, self.cfg.threads)

    def leakage(self, variant: Variant) -> list[str]:
        """Sources whose features on some of the ranker's fitting impressions come from a table fitted
        on interactions at or after them: those features saw their own labels."""
        fit_ts = self.imps.ts[self.fit_rows]
        out = []
        for name in sorted(variant.sources):
            tables = self.tables[name]
            cutoffs = np.array([np.inf if t.cutoff is None else t.cutoff for t in tables])
            if tables[0].cutoff is None:
                continue  # a table that states no cut-off (never saw the logs, or unknown): not checked
            early = int((fit_ts < cutoffs[self.table_index(name)[self.fit_rows]]).sum())
            if early:
                out.append(
                    f"variant '{variant.name}': source '{name}' was fitted on interactions up to "
                    f"{int(cutoffs.max())}, after {early} of the {len(fit_ts)} impressions the ranker is "
                    f"fitted on (fit_on='{self.cfg.fit_on}'): its features there saw their own labels; "
                    "use fit_on='valid' or 'forward'"
                )
            if name in variant.sid and len(tables) > 1:
                raise ValueError(
                    f"variant '{variant.name}': semantic ids of source '{name}' come from {len(tables)} "
                    "fold tables whose codebooks differ (code 7 of one fold is not code 7 of another); "
                    "forward chaining takes match features only: drop the '+sid' variants"
                )
        return out

    def folds(self) -> dict[str, list[dict]]:
        """Per source with several tables: each table's cut-off and the rows (fit, select, test) whose
        features it gives."""
        out = {}
        for name, tables in self.tables.items():
            if len(tables) < 2:
                continue
            index = self.table_index(name)
            test = self.imps.rows("test")
            out[name] = [
                {
                    "cutoff_ts": t.cutoff,
                    "folder": str(t.folder),
                    "fit_rows": int((index[self.fit_rows] == i).sum()),
                    "select_rows": int((index[self.select_rows] == i).sum()),
                    "test_rows": int((index[test] == i).sum()),
                }
                for i, t in enumerate(tables)
            ]
        return out

    def run_key(self, variant: Variant, seed: int) -> str:
        """What a variant x seed's outputs depend on: reused only when this is unchanged."""
        key = {
            "cfg": self.cfg.model_dump(mode="json"),
            "data": self.data_key,
            "variant": variant.name,
            "seed": seed,
            "sources": {s: [t.fingerprint for t in self.tables[s]] for s in sorted(variant.sources)},
        }
        return fingerprint(key)


def _save_npy(path: str, values: np.ndarray) -> None:
    with open(path, "wb") as f:  # a handle: np.save would add ".npy" to a temporary name
        np.save(f, values)


def _seed_outputs(
    run: RankingRun, variant: Variant, seed: int, layout: RankingLayout, ranker: str = "dlrm"
) -> tuple[np.ndarray, dict]:
    """(test scores, fit info: learning curve and best epoch) of one variant x seed x ranker: reused
    from the layout's folder when written for the same inputs."""
    key = run.run_key(variant, seed) + ("" if ranker == "dlrm" else f"-{ranker}")
    metrics_path = layout.metrics(variant.slug, seed, ranker)
    scores_path = layout.scores(variant.slug, seed, ranker)
    if metrics_path.is_file() and scores_path.is_file():
        saved = json.loads(metrics_path.read_text())
        if saved.get("run_key") == key:
            return np.load(scores_path, allow_pickle=False), saved["fit"], saved.get("catalog")
    if ranker == "gbdt":
        scores, info, pipeline, catalog = run.train_gbdt(variant, seed)
        atomic_write(scores_path, lambda tmp: _save_npy(tmp, scores))
        report = {
            "run_key": key,
            "variant": variant.name,
            "seed": seed,
            "ranker": "gbdt",
            "fit": info.__dict__,
        }
        report |= {"test": point_metrics(run.imps, scores), "dense_features": pipeline.dense_names}
        report |= {"catalog": catalog}
        atomic_write_text(metrics_path, json.dumps(report, indent=2))  # holds its run_key: written last
        count_work()
        return scores, report["fit"], catalog
    model, pipeline, info, scores = run.train(variant, seed)
    catalog = run.catalog_scores(pipeline, model=model)
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
        "catalog": catalog,
    }
    atomic_write_text(metrics_path, json.dumps(report, indent=2))  # holds its run_key: written last
    count_work()
    return scores, report["fit"], catalog


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
    rows, undefined, widening, curves = [], [], [], {}
    for ranker in cfg.rankers:
        outputs = {v.name: [_seed_outputs(run, v, seed, layout, ranker) for seed in seeds] for v in parsed}
        scores = {name: [s for s, _, _ in runs] for name, runs in outputs.items()}
        curves[ranker] = {
            name: [{"seed": seed, **fit} for seed, (_, fit, _) in zip(seeds, runs, strict=True)]
            for name, runs in outputs.items()
        }
        got, why = ranking_rows(
            run.imps, scores, cfg.n_boot, widening=widening, experiment=EXPERIMENTS[ranker]
        )
        rows += got
        if run.catalog is not None:
            per_seed = {name: [c for _, _, c in runs] for name, runs in outputs.items()}
            rows += catalog_rows(per_seed, run.catalog_reference(), cfg.n_boot, f"catalog_{ranker}")
        undefined += [f"{ranker}: {w}" for w in why]
    for message in undefined:
        log.warning(message)
    summary = {
        "rows": rows,
        "undefined": undefined,
        "splits": split_counts(run.imps),
        "leakage": leakage,
        "fit_on": cfg.fit_on,
        "fit_impressions": len(run.fit_rows),
        "select_impressions": len(run.select_rows),
        "pre_test_impressions": int((run.imps.period < 2).sum()),
        "folds": run.folds(),
        "negatives": run.imps.negatives,
        "catalog": None
        if run.catalog is None
        else {
            "queries": len(run.catalog),
            "mean_candidates": float(np.mean([len(c) for c in run.catalog.candidates])),
            "ks": cfg.catalog_ks,
        },
        "context_dropped": run.dropped_context,
        "seeds": list(seeds),
        "intervals": "two-level bootstrap: users, then training seeds (paired across variants)",
        "interval_widening": widening,
        "variants": list(variants),
        "learning_curves": curves,
        "univariate_auc": univariate_auc(run, sorted({s for v in parsed for s in v.match})),
        "warnings": [w for ranker in curves for w in fit_warnings(curves[ranker], ranker)]
        + sorted(
            {
                f"embedding file '{name}' ({table.folder}): {w}"
                for name, tables in run.tables.items()
                for table in tables
                for w in table.table.warnings
            }
        )
        + size_warnings(
            "ranking test period",
            len(run.imps.rows("test")),
            len(np.unique(run.imps.user_id[run.imps.rows("test")])),
        ),
    }
    atomic_write_text(layout.summary, json.dumps(summary, indent=2))
    return RankingResult(rows, summary, layout)
