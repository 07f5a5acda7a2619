"""What a ranking variant feeds its model (`VariantFeatures`): one object turns (user, item, ts, history) into sparse ids
and dense features, for training (all logged impressions at once) and for serving (the LT simulator's
scorer), so the two cannot drift apart.

Variants are named by what they add to the baseline: "baseline", "+match", "+sid", "+match+sid", and
"+match:<source>" / "+sid:<source>" to take the features from a named source (e.g. "+match:id" for the ID
teacher's table); without a source name the default source (the student) is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from features.context import ContextFeatures
from features.history import Histories
from features.match import MatchFeatures, compute_match_features
from features.sparse import ItemAttribute
from features.tables import FeatureTable
from recplug.data.vocabulary import Vocabulary

_TOKEN = re.compile(r"\+(match|sid)(?::([A-Za-z0-9_.-]+))?")


@dataclass(frozen=True)
class Variant:
    name: str
    match: tuple[str, ...] = ()  # sources whose match features are dense inputs
    sid: tuple[str, ...] = ()  # sources whose semantic ids are sparse inputs

    @classmethod
    def parse(cls, name: str, default_source: str = "student") -> Variant:
        if name == "baseline":
            return cls(name)
        tokens = _TOKEN.findall(name)
        if not tokens or "".join(f"+{k}" + (f":{s}" if s else "") for k, s in tokens) != name:
            raise ValueError(
                f"bad ranking variant '{name}': use 'baseline' or '+match', '+sid', '+match+sid', "
                "'+match:<source>', '+sid:<source>' (sources are the names given to feature_sources)"
            )
        match = tuple(s or default_source for k, s in tokens if k == "match")
        sid = tuple(s or default_source for k, s in tokens if k == "sid")
        if len(set(match)) < len(match) or len(set(sid)) < len(sid):
            raise ValueError(f"bad ranking variant '{name}': a source is named twice")
        return cls(name, match, sid)

    @property
    def sources(self) -> set[str]:
        return set(self.match) | set(self.sid)

    @property
    def slug(self) -> str:
        """A folder name: '+match+sid' -> 'match+sid', '+match:id' -> 'match-id'."""
        return self.name.lstrip("+").replace(":", "-")


@dataclass
class MatchSettings:
    top_k: int = 5
    decay: float = 0.9
    bins: int = 8
    precision: str = "fp32"


class VariantFeatures:
    """Sparse: user, item (training vocabularies), category (item metadata) and each sid source's
    codes. Dense: the context features, then each match source's features."""

    def __init__(
        self,
        variant: Variant,
        users: Vocabulary,
        items: Vocabulary,
        category: ItemAttribute | None,
        context: ContextFeatures,
        sources: dict[str, FeatureTable],
        match: MatchSettings | None = None,
    ):
        missing = variant.sources - set(sources)
        if missing:
            raise ValueError(
                f"ranking variant '{variant.name}' uses feature source(s) {sorted(missing)}, "
                f"but only {sorted(sources)} were given"
            )
        no_sid = [s for s in variant.sid if sources[s].semantic is None]
        if no_sid:
            raise ValueError(
                f"ranking variant '{variant.name}' needs semantic ids, but "
                + ", ".join(f"{sources[s].folder}/semantic_ids.parquet" for s in no_sid)
                + " does not exist"
            )
        self.variant, self.users, self.items, self.category, self.context = (
            variant,
            users,
            items,
            category,
            context,
        )
        m = match or MatchSettings()
        self.match_modules: dict[str, MatchFeatures] = {
            s: sources[s].match_module(m.top_k, m.decay, m.bins, m.precision) for s in variant.match
        }
        self.semantic = {s: sources[s].semantic for s in variant.sid}

    @property
    def sparse_sizes(self) -> dict[str, int]:
        """Sparse feature name -> rows its table needs."""
        sizes = {"user_id": self.users.size, "item_id": self.items.size}
        if self.category is not None:
            sizes["category"] = self.category.size
        for source, sem in self.semantic.items():
            sizes.update({f"{source}_{f}": sem.num_embeddings for f in sem.feature_names})
        return sizes

    @property
    def dense_names(self) -> list[str]:
        return self.context.names + [n for m in self.match_modules.values() for n in m.feature_names]

    def sparse(self, user_ids: np.ndarray, item_ids: np.ndarray) -> dict[str, np.ndarray]:
        out = {"user_id": self.users.rows(user_ids), "item_id": self.items.rows(item_ids)}
        if self.category is not None:
            out["category"] = self.category.rows(item_ids)
        for source, sem in self.semantic.items():
            codes = sem.codes_of(item_ids)
            out.update({f"{source}_{f}": codes[:, j] for j, f in enumerate(sem.feature_names)})
        return out

    def dense(
        self,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        ts: np.ndarray,
        hist: Histories | None,
        precomputed: dict[str, np.ndarray] | None = None,
        groups: tuple[Histories, np.ndarray] | None = None,
    ) -> np.ndarray:
        """(n, len(dense_names)) float32. `precomputed` may hold "context" and per-source match
        features for these same rows (the training path); anything absent is computed here.
        `groups` = (one history per group, group of each row) when rows share histories (the
        simulator's sessions): match features then look each history up once."""
        pre = precomputed or {}
        parts = [pre["context"] if "context" in pre else self.context(user_ids, item_ids, ts, hist.lengths)]
        for source, module in self.match_modules.items():
            if source in pre:
                parts.append(pre[source])
            elif groups is not None:
                parts.append(module.grouped(groups[0], groups[1], item_ids).numpy())
            else:
                parts.append(compute_match_features(module, hist, item_ids)[0])
        return np.concatenate(parts, 1).astype(np.float32, copy=False)
