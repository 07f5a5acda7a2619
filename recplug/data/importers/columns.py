"""Source columns into contract columns, with errors that name the file, column, row and value.

CSV files are read as text (so `"0266875001"` keeps its leading zero) and each column is parsed by
its role: ids (integers, or strings mapped through `recplug.data.id_map`), times (epoch seconds, ISO
dates or datetimes), labels (numbers or booleans), text (several source columns joined into one) and
context columns (numeric when every value parses as a number, else categorical).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recplug.data.errors import DatasetError, raise_first_bad
from recplug.data.id_map import build_map, needs_map

DAY = 86400
NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
SEPARATORS = {".tsv": "\t", ".csv": ",", ".txt": ","}


def read_table(path: str | Path) -> pl.DataFrame:
    """A CSV, TSV or parquet file as a frame (by suffix); CSV/TSV columns come as text."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file", file=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
        if suffix in SEPARATORS:
            return pl.read_csv(path, separator=SEPARATORS[suffix], infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DatasetError(
            f"{path}: not a readable {suffix[1:]} file ({str(e).splitlines()[0]})", file=str(path)
        ) from None
    raise DatasetError(
        f"{path}: unsupported file type '{suffix}' (use .csv, .tsv or .parquet)", file=str(path)
    )


def _first_bad(frame: pl.DataFrame, column: str, bad: pl.Expr, file: str, expected: str) -> None:
    raise_first_bad(frame, column, bad, file, f"is not {expected}")


def parse_ids(frame: pl.DataFrame, column: str, file: str, mapping: pl.DataFrame | None = None):
    """(frame with int64 `column`, the id map used or None). Canonical integers are kept; anything else
    (strings, leading zeros) is mapped: through `mapping` when given (the log's map, reused for the
    items file), else a new map of this column's keys."""
    from recplug.data.id_map import apply_map

    values = frame[column]
    if mapping is None and not needs_map(values):
        return frame.with_columns(pl.col(column).cast(pl.Int64)), None
    mapping = build_map(values) if mapping is None else mapping
    return apply_map(frame, column, mapping, file), mapping


def parse_time(frame: pl.DataFrame, column: str, file: str) -> pl.DataFrame:
    """`column` as int64 epoch seconds from numbers, dates or datetimes (typed, or ISO-8601 text;
    offsets are converted to UTC, naive times read as UTC)."""
    dtype = frame.schema[column]
    if dtype.is_temporal():
        expr = pl.col(column)
        if dtype == pl.Date:
            expr = expr.cast(pl.Datetime("us"))
        return frame.with_columns(expr.dt.epoch("s").cast(pl.Int64))
    if dtype.is_numeric():
        return frame.with_columns(pl.col(column).cast(pl.Int64))
    text = pl.col(column).cast(pl.String).str.strip_chars()
    numeric = frame.select(text.str.contains(r"^-?\d+$").all()).item()
    if numeric:
        return frame.with_columns(text.cast(pl.Int64).alias(column))
    parsed = text.str.to_datetime(strict=False, time_zone="UTC", time_unit="us")
    _first_bad(
        frame,
        column,
        pl.col(column).is_not_null() & parsed.is_null(),
        file,
        "a time (epoch seconds, or an ISO date / datetime like 2018-09-20 or 2018-09-20T10:00:00)",
    )
    return frame.with_columns(parsed.dt.epoch("s").cast(pl.Int64).alias(column))


def granularity(ts: pl.Series) -> str:
    """'day' when every timestamp is a midnight (a day-level date), else 'second'."""
    return "day" if len(ts) and bool((ts.drop_nulls() % DAY == 0).all()) else "second"


def parse_labels(frame: pl.DataFrame, columns: list[str], file: str) -> pl.DataFrame:
    """Label columns as float32 from numbers or booleans (`true`/`false` text included)."""
    out = []
    for c in columns:
        if frame.schema[c] in (pl.String, pl.Categorical):
            text = pl.col(c).str.strip_chars().str.to_lowercase()
            value = (
                pl.when(text == "true")
                .then(pl.lit("1"))
                .when(text == "false")
                .then(pl.lit("0"))
                .otherwise(text)
            )
            _first_bad(
                frame, c, pl.col(c).is_not_null() & ~value.str.contains(NUMBER), file, "a number or boolean"
            )
            out.append(value.cast(pl.Float32).alias(c))
        else:
            out.append(pl.col(c).cast(pl.Float32))
    return frame.with_columns(out)


def combine_text(frame: pl.DataFrame, target: str, sources: list[str]) -> pl.DataFrame:
    """`target` = the non-empty values of `sources`, joined with ', ' (null when all are empty)."""
    parts = [pl.col(s).cast(pl.String).str.strip_chars() for s in sources]
    joined = pl.concat_list([pl.when(p.str.len_chars() > 0).then(p) for p in parts]).list.drop_nulls()
    return frame.with_columns(
        pl.when(joined.list.len() > 0).then(joined.list.join(", ")).otherwise(None).alias(target)
    )


def parse_context(
    frame: pl.DataFrame, columns: list[str], forced: dict[str, str] | None = None, file: str = ""
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Context columns: float32 when every non-null value is a number ('numeric'), else text
    ('categorical'), unless `forced` names the kind. Returns the frame and each column's kind."""
    kinds, exprs = {}, []
    for c in columns:
        dtype = frame.schema[c]
        text = pl.col(c).cast(pl.String)
        kind = (forced or {}).get(c)
        if kind == "categorical":
            kinds[c] = kind
            exprs.append(text.alias(c))
        elif kind == "numeric":
            _first_bad(frame, c, text.is_not_null() & ~text.str.contains(NUMBER), file, "a number")
            kinds[c] = kind
            exprs.append(text.str.strip_chars().cast(pl.Float32).alias(c))
        elif dtype.is_numeric():
            kinds[c] = "numeric"
            exprs.append(pl.col(c).cast(pl.Float32))
        elif frame.select((text.str.contains(NUMBER) | text.is_null()).all()).item():
            kinds[c] = "numeric"
            exprs.append(text.str.strip_chars().cast(pl.Float32).alias(c))
        else:
            kinds[c] = "categorical"
            exprs.append(text.alias(c))
    return frame.with_columns(exprs), kinds
