"""Where the ranking experiment keeps its outputs: one small object that the experiment writes through
and every reader (the LT stage, a notebook) reads through, so nobody hard-codes the folder layout.

    <root>/<variant slug>/seed<k>/{model.safetensors, test_scores.npy, metrics.json}   the DLRM-DCN
    <root>/gbdt/<variant slug>/seed<k>/{test_scores.npy, metrics.json}                 LightGBM
    <root>/metrics.json   the experiment's rows and summary
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RankingLayout:
    """Args:
    root: the experiment's output folder (the pipeline's `runs/<name>/ranking`).
    """

    root: Path

    def run_dir(self, slug: str, seed: int, ranker: str = "dlrm") -> Path:
        """One variant x seed's folder (`Variant.slug`: '+match:id' -> 'match-id')."""
        base = Path(self.root) if ranker == "dlrm" else Path(self.root) / ranker
        return base / slug / f"seed{seed}"

    def model(self, slug: str, seed: int) -> Path:
        """The DLRM-DCN's weights (what the LT scorers load)."""
        return self.run_dir(slug, seed) / "model.safetensors"

    def scores(self, slug: str, seed: int, ranker: str = "dlrm") -> Path:
        """Test-period probabilities, in the order of `Impressions.rows('test')`."""
        return self.run_dir(slug, seed, ranker) / "test_scores.npy"

    def metrics(self, slug: str, seed: int, ranker: str = "dlrm") -> Path:
        return self.run_dir(slug, seed, ranker) / "metrics.json"

    @property
    def summary(self) -> Path:
        return Path(self.root) / "metrics.json"
