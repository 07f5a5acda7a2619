"""Every bad input to the data layer is refused with one line naming its culprit: dataset folders
(`recplug data validate`), dataset.json, the table and MovieLens importers, and media cells.

Each case is one distinct bad input; `refused` runs the command and checks the exit status, that the error
is one line with no traceback, and that it names the culprit. A failed import must leave no folder behind.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from experiments.cli import main
from recplug.data.errors import DatasetError
from recplug.data.io import write_parquet
from recplug.data.media import read_media

N_ITEMS = 40  # the small folder: the tiny world's first items, their interactions and queries


def refused(capsys, argv: list[str], *culprits: str) -> str:
    """Run `recplug ARGV`: exit 2 and one `recplug: error:` line naming every culprit."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, f"accepted (rc={rc}): {argv}"
    assert err.startswith("recplug: error: ") and "\n" not in err and "Traceback" not in err, err
    for culprit in culprits:
        assert culprit in err, f"{culprit!r} not named in: {err}"
    return err


@pytest.fixture(scope="module")
def small(tiny_dir, tmp_path_factory) -> Path:
    """A valid dataset folder small enough to validate in a blink (inline media)."""
    out = tmp_path_factory.mktemp("small") / "ds"
    shutil.copytree(tiny_dir, out)
    keep = pl.col("item_id") <= N_ITEMS
    for file in ("items.parquet", "interactions.parquet", "queries.parquet"):
        write_parquet(pl.read_parquet(out / file).filter(keep), out / file)
    assert main(["data", "validate", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def with_paths(small, tmp_path_factory) -> Path:
    """The small folder with its images as files under media/, the cells holding relative paths."""
    out = tmp_path_factory.mktemp("paths") / "ds"
    shutil.copytree(small, out)
    items = pl.read_parquet(out / "items.parquet")
    (out / "media").mkdir()
    for item_id, image in items.select("item_id", "image").iter_rows():
        (out / "media" / f"{item_id}.png").write_bytes(image)
    paths = pl.format("media/{}.png", pl.col("item_id")).alias("image")
    write_parquet(items.with_columns(paths), out / "items.parquet")
    assert main(["data", "validate", str(out)]) == 0
    return out


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ds"
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _edit(folder: Path, file: str, fn) -> None:
    write_parquet(fn(pl.read_parquet(folder / file)), folder / file)


def _at(row: int, column: str, value, dtype=None) -> pl.Expr:
    """`column` with `value` at `row` (cast to `dtype` first, e.g. to hold a NaN or a huge id)."""
    col = pl.col(column) if dtype is None else pl.col(column).cast(dtype)
    return (
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value, dtype=dtype)).otherwise(col).alias(column)
    )


def _set(file: str, *exprs):
    """Apply `exprs` to `file` one after the other (a later one may read a column an earlier one made)."""

    def apply(frame: pl.DataFrame) -> pl.DataFrame:
        for e in exprs:
            frame = frame.with_columns(e)
        return frame

    return lambda d: _edit(d, file, apply)


def _meta(fn):
    """Edit dataset.json as a dict."""

    def edit(folder: Path) -> None:
        meta = json.loads((folder / "dataset.json").read_text())
        fn(meta)
        (folder / "dataset.json").write_text(json.dumps(meta))

    return edit


def _append_item(item_id: int | None, dtype=pl.Int64):
    """Append an item row with `item_id` (of `dtype`) and no media: no interaction loses its item."""

    def edit(folder: Path) -> None:
        items = pl.read_parquet(folder / "items.parquet").with_columns(pl.col("item_id").cast(dtype))
        row = pl.DataFrame({"item_id": [item_id]}, schema={"item_id": dtype})
        write_parquet(pl.concat([items, row], how="diagonal"), folder / "items.parquet")

    return edit


INTER, ITEMS, QUERIES = "interactions.parquet", "items.parquet", "queries.parquet"
U64 = 2**63 + 7

