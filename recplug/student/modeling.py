"""`OmniEncoder`: the student. Built from transformers parts:

- vision: a small `ViTModel` over the image patches, then a perceiver (learned queries attending to the
  patch tokens) so a fixed few vision tokens go on;
- audio: a small `ASTModel` over the log-mel spectrogram of each fixed window (or a `Wav2Vec2Model`
  over the raw waveform, `audio_encoder: wav2vec2`; see audio.py), windows averaged, then an adapter
  to ONE token;
- fusion: a bidirectional `BertModel` over `[audio ; vision ; instruction + text]`, whose word embeddings
  embed the text tokens (load it from a local pretrained folder to start from a real text model);
- embedding: mean over the present tokens of tanh(hidden), L2-normalised; Matryoshka prefixes of it
  are embeddings too. Missing modalities are masked out of attention and of the mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    BertConfig,
    BertModel,
    PreTrainedModel,
    ViTConfig,
    ViTModel,
)
from transformers.utils import ModelOutput

from recplug.student.audio import build_audio_encoder
from recplug.student.model_config import OmniConfig

TEXT, VISION, AUDIO = 0, 1, 2  # token type ids in the fusion transformer


@dataclass
class OmniOutput(ModelOutput):
    embedding: torch.Tensor | None = None  # (B, H) L2-normalised, all present modalities
    text_embedding: torch.Tensor | None = None  # (B, H) pooled over text positions only (zeros if none)
    vision_embedding: torch.Tensor | None = None  # (B, H) pooled over vision positions only
    gated_embedding: torch.Tensor | None = None  # (B, H) g * vision + (1 - g) * embedding, normalised
    has_text: torch.Tensor | None = None
    has_image: torch.Tensor | None = None
    has_audio: torch.Tensor | None = None


class Perceiver(nn.Module):
    """A few learned queries cross-attend to the patch tokens; only the queries go on."""

    def __init__(self, n_queries: int, dim: int, out_dim: int, heads: int = 4):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(n_queries, dim) * 0.02)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, out_dim)
        self.out_norm = nn.LayerNorm(out_dim)  # unit-scale tokens, like the text token embeddings

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        q = self.queries[None].expand(tokens.shape[0], -1, -1)
        out, _ = self.attn(q, tokens, tokens, need_weights=False)
        return self.out_norm(self.proj(self.norm(out + q)))


def _masked_mean_tanh(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (torch.tanh(hidden) * m).sum(1) / m.sum(1).clamp(min=1.0)


class OmniEncoder(PreTrainedModel):
    r"""The omni-modal student: one encoder for text, images and audio, any of them missing.

    A ViT over image patches summarised by a [`Perceiver`] of learned queries, an audio encoder (AST over
    a log-mel spectrogram, or Wav2Vec2) per fixed window with an adapter to one token, and a bidirectional
    BERT over `[audio ; vision ; instruction + text]`. The embedding is the mean of `tanh(hidden)` over
    the present tokens, L2-normalised; any Matryoshka prefix, re-normalised, is an embedding too.

    Args:
        config ([`OmniConfig`]): the architecture. Built from it the weights are random (no download);
            `from_pretrained(folder)` loads a saved student (safetensors).

    Example:

    ```python
    >>> from recplug.student.embed import embed_items
    >>> encoder = OmniEncoder.from_pretrained("runs/demo/cre/model")
    >>> vectors = embed_items(encoder, store, tokenizer, View(instruction="item"))  # (items, hidden)
    ```
    """

    config_class = OmniConfig
    base_model_prefix = "omni"
    supports_gradient_checkpointing = False

    def __init__(self, config: OmniConfig):
        super().__init__(config)
        c = config
        fusion_cfg = BertConfig(
            vocab_size=c.vocab_size,
            hidden_size=c.hidden_size,
            num_hidden_layers=c.num_hidden_layers,
            num_attention_heads=c.num_attention_heads,
            intermediate_size=c.intermediate_size,
            max_position_embeddings=max(c.max_positions, 64),
            type_vocab_size=3,
            hidden_dropout_prob=c.dropout,
            attention_probs_dropout_prob=c.dropout,
        )
        self.fusion = BertModel(fusion_cfg, add_pooling_layer=False)
        self.vision = ViTModel(
            ViTConfig(
                image_size=c.image_size,
                patch_size=c.patch_size,
                hidden_size=c.vision_hidden_size,
                num_hidden_layers=c.vision_layers,
                num_attention_heads=4,
                intermediate_size=2 * c.vision_hidden_size,
                hidden_dropout_prob=c.dropout,
                attention_probs_dropout_prob=c.dropout,
            ),
            add_pooling_layer=False,
        )
        self.perceiver = Perceiver(c.perceiver_queries, c.vision_hidden_size, c.hidden_size)
        self.audio = build_audio_encoder(c)
        self.audio_adapter = nn.Sequential(
            nn.Linear(c.audio_hidden_size, c.hidden_size),
            nn.GELU(),
            nn.Linear(c.hidden_size, c.hidden_size),
            nn.LayerNorm(c.hidden_size),
        )
        self.gate = nn.Linear(2 * c.hidden_size, c.hidden_size)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def load_text_pretrained(self, folder: str) -> None:
        """Replace the fusion transformer with a local pretrained BERT-family folder (no download)."""
        self.fusion = BertModel.from_pretrained(folder, local_files_only=True, add_pooling_layer=False)
        if self.fusion.config.hidden_size != self.config.hidden_size:
            raise ValueError(
                f"{folder}: hidden_size {self.fusion.config.hidden_size} does not match the student's "
                f"hidden_size {self.config.hidden_size}; set hidden_size (and matryoshka_dims) to match"
            )

    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, 1, H): each fixed window encoded (a short clip zero-padded to one
        window), windows averaged, then the adapter."""
        w = self.config.audio_window
        n = max(-(-audio.shape[1] // w), 1)
        audio = F.pad(audio, (0, n * w - audio.shape[1]))
        pooled = self.audio(audio.reshape(audio.shape[0] * n, w))  # (B * n, A)
        return self.audio_adapter(pooled.reshape(audio.shape[0], n, -1).mean(1))[:, None, :]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_values: torch.Tensor,
        has_image: torch.Tensor,
        audio_values: torch.Tensor,
        has_audio: torch.Tensor,
    ) -> OmniOutput:
        """input_ids/attention_mask: (B, T) text incl. instruction; pixel_values (B, 3, S, S);
        audio_values (B, samples); has_image / has_audio: (B,) bool. Rows without a modality carry
        placeholder media that is masked out."""
        bsz = input_ids.shape[0]
        word = self.fusion.get_input_embeddings()(input_ids)
        # standardise inputs as the encoders expect (ViT: about zero mean / unit variance pixels;
        # wav2vec2: each clip zero mean, unit variance) so item differences are not lost in the bias
        pixels = (pixel_values - 0.5) / 0.25
        audio_std = audio_values.std(dim=1, keepdim=True).clamp(min=1e-5)
        audio_in = (audio_values - audio_values.mean(dim=1, keepdim=True)) / audio_std
        vision = self.perceiver(self.vision(pixel_values=pixels).last_hidden_state)  # (B, Q, H)
        audio = self.encode_audio(audio_in)  # (B, 1, H)
        tokens = torch.cat([audio, vision, word], dim=1)
        q = vision.shape[1]
        types = torch.cat(
            [
                torch.full((bsz, 1), AUDIO, dtype=torch.long),
                torch.full((bsz, q), VISION, dtype=torch.long),
                torch.full((bsz, word.shape[1]), TEXT, dtype=torch.long),
            ],
            dim=1,
        ).to(input_ids.device)
        has_text = attention_mask.sum(1) > 0
        mask = torch.cat([has_audio[:, None], has_image[:, None].expand(-1, q), attention_mask.bool()], dim=1)
        # a row with no modality at all would attend to nothing: let it see its (zero-weighted) audio slot
        empty = ~mask.any(1)
        attn = mask.clone()
        attn[empty, 0] = True
        hidden = self.fusion(
            inputs_embeds=tokens, attention_mask=attn.long(), token_type_ids=types
        ).last_hidden_state
        emb = F.normalize(_masked_mean_tanh(hidden, mask), dim=-1)
        vis_mask = mask & (types == VISION)
        txt_mask = mask & (types == TEXT)
        vis = F.normalize(_masked_mean_tanh(hidden, vis_mask), dim=-1)
        txt = F.normalize(_masked_mean_tanh(hidden, txt_mask), dim=-1)
        g = torch.sigmoid(self.gate(torch.cat([vis, emb], dim=-1)))
        gated = F.normalize(torch.where(has_image[:, None], g * vis + (1 - g) * emb, emb), dim=-1)
        return OmniOutput(emb, txt, vis, gated, has_text, has_image, has_audio)


def matryoshka(embedding: torch.Tensor, dim: int) -> torch.Tensor:
    """The first `dim` coordinates, re-normalised: a usable embedding on its own."""
    return F.normalize(embedding[..., :dim], dim=-1)
