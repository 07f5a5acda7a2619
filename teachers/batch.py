"""A training batch that TorchRec's train pipeline can move and overlap: sparse features as a
KeyedJaggedTensor plus the plain tensors the loss needs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torchrec import KeyedJaggedTensor
from torchrec.streamable import Pipelineable


def make_kjt(features: dict[str, tuple[np.ndarray, np.ndarray]], keys: tuple[str, ...]) -> KeyedJaggedTensor:
    """KJT from {key: (lengths, values)}; keys not given get empty bags of the same batch size, since a
    sharded collection expects every feature of its tables."""
    batch = len(next(iter(features.values()))[0])
    lengths, values = [], []
    for k in keys:
        ln, v = features.get(k, (np.zeros(batch, dtype=np.int64), np.zeros(0, dtype=np.int64)))
        lengths.append(torch.as_tensor(np.asarray(ln, dtype=np.int32)))
        values.append(torch.as_tensor(np.asarray(v, dtype=np.int64)))
    return KeyedJaggedTensor.from_lengths_sync(
        keys=list(keys), values=torch.cat(values), lengths=torch.cat(lengths)
    )


@dataclass
class TeacherBatch(Pipelineable):
    features: KeyedJaggedTensor
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device, non_blocking: bool = False) -> TeacherBatch:
        return TeacherBatch(
            self.features.to(device, non_blocking=non_blocking),
            {k: v.to(device, non_blocking=non_blocking) for k, v in self.tensors.items()},
        )

    def record_stream(self, stream) -> None:
        self.features.record_stream(stream)
        for v in self.tensors.values():
            v.record_stream(stream)

    def pin_memory(self) -> TeacherBatch:
        return TeacherBatch(self.features.pin_memory(), {k: v.pin_memory() for k, v in self.tensors.items()})
