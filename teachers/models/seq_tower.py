"""The sequence tower: a causal transformer over a user's positive items (SASRec-like).

An item's vector is its id embedding plus its category embedding (side information that lets rare
items borrow from their category), from two TorchRec EmbeddingCollection tables shared by the input
sequence, the targets and the random negatives (tied input/output embeddings), so the exported item
vectors are the ones the model scores with. The user state is the hidden state at the last position.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchrec import EmbeddingCollection, EmbeddingConfig, JaggedTensor, KeyedJaggedTensor

ITEM_FEATURES = ("seq_items", "target_items", "neg_items")
CATEGORY_FEATURES = ("seq_categories", "target_categories", "neg_categories")
FEATURES = ITEM_FEATURES + CATEGORY_FEATURES


class SeqTower(nn.Module):
    """A SASRec-like sequence tower (see the module docstring): `forward` looks up item vectors of the
    sequence, targets and negatives in one call; `encode` runs the causal transformer.

    Args:
        n_items: rows of the item table (tied between inputs, targets and negatives).
        n_categories: rows of the category table (side information added to each item vector).
        dim: width of the tables and of the transformer.
        max_len: longest sequence (positions).
        n_layers, n_heads, dropout: the causal transformer's.
        device: where the tables are built (`meta` until TorchRec's planner shards them).
    """

    def __init__(
        self,
        n_items: int,
        n_categories: int,
        dim: int,
        max_len: int,
        n_layers: int,
        n_heads: int,
        dropout: float,
        device: torch.device | None = None,
    ):
        super().__init__()
        self.max_len = max_len
        self.ec = EmbeddingCollection(
            tables=[
                EmbeddingConfig(
                    name="item_table",
                    num_embeddings=n_items,
                    embedding_dim=dim,
                    feature_names=list(ITEM_FEATURES),
                ),
                EmbeddingConfig(
                    name="category_table",
                    num_embeddings=max(n_categories, 1),
                    embedding_dim=dim,
                    feature_names=list(CATEGORY_FEATURES),
                ),
            ],
            device=device,
        )
        dense_device = None if device is None or device.type == "meta" else device
        self.encoder = CausalTransformer(dim, max_len, n_layers, n_heads, dropout, dense_device)

    def forward(self, features: KeyedJaggedTensor) -> dict[str, JaggedTensor]:
        """Item vectors (id + category embedding) of the sequence, targets and negatives, as jagged
        tensors keyed like ITEM_FEATURES. One lookup call, so the pipeline can shard it."""
        out = self.ec(features)
        return {
            item: JaggedTensor(values=out[item].values() + out[cat].values(), lengths=out[item].lengths())
            for item, cat in zip(ITEM_FEATURES, CATEGORY_FEATURES, strict=True)
        }

    def encode(self, seq: JaggedTensor) -> torch.Tensor:
        return self.encoder(seq)

    @staticmethod
    def item_vectors(jt: JaggedTensor) -> torch.Tensor:
        return F.normalize(jt.values(), dim=-1)


class CausalTransformer(nn.Module):
    """Positions + causal transformer + norm over left-aligned jagged sequences. A module of its own
    (holding no sharded table) so TorchRec's pipeline tracer treats it as a leaf."""

    def __init__(self, dim: int, max_len: int, n_layers: int, n_heads: int, dropout: float, device=None):
        super().__init__()
        self.max_len = max_len
        self.position = nn.Embedding(max_len, dim, device=device)
        nn.init.normal_(self.position.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(
            dim,
            n_heads,
            dim_feedforward=2 * dim,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
            device=device,
        )
        self.transformer = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim, device=device)
        self.bag_weight = nn.Parameter(torch.ones((), device=device))

    def forward(self, seq: JaggedTensor) -> torch.Tensor:
        """(B, max_len, dim) L2-normalised hidden states; position t sees positions <= t only."""
        # unit-norm items (tables start tiny, so raw rows would drown in the position signal)
        x = F.normalize(seq.to_padded_dense(desired_length=self.max_len), dim=-1)
        lengths = seq.lengths()
        pos = torch.arange(self.max_len, device=x.device)
        x = x + self.position(pos)[None]
        causal = torch.triu(
            torch.ones(self.max_len, self.max_len, dtype=torch.bool, device=x.device), diagonal=1
        )
        pad = pos[None, :] >= lengths[:, None]
        h = self.norm(self.transformer(x, mask=causal, src_key_padding_mask=pad))
        # plus the running mean of the items so far: a bag-of-interests path next to the attention path
        running_mean = x.cumsum(1) / (pos[None, :, None] + 1)
        return F.normalize(h + self.bag_weight * running_mean, dim=-1)