FOLDER_CASES = {
    # interactions.parquet: values
    "ts-negative": (_set(INTER, _at(3, "ts", -5)), [INTER, "'ts'", "row 3", "-5", "negative"]),
    "ts-milliseconds": (
        _set(INTER, pl.col("ts") * 1000),
        [INTER, "'ts'", "row 0", "looks like milliseconds", "divide by 1000"],
    ),
    "ts-microseconds": (_set(INTER, _at(2, "ts", 1_704_067_239_000_000)), ["'ts'", "row 2", "microseconds"]),
    "ts-nanoseconds": (
        _set(INTER, _at(4, "ts", 1_704_067_239_000_000_000)),
        ["'ts'", "row 4", "nanoseconds"],
    ),
    "click-not-binary": (_set(INTER, _at(7, "click", 2, pl.Int8)), ["'click'", "row 7", "not 0 or 1"]),
    "finish-fraction": (_set(INTER, _at(1, "finish", 0.5, pl.Float32)), ["'finish'", "row 1", "0.5"]),
    "like-nan": (_set(INTER, _at(5, "like", float("nan"), pl.Float32)), ["'like'", "row 5", "nan", "finite"]),
    "rating-inf": (
        _set(INTER, pl.lit(4.0).alias("rating"), _at(6, "rating", float("inf"), pl.Float64)),
        ["'rating'", "row 6", "inf"],
    ),
    "watch-time-negative": (
        _set(INTER, pl.lit(3.0).alias("watch_time"), _at(2, "watch_time", -1.0, pl.Float64)),
        ["'watch_time'", "row 2", "negative"],
    ),
    "user-id-null": (_set(INTER, _at(8, "user_id", None, pl.Int64)), [INTER, "'user_id'", "null at row 8"]),
    "user-id-past-int64": (
        _set(INTER, _at(0, "user_id", U64, pl.UInt64)),
        ["'user_id'", "row 0", str(U64), "int64"],
    ),
    "session-id-past-int64": (_set(INTER, _at(1, "session_id", U64, pl.UInt64)), ["'session_id'", str(U64)]),
    "item-not-in-items": (
        _set(INTER, _at(3, "item_id", 999_999)),
        [INTER, "row 3", "999999", "not in items.parquet"],
    ),
    "ts-as-text": (_set(INTER, pl.col("ts").cast(pl.String)), [INTER, "'ts'", "String", "int64"]),
    "no-user-id-column": (
        lambda d: _edit(d, INTER, lambda f: f.drop("user_id")),
        [INTER, "'user_id'", "missing"],
    ),
    "no-label-column": (
        lambda d: _edit(d, INTER, lambda f: f.drop("click", "finish", "like")),
        [INTER, "no label column"],
    ),
    "empty-log": (lambda d: _edit(d, INTER, lambda f: f.head(0)), [INTER, "0 rows"]),
    "log-not-parquet": (
        lambda d: (d / INTER).write_bytes(b"user_id,item_id\n1,2\n"),
        [INTER, "not a readable parquet"],
    ),
    # items.parquet
    "item-id-null": (_append_item(None), [ITEMS, "'item_id'", f"null at row {N_ITEMS}"]),
    "item-id-duplicate": (_append_item(9), [ITEMS, "duplicates", "row 8", f"row {N_ITEMS}"]),
    "item-id-past-int64": (_append_item(U64, pl.UInt64), [ITEMS, "'item_id'", f"row {N_ITEMS}", str(U64)]),
    "created-ts-negative": (
        _set(ITEMS, _at(2, "created_ts", -86400)),
        [ITEMS, "'created_ts'", "row 2", "negative"],
    ),
    "created-ts-milliseconds": (
        _set(ITEMS, _at(3, "created_ts", 1_703_980_800_000)),
        [ITEMS, "'created_ts'", "row 3", "milliseconds", "divide by 1000"],
    ),
    "title-not-text": (_set(ITEMS, pl.col("item_id").alias("title")), [ITEMS, "'title'", "Int64", "string"]),
    "items-missing": (lambda d: (d / ITEMS).unlink(), [ITEMS, "missing"]),
    # queries.parquet
    "query-null": (_set(QUERIES, _at(0, "query", None, pl.String)), [QUERIES, "'query'", "null at row 0"]),
    "query-blank": (_set(QUERIES, _at(4, "query", "   ")), [QUERIES, "'query'", "row 4", "empty"]),
    "query-item-null": (
        _set(QUERIES, _at(1, "item_id", None, pl.Int64)),
        [QUERIES, "'item_id'", "null at row 1"],
    ),
    "query-score-nan": (
        _set(QUERIES, _at(2, "score", float("nan"), pl.Float32)),
        [QUERIES, "'score'", "row 2", "finite"],
    ),
    "query-unknown-item": (
        _set(QUERIES, _at(0, "item_id", 777_777)),
        [QUERIES, "777777", "not in items.parquet"],
    ),
    # dataset.json
    "meta-missing": (lambda d: (d / "dataset.json").unlink(), ["dataset.json", "missing"]),
    "meta-malformed": (
        lambda d: (d / "dataset.json").write_text('{"name": "x",\n "modalities": [}'),
        ["dataset.json", "line 2"],
    ),
    "meta-not-object": (
        lambda d: (d / "dataset.json").write_text("[1, 2]"),
        ["dataset.json", "JSON object", "list"],
    ),
    "meta-not-utf8": (
        lambda d: (d / "dataset.json").write_bytes(b'{"name": "\xff"}'),
        ["dataset.json", "UTF-8", "0xff"],
    ),
    "meta-no-train-end": (
        _meta(lambda m: m["splits"].pop("train_end")),
        ["dataset.json", "splits.train_end"],
    ),
    "meta-unknown-label": (
        _meta(lambda m: m["label_columns"].append("clicks")),
        ["dataset.json", "'clicks'"],
    ),
    "meta-rule-not-a-label": (
        _meta(lambda m: m["positive_rule"].update(column="rating")),
        ["positive_rule.column 'rating'"],
    ),
    "meta-rule-min-nan": (
        _meta(lambda m: m["positive_rule"].update(min=float("nan"))),
        ["positive_rule.min", "finite"],
    ),
    "meta-splits-unordered": (
        _meta(lambda m: m["splits"].update(train_end=m["splits"]["end"] + 1)),
        ["splits", "start <= train_end"],
    ),
    "meta-splits-milliseconds": (
        _meta(lambda m: m["splits"].update({k: v * 1000 for k, v in m["splits"].items()})),
        ["dataset.json", "splits", "milliseconds divide by 1000"],
    ),
    "meta-limit-zero": (
        _meta(lambda m: m.update(limits={"media_bytes": 0})),
        ["limits.media_bytes", "greater than 0"],
    ),
    "meta-limit-unknown-key": (_meta(lambda m: m.update(limits={"image_bytes": 5})), ["limits.image_bytes"]),
    "meta-unknown-text-field": (
        _meta(lambda m: m["text_fields"].append("summary")),
        ["text_fields", "'summary'"],
    ),
    "meta-label-listed-absent": (
        _meta(lambda m: m["label_columns"].append("rating")),
        [INTER, "'rating'", "listed in dataset.json label_columns"],
    ),
}


