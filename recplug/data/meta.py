"""`dataset.json`: what a dataset folder holds, its positive rule and its time boundaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from recplug.data.errors import DatasetError, describe_validation_error
from recplug.data.limits import Limits
from recplug.data.schema import INTERACTION_COLUMNS, LABEL_COLUMNS, META_FILE, TEXT_FIELDS
from recplug.data.values import MAX_SECONDS

RESERVED_COLUMNS = frozenset(c.name for c in INTERACTION_COLUMNS)


class PositiveRule(BaseModel):
    """An interaction is a positive engagement when `column >= min`."""

    model_config = ConfigDict(extra="forbid")
    column: str
    min: float = Field(1.0, allow_inf_nan=False)

    def expr(self) -> pl.Expr:
        return pl.col(self.column) >= self.min

    def describe(self) -> str:
        return f"{self.column} >= {self.min:g}"


class Splits(BaseModel):
    """Time boundaries in seconds: train is ts < train_end, validation train_end <= ts < valid_end,
    test valid_end <= ts < end."""

    model_config = ConfigDict(extra="forbid")
    start: int
    train_end: int
    valid_end: int
    end: int

    @model_validator(mode="after")
    def _ordered(self) -> Splits:
        if not (self.start <= self.train_end <= self.valid_end <= self.end):
            raise ValueError("splits must satisfy start <= train_end <= valid_end <= end")
        if self.start < 0 or self.end >= MAX_SECONDS:
            raise ValueError(
                f"splits must be seconds since the epoch in [0, {MAX_SECONDS}) (got start={self.start}, "
                f"end={self.end}; milliseconds divide by 1000)"
            )
        return self


class DatasetMeta(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    version: int = 1
    modalities: list[Literal["text", "image", "audio"]]
    text_fields: list[str] = Field(default_factory=list)
    label_columns: list[str]
    positive_rule: PositiveRule
    splits: Splits
    seed: int | None = None
    preset: str | None = None
    media: Literal["inline", "on_demand", "none"] = "inline"
    generator: dict[str, Any] | None = None
    source: str | None = None
    time_granularity: Literal["second", "day"] = Field(
        "second", description="'day': every ts is a midnight (a day-level date); detected at import"
    )
    basket: Literal["none", "day", "session"] = Field(
        "none",
        description="what one unit of co-occurring events is: 'day' (a user's events of one day share a ts), "
        "'session' (a session's events were given its first ts at import); events of one unit share a ts, "
        "so they never enter each other's 'before' history and never straddle a split",
    )
    context_columns: dict[str, Literal["numeric", "categorical"]] = Field(
        default_factory=dict, description="extra interaction columns kept as ranking context features"
    )
    id_maps: list[Literal["user_id", "item_id"]] = Field(
        default_factory=list, description="id columns mapped from source strings (id_map/<column>.parquet)"
    )
    event_weights: dict[str, float] | None = Field(
        None, description="implicit event types and the weights written to the 'weight' label"
    )
    limits: Limits | None = Field(
        None, description="per-item size limits (recplug.data.limits); the defaults when absent"
    )

    @property
    def size_limits(self) -> Limits:
        return self.limits or Limits()

    @model_validator(mode="after")
    def _consistent(self) -> DatasetMeta:
        unknown = [c for c in self.label_columns if c not in LABEL_COLUMNS]
        if unknown:
            raise ValueError(f"label_columns has unknown {unknown}; known: {list(LABEL_COLUMNS)}")
        if not self.label_columns:
            raise ValueError("label_columns is empty: at least one label column is required")
        if self.positive_rule.column not in self.label_columns:
            raise ValueError(
                f"positive_rule.column '{self.positive_rule.column}' is not one of label_columns {self.label_columns}"
            )
        clash = [c for c in self.context_columns if c in RESERVED_COLUMNS]
        if clash:
            raise ValueError(f"context_columns {clash} clash with contract columns")
        bad = [f for f in self.text_fields if f not in TEXT_FIELDS]
        if bad:
            raise ValueError(f"text_fields has unknown {bad}; known: {list(TEXT_FIELDS)}")
        return self

    def write(self, directory: Path) -> None:
        from recplug.data.io import atomic_write_text

        atomic_write_text(Path(directory) / META_FILE, self.model_dump_json(indent=2, exclude_none=True))


def make_meta(where: str, **fields: Any) -> DatasetMeta:
    """A DatasetMeta built by an importer or a tool; a bad field is a one-line DatasetError naming it."""
    try:
        return DatasetMeta(**fields)
    except ValidationError as e:
        raise DatasetError(
            describe_validation_error(e, f"{where}: invalid {META_FILE}: "), file=META_FILE
        ) from None


def read_meta(directory: Path) -> DatasetMeta:
    """Parse `dataset.json`, naming the key (or line/column of bad JSON) in the error."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise DatasetError(f"{path}: missing; a dataset folder needs {META_FILE}", file=META_FILE)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(
            f"{path}: not UTF-8 text (byte {e.start} is {e.object[e.start]:#04x})", file=META_FILE
        ) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetError(
            f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}", file=META_FILE
        ) from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: expected a JSON object, got {type(raw).__name__}", file=META_FILE)
    try:
        return DatasetMeta.model_validate(raw)
    except ValidationError as e:
        raise DatasetError(describe_validation_error(e, f"{path}: "), file=META_FILE) from None
