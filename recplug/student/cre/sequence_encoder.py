"""The student's sequence encoder: history item embeddings -> one user-interest vector.

`mean`: masked mean, re-normalised (no parameters). `transformer`: a small bidirectional transformer
over the history with recency-position embeddings, added to the mean through a zero-initialised
projection, so training starts from mean pooling and can only move away from it where that helps.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from recplug.data.errors import BadFileError
from recplug.data.io import atomic_write, atomic_write_text
from recplug.data.read_errors import one_line, read_json
from recplug.data.weight_files import load_into

WEIGHTS = "sequence_encoder.safetensors"
CONFIG = "sequence_encoder.json"


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


class SequenceEncoder(nn.Module):
    def __init__(
        self, dim: int, kind: str = "transformer", layers: int = 1, heads: int = 4, max_len: int = 64
    ):
        super().__init__()
        self.config = {"dim": dim, "kind": kind, "layers": layers, "heads": heads, "max_len": max_len}
        self.kind = kind
        if kind == "transformer":
            self.position = nn.Embedding(max_len, dim)
            nn.init.normal_(self.position.weight, std=0.02)
            layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.1, batch_first=True)
            self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.out = nn.Linear(dim, dim)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
        elif kind != "mean":
            raise ValueError(f"sequence encoder kind must be 'mean' or 'transformer', got '{kind}'")

    def forward(self, items: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """items (B, L, d) history embeddings, most recent first; mask (B, L) True where present."""
        pooled = masked_mean(items, mask)
        if self.kind == "transformer":
            pos = torch.arange(items.shape[1], device=items.device).clamp(max=self.config["max_len"] - 1)
            h = self.transformer(items + self.position(pos)[None], src_key_padding_mask=~mask)
            pooled = pooled + self.out(masked_mean(h, mask))
        return F.normalize(pooled, dim=-1)

    def save(self, folder: Path) -> None:
        atomic_write_text(Path(folder) / CONFIG, json.dumps(self.config))
        state = {k: v.contiguous() for k, v in self.state_dict().items()}
        atomic_write(Path(folder) / WEIGHTS, lambda tmp: save_file(state, tmp))

    @classmethod
    def load(cls, folder: Path) -> SequenceEncoder:
        """The encoder saved in `folder`; a bad or incomplete save is refused in one line naming the file."""
        folder = Path(folder)
        config = read_json(folder / CONFIG, "sequence encoder config")
        try:
            enc = cls(**config)
        except (TypeError, ValueError) as e:
            raise BadFileError(f"{folder / CONFIG}: {one_line(e)}", file=str(folder / CONFIG)) from None
        if not (folder / WEIGHTS).exists():
            raise BadFileError(
                f"{folder}: incomplete sequence encoder: {CONFIG} but no {WEIGHTS}",
                file=str(folder / WEIGHTS),
            )
        load_into(enc, folder / WEIGHTS, "sequence encoder weights")
        return enc.eval()