@pytest.mark.parametrize("corrupt, culprits", FOLDER_CASES.values(), ids=FOLDER_CASES.keys())
def test_validate_refuses_bad_folder(small, tmp_path, capsys, corrupt, culprits):
    folder = _copy(small, tmp_path)
    corrupt(folder)
    refused(capsys, ["data", "validate", folder], *culprits)


def _image(item_id: int, value):
    return _set(
        ITEMS,
        pl.when(pl.col("item_id") == item_id).then(pl.lit(value)).otherwise(pl.col("image")).alias("image"),
    )


def _link(item_id: int, target, name: str = "link.png"):
    """Item `item_id`'s image is media/`name`, a symlink to `target` (a path, or a callable of the folder)."""

    def edit(folder: Path) -> None:
        (folder / "media" / name).symlink_to(target(folder) if callable(target) else target)
        _image(item_id, f"media/{name}")(folder)

    return edit


def _make(item_id: int, make, name: str):
    """Item `item_id`'s image is media/`name`, made by `make(path)`."""

    def edit(folder: Path) -> None:
        make(folder / "media" / name)
        _image(item_id, f"media/{name}")(folder)

    return edit


def _big_file(path: Path) -> None:
    path.write_bytes(b"\0" * 12_288)


def _media_limit(n: int):
    return _meta(lambda m: m.update(limits={"media_bytes": n}))


