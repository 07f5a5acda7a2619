"""The student's audio encoders: a waveform window in, one pooled feature vector out.

- `ast` (default): a log-mel spectrogram (computed in the model, so any waveform goes in) through a
  small `ASTModel` (Audio Spectrogram Transformer) whose patches span frequency and time. Pitch and
  timbre sit in the mel bins and tempo in the time axis, where a from-scratch model finds them in a few
  hundred steps.
- `wav2vec2`: a small `Wav2Vec2Model` over the raw waveform. Its first convolution sees 1.25 ms at 8 kHz,
  so it must learn a filterbank from scratch: on the demo world it kept pitch but hardly tempo or
  timbre after the content stages (see the README's student figures).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import ASTConfig, ASTModel, Wav2Vec2Config, Wav2Vec2Model
from transformers.audio_utils import mel_filter_bank

from recplug.student.model_config import OmniConfig

AUDIO_ENCODERS = ("ast", "wav2vec2")


def transformer_size(c: OmniConfig) -> dict:
    """The transformer size keys both audio encoders take from the student's config."""
    return {
        "hidden_size": c.audio_hidden_size,
        "num_hidden_layers": c.audio_layers,
        "num_attention_heads": 4,
        "intermediate_size": 2 * c.audio_hidden_size,
    }


class LogMelSpectrogram(nn.Module):
    """(B, samples) -> (B, frames, mel bins): Hann-windowed STFT power through a mel filterbank, log,
    then standardised per clip (a clip's loudness says nothing about the item)."""

    def __init__(self, sample_rate: int, n_fft: int, hop: int, mel_bins: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        bank = mel_filter_bank(
            num_frequency_bins=n_fft // 2 + 1,
            num_mel_filters=mel_bins,
            min_frequency=0.0,
            max_frequency=sample_rate / 2,
            sampling_rate=sample_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        # saved with the weights although derived from the config: from_pretrained builds the model
        # without running this code's values in, and a non-persistent buffer would come back empty
        self.register_buffer("bank", torch.as_tensor(bank, dtype=torch.float32))
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wave, self.n_fft, self.hop, window=self.window, return_complex=True)
        mel = torch.log(spec.abs().pow(2).transpose(1, 2) @ self.bank + 1e-6)  # (B, frames, mel)
        return (mel - mel.mean(dim=(1, 2), keepdim=True)) / mel.std(dim=(1, 2), keepdim=True).clamp(min=1e-5)


class SpectrogramEncoder(nn.Module):
    """Log-mel spectrogram -> `ASTModel` -> mean over its patch tokens."""

    def __init__(self, c: OmniConfig):
        super().__init__()
        hop = max(int(c.audio_sample_rate * c.audio_hop_seconds), 1)
        n_fft = 1 << (2 * hop - 1).bit_length()  # a power of two of about 2 hops (32 ms at 8 kHz)
        self.spectrogram = LogMelSpectrogram(c.audio_sample_rate, n_fft, hop, c.audio_mel_bins)
        frames = c.audio_window // hop + 1  # torch.stft(center=True)
        stride = max(c.audio_patch_size // 2, 1)
        self.ast = ASTModel(
            ASTConfig(
                **transformer_size(c),
                patch_size=c.audio_patch_size,
                frequency_stride=stride,
                time_stride=stride,
                max_length=frames,
                num_mel_bins=c.audio_mel_bins,
                hidden_dropout_prob=c.dropout,
                attention_probs_dropout_prob=c.dropout,
            )
        )

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        hidden = self.ast(self.spectrogram(windows)).last_hidden_state  # (B, 2 + patches, A)
        return hidden[:, 2:].mean(1)  # the patch tokens (not the cls / distillation slots)


class WaveformEncoder(nn.Module):
    """Raw waveform -> `Wav2Vec2Model` -> mean over its frames."""

    def __init__(self, c: OmniConfig):
        super().__init__()
        self.wav2vec2 = Wav2Vec2Model(
            Wav2Vec2Config(
                **transformer_size(c),
                conv_dim=(32,) * 5,
                conv_stride=(5, 4, 4, 2, 2),
                conv_kernel=(10, 4, 4, 3, 3),
                num_conv_pos_embeddings=16,
                num_conv_pos_embedding_groups=4,
                apply_spec_augment=False,
                hidden_dropout=c.dropout,
                attention_dropout=c.dropout,
                feat_proj_dropout=c.dropout,
                layerdrop=0.0,
            )
        )

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.wav2vec2(windows).last_hidden_state.mean(1)


def build_audio_encoder(c: OmniConfig) -> nn.Module:
    if c.audio_encoder not in AUDIO_ENCODERS:
        raise ValueError(f"model.audio_encoder: '{c.audio_encoder}' is not one of {list(AUDIO_ENCODERS)}")
    return SpectrogramEncoder(c) if c.audio_encoder == "ast" else WaveformEncoder(c)
