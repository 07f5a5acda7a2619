"""The ranking model: TorchRec's DLRM with a DCN interaction (or plain DLRM) over single-id sparse
features and standardised dense features, predicting the dataset's positive label.

Dense inputs are standardised inside the model (train-period mean and std kept as buffers), so a saved
model scores raw features from the pipeline with no separate preprocessing state.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor
from torchrec.models.dlrm import DLRM, DLRM_DCN


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arch: Literal["dcn", "dlrm"] = "dcn"
    embedding_dim: int = Field(16, ge=2)
    dense_hidden: tuple[int, ...] = (64,)
    over_hidden: tuple[int, ...] = (64, 32)
    dcn_layers: int = Field(2, ge=1)
    dcn_rank: int = Field(8, ge=1)


class RankingModel(nn.Module):
    def __init__(
        self,
        sparse_sizes: dict[str, int],
        n_dense: int,
        cfg: ModelConfig | None = None,
        dense_mean: np.ndarray | None = None,
        dense_std: np.ndarray | None = None,
    ):
        super().__init__()
        cfg = cfg or ModelConfig()
        self.sparse_names = list(sparse_sizes)
        ebc = EmbeddingBagCollection(
            tables=[
                EmbeddingBagConfig(
                    name=f"t_{name}",
                    embedding_dim=cfg.embedding_dim,
                    num_embeddings=size,
                    feature_names=[name],
                )
                for name, size in sparse_sizes.items()
            ]
        )
        dense_layers = [*cfg.dense_hidden, cfg.embedding_dim]  # DLRM: the dense arch ends at the table dim
        over_layers = [*cfg.over_hidden, 1]
        if cfg.arch == "dcn":
            self.dlrm = DLRM_DCN(ebc, n_dense, dense_layers, over_layers, cfg.dcn_layers, cfg.dcn_rank)
        else:
            self.dlrm = DLRM(ebc, n_dense, dense_layers, over_layers)
        mean = np.zeros(n_dense, np.float32) if dense_mean is None else dense_mean
        std = np.ones(n_dense, np.float32) if dense_std is None else dense_std
        self.register_buffer("dense_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("dense_std", torch.as_tensor(np.maximum(std, 1e-6), dtype=torch.float32))

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> torch.Tensor:
        """Logits (B,) for raw dense features (B, n_dense) and one id per row for each sparse feature."""
        return self.dlrm((dense - self.dense_mean) / self.dense_std, sparse).squeeze(-1)