def _both(*edits):
    def edit(folder: Path) -> None:
        for e in edits:
            e(folder)

    return edit


MEDIA_CASES = {
    "absolute-path": (_image(3, "/etc/hostname"), ["item_id=3", "'image'", "/etc/hostname", "absolute"]),
    "dotdot-escape": (_image(4, "media/../../outside.png"), ["item_id=4", "media/../../outside.png", "'..'"]),
    "symlink-out": (
        _link(5, lambda d: d.parent / "secret.png"),
        ["item_id=5", "media/link.png", "outside the dataset folder"],
    ),
    "symlink-to-dev-zero": (_link(6, "/dev/zero"), ["item_id=6", "/dev/zero", "outside the dataset folder"]),
    "fifo": (_make(7, os.mkfifo, "pipe.png"), ["item_id=7", "media/pipe.png", "FIFO", "not a regular file"]),
    "directory": (
        _make(8, Path.mkdir, "dir.png"),
        ["item_id=8", "media/dir.png", "folder", "not a regular file"],
    ),
    "missing-file": (_image(9, "media/none.png"), ["item_id=9", "media/none.png", "no such file"]),
    "empty-path": (_image(10, ""), ["item_id=10", "empty"]),
    "nul-in-path": (_image(11, "media/1.png\x00.txt"), ["item_id=11", "NUL"]),
    "file-over-limit": (
        _both(_media_limit(10_000), _make(12, _big_file, "big.png")),
        ["item_id=12", "media/big.png", "12,288 bytes", "10,000", "limits.media_bytes"],
    ),
}


@pytest.mark.parametrize("corrupt, culprits", MEDIA_CASES.values(), ids=MEDIA_CASES.keys())
def test_validate_confines_media_to_the_folder(with_paths, tmp_path, capsys, corrupt, culprits):
    folder = _copy(with_paths, tmp_path)
    corrupt(folder)
    refused(capsys, ["data", "validate", folder], *culprits)


def test_inline_media_over_the_limit_is_refused(small, tmp_path, capsys):
    folder = _copy(small, tmp_path)
    items = pl.read_parquet(folder / ITEMS)
    limit = max(items["image"].bin.size().max(), items["audio"].bin.size().max())
    _both(_media_limit(limit), _set(ITEMS, _at(2, "image", b"\x89PNG" + b"\0" * limit, pl.Binary)))(folder)
    refused(
        capsys,
        ["data", "validate", folder, "--skip-media"],
        "item_id=3",
        "'image'",
        "inline media",
        f"{limit:,}",
    )


READ_CASES = {
    "fifo": (lambda d: os.mkfifo(d / "pipe"), "pipe", "FIFO"),
    "dev-zero-absolute": (lambda d: None, "/dev/zero", "absolute"),
    "dev-zero-symlink": (
        lambda d: (d / "zero").symlink_to("/dev/zero"),
        "zero",
        "outside the dataset folder",
    ),
    "over-limit": (lambda d: (d / "big").write_bytes(b"x" * 101), "big", "101 bytes"),
}


@pytest.mark.parametrize("make, value, culprit", READ_CASES.values(), ids=READ_CASES.keys())
def test_read_media_refuses_at_read_time(tmp_path, make, value, culprit):
    """Readers (the student's item store) get a DatasetError, never a hang or an unbounded read."""
    make(tmp_path)
    with pytest.raises(DatasetError, match=culprit) as e:
        read_media(value, tmp_path, max_bytes=100)
    assert value in str(e.value) and "\n" not in str(e.value)


def test_inline_bytes_over_the_limit_refused_at_read_time():
    with pytest.raises(DatasetError, match="inline media is 11 bytes, over the limit of 10"):
        read_media(b"x" * 11, Path("."), max_bytes=10)


# --- the table importer ---------------------------------------------------------------------------------


def _log(folder: Path, text: str, name: str = "log.csv") -> Path:
    path = folder / name
    path.write_text(text)
    return path


