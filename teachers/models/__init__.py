"""TorchRec teacher models: small modules with one job, sparse inputs as KeyedJaggedTensor."""

from teachers.models.id_tower import IDTower
from teachers.models.seq_tower import SeqTower

__all__ = ["IDTower", "SeqTower"]
