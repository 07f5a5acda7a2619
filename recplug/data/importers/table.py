"""Generic importer: any CSV/TSV/parquet log (and items / queries files) with a column mapping.

What it handles, each with an error naming the file, column, row and value when a value does not fit:
- string ids (`"0266875001"`) mapped to int64, the map written to `id_map/` and carried by exports;
- times as epoch seconds, ISO dates or datetimes; day-level dates recorded as `time_granularity: day`,
  a user's events of one day then form one basket (they share a ts);
- `basket="session"`: every event of a (user, session_id) takes the session's first ts, so a basket
  never enters its own "before" history and never straddles a split;
- implicit logs: `implicit="purchase"` makes every row a purchase (label 1); `event_weights` turns an
  event-type column (`--map event=type`) into the `weight` label;
- `tags` (or any text field) from several columns (`tags=colour+section`);
- extra log columns kept as context features (`context=["price", "channel"]`), declared in dataset.json;
- any separator, header-less files and RecBole atomic files (`recplug.data.importers.reading`), and a
  column map of its own for the items file (`items_mapping`) where its names differ from the log's.
Values are checked against the contract's rules (`recplug.data.values`) naming the source file, and the
folder is written through `staging`: a failed import leaves nothing behind.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Literal

import polars as pl

from recplug.data.errors import DatasetError, raise_first_bad
from recplug.data.id_map import write_map
from recplug.data.importers.columns import (
    combine_text,
    granularity,
    parse_context,
    parse_ids,
    parse_labels,
    parse_time,
    required,
)
from recplug.data.importers.reading import read_table
from recplug.data.importers.staging import staged
from recplug.data.io import write_dataset
from recplug.data.limits import clip_text
from recplug.data.meta import RESERVED_COLUMNS, PositiveRule, make_meta
from recplug.data.schema import (
    INTERACTION_COLUMNS,
    ITEM_COLUMNS,
    LABEL_COLUMNS,
    MEDIA_FIELDS,
    QUERY_COLUMNS,
    TEXT_FIELDS,
)
from recplug.data.split import quantile_splits
from recplug.data.validate import validate_dataset
from recplug.data.values import label_rules, raise_first, required_rules

log = logging.getLogger(__name__)
EVENT = "event"  # the mapping target of an implicit log's event-type column
LOG_TARGETS = frozenset({c.name for c in INTERACTION_COLUMNS} | {EVENT})
ITEM_TARGETS = frozenset(c.name for c in ITEM_COLUMNS)
QUERY_TARGETS = frozenset(c.name for c in QUERY_COLUMNS)


def check_targets(mapping: dict[str, str], valid: frozenset[str], option: str) -> None:
    """Every mapping target is a contract column (a typo would otherwise be ignored silently)."""
    unknown = [t for t in mapping if t not in valid]
    if unknown:
        t = unknown[0]
        raise DatasetError(f"{option} {t}={mapping[t]}: unknown target '{t}'; valid targets: {sorted(valid)}")


def _sources(frame: pl.DataFrame, src: str) -> list[str]:
    """The source columns a mapping value names: itself, or 'a+b+c' when no column is named so."""
    return [src] if src in frame.columns else src.split("+")


def _apply_mapping(
    frame: pl.DataFrame, mapping: dict[str, str], wanted: frozenset[str], file: str, hint: str = ""
) -> pl.DataFrame:
    """Rename (or, for text fields, join) source columns into contract names."""
    for target, src in mapping.items():
        if target not in wanted:
            continue
        for s in _sources(frame, src):
            if s not in frame.columns:
                raise DatasetError(
                    f"{file}: mapping {target}={src} names column '{s}', which is not in the file "
                    f"(has {frame.columns}){hint}",
                    file=file,
                    column=s,
                )
    out = frame
    for target, src in mapping.items():
        if target not in wanted:
            continue
        sources = _sources(frame, src)
        if len(sources) > 1:
            if target not in TEXT_FIELDS:
                raise DatasetError(
                    f"{file}: mapping {target}={src} joins several columns; only text fields "
                    f"{list(TEXT_FIELDS)} can",
                    file=file,
                    column=target,
                )
            out = combine_text(out, target, sources)
        else:
            out = out.with_columns(frame[sources[0]].alias(target))
    return out


def _event_weights(frame: pl.DataFrame, weights: dict[str, float], file: str) -> pl.DataFrame:
    """The `weight` label from the event-type column."""
    weights = {str(k): float(v) for k, v in weights.items()}
    if EVENT not in frame.columns:
        raise DatasetError(f"{file}: event weights need the event-type column: --map event=SOURCE", file=file)
    kinds = frame[EVENT].cast(pl.String)
    unknown = kinds.is_not_null() & ~kinds.is_in(list(weights))
    raise_first_bad(
        frame, EVENT, unknown, file, f"is an event type with no weight (given: {sorted(weights)})"
    )
    return frame.with_columns(kinds.replace_strict(weights, return_dtype=pl.Float32).alias("weight"))


def _baskets(frame: pl.DataFrame, basket: str, grain: str, file: str) -> tuple[pl.DataFrame, str]:
    """The basket rule applied: 'session' gives every event its session's first ts."""
    if basket == "session":
        if "session_id" not in frame.columns:
            raise DatasetError(
                f"{file}: basket='session' needs a session_id column (--map session_id=SOURCE)", file=file
            )
        return frame.with_columns(pl.col("ts").min().over("user_id", "session_id")), "session"
    if basket == "auto":
        return frame, "day" if grain == "day" else "none"
    return frame, basket


