"""The world's attributes, each shown in exactly one modality, and the words that name them.

`importance` is how strongly the attribute drives behaviour (the collaborative space): every
modality has one strong attribute and weaker ones, so a model must learn from behaviour which
attributes matter, and no single modality carries all of it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attribute:
    name: str
    modality: str  # "image" | "audio" | "text"
    values: tuple[str, ...]
    importance: float
    # words a searcher uses for each value (synonyms), used by queries and (for text attributes) item text
    words: tuple[tuple[str, ...], ...]


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute(
        "shape",
        "image",
        ("circle", "square", "triangle", "cross"),
        0.6,
        (
            ("round", "circle", "circular"),
            ("square", "boxy", "blocky"),
            ("triangle", "pointy", "triangular"),
            ("cross", "plus", "x-shaped"),
        ),
    ),
    Attribute(
        "colour",
        "image",
        ("red", "green", "blue", "yellow", "purple", "orange"),
        1.0,
        (
            ("red", "crimson", "scarlet"),
            ("green", "emerald", "leafy"),
            ("blue", "azure", "navy"),
            ("yellow", "golden", "lemon"),
            ("purple", "violet", "lilac"),
            ("orange", "amber", "tangerine"),
        ),
    ),
    Attribute(
        "pattern",
        "image",
        ("solid", "stripes", "dots"),
        0.25,
        (("plain", "solid", "flat"), ("striped", "stripes", "lined"), ("dotted", "spotty", "polka")),
    ),
    Attribute(
        "pitch",
        "audio",
        ("low", "mid", "high", "very_high"),
        0.35,
        (
            ("deep", "low", "bass"),
            ("mid", "warm", "middle"),
            ("high", "bright", "treble"),
            ("shrill", "piercing", "squeaky"),
        ),
    ),
    Attribute(
        "tempo",
        "audio",
        ("slow", "medium", "fast"),
        1.0,
        (("slow", "calm", "leisurely"), ("steady", "moderate", "walking"), ("fast", "upbeat", "energetic")),
    ),
    Attribute(
        "timbre",
        "audio",
        ("pure", "hollow", "rich"),
        0.25,
        (("pure", "clean", "sine"), ("hollow", "woody", "clarinet"), ("rich", "buzzy", "brassy")),
    ),
    Attribute(
        "topic",
        "text",
        ("cooking", "travel", "football", "music", "science", "fashion", "gaming", "pets"),
        1.0,
        (
            ("cooking", "recipe", "kitchen", "chef", "baking", "dinner", "spices"),
            ("travel", "trip", "journey", "beach", "mountains", "passport", "hotel"),
            ("football", "soccer", "goal", "match", "league", "striker", "stadium"),
            ("music", "song", "guitar", "concert", "album", "melody", "band"),
            ("science", "physics", "experiment", "laboratory", "chemistry", "space", "biology"),
            ("fashion", "outfit", "style", "dress", "runway", "jacket", "sneakers"),
            ("gaming", "console", "level", "boss", "speedrun", "controller", "arcade"),
            ("pets", "puppy", "kitten", "dog", "cat", "hamster", "parrot"),
        ),
    ),
    Attribute(
        "style",
        "text",
        ("casual", "formal", "funny", "dramatic"),
        0.3,
        (
            ("casual", "chill", "relaxed"),
            ("formal", "serious", "professional"),
            ("funny", "hilarious", "silly"),
            ("dramatic", "intense", "epic"),
        ),
    ),
)

FILLER_WORDS: tuple[str, ...] = (
    "today",
    "video",
    "new",
    "best",
    "my",
    "our",
    "the",
    "watch",
    "day",
    "life",
    "vlog",
    "part",
    "first",
    "time",
    "look",
    "this",
    "how",
    "why",
    "what",
    "ever",
    "again",
    "story",
    "moment",
    "quick",
    "guide",
    "tips",
    "with",
    "friends",
    "family",
    "weekend",
    "morning",
    "night",
    "home",
    "city",
    "little",
    "big",
    "week",
    "challenge",
    "review",
    "update",
)

ATTRIBUTE_NAMES = tuple(a.name for a in ATTRIBUTES)
MODALITIES = ("image", "audio", "text")


def word_table(name: str):
    """(flat words, offset of each value's synonyms, synonyms per value) of one attribute: lets callers
    pick a random synonym for many values at once."""
    import numpy as np

    a = ATTRIBUTES[attribute_index(name)]
    counts = np.array([len(ws) for ws in a.words])
    flat = np.array([w for ws in a.words for w in ws])
    return flat, np.concatenate([[0], np.cumsum(counts)[:-1]]), counts


def attributes_of(modality: str) -> tuple[Attribute, ...]:
    return tuple(a for a in ATTRIBUTES if a.modality == modality)


def attribute_index(name: str) -> int:
    return ATTRIBUTE_NAMES.index(name)
