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
from recplug.student.audio_tower_input import AudioTowerInput
from recplug.student.model_config import OmniConfig
from recplug.student.towers import (
    KINDS,
    FrozenTextCache,
    build_tower,
    load_tower,
    masked_mean,
    tower_tokens,
    tower_width,
)

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


def _on_present(encode, present: torch.Tensor, shape: tuple, dtype, *inputs) -> torch.Tensor:
    """`encode(*inputs)` on the rows that have the modality only (inputs may be None); zeros for the
    others, whose tokens are masked out of attention and of the mean (a text-only batch of queries
    costs no image or audio encoder)."""
    if bool(present.all()):
        return encode(*inputs)
    some = next(x for x in inputs if x is not None)
    out = torch.zeros(len(some), *shape, dtype=dtype, device=some.device)
    if bool(present.any()):
        got = encode(*(None if x is None else x[present] for x in inputs))
        out = out.to(got.dtype).index_put((present,), got)
    return out


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
        # pretrained towers (architecture from the config; weights loaded by `load_towers`)
        self.text_tower = build_tower(c.text_tower) if c.text_tower else None
        self.text_proj = (
            nn.Sequential(nn.Linear(tower_width(c.text_tower), c.hidden_size), nn.LayerNorm(c.hidden_size))
            if c.text_tower
            else None
        )
        self.image_tower = build_tower(c.image_tower) if c.image_tower else None
        self.audio_tower = build_tower(c.audio_tower) if c.audio_tower else None
        self.audio_tower_input = (
            AudioTowerInput(c.audio_processor, c.audio_sample_rate) if c.audio_tower else None
        )
        # the scratch encoders only where no pretrained tower replaces them (no dead weights)
        self.vision = (
            None
            if c.image_tower
            else ViTModel(
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
        )
        vision_width = tower_width(c.image_tower) if c.image_tower else c.vision_hidden_size
        self.perceiver = Perceiver(c.perceiver_queries, vision_width, c.hidden_size)
        self.audio = None if c.audio_tower else build_audio_encoder(c)
        audio_width = tower_width(c.audio_tower) if c.audio_tower else c.audio_hidden_size
        self.audio_adapter = nn.Sequential(
            nn.Linear(audio_width, c.hidden_size),
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

    def load_towers(self, folders: dict[str, str]) -> None:
        """Pretrained weights into the towers the config declares ({"text": folder, ...})."""
        for kind, folder in folders.items():
            if getattr(self, f"{kind}_tower") is None:
                raise ValueError(f"{kind}_pretrained: the model config declares no {kind} tower")
            setattr(self, f"{kind}_tower", load_tower(folder, kind))
        self.train(self.training)

    def frozen(self, kind: str) -> bool:
        return getattr(self, f"{kind}_tower") is not None and getattr(self.config, f"freeze_{kind}")

    def train(self, mode: bool = True) -> OmniEncoder:
        """Frozen towers stay in eval mode (no dropout) and out of the optimiser's gradients."""
        super().train(mode)
        for kind in KINDS:
            if self.frozen(kind):
                tower = getattr(self, f"{kind}_tower")
                tower.eval()
                tower.requires_grad_(False)
        return self

    def _tower(self, kind: str, **inputs) -> torch.Tensor:
        if kind == "text" and self.frozen("text"):  # each distinct text through the frozen tower once
            if getattr(self, "_text_cache", None) is None:
                self._text_cache = FrozenTextCache(self.config.frozen_text_cache_mb)
            return self._text_cache(self.text_tower, inputs["input_ids"], inputs["attention_mask"])
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen(kind)):
            return tower_tokens(getattr(self, f"{kind}_tower"), **inputs)

    def tower_embeddings(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The towers' own item embeddings, no fusion (the frozen baseline): per present modality the
        mean of its tower's token states, L2-normalised, concatenated (zeros where absent)."""
        parts = []
        if self.text_tower is not None:
            hidden = self._tower(
                "text", input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
            )
            parts.append(F.normalize(masked_mean(hidden, inputs["attention_mask"]), dim=-1))
        if self.image_tower is not None:
            hidden = self.image_features(inputs["pixel_values"])
            parts.append(F.normalize(hidden.mean(1), dim=-1) * inputs["has_image"][:, None])
        if self.audio_tower is not None:
            pooled = self.audio_features(inputs["audio_values"])
            parts.append(F.normalize(pooled, dim=-1) * inputs["has_audio"][:, None])
        if not parts:
            raise ValueError("the student has no pretrained tower: no frozen baseline")
        return F.normalize(torch.cat(parts, -1), dim=-1)

    def _pixels(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] standardised: by the image tower's processor statistics when there is one,
        else to about zero mean / unit variance (what the ViT expects)."""
        if self.image_tower is not None and self.config.image_mean:
            mean = torch.tensor(self.config.image_mean, dtype=pixel_values.dtype)[None, :, None, None]
            std = torch.tensor(self.config.image_std, dtype=pixel_values.dtype)[None, :, None, None]
            return (pixel_values - mean) / std
        return (pixel_values - 0.5) / 0.25

    @staticmethod
    def _audio_in(audio_values: torch.Tensor) -> torch.Tensor:
        """Each clip zero mean, unit variance (what wav2vec2-style encoders expect)."""
        audio_std = audio_values.std(dim=1, keepdim=True).clamp(min=1e-5)
        return (audio_values - audio_values.mean(dim=1, keepdim=True)) / audio_std

    def encode_audio_windows(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, A): each fixed window encoded (a short clip zero-padded to one window)
        by the audio encoder (or the pretrained tower), windows averaged."""
        w = self.config.audio_window
        n = max(-(-audio.shape[1] // w), 1)
        audio = F.pad(audio, (0, n * w - audio.shape[1]))
        windows = audio.reshape(audio.shape[0] * n, w)
        if self.audio_tower is not None:
            hidden = self._tower("audio", **self.audio_tower_input(windows))
            pooled = hidden[:, : self.audio_tower_input.signal_tokens(hidden.shape[1], w)].mean(1)
        else:
            pooled = self.audio(windows)  # (B * n, A)
        return pooled.reshape(audio.shape[0], n, -1).mean(1)

    def audio_features(self, audio_values: torch.Tensor) -> torch.Tensor:
        """(B, samples) raw clips -> (B, A): the audio encoder's output before the adapter (what
        `forward(audio_features=...)` takes in its place when the encoder is frozen)."""
        return self.encode_audio_windows(self._audio_in(audio_values))

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) pixels in [0, 1] -> (B, P, V): the image encoder's patch states, before the
        perceiver (what `forward(image_features=...)` takes in its place when the encoder is frozen)."""
        # standardise inputs as the encoders expect so item differences are not lost in the bias
        pixels = self._pixels(pixel_values)
        if self.image_tower is not None:
            return self._tower("image", pixel_values=pixels)
        return self.vision(pixel_values=pixels).last_hidden_state

    def vision_tokens(self, pixel_values=None, image_features=None) -> torch.Tensor:
        """Pixels or their image features -> (B, Q, H): the perceiver's fusion tokens."""
        return self.perceiver(self.image_features(pixel_values) if image_features is None else image_features)

    def audio_tokens(self, audio_values=None, audio_features=None) -> torch.Tensor:
        """Clips or their audio features -> (B, 1, H): one fusion token."""
        features = self.audio_features(audio_values) if audio_features is None else audio_features
        return self.audio_adapter(features)[:, None, :]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        has_image: torch.Tensor,
        has_audio: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        audio_values: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
        audio_features: torch.Tensor | None = None,
    ) -> OmniOutput:
        """input_ids/attention_mask: (B, T) text incl. instruction; pixel_values (B, 3, S, S);
        audio_values (B, samples); has_image / has_audio: (B,) bool. Rows without a modality carry
        placeholder media that is masked out (and costs no encoder). `image_features` (B, P, V) /
        `audio_features` (B, A), the encoders' outputs computed earlier (`image_features()`,
        `audio_features()`), replace pixels / audio: a frozen encoder then runs once per item
        (`recplug.student.media_features`)."""
        bsz = input_ids.shape[0]
        if self.text_tower is not None:
            word = self.text_proj(self._tower("text", input_ids=input_ids, attention_mask=attention_mask))
        else:
            word = self.fusion.get_input_embeddings()(input_ids)
        q, h = self.config.perceiver_queries, self.config.hidden_size
        vision = _on_present(  # (B, Q, H)
            self.vision_tokens, has_image, (q, h), word.dtype, pixel_values, image_features
        )
        audio = _on_present(  # (B, 1, H)
            self.audio_tokens, has_audio, (1, h), word.dtype, audio_values, audio_features
        )
        tokens = torch.cat([audio, vision, word], dim=1)
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