def import_table(
    interactions: str | Path,
    out: str | Path,
    *,
    items: str | Path | None = None,
    queries: str | Path | None = None,
    mapping: dict[str, str] | None = None,
    items_mapping: dict[str, str] | None = None,
    positive: PositiveRule | None = None,
    name: str | None = None,
    train_frac: float = 0.7,
    valid_frac: float = 0.15,
    implicit: str | None = None,
    event_weights: dict[str, float] | None = None,
    context: list[str] | tuple[str, ...] = (),
    basket: Literal["auto", "none", "session"] = "auto",
    sep: str | None = None,
    header: bool | None = None,
) -> Path:
    """Write a validated dataset folder from arbitrary tables (into a temporary folder renamed at the
    end: a failed import leaves nothing behind).

    `mapping` maps contract column names to source names (e.g. {"user_id": "uid", "ts": "timestamp",
    "tags": "colour+section"}) in every file; columns already named as in the contract need no entry.
    `items_mapping` overrides it for the items file (its item id column may be named differently).
    Items default to the ids seen in the log. `implicit` names the label every row gets (1: each row is
    one purchase / play / ...). `context` names extra log columns kept as context features. `sep` and
    `header` override the guessed separator and header of text files (`reading.read_table`)."""
    mapping, items_mapping = mapping or {}, items_mapping or {}
    check_targets(mapping, LOG_TARGETS | ITEM_TARGETS | QUERY_TARGETS, "--map")
    check_targets(items_mapping, ITEM_TARGETS, "--items-map")
    with staged(out) as tmp:
        frames = _read_all(
            interactions,
            items,
            queries,
            mapping,
            items_mapping,
            read=partial(read_table, sep=sep, header=header),
            implicit=implicit,
            event_weights=event_weights,
            context=context,
            basket=basket,
        )
        inter, item_frame, query_frame, labels, maps, kinds, grain, unit = frames
        text_fields = [f for f in TEXT_FIELDS if f in item_frame.columns]
        modalities = (["text"] if text_fields else []) + [m for m in MEDIA_FIELDS if m in item_frame.columns]
        if positive is not None and positive.column not in labels:
            raise DatasetError(
                f"{interactions}: the positive rule names '{positive.column}', not one of the label columns "
                f"{labels} (--positive COLUMN>=VALUE)",
                file=str(interactions),
            )
        if positive is None:
            weights = sorted(w for w in (event_weights or {}).values() if w > 0)
            positive = PositiveRule(
                column=labels[0], min=weights[0] if labels[0] == "weight" and weights else 1
            )
        meta = make_meta(
            str(interactions),
            name=name or Path(out).name,
            modalities=modalities,
            text_fields=text_fields,
            label_columns=labels,
            positive_rule=positive,
            splits=quantile_splits(inter["ts"], train_frac, valid_frac),
            media="inline" if any(m in item_frame.columns for m in MEDIA_FIELDS) else "none",
            source=f"imported from {interactions}",
            time_granularity=grain,
            basket=unit,
            context_columns=kinds,
            id_maps=[c for c, m in maps.items() if m is not None],
            event_weights=event_weights or None,
        )
        for column, m in maps.items():
            if m is not None:
                write_map(tmp, column, m)
        write_dataset(tmp, meta, item_frame, inter.sort("ts", "user_id", "item_id"), query_frame)
        validate_dataset(tmp)
    return Path(out)


