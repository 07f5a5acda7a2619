"""Render item content from attributes: text (topic and style only), images (shape, colour, pattern),
audio (pitch, tempo, timbre). Each attribute reaches exactly one modality.

Rendering is batched numpy; only the final PNG/WAV encoding runs per item.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from recplug.data.media import encode_png, encode_wav
from recplug.data.world.config import WorldConfig
from recplug.data.world.latents import rng_for
from recplug.data.world.vocab import FILLER_WORDS, attribute_index, word_table

COLOURS = np.array(
    [[220, 40, 40], [40, 170, 60], [40, 80, 220], [230, 210, 40], [140, 50, 180], [240, 140, 30]], dtype=float
)
PITCH_HZ = np.array([196.0, 330.0, 523.0, 880.0])
NOTES_PER_SECOND = np.array([4.0, 8.0, 16.0])
HARMONICS = np.array(  # amplitude of harmonics 1..5 per timbre
    [[1.0, 0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.45, 0.0, 0.3], [1.0, 0.6, 0.45, 0.35, 0.3]]
)


def _pick(rng: np.random.Generator, attr: str, values: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Random synonyms of each row's attribute value, shape (len(values), *size)."""
    flat, offsets, counts = word_table(attr)
    u = rng.random(size=(len(values), *size))
    idx = offsets[values].reshape(-1, *([1] * len(size))) + (
        u * counts[values].reshape(-1, *([1] * len(size)))
    ).astype(int)
    return flat[idx]


def render_text(attrs: np.ndarray, seed: int) -> pl.DataFrame:
    """Title, description and tags: topic and style words mixed with filler, plus some off-topic noise."""
    rng = rng_for(seed, 10)
    n = len(attrs)
    topic, style = attrs[:, attribute_index("topic")], attrs[:, attribute_index("style")]
    filler = np.array(FILLER_WORDS)

    def noisy(words: np.ndarray, p: float) -> np.ndarray:
        # replace a share of topic words by words of a random other topic: text is an imperfect signal
        other = _pick(rng, "topic", rng.integers(0, 8, size=n), words.shape[1:])
        return np.where(rng.random(words.shape) < p, other, words)

    title = np.concatenate(
        [
            _pick(rng, "style", style, (1,)),
            noisy(_pick(rng, "topic", topic, (2,)), 0.1),
            filler[rng.integers(0, len(filler), (n, 1))],
        ],
        axis=1,
    )
    desc = np.concatenate(
        [
            noisy(_pick(rng, "topic", topic, (4,)), 0.15),
            _pick(rng, "style", style, (1,)),
            filler[rng.integers(0, len(filler), (n, 7))],
        ],
        axis=1,
    )
    desc = np.take_along_axis(desc, np.argsort(rng.random(desc.shape), axis=1), axis=1)
    tags = np.char.add("#", noisy(_pick(rng, "topic", topic, (3,)), 0.1))

    def join(words: np.ndarray) -> pl.Series:
        frame = pl.DataFrame({f"w{j}": words[:, j] for j in range(words.shape[1])})
        return frame.select(pl.concat_str(pl.all(), separator=" ")).to_series()

    return pl.DataFrame({"title": join(title), "description": join(desc), "tags": join(tags)})


def _per_item_draws(media_seed: np.ndarray, salt: int, n_uniform: int, noise_shape: tuple[int, ...]):
    """Each item's own random draws from its own seed, so an item renders the same in any batch
    (the large preset renders media on demand, in whatever batches the reader asks for)."""
    gens = [np.random.default_rng([int(s), salt]) for s in media_seed]
    uniform = np.array([g.random(n_uniform) for g in gens]).reshape(len(gens), n_uniform)
    noise = np.array([g.standard_normal(noise_shape) for g in gens]).reshape(len(gens), *noise_shape)
    return uniform, noise