GOOD_LOG = "uid,iid,stars,when\n1,10,5,1000\n2,11,3,2000\n3,10,4,3000\n"
MAP = ["--map", "user_id=uid", "--map", "item_id=iid", "--map", "rating=stars", "--map", "ts=when"]


def _table(tmp_path, log_text: str | None = GOOD_LOG, *extra, name: str = "log.csv") -> list:
    log = _log(tmp_path, log_text, name) if log_text is not None else tmp_path / name
    return ["data", "import", "table", "--interactions", log, "--out", tmp_path / "out", *extra]


TABLE_CASES = {
    "unknown-map-target": (
        (GOOD_LOG, *MAP, "--map", "stars=stars"),
        ["--map stars=stars", "unknown target 'stars'", "valid targets", "'rating'"],
    ),
    "map-without-equals": ((GOOD_LOG, "--map", "user_id"), ["--map", "TARGET=SOURCE", "'user_id'"]),
    "map-twice": ((GOOD_LOG, *MAP, "--map", "ts=stars"), ["--map", "'ts' twice"]),
    "items-map-not-an-item-column": (
        (GOOD_LOG, *MAP, "--items-map", "ts=when"),
        ["--items-map ts=when", "unknown target 'ts'"],
    ),
    "missing-file": ((None, *MAP), ["log.csv", "no such file"]),
    "zero-bytes": (("", *MAP), ["log.csv", "empty file (0 bytes)"]),
    "header-only": (("uid,iid,stars,when\n", *MAP), ["log.csv", "no data rows"]),
    "blank-lines-only": (("\n\n  \n", *MAP), ["log.csv", "only blank lines"]),
    "mapped-column-missing": (
        (GOOD_LOG, *MAP[:6], "--map", "ts=time"),
        ["log.csv", "ts=time", "'time'", "not in the file"],
    ),
    "ts-unparsable": (
        (GOOD_LOG.replace("2000", "yesterday"), *MAP),
        ["log.csv", "'ts'", "row 1", "'yesterday'", "seconds since the epoch"],
    ),
    "ts-milliseconds": (
        (GOOD_LOG.replace(",1000", ",1537437600000"), *MAP),
        ["log.csv", "'ts'", "row 0", "milliseconds", "divide by 1000"],
    ),
    "ts-negative": ((GOOD_LOG.replace(",3000", ",-3000"), *MAP), ["log.csv", "'ts'", "row 2", "negative"]),
    "ts-empty": ((GOOD_LOG.replace(",2000", ","), *MAP), ["log.csv", "'ts'", "row 1", "empty"]),
    "rating-not-a-number": (
        (GOOD_LOG.replace(",5,", ",five,"), *MAP),
        ["log.csv", "'rating'", "row 0", "'five'", "a number"],
    ),
    "rating-nan-text": ((GOOD_LOG.replace(",3,", ",nan,"), *MAP), ["log.csv", "'rating'", "row 1", "'nan'"]),
    "click-three": (
        ("uid,iid,click,when\n1,10,1,1000\n2,11,3,2000\n", *MAP[:4], "--map", "ts=when"),
        ["log.csv", "'click'", "row 1", "not 0 or 1"],
    ),
    "user-id-empty": ((GOOD_LOG.replace("\n2,", "\n,"), *MAP), ["log.csv", "'user_id'", "row 1", "empty"]),
    "unsupported-suffix": ((GOOD_LOG, *MAP), ["log.xlsx", "unsupported file type '.xlsx'"]),
    "ragged-whitespace": (
        ("1 10 5 1000\n2 11 3\n", "--map", "user_id=1"),
        ["log.txt", "line 2 has 3 field(s)", "4"],
    ),
    "row-too-long": ((GOOD_LOG + "4,12,5,4000,extra\n", *MAP), ["log.csv", "more fields"]),
    "positive-malformed": (
        (GOOD_LOG, *MAP, "--positive", "rating>4"),
        ["--positive", "COLUMN>=VALUE", "rating>4"],
    ),
    "positive-not-a-number": (
        (GOOD_LOG, *MAP, "--positive", "rating>=high"),
        ["--positive rating>=high", "'high'", "number"],
    ),
    "positive-not-a-label": (
        (GOOD_LOG, *MAP, "--positive", "stars>=4"),
        ["log.csv", "positive rule names 'stars'", "['rating']"],
    ),
    "event-weight-not-a-number": (
        (GOOD_LOG, *MAP, "--event-weight", "buy=lots"),
        ["--event-weight buy=lots", "number"],
    ),
    "implicit-unknown-label": (
        (GOOD_LOG, *MAP[:4], "--map", "ts=when", "--implicit", "bought"),
        ["implicit label 'bought'"],
    ),
    "context-kind-unknown": (
        (GOOD_LOG, *MAP, "--context", "stars:ordinal"),
        ["context column kinds", "ordinal"],
    ),
    "context-column-missing": (
        (GOOD_LOG, *MAP, "--context", "price"),
        ["log.csv", "context column", "'price'"],
    ),
}


