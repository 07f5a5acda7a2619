"""Shard a model that holds `MatchFeatures` (or the module itself) with TorchRec: the frozen student
table is planned and placed like any other table. Needs an initialised process group (gloo on CPU,
nccl on GPUs); every rank then feeds its own local batch."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torchrec.distributed import DistributedModelParallel
from torchrec.distributed.embedding import EmbeddingCollectionSharder
from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
from torchrec.distributed.planner import EmbeddingShardingPlanner, ParameterConstraints, Topology

from features.match import MatchFeatures


def shard_model(
    model: nn.Module, device: torch.device | None = None, sharding_type: str | None = None
) -> DistributedModelParallel:
    """`DistributedModelParallel` over the current process group. `sharding_type` ("table_wise",
    "row_wise", "column_wise") forces how the MatchFeatures tables are split; otherwise the planner
    chooses. The tables' values are copied from `model`, so build it with its weights loaded."""
    device = device or torch.device("cpu")
    constraints = None
    if sharding_type is not None:
        tables = [
            name for m in model.modules() if isinstance(m, MatchFeatures) for name in m.ec.embeddings.keys()
        ]
        constraints = {name: ParameterConstraints(sharding_types=[sharding_type]) for name in tables}
    sharders = [EmbeddingCollectionSharder(), EmbeddingBagCollectionSharder()]
    planner = EmbeddingShardingPlanner(
        topology=Topology(world_size=dist.get_world_size(), compute_device=device.type),
        constraints=constraints,
    )
    plan = planner.collective_plan(model, sharders, dist.GroupMember.WORLD)
    return DistributedModelParallel(model, device=device, plan=plan, sharders=sharders)
