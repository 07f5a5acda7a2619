"""Pretrained towers: a local Hugging Face model folder (config + safetensors + tokenizer or processor)
as the student's text, image or audio encoder, frozen or fine-tuned, its token states projected into
the fusion transformer.

Folders only, never a hub: `from_pretrained(folder, local_files_only=True, use_safetensors=True)`, so
a folder holding only pickled weights (`pytorch_model.bin`) is refused rather than unpickled. The
tower's architecture is kept in the student's config (`text_tower`, ...), so a saved student rebuilds
it from its own folder without the original checkpoint.

Tested families: BERT / MiniLM text (`BertModel`), ViT and ConvNeXt images, AST / Wav2Vec2 / Whisper
audio (Whisper: its encoder alone). Anything `AutoModel` builds whose output has `last_hidden_state`
as (batch, tokens, dim) or (batch, dim, h, w) works the same way.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel

import recplug.student.efficientnet_lite  # noqa: F401  (registers EfficientNet-Lite with AutoModel)
from recplug.data.weight_files import safetensors_header

KINDS = ("text", "image", "audio")


def check_folder(folder: str | Path, kind: str) -> Path:
    """A pretrained folder that exists, with a config.json and safetensors weights."""
    path = Path(folder)
    key = f"{kind}_pretrained"
    if not path.is_dir():
        raise ValueError(f"{key}: folder {path} does not exist")
    if not (path / "config.json").is_file():
        raise ValueError(f"{key}: {path} has no config.json (a Hugging Face model folder is expected)")
    if not list(path.glob("*.safetensors")):
        pickled = [p.name for p in path.glob("*.bin")] + [p.name for p in path.glob("*.pt*")]
        raise ValueError(
            f"{key}: {path} has no .safetensors weights"
            + (
                f" (found {pickled}: pickled weights are never loaded; convert them to safetensors)"
                if pickled
                else ""
            )
        )
    for weights in path.glob("*.safetensors"):  # complete files (a cut copy is named, not a library trace)
        safetensors_header(weights, f"{kind} tower weights")
    return path


def tower_config(folder: str | Path, kind: str) -> dict:
    """The tower's architecture as a plain dict (stored in the student's config)."""
    return AutoConfig.from_pretrained(str(check_folder(folder, kind)), local_files_only=True).to_dict()


def _encoder_only(model: nn.Module) -> nn.Module:
    """Encoder-decoder checkpoints (Whisper) contribute their encoder alone."""
    return model.get_encoder() if getattr(model.config, "is_encoder_decoder", False) else model


def build_tower(config: dict) -> nn.Module:
    """An untrained tower of this architecture (weights come from the student's checkpoint)."""
    cfg = AutoConfig.for_model(**config)
    return _encoder_only(AutoModel.from_config(cfg))


def load_tower(folder: str | Path, kind: str) -> nn.Module:
    """The tower with its pretrained weights (safetensors only, local only)."""
    path = check_folder(folder, kind)
    return _encoder_only(AutoModel.from_pretrained(str(path), local_files_only=True, use_safetensors=True))


def tower_width(config: dict) -> int:
    """The tower's output width (hidden_size, or the last stage's width for convolutional models)."""
    cfg = AutoConfig.for_model(**config)
    for attr in ("hidden_size", "d_model"):
        if isinstance(getattr(cfg, attr, None), int):
            return getattr(cfg, attr)
    sizes = getattr(cfg, "hidden_sizes", None)
    if sizes:
        return int(sizes[-1])
    raise ValueError(f"cannot tell the output width of a '{cfg.model_type}' tower")


def tower_tokens(tower: nn.Module, **inputs) -> torch.Tensor:
    """(batch, tokens, dim) token states of any tower: convolutional maps are flattened to tokens."""
    hidden = tower(**inputs).last_hidden_state
    if hidden.dim() == 4:  # (B, C, h, w)
        hidden = hidden.flatten(2).transpose(1, 2)
    return hidden


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over the tokens where `mask` holds (all tokens without a mask)."""
    if mask is None:
        return hidden.mean(1)
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def processor_config(folder: str | Path) -> dict | None:
    """The folder's preprocessor_config.json (image processor or audio feature extractor), if any."""
    import json

    path = Path(folder) / "preprocessor_config.json"
    return json.loads(path.read_text()) if path.is_file() else None


def processor_settings(folder: str | Path) -> dict:
    """Image size and pixel normalisation from the folder's preprocessor_config.json (if any)."""
    p = processor_config(folder)
    if p is None:
        return {}
    size = p.get("size", p.get("crop_size"))
    if isinstance(size, dict):
        size = size.get("height", size.get("shortest_edge"))
    out = {"image_mean": p.get("image_mean"), "image_std": p.get("image_std")}
    if isinstance(size, int):
        out["image_size"] = size
    return {k: v for k, v in out.items() if v is not None}


class FrozenTextCache:
    """Token states of a frozen text tower, per distinct token sequence: a frozen tower gives the same
    states for the same ids, and items come back every step and every evaluation, so each distinct
    text is encoded once. Bounded (`max_mb`; the oldest entries go first)."""

    def __init__(self, max_mb: int = 512):
        from collections import OrderedDict

        self.max_bytes, self.bytes = max_mb * 2**20, 0
        self.entries: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        self.hits = self.misses = 0

    def __call__(
        self, tower: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        lengths = attention_mask.sum(1).tolist()
        keys = [input_ids[i, : max(n, 1)].numpy().tobytes() for i, n in enumerate(lengths)]
        missing = [i for i, k in enumerate(keys) if k not in self.entries]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            rows = torch.as_tensor(missing)
            width = max(max(lengths[i] for i in missing), 1)
            with torch.no_grad():
                states = tower_tokens(
                    tower, input_ids=input_ids[rows, :width], attention_mask=attention_mask[rows, :width]
                )
            for j, i in enumerate(missing):
                if keys[i] not in self.entries:
                    value = states[j, : max(lengths[i], 1)].clone()
                    self.entries[keys[i]] = value
                    self.bytes += value.numel() * value.element_size()
            while self.bytes > self.max_bytes and len(self.entries) > 1:
                _, old = self.entries.popitem(last=False)
                self.bytes -= old.numel() * old.element_size()
        width = next(iter(self.entries.values())).shape[-1]
        out = torch.zeros(len(keys), input_ids.shape[1], width)
        for i, k in enumerate(keys):
            value = self.entries.get(k)
            if value is None:  # evicted in this very call (a batch larger than the cache): recompute
                with torch.no_grad():
                    value = tower_tokens(tower, input_ids=input_ids[i : i + 1, : max(lengths[i], 1)])[0]
            out[i, : len(value)] = value
        return out