def render_images(attrs: np.ndarray, media_seed: np.ndarray, size: int) -> np.ndarray:
    """(n, size, size, 3) uint8 images: a shape of a colour and a fill pattern on a noisy background."""
    n = len(attrs)
    shape, colour, pattern = (attrs[:, attribute_index(a)] for a in ("shape", "colour", "pattern"))
    u, noise = _per_item_draws(media_seed, 1, 6, (size, size, 4))
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    cx = size / 2 + size / 10 * (2 * u[:, 0] - 1)
    cy = size / 2 + size / 10 * (2 * u[:, 1] - 1)
    r = size * (0.28 + 0.1 * u[:, 2])
    dx, dy = xx[None] - cx[:, None, None], yy[None] - cy[:, None, None]
    rr = r[:, None, None]
    masks = np.stack(
        [
            dx**2 + dy**2 < rr**2,
            np.maximum(abs(dx), abs(dy)) < rr * 0.8,
            (dy < rr * 0.75) & (abs(dx) < (dy + rr * 0.9) * 0.62),
            ((abs(dx) < rr / 3) & (abs(dy) < rr)) | ((abs(dy) < rr / 3) & (abs(dx) < rr)),
        ]
    )[shape, np.arange(n)]
    phase = np.floor(4 * u[:, 3])[:, None, None]
    fill = np.stack(
        [
            np.ones((n, size, size)),
            np.where(((xx[None] + yy[None] + phase) // 3) % 2 == 0, 1.0, 0.35),
            np.where(((xx[None] + phase) % 5 < 2) & ((yy[None] + phase) % 5 < 2), 0.3, 1.0),
        ]
    )[pattern, np.arange(n)]
    rgb = COLOURS[colour] * (0.85 + 0.25 * u[:, 4:5])
    background = (150 + 85 * u[:, 5])[:, None, None, None] + 12 * noise[..., 3:]
    img = np.where(masks[..., None], fill[..., None] * rgb[:, None, None, :], background)
    img += 8 * noise[..., :3]
    return np.clip(img, 0, 255).astype(np.uint8)


def render_audio(attrs: np.ndarray, media_seed: np.ndarray, seconds: float, sample_rate: int) -> np.ndarray:
    """(n, samples) float32 waveforms: notes at a pitch, at a tempo, with a timbre, plus noise."""
    pitch, tempo, timbre = (attrs[:, attribute_index(a)] for a in ("pitch", "tempo", "timbre"))
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    u, noise = _per_item_draws(media_seed, 2, 3, (len(t),))
    beats = t[None] / (1.0 / NOTES_PER_SECOND[tempo])[:, None] + u[:, :1]  # position in notes
    note_idx, pos_in_note = np.floor(beats).astype(int), beats - np.floor(beats)
    envelope = np.exp(-4.0 * pos_in_note) * np.minimum(pos_in_note * 40, 1)
    step = 1 + np.floor(3 * u[:, 1:2]).astype(int)
    melody = np.array([1.0, 1.122, 1.26, 0.891])[(note_idx * step) % 4]
    freq = PITCH_HZ[pitch][:, None] * (0.97 + 0.06 * u[:, 2:3]) * melody
    phase = 2 * np.pi * np.cumsum(freq, axis=1) / sample_rate
    amps = HARMONICS[timbre]
    wave = sum(amps[:, h, None] * np.sin((h + 1) * phase) for h in range(amps.shape[1]))
    wave = 0.6 * envelope * wave / amps.sum(1, keepdims=True) + 0.03 * noise
    return wave.astype(np.float32)


def render_media(attrs: np.ndarray, media_seed: np.ndarray, cfg: WorldConfig) -> pl.DataFrame:
    """Encoded `image` (PNG) and `audio` (WAV) bytes for a batch of items."""
    images = render_images(attrs, media_seed, cfg.image_size)
    waves = render_audio(attrs, media_seed, cfg.audio_seconds, cfg.sample_rate)
    return pl.DataFrame(
        {
            "image": pl.Series([encode_png(im) for im in images], dtype=pl.Binary),
            "audio": pl.Series([encode_wav(w, cfg.sample_rate) for w in waves], dtype=pl.Binary),
        }
    )