@pytest.mark.parametrize("args, culprits", TABLE_CASES.values(), ids=TABLE_CASES.keys())
def test_table_import_refuses(tmp_path, capsys, request, args, culprits):
    log_text, *extra = args
    case = request.node.callspec.id
    name = {"unsupported-suffix": "log.xlsx", "ragged-whitespace": "log.txt"}.get(case, "log.csv")
    refused(capsys, _table(tmp_path, log_text, *extra, name=name), *culprits)
    _assert_nothing_left(tmp_path / "out")


def _assert_nothing_left(out: Path) -> None:
    """No dataset folder at `out`, no temporary folder beside it."""
    assert not out.exists()
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def test_table_import_refuses_bad_items_file(tmp_path, capsys):
    (tmp_path / "items.csv").write_text("article,name\n10,a\n11,b\n")
    argv = _table(tmp_path, GOOD_LOG, *MAP, "--items", tmp_path / "items.csv")
    refused(capsys, argv, "items.csv", "item_id=iid", "'iid'", "--items-map")
    _assert_nothing_left(tmp_path / "out")


def test_table_import_refuses_log_items_missing_from_the_catalog(tmp_path, capsys):
    (tmp_path / "items.csv").write_text("iid,name\n10,a\n")
    argv = _table(tmp_path, GOOD_LOG, *MAP, "--items", tmp_path / "items.csv")
    refused(capsys, argv, "log.csv", "'item_id'", "row 1", "11", "items.csv")
    _assert_nothing_left(tmp_path / "out")


def test_table_import_refuses_an_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "out").write_text("precious")
    refused(capsys, _table(tmp_path, GOOD_LOG, *MAP), "out", "not a folder")
    assert (tmp_path / "out").read_text() == "precious"


