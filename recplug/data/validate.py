"""Check a dataset folder against the contract; every problem names its file, column and row.

Problems are collected rather than raised one at a time, so a user fixing an import sees them all.
Table checks run on lazy scans, so validating a large folder does not load it whole.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from tqdm.auto import tqdm

from recplug.data.errors import DatasetError, ValidationFailed
from recplug.data.limits import Limits
from recplug.data.media import decode_audio, decode_image, read_media
from recplug.data.meta import DatasetMeta, read_meta
from recplug.data.schema import (
    INTERACTIONS_FILE,
    ITEMS_FILE,
    LABEL_COLUMNS,
    META_FILE,
    QUERIES_FILE,
    SPECS,
)
from recplug.data.values import check as check_values
from recplug.data.values import rules_for

MAX_ROWS_NAMED = 5  # how many offending rows a message lists
MAX_ITEMS_NAMED = 20  # how many items with refused media are named, one problem each


def _rows(frame: pl.DataFrame, show: str | None = None) -> str:
    """'row 3, row 17 (+2 more)' from a frame holding a `row` column (and optionally a value column)."""
    parts = [
        f"row {r['row']}" + (f" ({show}={r[show]!r})" if show else "")
        for r in frame.head(MAX_ROWS_NAMED).to_dicts()
    ]
    more = len(frame) - MAX_ROWS_NAMED
    return ", ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _check_schema(lf: pl.LazyFrame, file: str, problems: list[DatasetError]) -> set[str]:
    """Required columns present, known columns of an accepted dtype. Returns the usable columns."""
    schema = lf.collect_schema()
    usable = set(schema.names())
    for spec in SPECS[file]:
        if spec.name not in schema:
            if spec.required:
                problems.append(
                    DatasetError(
                        f"{file}: missing required column '{spec.name}' ({spec.describe()})",
                        file=file,
                        column=spec.name,
                    )
                )
            continue
        dtype = schema[spec.name]
        if dtype.base_type() not in {t.base_type() for t in spec.accepts} and dtype != pl.Null:
            problems.append(
                DatasetError(
                    f"{file}: column '{spec.name}' has dtype {dtype}, expected {spec.describe()}",
                    file=file,
                    column=spec.name,
                )
            )
            usable.discard(spec.name)
    return usable


def _check_not_empty(lf: pl.LazyFrame, file: str, problems: list[DatasetError]) -> bool:
    n = lf.select(pl.len()).collect().item()
    if n == 0:
        problems.append(DatasetError(f"{file}: table is empty (0 rows)", file=file))
    return n > 0


def _check_nulls(lf: pl.LazyFrame, file: str, columns: list[str], problems: list[DatasetError]) -> None:
    for c in columns:
        bad = (
            lf.with_row_index("row")
            .filter(pl.col(c).is_null())
            .select("row")
            .head(MAX_ROWS_NAMED + 1)
            .collect()
        )
        if len(bad):
            problems.append(_row_problem(file, c, f"is null at {_rows(bad)}", bad))


def _row_problem(file: str, column: str, what: str, rows: pl.DataFrame) -> DatasetError:
    """An error about `column` of `file` naming the offending rows (a frame with a `row` column)."""
    return DatasetError(f"{file}: column '{column}' {what}", file=file, column=column, row=rows["row"][0])


def _check_items(lf: pl.LazyFrame, problems: list[DatasetError]) -> None:
    _check_nulls(lf, ITEMS_FILE, ["item_id"], problems)
    dup = (
        lf.with_row_index("row")
        .filter(pl.col("item_id").is_not_null() & pl.col("item_id").is_duplicated())
        .select("row", "item_id")
        .collect()
    )
    if len(dup):
        problems.append(
            _row_problem(ITEMS_FILE, "item_id", f"has duplicates at {_rows(dup, 'item_id')}", dup)
        )


def _check_known_items(
    lf: pl.LazyFrame, file: str, item_ids: pl.LazyFrame, problems: list[DatasetError]
) -> None:
    lf = lf.with_columns(pl.col("item_id").cast(pl.Int64, strict=False))  # ids past int64 are named apart
    unknown = (
        lf.with_row_index("row")
        .join(item_ids, on="item_id", how="anti", maintain_order="left")  # the first rows, in file order
        .filter(pl.col("item_id").is_not_null())
        .select("row", "item_id")
        .head(MAX_ROWS_NAMED + 1)
        .collect()
    )
    if len(unknown):
        n = lf.join(item_ids, on="item_id", how="anti").select(pl.len()).collect().item()
        what = f"names {n} row(s) of items not in {ITEMS_FILE}: {_rows(unknown, 'item_id')}"
        problems.append(_row_problem(file, "item_id", what, unknown))


def _check_labels(
    lf: pl.LazyFrame, columns: set[str], meta: DatasetMeta | None, problems: list[DatasetError]
) -> None:
    present = [c for c in LABEL_COLUMNS if c in columns]
    if not present:
        problems.append(
            DatasetError(
                f"{INTERACTIONS_FILE}: no label column; need at least one of {list(LABEL_COLUMNS)}",
                file=INTERACTIONS_FILE,
            )
        )
        return
    if meta is not None:
        _listed_but_missing(INTERACTIONS_FILE, meta.label_columns, "label_columns", columns, problems)


def _listed_but_missing(file: str, listed, key: str, columns: set[str], problems: list[DatasetError]) -> None:
    """Columns dataset.json lists under `key` that `file` lacks."""
    for c in listed:
        if c not in columns:
            problems.append(
                DatasetError(
                    f"{file}: column '{c}' is listed in {META_FILE} {key} but missing", file=file, column=c
                )
            )


def _check_media(
    lf: pl.LazyFrame,
    root: Path,
    columns: set[str],
    max_bytes: int,
    decode_all: bool,
    problems: list[DatasetError],
) -> None:
    """Every media cell is readable under the folder's rules (`read_media`: paths confined to the folder,
    regular files, at most `max_bytes`), named item by item; with `decode_all`, every one also decodes."""
    decoders = {"image": decode_image, "audio": decode_audio}
    for column, decode in decoders.items():
        if column not in columns:
            continue
        frame = lf.select("item_id", column).filter(pl.col(column).is_not_null())
        if not decode_all and frame.collect_schema()[column] == pl.Binary:
            frame = frame.filter(pl.col(column).bin.size() > max_bytes)  # inline bytes: only sizes to check
        frame = frame.collect()
        refused: list[DatasetError] = []
        bad: list[str] = []
        for item_id, value in tqdm(
            frame.iter_rows(),
            total=len(frame),
            desc=f"check {column}",
            leave=False,
            disable=len(frame) < 5000,
        ):
            try:
                data = read_media(value, root, max_bytes)
            except DatasetError as e:
                what = f"{ITEMS_FILE}: column '{column}' item_id={item_id}: {e}"
                refused.append(DatasetError(what, file=ITEMS_FILE, column=column))
                continue
            if not decode_all:
                continue
            try:
                decode(data)
            except Exception as e:  # noqa: BLE001 - any decoder failure means the bytes are unusable
                bad.append(f"item_id={item_id} ({type(e).__name__})")
        problems += refused[:MAX_ITEMS_NAMED]
        if len(refused) > MAX_ITEMS_NAMED:
            problems.append(
                DatasetError(
                    f"{ITEMS_FILE}: column '{column}': {len(refused) - MAX_ITEMS_NAMED} more item(s) refused "
                    "like the ones above",
                    file=ITEMS_FILE,
                    column=column,
                )
            )
        if bad:
            shown = ", ".join(bad[:MAX_ROWS_NAMED]) + (
                f" (+{len(bad) - MAX_ROWS_NAMED} more)" if len(bad) > MAX_ROWS_NAMED else ""
            )
            problems.append(
                DatasetError(
                    f"{ITEMS_FILE}: column '{column}' does not decode for {shown}",
                    file=ITEMS_FILE,
                    column=column,
                )
            )


def _check_context(meta: DatasetMeta, columns: set[str], root: Path, problems: list[DatasetError]) -> None:
    """Declared context columns and id maps exist."""
    from recplug.data.schema import ID_MAP_DIR

    _listed_but_missing(INTERACTIONS_FILE, meta.context_columns, "context_columns", columns, problems)
    for c in meta.id_maps:
        if not (root / ID_MAP_DIR / f"{c}.parquet").is_file():
            problems.append(
                DatasetError(
                    f"{ID_MAP_DIR}/{c}.parquet: missing but {META_FILE} lists id_maps '{c}'", file=ID_MAP_DIR
                )
            )


def validate_dataset(directory: str | Path, *, check_media: bool = True) -> DatasetMeta:
    """Raise `ValidationFailed` listing every problem found; return the parsed metadata when clean.

    Schema (columns, dtypes), values (`recplug.data.values`: times in seconds, labels in range, ids in
    int64), references (items of the log and queries exist) and media (confined to the folder, within the
    size limit; decoded too unless `check_media=False`)."""
    root = Path(directory)
    problems: list[DatasetError] = []
    meta: DatasetMeta | None = None
    try:
        meta = read_meta(root)
    except DatasetError as e:
        problems.append(e)

    scans: dict[str, pl.LazyFrame] = {}
    for file in (ITEMS_FILE, INTERACTIONS_FILE, QUERIES_FILE):
        path = root / file
        if not path.is_file():
            if file != QUERIES_FILE:
                problems.append(DatasetError(f"{path}: missing; a dataset folder needs {file}", file=file))
            continue
        try:
            scans[file] = pl.scan_parquet(path)
            scans[file].collect_schema()
        except Exception as e:  # noqa: BLE001
            problems.append(DatasetError(f"{path}: not a readable parquet file ({e})", file=file))
            scans.pop(file, None)

    usable = {f: _check_schema(lf, f, problems) for f, lf in scans.items()}
    nonempty = {f: _check_not_empty(lf, f, problems) for f, lf in scans.items()}
    ok = {f: nonempty[f] and {c.name for c in SPECS[f] if c.required} <= usable[f] for f in scans}

    for file, lf in scans.items():
        if ok[file]:
            schema = lf.collect_schema()
            problems += check_values(lf, rules_for(file, {c: schema[c] for c in usable[file]}), file)
    if ok.get(ITEMS_FILE):
        _check_items(scans[ITEMS_FILE], problems)
        limit = (meta.size_limits if meta is not None else Limits()).media_bytes
        _check_media(scans[ITEMS_FILE], root, usable[ITEMS_FILE], limit, check_media, problems)
    if ok.get(QUERIES_FILE):
        _check_nulls(scans[QUERIES_FILE], QUERIES_FILE, ["query", "item_id"], problems)
    if ITEMS_FILE in scans and "item_id" in usable[ITEMS_FILE]:
        item_ids = scans[ITEMS_FILE].select(pl.col("item_id").cast(pl.Int64, strict=False)).unique()
        for file in (INTERACTIONS_FILE, QUERIES_FILE):
            if ok.get(file):
                _check_known_items(scans[file], file, item_ids, problems)
    if ok.get(INTERACTIONS_FILE):
        _check_nulls(scans[INTERACTIONS_FILE], INTERACTIONS_FILE, ["user_id", "item_id", "ts"], problems)
    present = {f: set(lf.collect_schema().names()) for f, lf in scans.items()}  # a bad dtype is named apart
    if INTERACTIONS_FILE in scans:
        _check_labels(scans[INTERACTIONS_FILE], present[INTERACTIONS_FILE], meta, problems)
    if meta is not None and ITEMS_FILE in scans:
        _listed_but_missing(ITEMS_FILE, meta.text_fields, "text_fields", present[ITEMS_FILE], problems)
        if meta.media == "inline":
            for m in ("image", "audio"):
                if m in meta.modalities and m not in present[ITEMS_FILE]:
                    problems.append(
                        DatasetError(
                            f"{ITEMS_FILE}: column '{m}' missing but {META_FILE} lists modality '{m}'",
                            file=ITEMS_FILE,
                            column=m,
                        )
                    )

    if meta is not None and INTERACTIONS_FILE in scans:
        _check_context(
            meta,
            usable[INTERACTIONS_FILE] | set(scans[INTERACTIONS_FILE].collect_schema().names()),
            root,
            problems,
        )
    if problems:
        raise ValidationFailed(str(root), problems)
    assert meta is not None
    return meta
