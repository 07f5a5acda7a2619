"""Parquet files a user hands recplug, read so that every failure is one line naming the file.

A 0-byte file, a truncated one (the write was cut: no footer), a file of another format, a folder
where a file is expected, a file without read permission, a damaged data page, and a table that is
not the one expected (interactions.parquet copied over items.parquet) are each refused by name.

A byte flipped inside a data page often decodes to wrong values without any error, so the files
recplug writes here carry parquet page checksums (CRC32) and `read_parquet` verifies them: such a file
is refused as damaged instead of read silently wrong. (Files written elsewhere, without checksums,
are checked as far as their format allows.) Reads go through pyarrow, which reports a damaged page
as an error where the polars reader can panic.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recplug.data.errors import BadFileError
from recplug.data.read_errors import one_line, os_problem, require_file

MAGIC = b"PAR1"
WRITE_OPTIONS = {"compression": "zstd", "compression_level": 3, "statistics": True}


def _damaged(path: Path, what: str, e: BaseException) -> BadFileError:
    if isinstance(e, OSError) and e.errno is not None:
        return BadFileError(f"{path}: cannot read the {what} file: {os_problem(e)}", file=str(path))
    return BadFileError(
        f"{path}: the {what} file is damaged (corrupt parquet data: {one_line(e, 200)}); "
        "write or copy it again",
        file=str(path),
    )


def footer(path: str | Path, what: str):
    """The parquet footer (pyarrow FileMetaData) of `path`; a file that has none is refused by name."""
    import pyarrow.parquet as pq

    path = require_file(path, what)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(4)
            f.seek(max(size - 4, 0))
            tail = f.read(4)
    except OSError as e:
        raise BadFileError(f"{path}: cannot read the {what} file: {os_problem(e)}", file=str(path)) from None
    if size == 0:
        raise BadFileError(f"{path}: the {what} file is empty (0 bytes), not a parquet file", file=str(path))
    if head != MAGIC:
        raise BadFileError(
            f"{path}: the {what} file is not a parquet file (it does not start with PAR1)", file=str(path)
        )
    if tail != MAGIC or size < 12:
        raise BadFileError(
            f"{path}: the {what} file is a truncated parquet file ({size:,} bytes, no footer): "
            "its write was cut short; write it again",
            file=str(path),
        )
    try:
        return pq.ParquetFile(path).metadata
    except Exception as e:  # pyarrow raises OSError / ArrowInvalid for a bad footer
        raise _damaged(path, what, e) from None


def read_parquet(path: str | Path, what: str, columns: list[str] | None = None) -> pl.DataFrame:
    """The whole table (or `columns`), page checksums verified."""
    import pyarrow.parquet as pq

    path = Path(path)
    meta = footer(path, what)
    if columns is not None:
        names = set(meta.schema.to_arrow_schema().names)
        missing = [c for c in columns if c not in names]
        if missing:
            raise BadFileError(
                f"{path}: the {what} file has no column(s) {missing} (has {sorted(names)})", file=str(path)
            )
    try:
        table = pq.ParquetFile(path, page_checksum_verification=True).read(columns=columns)
    except Exception as e:
        raise _damaged(path, what, e) from None
    return pl.from_arrow(table)


def scan_parquet(path: str | Path, what: str) -> pl.LazyFrame:
    """A lazy scan of a file whose footer was checked; `collect` it to name the file on a damaged page."""
    footer(path, what)
    return pl.scan_parquet(path)


def scan_table(path: str | Path, file: str) -> pl.LazyFrame:
    """A dataset table (`file` is items.parquet, interactions.parquet or queries.parquet): its footer
    checked, and a file of another table refused (without the required columns, or with every required
    column of another table, e.g. interactions.parquet copied over items.parquet)."""
    from recplug.data.schema import SPECS

    names = footer(path, _table(path)).schema.to_arrow_schema().names
    missing = [c.name for c in SPECS[file] if c.required and c.name not in names]
    known = {c.name for c in SPECS[file]}
    like = [
        other
        for other, specs in SPECS.items()
        if other != file
        and all(c.name in names for c in specs if c.required)
        and any(c.required and c.name not in known for c in specs)
    ]
    if missing or like:
        problem = f"no column(s) {missing}" if missing else "it holds the columns of another table"
        hint = f"; it looks like {like[0]}" if like else ""
        raise BadFileError(
            f"{path}: not the {_table(path)} of a dataset: {problem} (has {names}){hint}", file=str(path)
        )
    return pl.scan_parquet(path)


def _table(path: str | Path) -> str:
    return f"{Path(path).stem} table"


def collect(frame: pl.LazyFrame, path: str | Path, what: str | None = None) -> pl.DataFrame:
    """`frame.collect()`, a failure to decode the file at `path` named (the polars reader can panic
    on a damaged page: that is caught too). `what` defaults to "<name> table"."""
    try:
        return frame.collect()
    except (pl.exceptions.ComputeError, pl.exceptions.PanicException, OSError) as e:
        raise _damaged(Path(path), what or _table(path), e) from None


def write_parquet_checksummed(frame: pl.DataFrame, path: Path) -> None:
    """Atomically write `frame` with page checksums (see the module docstring)."""
    from recplug.data.io import atomic_write

    atomic_write(
        path,
        lambda tmp: frame.write_parquet(
            tmp, **WRITE_OPTIONS, use_pyarrow=True, pyarrow_options={"write_page_checksum": True}
        ),
    )
