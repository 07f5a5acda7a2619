"""`OmniConfig`: the student's architecture, a Hugging Face config so the model saves and loads with
`save_pretrained` / `from_pretrained` (safetensors) like any transformers model."""

from __future__ import annotations

from transformers import PretrainedConfig


class OmniConfig(PretrainedConfig):
    model_type = "recplug_omni"

    def __init__(
        self,
        vocab_size: int = 4000,
        hidden_size: int = 128,
        num_hidden_layers: int = 2,
        num_attention_heads: int = 4,
        intermediate_size: int = 256,
        max_text_tokens: int = 48,
        image_size: int = 32,
        patch_size: int = 8,
        vision_hidden_size: int = 64,
        vision_layers: int = 2,
        perceiver_queries: int = 4,
        audio_encoder: str = "ast",
        audio_hidden_size: int = 64,
        audio_layers: int = 1,
        audio_mel_bins: int = 32,
        audio_hop_seconds: float = 0.01,
        audio_patch_size: int = 8,
        audio_sample_rate: int = 8000,
        audio_window_seconds: float = 0.5,
        matryoshka_dims: tuple[int, ...] = (32, 64, 128),
        text_pretrained: str | None = None,
        dropout: float = 0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_text_tokens = max_text_tokens
        self.image_size = image_size
        self.patch_size = patch_size
        self.vision_hidden_size = vision_hidden_size
        self.vision_layers = vision_layers
        self.perceiver_queries = perceiver_queries
        self.audio_encoder = audio_encoder  # "ast" (log-mel + ASTModel) or "wav2vec2" (raw waveform)
        self.audio_hidden_size = audio_hidden_size
        self.audio_layers = audio_layers
        self.audio_mel_bins = audio_mel_bins
        self.audio_hop_seconds = audio_hop_seconds
        self.audio_patch_size = audio_patch_size
        self.audio_sample_rate = audio_sample_rate
        self.audio_window_seconds = audio_window_seconds
        self.matryoshka_dims = tuple(matryoshka_dims)
        self.text_pretrained = text_pretrained
        self.dropout = dropout
        if max(self.matryoshka_dims) != hidden_size:
            raise ValueError(
                f"matryoshka_dims {self.matryoshka_dims} must end at hidden_size ({hidden_size})"
            )
        if any(d <= 0 or d > hidden_size for d in self.matryoshka_dims):
            raise ValueError(f"matryoshka_dims {self.matryoshka_dims} must lie in 1..hidden_size")

    @property
    def audio_window(self) -> int:
        return int(self.audio_sample_rate * self.audio_window_seconds)

    @property
    def max_positions(self) -> int:
        return 1 + self.perceiver_queries + self.max_text_tokens
