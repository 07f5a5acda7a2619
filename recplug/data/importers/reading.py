"""Source files into frames: parquet, or delimited text read as text (so `"0266875001"` keeps its zero).

Text tables come in many shapes; this reads them without a flag where it can:
- the separator is `sep` when given (`tab`, `comma`, `semicolon`, `pipe`, `whitespace`, or the literal
  string: `;`, `|`, `::`), else the one the first line holds most of (tab, comma, semicolon, pipe, `::`),
  else runs of whitespace;
- the first line is a header unless every field of it is a number (a header-less log like MovieLens'
  `u.data`) or `header=False`; header-less columns are named by position: `1`, `2`, ... (`--map user_id=1`);
- RecBole atomic files (`.inter`, `.item`): typed header names (`user_id:token`, `rating:float`) lose their
  type suffix.
A missing or 0-byte file, a file with no rows, a ragged row or bytes the encoding cannot read is a one-line
DatasetError naming the file (and the line where it applies).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import polars as pl

from recplug.data.errors import DatasetError

WHITESPACE = "whitespace"  # runs of spaces / tabs
SEP_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": WHITESPACE}
SNIFFED = ("\t", ",", ";", "|", "::")  # tie-break order when the first line holds several
PARQUET_SUFFIXES = (".parquet", ".pq")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", ".data", ".inter", ".item", ".user", "")
NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
RECBOLE_HEADER = re.compile(r"^(.+):(token|token_seq|float|float_seq)$")
PEEK_BYTES = 1 << 20


def read_table(
    path: str | Path,
    *,
    sep: str | None = None,
    header: bool | None = None,
    encoding: str = "utf-8",
    quote: str | None = '"',
    allow_empty: bool = False,
) -> pl.DataFrame:
    """A parquet file as it is, or a delimited text file as text columns (see the module docstring).
    A file without data rows is an error unless `allow_empty` (an optional side file, like tags)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file", file=str(path))
    if not path.is_file():
        raise DatasetError(f"{path}: not a regular file", file=str(path))
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        try:
            frame = pl.read_parquet(path)
        except (pl.exceptions.PolarsError, OSError) as e:
            raise DatasetError(
                f"{path}: not a readable parquet file ({_first_line(e)})", file=str(path)
            ) from None
    elif suffix in TEXT_SUFFIXES:
        frame = _read_text(path, sep, header, encoding, quote)
    else:
        kinds = ", ".join(s or "(none)" for s in TEXT_SUFFIXES + PARQUET_SUFFIXES)
        raise DatasetError(f"{path}: unsupported file type '{suffix}' (use one of {kinds})", file=str(path))
    if frame.height == 0 and not allow_empty:
        raise DatasetError(f"{path}: no data rows (a header at most)", file=str(path))
    return frame


def separator(name: str) -> str:
    """'tab' -> '\\t', 'whitespace' -> WHITESPACE, a literal stays as it is."""
    if not name:
        raise ValueError("--sep: empty separator; use tab, comma, semicolon, pipe, whitespace or a literal")
    return SEP_NAMES.get(name.lower(), WHITESPACE if name.lower() == WHITESPACE else name)


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _peek(path: Path, encoding: str) -> str:
    """The first non-empty line of a text file."""
    with path.open("rb") as f:
        head = f.read(PEEK_BYTES)
    if not head:
        raise DatasetError(f"{path}: empty file (0 bytes)", file=str(path))
    lines = [ln for ln in head.decode(encoding, errors="replace").lstrip("\ufeff").splitlines() if ln.strip()]
    if not lines:
        raise DatasetError(f"{path}: no data rows (only blank lines)", file=str(path))
    return lines[0]


def _sniff(line: str, suffix: str) -> str:
    counts = {s: line.count(s) for s in SNIFFED}
    if suffix == ".tsv" and counts["\t"]:
        return "\t"
    best = max(SNIFFED, key=lambda s: (counts[s], -SNIFFED.index(s)))
    return best if counts[best] else WHITESPACE if line.split() != [line] else ","


def _split(line: str, sep: str) -> list[str]:
    return line.split() if sep == WHITESPACE else line.split(sep)


def _read_text(
    path: Path, sep: str | None, header: bool | None, encoding: str, quote: str | None
) -> pl.DataFrame:
    first = _peek(path, encoding)
    sep = separator(sep) if sep is not None else _sniff(first, path.suffix.lower())
    if header is None:  # a header is never all numbers
        header = not all(NUMBER.match(f.strip().strip('"')) for f in _split(first, sep))
    if sep != WHITESPACE and len(sep.encode()) == 1:
        frame = _read_csv(path, sep, header, encoding, quote)
    else:
        frame = _read_lines(path, sep, header, encoding)
    if not header:
        return frame.rename({c: str(i) for i, c in enumerate(frame.columns, 1)})
    names = [RECBOLE_HEADER.match(c) for c in frame.columns]
    if all(names):  # RecBole atomic file: `name:type` headers
        return frame.rename({c: m.group(1) for c, m in zip(frame.columns, names, strict=True)})
    return frame


def _read_csv(path: Path, sep: str, header: bool, encoding: str, quote: str | None) -> pl.DataFrame:
    source: Path | io.BytesIO = path
    try:
        if encoding.lower().replace("-", "") not in ("utf8",):
            source = io.BytesIO(path.read_bytes().decode(encoding).encode())
        return pl.read_csv(source, separator=sep, has_header=header, infer_schema=False, quote_char=quote)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as e:
        hint = " (a row has more fields than the first line)" if "more fields" in str(e) else ""
        raise DatasetError(f"{path}: not a readable table ({_first_line(e)}){hint}", file=str(path)) from None


def _read_lines(path: Path, sep: str, header: bool, encoding: str) -> pl.DataFrame:
    """A table whose fields are split by a multi-character separator ('::') or runs of whitespace."""
    try:
        text = path.read_bytes().decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not {encoding} text (byte {e.start})", file=str(path)) from None
    lines = pl.DataFrame({"line": text.splitlines()}).with_row_index("line_no", offset=1)
    lines = lines.filter(pl.col("line").str.strip_chars().str.len_chars() > 0)
    body = pl.col("line").str.strip_chars()
    fields = (
        body.str.replace_all(r"\s+", "\x1f").str.split("\x1f") if sep == WHITESPACE else body.str.split(sep)
    )
    lines = lines.with_columns(fields.alias("fields"))
    width = lines["fields"][0].len()
    ragged = lines.filter(pl.col("fields").list.len() != width)
    if ragged.height:
        row = ragged.row(0, named=True)
        raise DatasetError(
            f"{path}: line {row['line_no']} has {len(row['fields'])} field(s), the first line {width} "
            f"({ragged.height} line(s) like it)",
            file=str(path),
        )
    names = list(lines["fields"][0]) if header else [f"column_{i}" for i in range(1, width + 1)]
    if len(set(names)) != len(names):
        raise DatasetError(f"{path}: the header names a column twice ({names})", file=str(path))
    body_rows = lines.slice(1) if header else lines
    return body_rows.select(pl.col("fields").list.to_struct(fields=names)).unnest("fields")
