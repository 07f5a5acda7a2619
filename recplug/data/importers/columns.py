"""Source columns into contract columns, with errors that name the file, column, row and value.

Text files are read as text (`recplug.data.importers.reading`: `"0266875001"` keeps its leading zero)
and each column is parsed by its role: ids (integers, or strings mapped through `recplug.data.id_map`),
times (epoch seconds, ISO dates or datetimes), labels (numbers or booleans), text (several source
columns joined into one) and context columns (numeric when every value parses as a number, else
categorical).
"""

from __future__ import annotations

import polars as pl

from recplug.data.errors import DatasetError, raise_first_bad
from recplug.data.id_map import build_map, needs_map
from recplug.data.values import raise_first, time_rules

DAY = 86400
NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
INTEGER = r"^\s*[-+]?\d{1,18}\s*$"  # at most 18 digits: always inside int64
ISO_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%:z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
)


def required(frame: pl.DataFrame, columns: tuple[str, ...], file: str, what: str = "mapped column") -> None:
    """Every one of `columns` is in `frame` (a mapped contract column, or a named source column)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        hint = f"; map it with --map {missing[0]}=SOURCE" if what == "mapped column" else ""
        raise DatasetError(
            f"{file}: no {what} {missing} (has {frame.columns}){hint}", file=file, column=missing[0]
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


def parse_int(frame: pl.DataFrame, column: str, file: str) -> pl.DataFrame:
    """`column` as int64 from integer text (ids of a source that has integer ids, like MovieLens)."""
    if frame.schema[column].is_integer():
        return frame.with_columns(pl.col(column).cast(pl.Int64))
    text = pl.col(column).cast(pl.String).str.strip_chars()
    _first_bad(frame, column, ~text.str.contains(INTEGER), file, "an integer id")
    return frame.with_columns(text.cast(pl.Int64).alias(column))


def parse_number(frame: pl.DataFrame, column: str, file: str) -> pl.DataFrame:
    """`column` as float32 from number text (a rating)."""
    text = pl.col(column).cast(pl.String).str.strip_chars()
    _first_bad(frame, column, ~text.str.contains(NUMBER), file, "a number")
    return frame.with_columns(text.cast(pl.Float32).alias(column))


def _datetime(text: pl.Expr) -> pl.Expr:
    """ISO-8601 dates and datetimes (`T` or space, optional fraction, `Z` / `+02:00` / `+0200` or none,
    read as UTC), each row parsed on its own: the format of the first row is tried first, then the others."""
    iso = text.str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T").str.replace(r"Z$", "+00:00")
    parsed = [text.str.to_datetime(strict=False, time_zone="UTC", time_unit="us")]
    for fmt in ISO_FORMATS:
        if fmt.endswith("z"):
            parsed.append(iso.str.to_datetime(format=fmt, strict=False, time_zone="UTC", time_unit="us"))
        else:
            naive = iso.str.to_datetime(format=fmt, strict=False, time_unit="us")
            parsed.append(naive.dt.replace_time_zone("UTC"))
    return pl.coalesce(parsed)


def _mostly_numbers(frame: pl.DataFrame, text: pl.Expr) -> bool:
    """Times written as numbers in most rows (the others are then the bad ones, not the numbers)."""
    numbers, other = frame.select(
        text.str.contains(NUMBER).sum().alias("numbers"),
        (text.is_not_null() & ~text.str.contains(NUMBER)).sum().alias("other"),
    ).row(0)
    return numbers >= other


def parse_time(frame: pl.DataFrame, column: str, file: str) -> pl.DataFrame:
    """`column` as int64 epoch seconds from numbers (`881250949`, RecBole's `881250949.0`), dates or
    datetimes (typed, or ISO-8601 text; offsets are converted to UTC, naive times read as UTC). Times
    that are negative or look like milli- / micro- / nanoseconds are refused (`recplug.data.values`)."""
    dtype = frame.schema[column]
    text = pl.col(column).cast(pl.String).str.strip_chars()
    if dtype.is_temporal():
        expr = pl.col(column)
        if dtype == pl.Date:
            expr = expr.cast(pl.Datetime("us"))
        out = frame.with_columns(expr.dt.epoch("s").cast(pl.Int64))
    elif dtype.is_integer():
        out = frame.with_columns(pl.col(column).cast(pl.Int64))
    elif dtype.is_numeric() or _mostly_numbers(frame, text):
        number = pl.col(column) if dtype.is_numeric() else text.cast(pl.Float64, strict=False)
        bad = pl.col(column).is_not_null() & ~number.is_finite().fill_null(False)
        _first_bad(frame, column, bad, file, "a number of seconds since the epoch, like the other rows")
        out = frame.with_columns(number.floor().cast(pl.Int64).alias(column))
    else:
        parsed = _datetime(text)
        _first_bad(
            frame,
            column,
            pl.col(column).is_not_null() & parsed.is_null(),
            file,
            "a time (epoch seconds, or an ISO date / datetime like 2018-09-20 or 2018-09-20T10:00:00)",
        )
        out = frame.with_columns(parsed.dt.epoch("s").cast(pl.Int64).alias(column))
    raise_first(out, time_rules(column), file)
    return out


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