def test_table_import_refuses_an_out_holding_other_files(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("precious")
    refused(capsys, _table(tmp_path, GOOD_LOG, *MAP), "out", "thesis.tex", "choose another --out")
    assert (tmp_path / "out" / "thesis.tex").read_text() == "precious"


def test_a_failed_reimport_keeps_the_older_dataset(tmp_path, capsys):
    assert main([str(a) for a in _table(tmp_path, GOOD_LOG, *MAP)]) == 0
    before = (tmp_path / "out" / "interactions.parquet").read_bytes()
    refused(capsys, _table(tmp_path, GOOD_LOG.replace("2000", "later"), *MAP), "'later'")
    assert (tmp_path / "out" / "interactions.parquet").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_a_failed_validation_after_writing_leaves_nothing(tmp_path, monkeypatch):
    """The last step (validation of the written folder) failing still removes everything."""
    from recplug.data.errors import ValidationFailed
    from recplug.data.importers import table

    def fail(folder):
        raise ValidationFailed(str(folder), [DatasetError("items.parquet: broken on purpose")])

    monkeypatch.setattr(table, "validate_dataset", fail)
    with pytest.raises(ValidationFailed, match=r"out failed validation: items.parquet: broken on purpose"):
        table.import_table(
            _log(tmp_path, GOOD_LOG),
            tmp_path / "sub" / "out",
            mapping=dict(kv.split("=") for kv in MAP[1::2]),
        )
    assert not (tmp_path / "sub").exists()


# --- the MovieLens importer -----------------------------------------------------------------------------

RATINGS = "userId,movieId,rating,timestamp\n1,10,4.0,964982703\n2,20,3.5,964982224\n"
MOVIES = 'movieId,title,genres\n10,"Heat (1995)",Action\n20,"Up (2009)",Animation\n'


def _ml(tmp_path, ratings: str | None = RATINGS, movies: str = MOVIES) -> Path:
    src = tmp_path / "ml"
    src.mkdir()
    if ratings is not None:
        (src / "ratings.csv").write_text(ratings)
    (src / "movies.csv").write_text(movies)
    return src


def _ml_1m(tmp_path, ratings: str) -> Path:
    src = tmp_path / "ml1m"
    src.mkdir()
    (src / "ratings.dat").write_text(ratings)
    (src / "movies.dat").write_text("10::Heat (1995)::Action\n")
    return src


def _ml_100k(
    tmp_path, data: str, item: str = "10|Heat (1995)|01-Jan-1995||http://x|" + "|".join("0" * 19)
) -> Path:
    src = tmp_path / "ml100k"
    src.mkdir()
    (src / "u.data").write_text(data)
    (src / "u.item").write_text(item + "\n")
    return src


ML_CASES = {
    "no-such-folder": (lambda t: t / "nowhere", [], ["nowhere", "no such folder"]),
    "not-movielens": (lambda t: t, [], ["not a MovieLens folder"]),
    "ratings-zero-bytes": (lambda t: _ml(t, ""), [], ["ratings.csv", "empty file (0 bytes)"]),
    "ratings-header-only": (
        lambda t: _ml(t, "userId,movieId,rating,timestamp\n"),
        [],
        ["ratings.csv", "no data rows"],
    ),
    "rating-unparsable": (
        lambda t: _ml(t, RATINGS.replace("3.5", "three")),
        [],
        ["ratings.csv", "'rating'", "row 1", "'three'"],
    ),
    "timestamp-unparsable": (
        lambda t: _ml(t, RATINGS.replace("964982224", "noon")),
        [],
        ["ratings.csv", "'timestamp'", "row 1", "'noon'"],
    ),
    "timestamp-milliseconds": (
        lambda t: _ml(t, RATINGS.replace("964982703", "964982703000")),
        [],
        ["ratings.csv", "'timestamp'", "row 0", "milliseconds"],
    ),
    "user-id-not-integer": (
        lambda t: _ml(t, RATINGS.replace("\n2,", "\nu2,")),
        [],
        ["ratings.csv", "'userId'", "row 1", "'u2'"],
    ),
    "rating-column-missing": (
        lambda t: _ml(t, "userId,movieId,timestamp\n1,10,964982703\n"),
        [],
        ["ratings.csv", "'rating'"],
    ),
    "movie-id-not-integer": (
        lambda t: _ml(t, movies=MOVIES.replace("20,", "twenty,")),
        [],
        ["movies.csv", "'movieId'", "'twenty'"],
    ),
    "1m-short-line": (
        lambda t: _ml_1m(t, "1::10::5::978300760\n1::10::5\n"),
        [],
        ["ratings.dat", "line 2 has 3 field(s)"],
    ),
    "100k-bad-rating": (
        lambda t: _ml_100k(t, "1\t10\tx\t881250949\n"),
        [],
        ["u.data", "'rating'", "row 0", "'x'"],
    ),
    "100k-item-fields": (
        lambda t: _ml_100k(t, "1\t10\t5\t881250949\n", "10|Heat (1995)|01-Jan-1995"),
        [],
        ["u.item", "3 field(s)", "expected 24"],
    ),
    "positive-min-nan": (lambda t: _ml(t), ["--positive-min", "nan"], ["--positive-min", "finite", "'nan'"]),
}


@pytest.mark.parametrize("make, extra, culprits", ML_CASES.values(), ids=ML_CASES.keys())
def test_movielens_import_refuses(tmp_path, capsys, make, extra, culprits):
    src = make(tmp_path)
    out = tmp_path / "out"
    refused(capsys, ["data", "import", "movielens", src, "--out", out, *extra], *culprits)
    _assert_nothing_left(out)