def _read_all(
    interactions: str | Path,
    items: str | Path | None,
    queries: str | Path | None,
    mapping: dict[str, str],
    items_mapping: dict[str, str],
    *,
    read,
    implicit: str | None,
    event_weights: dict[str, float] | None,
    context: list[str] | tuple[str, ...],
    basket: str,
):
    """The log, items and queries as contract frames, with the labels, id maps, context kinds, time
    granularity and basket unit they hold."""
    log_file = str(interactions)
    forced = {c.split(":")[0]: c.split(":")[1] for c in context if ":" in c}
    bad = {c: k for c, k in forced.items() if k not in ("numeric", "categorical")}
    if bad:
        raise DatasetError(
            f"context column kinds {bad}: use COLUMN:numeric or COLUMN:categorical", file=log_file
        )
    context = [c.split(":")[0] for c in context]
    raw = read(interactions)
    clash = [c for c in context if c in RESERVED_COLUMNS or c in mapping]
    if clash:
        raise DatasetError(
            f"{log_file}: context columns {clash} are contract columns or mapped", file=log_file
        )
    required(raw, tuple(context), log_file, "context column")
    inter = _apply_mapping(raw, mapping, LOG_TARGETS, log_file)
    required(inter, ("user_id", "item_id", "ts"), log_file)
    if implicit is not None:
        if implicit not in LABEL_COLUMNS:
            raise DatasetError(
                f"implicit label '{implicit}' is not one of {list(LABEL_COLUMNS)}", file=log_file
            )
        inter = inter.with_columns(pl.lit(1.0, dtype=pl.Float32).alias(implicit))
    if event_weights:
        inter = _event_weights(inter, event_weights, log_file)
    labels = [c for c in LABEL_COLUMNS if c in inter.columns]
    if not labels:
        raise DatasetError(
            f"{interactions}: no label column after mapping; map one of {list(LABEL_COLUMNS)} (e.g. --map "
            "rating=stars), or --implicit purchase when every row is an event a user did",
            file=log_file,
        )
    raise_first(inter, required_rules(["user_id", "item_id", "ts", *labels]), log_file)
    inter = parse_labels(inter, labels, log_file)
    raise_first(inter, [r for c in labels for r in label_rules(c, inter.schema[c])], log_file)
    inter, users_map = parse_ids(inter, "user_id", log_file)
    inter = parse_time(inter, "ts", log_file)
    if "session_id" in inter.columns:
        inter = inter.with_columns(pl.col("session_id").cast(pl.String).rank("dense").cast(pl.Int64))
    inter, kinds = parse_context(inter.with_columns(raw.select(context)), list(context), forced, log_file)
    grain = granularity(inter["ts"])
    inter, unit = _baskets(inter, basket, grain, log_file)

    item_frame = None
    if items is not None:
        hint = "; --items-map TARGET=SOURCE maps the items file's own names" if not items_mapping else ""
        item_frame = _apply_mapping(
            read(items),
            {**mapping, **items_mapping},
            ITEM_TARGETS,
            str(items),
            hint,
        )
        required(item_frame, ("item_id",), str(items))
        raise_first(item_frame, required_rules(["item_id"]), str(items))
    query_frame = None
    if queries is not None:
        query_frame = _apply_mapping(read(queries), mapping, QUERY_TARGETS, str(queries))
        required(query_frame, ("query", "item_id"), str(queries))
        raise_first(query_frame, required_rules(["query", "item_id"]), str(queries))
    # one item map over the log and the items file (the catalog may hold items nobody used yet)
    keys = pl.concat([f["item_id"].cast(pl.String) for f in (inter, item_frame) if f is not None])
    from recplug.data.id_map import build_map, needs_map

    items_map = build_map(keys) if needs_map(keys) else None
    inter, _ = parse_ids(inter, "item_id", log_file, items_map)
    if item_frame is not None:
        item_frame, _ = parse_ids(item_frame, "item_id", str(items), items_map)
        catalog = item_frame["item_id"].implode()
        unknown = ~pl.col("item_id").is_in(catalog)
        raise_first_bad(inter, "item_id", unknown, log_file, f"is not an item of the items file {items}")
        if "created_ts" in item_frame.columns:
            item_frame = parse_time(item_frame, "created_ts", str(items))
        item_frame, cut = clip_text(item_frame)
        for field, n in cut.items():
            log.warning("%s: %d '%s' value(s) over the text limit truncated", items, n, field)
    else:
        item_frame = inter.select(pl.col("item_id").unique().sort())
    if query_frame is not None:
        query_frame, _ = parse_ids(query_frame, "item_id", str(queries), items_map)
    keep = [c.name for c in INTERACTION_COLUMNS if c.name in inter.columns] + list(context)
    inter = inter.select(keep)
    item_frame = item_frame.select([c.name for c in ITEM_COLUMNS if c.name in item_frame.columns])
    maps = {"user_id": users_map, "item_id": items_map}
    return inter, item_frame, query_frame, labels, maps, kinds, grain, unit
