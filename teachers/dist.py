"""Process-group set-up: the same training code runs as one process or under `torchrun` (gloo on CPU,
nccl on GPUs); a single process still gets a world of size 1 so TorchRec's sharded, fused path is used."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def quiet_library_warnings() -> None:
    """TorchRec 1.8 and torch 2.13 warn about their own internals (ShardedTensor, DDP arguments, the
    planner's storage heuristic) on every run; users cannot act on them, so they are hidden."""
    for module in ("torchrec", "torch.distributed", "fbgemm_gpu"):
        warnings.filterwarnings("ignore", category=FutureWarning, module=module)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
    warnings.filterwarnings("ignore", message=".*TopologyFactory.*")
    for name in (
        "torch.fx._symbolic_trace",
        "torchrec.distributed.planner.types",
        "torchrec.distributed.planner.storage_reservations",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def process_group() -> Iterator[DistEnv]:
    """Join the torchrun group when launched by torchrun, else make a private group of one."""
    quiet_library_warnings()
    created = False
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and os.environ.get("RECPLUG_DEVICE", "") != "cpu"
        backend = "nccl" if use_cuda else "gloo"
        if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
            dist.init_process_group(backend)
        else:
            store = tempfile.NamedTemporaryFile(prefix="recplug-pg-", delete=False)
            store.close()
            os.unlink(store.name)
            dist.init_process_group(backend, init_method=f"file://{store.name}", rank=0, world_size=1)
        created = True
    rank, world = dist.get_rank(), dist.get_world_size()
    if torch.cuda.is_available() and dist.get_backend() == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    try:
        yield DistEnv(rank, world, device)
    finally:
        if created:
            dist.destroy_process_group()
