"""Per-item size limits: how large one item's media and one text field may be.

Why: one item is one training example; a 2 GB "image" or a whole book in a title is a broken row, not
content, and reading it whole would stall or kill a run. The defaults fit any real item (a large photo, a
minutes-long clip, a long description); a dataset that needs more says so in its `dataset.json`:

    "limits": {"media_bytes": 52428800, "text_chars": 131072}

Media over the limit is refused (validation names the item; `read_media` raises before reading it whole);
text over the limit is truncated where it is read (`clip_text`), and `validate` / `describe` report how many
values were cut (`text_over_limit`), so nothing is dropped silently.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from recplug.data.schema import ITEMS_FILE, TEXT_FIELDS

MEDIA_MAX_BYTES = 20 * 2**20  # 20 MiB per media item (one image, one audio clip)
TEXT_MAX_CHARS = 64 * 2**10  # 65,536 characters per text field of one item


class Limits(BaseModel):
    """The `limits` key of dataset.json (both optional, positive)."""

    model_config = ConfigDict(extra="forbid")
    media_bytes: int = Field(MEDIA_MAX_BYTES, gt=0)
    text_chars: int = Field(TEXT_MAX_CHARS, gt=0)


def text_over_limit(items: pl.DataFrame | pl.LazyFrame, limit: int = TEXT_MAX_CHARS) -> dict[str, int]:
    """{text field: number of values longer than `limit` characters}, fields with none left out."""
    fields = [f for f in TEXT_FIELDS if f in items.collect_schema().names()]
    if not fields:
        return {}
    counts = (
        items.lazy()
        .select((pl.col(f).cast(pl.String).str.len_chars() > limit).sum().alias(f) for f in fields)
        .collect()
        .row(0, named=True)
    )
    return {f: int(n) for f, n in counts.items() if n}


def raw_items(root: Path | str) -> pl.LazyFrame:
    """The items table as stored (the loader's frames are already clipped): what over-limit counts read."""
    return pl.scan_parquet(Path(root) / ITEMS_FILE)


def clipped(items: pl.DataFrame | pl.LazyFrame, limit: int = TEXT_MAX_CHARS) -> pl.DataFrame | pl.LazyFrame:
    """`items` with every text field cut to `limit` characters (lazy frames stay lazy): how loaders read."""
    fields = [f for f in TEXT_FIELDS if f in items.collect_schema().names()]
    return items.with_columns(pl.col(f).cast(pl.String).str.head(limit) for f in fields)


def clip_text(items: pl.DataFrame, limit: int = TEXT_MAX_CHARS) -> tuple[pl.DataFrame, dict[str, int]]:
    """`items` with every text field cut to `limit` characters, and how many values were cut per field."""
    cut = text_over_limit(items, limit)
    return items.with_columns(pl.col(f).cast(pl.String).str.head(limit) for f in cut), cut


def describe_cut(cut: dict[str, int], limit: int) -> str | None:
    """A one-line note for `validate` / `describe` (None when nothing is over the limit)."""
    if not cut:
        return None
    fields = ", ".join(f"{n:,} '{f}'" for f, n in cut.items())
    return (
        f"items.parquet: {fields} value(s) are over {limit:,} characters and are truncated to it when read "
        "(limits.text_chars in dataset.json raises the limit)"
    )
