"""`OmniConfig`: the student's architecture, a Hugging Face config so the model saves and loads with
`save_pretrained` / `from_pretrained` (safetensors) like any transformers model."""

from __future__ import annotations

from transformers import PretrainedConfig


class OmniConfig(PretrainedConfig):
    r"""The architecture of [`OmniEncoder`]: sizes of the fusion transformer, the vision and audio
    towers, and the Matryoshka prefixes. Defaults build a small model for a laptop CPU.

    Args:
        vocab_size (`int`, defaults to 4000): tokenizer vocabulary (set from the trained tokenizer).
        hidden_size (`int`, defaults to 128): width of the fusion transformer and of the embedding.
        num_hidden_layers (`int`, defaults to 2): fusion transformer layers (bidirectional BERT).
        num_attention_heads (`int`, defaults to 4): heads of the fusion transformer.
        intermediate_size (`int`, defaults to 256): feed-forward width of the fusion transformer.
        max_text_tokens (`int`, defaults to 48): text tokens per item (instruction included); longer
            text is cut, and the cut is counted.
        image_size (`int`, defaults to 32): images are resized to this square size (pixels).
        patch_size (`int`, defaults to 8): ViT patch size (pixels).
        vision_hidden_size (`int`, defaults to 64): ViT width.
        vision_layers (`int`, defaults to 2): ViT layers.
        perceiver_queries (`int`, defaults to 4): learned queries that summarise the patches; only
            these tokens enter the fusion transformer.
        audio_encoder (`str`, defaults to `"ast"`): `"ast"` (log-mel spectrogram + `ASTModel`) or
            `"wav2vec2"` (raw waveform).
        audio_hidden_size (`int`, defaults to 64): audio encoder width.
        audio_layers (`int`, defaults to 1): audio encoder layers.
        audio_mel_bins (`int`, defaults to 32): mel bins of the spectrogram (AST).
        audio_hop_seconds (`float`, defaults to 0.01): spectrogram hop (AST).
        audio_patch_size (`int`, defaults to 8): spectrogram patch size (AST).
        audio_sample_rate (`int`, defaults to 8000): clips are resampled to this rate.
        audio_window_seconds (`float`, defaults to 0.5): fixed window; a longer clip is the mean of its
            windows' embeddings.
        matryoshka_dims (`tuple[int]`, defaults to `(32, 64, 128)`): embedding prefixes the loss is
            applied to; the last must equal `hidden_size`.
        text_tower (`dict`, *optional*): architecture (a transformers config dict) of a pretrained text
            tower whose token states, projected, replace the fusion's word embeddings (set from
            `text_pretrained` by the training config; the weights come from the folder, then from the
            student's own checkpoint).
        image_tower (`dict`, *optional*): likewise for images (ViT, ConvNeXt, ... `pixel_values` in).
        audio_tower (`dict`, *optional*): likewise for audio (Wav2Vec2 / HuBERT: the waveform in; AST,
            Whisper's encoder: their own spectrogram features in).
        audio_processor (`dict`, *optional*): the audio tower's feature-extractor settings (its
            `preprocessor_config.json`), which make its input from each waveform window.
        freeze_text / freeze_image / freeze_audio (`bool`, defaults to `True`): keep a pretrained tower's
            weights fixed (in eval mode) while the rest trains.
        image_mean / image_std (`list[float]`, *optional*): the image tower's pixel normalisation (from
            its processor).
        frozen_text_cache_mb (`int`, defaults to 512): memory for the token states of a frozen text
            tower, kept per distinct text (each text is encoded once; the oldest go first).
        dropout (`float`, defaults to 0.1): dropout of every tower.

    Example:

    ```python
    >>> from recplug.student.model_config import OmniConfig
    >>> from recplug.student.modeling import OmniEncoder
    >>> encoder = OmniEncoder(OmniConfig(hidden_size=64, matryoshka_dims=(16, 64)))
    >>> encoder.config.audio_window  # samples per audio window
    4000
    ```
    """

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
        text_tower: dict | None = None,
        image_tower: dict | None = None,
        audio_tower: dict | None = None,
        audio_processor: dict | None = None,
        freeze_text: bool = True,
        freeze_image: bool = True,
        freeze_audio: bool = True,
        image_mean: list[float] | None = None,
        image_std: list[float] | None = None,
        frozen_text_cache_mb: int = 512,
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
        self.text_tower, self.image_tower, self.audio_tower = text_tower, image_tower, audio_tower
        self.audio_processor = audio_processor
        self.freeze_text, self.freeze_image, self.freeze_audio = freeze_text, freeze_image, freeze_audio
        self.image_mean, self.image_std = image_mean, image_std
        self.frozen_text_cache_mb = frozen_text_cache_mb
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
