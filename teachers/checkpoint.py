"""Checkpoints of a sharded model and its (fused + dense) optimizer as one safetensors file.

The checkpoint's info (step, RNG state, config and data hashes) lives in the safetensors file's own
metadata, so tensors and info are replaced together by one rename: a kill between two writes can never
pair the tensors of one step with the info of another. `checkpoint.json` repeats the info for people.

Sharded tensors are gathered to rank 0 on save and scattered back into each rank's local shards on
load, so a checkpoint is one portable file whatever the number of processes. Nothing is unpickled.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import save_file
from torch.distributed._shard.sharded_tensor import ShardedTensor

from recplug.data.errors import BadFileError
from recplug.data.io import atomic_write, atomic_write_text
from recplug.data.read_errors import read_json
from recplug.data.weight_files import load_safetensors, safetensors_header

TENSORS = "checkpoint.safetensors"
SIDECAR = "checkpoint.json"
RESTART = "pass --no-resume (or delete the checkpoint folder) to start over"


def _flatten(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    flat: dict[str, Any] = {f"model/{k}": v for k, v in model.state_dict().items()}
    for param, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            if isinstance(value, torch.Tensor | ShardedTensor):
                flat[f"optim/{param}/{name}"] = value
    return flat


def _gather(value: Any, rank: int) -> torch.Tensor | None:
    """Full tensor on rank 0 (None elsewhere); a collective for sharded tensors."""
    if isinstance(value, ShardedTensor):
        with warnings.catch_warnings():  # TorchRec 1.8 still hands out ShardedTensor; gather is the way
            warnings.simplefilter("ignore", FutureWarning)
            out = torch.empty(value.size(), dtype=value.dtype) if rank == 0 else None
            value.gather(dst=0, out=out)
        return out
    return value.detach().cpu().clone() if rank == 0 else None


def save_checkpoint(
    folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, info: dict[str, Any]
) -> None:
    """Every rank calls this (gathers are collective); rank 0 writes. `info` goes to the JSON sidecar."""
    rank = dist.get_rank() if dist.is_initialized() else 0
    full = {k: _gather(v, rank) for k, v in _flatten(model, optimizer).items()}
    if rank == 0:
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous() for k, v in full.items() if v is not None}
        meta = {"info": json.dumps(info)}
        atomic_write(folder / TENSORS, lambda tmp: save_file(tensors, tmp, metadata=meta))
        atomic_write_text(folder / SIDECAR, json.dumps(info, indent=2))  # for people; not read back
    if dist.is_initialized():
        dist.barrier()


def read_info(folder: Path) -> dict[str, Any] | None:
    """The info of the checkpoint to resume from, read from the tensors file itself (None when there
    is none); a damaged or foreign one is refused by name."""
    path = folder / TENSORS
    if not path.exists():
        return None
    try:
        safetensors_header(path, "teacher checkpoint")  # whole, before its metadata is trusted
    except BadFileError as e:
        raise BadFileError(f"{e}; {RESTART}", file=str(path)) from None
    with safe_open(str(path), "pt") as f:
        raw = (f.metadata() or {}).get("info")
    if raw is None:  # written before the info moved into the tensors file
        if not (folder / SIDECAR).exists():
            raise BadFileError(
                f"{path}: holds no checkpoint info: not a recplug teacher checkpoint; {RESTART}",
                file=str(path),
            )
        info = read_json(folder / SIDECAR, "teacher checkpoint sidecar")
    else:
        info = json.loads(raw)
    missing = [k for k in ("step", "config_hash", "data", "torch_rng") if k not in info]
    if missing:
        raise BadFileError(
            f"{path}: no key(s) {missing}: not a recplug teacher checkpoint; {RESTART}", file=str(path)
        )
    return info


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Copy the saved values in place into the model's and optimizer's (local shards of) tensors."""
    try:
        saved = load_safetensors(folder / TENSORS, "teacher checkpoint")
    except BadFileError as e:
        raise BadFileError(f"{e}; {RESTART}", file=str(folder / TENSORS)) from None
    current = _flatten(model, optimizer)
    missing, unused = sorted(set(current) - set(saved)), sorted(set(saved) - set(current))
    if missing or unused:
        raise ValueError(
            f"{folder / TENSORS}: checkpoint does not match the model (missing {missing[:3]}, unexpected {unused[:3]}); "
            "was it written by another model?"
        )
    with torch.no_grad():
        for key, target in current.items():
            src = saved[key]
            if isinstance(target, ShardedTensor):
                for shard in target.local_shards():
                    index = tuple(
                        slice(o, o + s)
                        for o, s in zip(shard.metadata.shard_offsets, shard.metadata.shard_sizes, strict=True)
                    )
                    shard.tensor.copy_(src[index])
            else:
                if target.shape != src.shape:
                    raise ValueError(
                        f"{folder / TENSORS}: '{key}' has shape {tuple(src.shape)}, the model expects {tuple(target.shape)}"
                    )
                target.copy_(src)


def full_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """The whole model state as plain tensors on rank 0 (collective); None on other ranks."""
    rank = dist.get_rank() if dist.is_initialized() else 0
    full = {k: _gather(v, rank) for k, v in model.state_dict().items()}
    return full if rank == 0 else None
