"""The ID tower: two-tower retrieval over ids.

User side: `user_id` and the mean of the user's recent positive items (`hist_items`, sharing the item
table). Item side: `item_id` and `item_category`. One EmbeddingBagCollection holds the three tables, so
the planner shards them together; each side ends in an MLP and an L2 normalisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor, PoolingType
from torchrec.modules.mlp import MLP

FEATURES = ("user_id", "hist_items", "item_id", "item_category")


class IDTower(nn.Module):
    """Two-tower retrieval over ids (see the module docstring); `forward` returns L2-normalised user
    and item vectors whose dot product is the retrieval score.

    Args:
        n_users: rows of the user table (the vocabulary's size, row 0 for unknown users).
        n_items: rows of the item table, shared by `item_id` and the history bag `hist_items`.
        n_categories: rows of the category table.
        embedding_dim: width of the three tables.
        hidden: width of each side's MLP hidden layer.
        out_dim: width of the user and item vectors.
        device: where the tables are built (`meta` until TorchRec's planner shards them).

    Example:
        >>> tower = IDTower(n_users=1001, n_items=501, n_categories=9, embedding_dim=32, hidden=64, out_dim=32)
        >>> user, item = tower(kjt)  # kjt: a KeyedJaggedTensor over FEATURES
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_categories: int,
        embedding_dim: int,
        hidden: int,
        out_dim: int,
        device: torch.device | None = None,
    ):
        super().__init__()
        tables = [
            EmbeddingBagConfig(
                name="user_table",
                num_embeddings=n_users,
                embedding_dim=embedding_dim,
                feature_names=["user_id"],
                pooling=PoolingType.SUM,
            ),
            EmbeddingBagConfig(
                name="item_table",
                num_embeddings=n_items,
                embedding_dim=embedding_dim,
                feature_names=["item_id", "hist_items"],
                pooling=PoolingType.MEAN,
            ),
            EmbeddingBagConfig(
                name="category_table",
                num_embeddings=max(n_categories, 1),
                embedding_dim=embedding_dim,
                feature_names=["item_category"],
                pooling=PoolingType.SUM,
            ),
        ]
        self.ebc = EmbeddingBagCollection(tables=tables, device=device)
        dense_device = None if device is None or device.type == "meta" else device
        self.user_mlp = MLP(
            2 * embedding_dim, [hidden, out_dim], activation_on_last=False, device=dense_device
        )
        self.item_mlp = MLP(
            2 * embedding_dim, [hidden, out_dim], activation_on_last=False, device=dense_device
        )

    def forward(self, features: KeyedJaggedTensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(user embeddings, item embeddings), both L2-normalised, one row per example."""
        kt = self.ebc(features).to_dict()
        user = self.user_mlp(torch.cat([kt["user_id"], kt["hist_items"]], dim=1))
        item = self.item_mlp(torch.cat([kt["item_id"], kt["item_category"]], dim=1))
        return F.normalize(user, dim=-1), F.normalize(item, dim=-1)
