"""The frozen baseline: the pretrained towers' own embeddings, with no recplug training at all.

It answers the first question a user asks: is the distilled student better than embedding my items
with an off-the-shelf encoder? Each item is the mean of each present modality's tower states
(L2-normalised, concatenated; for the default text checkpoint exactly the all-MiniLM-L6-v2 sentence
embedding), queries the text tower's. It is evaluated with the student's metrics (a row "frozen
encoder" in the student and CRE tables) and exported as an embedding folder that the ranking
experiment uses as the `frozen` match-feature source (`+match:frozen`).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from recplug.data.embeddings import write_embeddings, write_metadata
from recplug.student.modeling import OmniEncoder, OmniOutput
from recplug.student.towers import tower_width

VARIANT = "frozen encoder"
FOLDER = "frozen"  # beside the student's own exports


class FrozenTowers(nn.Module):
    """An encoder whose embedding is `OmniEncoder.tower_embeddings`: usable wherever a student embeds."""

    def __init__(self, encoder: OmniEncoder):
        super().__init__()
        self.encoder = encoder
        c = encoder.config
        dim = sum(tower_width(t) for t in (c.text_tower, c.image_tower, c.audio_tower) if t)
        self.config = SimpleNamespace(hidden_size=dim)

    @torch.no_grad()
    def forward(self, **inputs) -> OmniOutput:
        return OmniOutput(embedding=self.encoder.tower_embeddings(inputs))


def export_frozen(run, frozen: FrozenTowers, emb, out: Path) -> None:
    """The frozen baseline as an embedding folder (it never saw the logs: no cut-off)."""
    write_embeddings(out / "embeddings.parquet", run.store.item_ids, emb, dataset=run.ds.root)
    write_metadata(
        out,
        {
            "kind": "frozen_pretrained",
            "dim": int(emb.shape[1]),
            "similarity": "cosine (vectors are L2-normalised)",
            "n_items": int(len(emb)),
            "towers": {
                k: getattr(frozen.encoder.config, f"{k}_tower", {}).get("_name_or_path", "")
                for k in ("text", "image", "audio")
                if getattr(frozen.encoder.config, f"{k}_tower")
            },
        },
    )
