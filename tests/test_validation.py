"""Every validation error names its file, column and row (or key), one test each."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from recplug.data import DatasetError, ValidationFailed, load_dataset, validate_dataset
from recplug.data.io import write_parquet


@pytest.fixture
def folder(tmp_path, tiny_dir):
    """A fresh, valid copy of the tiny world to break."""
    dst = tmp_path / "ds"
    shutil.copytree(tiny_dir, dst)
    return dst


def _rewrite(folder, file, fn):
    write_parquet(fn(pl.read_parquet(folder / file)), folder / file)


def _problems(folder) -> str:
    with pytest.raises(ValidationFailed) as e:
        validate_dataset(folder)
    return str(e.value)


def test_valid_world_passes(tiny_dir):
    assert validate_dataset(tiny_dir).name == "world-tiny"


def test_missing_required_column(folder):
    _rewrite(folder, "interactions.parquet", lambda f: f.drop("user_id"))
    msg = _problems(folder)
    assert "interactions.parquet" in msg and "missing required column 'user_id'" in msg


def test_wrong_dtype(folder):
    _rewrite(folder, "interactions.parquet", lambda f: f.with_columns(pl.col("ts").cast(pl.String)))
    msg = _problems(folder)
    assert "interactions.parquet: column 'ts' has dtype String, expected int64" in msg


def test_null_item_id_names_the_row(folder):
    _rewrite(
        folder,
        "items.parquet",
        lambda f: f.with_columns(
            pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("item_id")).alias("item_id")
        ),
    )
    msg = _problems(folder)
    assert "items.parquet: column 'item_id' is null at row 5" in msg


def test_duplicate_item_id_names_rows_and_value(folder):
    _rewrite(
        folder,
        "items.parquet",
        lambda f: f.with_columns(
            pl.when(pl.int_range(pl.len()) == 9).then(1).otherwise(pl.col("item_id")).alias("item_id")
        ),
    )
    msg = _problems(folder)
    assert "items.parquet: column 'item_id' has duplicates at row 0 (item_id=1), row 9 (item_id=1)" in msg


def test_interactions_naming_unknown_items(folder):
    _rewrite(
        folder,
        "interactions.parquet",
        lambda f: f.with_columns(
            pl.when(pl.int_range(pl.len()) == 3).then(999_999).otherwise(pl.col("item_id")).alias("item_id")
        ),
    )
    msg = _problems(folder)
    assert (
        "interactions.parquet: column 'item_id' names 1 row(s) of items not in items.parquet: row 3 (item_id=999999)"
        in msg
    )


def test_no_label_column(folder):
    _rewrite(folder, "interactions.parquet", lambda f: f.drop("click", "finish", "like"))
    msg = _problems(folder)
    assert "interactions.parquet: no label column" in msg


def test_empty_table(folder):
    _rewrite(folder, "interactions.parquet", lambda f: f.head(0))
    assert "interactions.parquet: table is empty (0 rows)" in _problems(folder)


def test_malformed_json_names_line_and_column(folder):
    (folder / "dataset.json").write_text('{"name": "x",\n  "modalities": [}')
    msg = _problems(folder)
    assert "dataset.json: malformed JSON at line 2" in msg


def test_dataset_json_bad_key_is_named(folder):
    meta = json.loads((folder / "dataset.json").read_text())
    meta["positive_rule"]["column"] = "watch_time"
    del meta["splits"]["train_end"]
    (folder / "dataset.json").write_text(json.dumps(meta))
    msg = _problems(folder)
    assert "key 'splits.train_end': Field required" in msg
    with pytest.raises(DatasetError, match="key 'splits.train_end'"):
        load_dataset(folder)


def test_positive_rule_must_name_a_label(folder):
    meta = json.loads((folder / "dataset.json").read_text())
    meta["positive_rule"]["column"] = "rating"
    (folder / "dataset.json").write_text(json.dumps(meta))
    assert "positive_rule.column 'rating' is not one of label_columns" in _problems(folder)


def test_undecodable_media_names_the_item(folder):
    _rewrite(
        folder,
        "items.parquet",
        lambda f: f.with_columns(
            pl.when(pl.col("item_id") == 42)
            .then(pl.lit(b"not a png"))
            .otherwise(pl.col("image"))
            .alias("image"),
            pl.when(pl.col("item_id") == 17)
            .then(pl.lit(b"RIFF????"))
            .otherwise(pl.col("audio"))
            .alias("audio"),
        ),
    )
    msg = _problems(folder)
    assert "items.parquet: column 'image' does not decode for item_id=42" in msg
    assert "items.parquet: column 'audio' does not decode for item_id=17" in msg


def test_missing_file(folder):
    (folder / "items.parquet").unlink()
    assert "items.parquet: missing" in _problems(folder)


def test_all_problems_are_reported_together(folder):
    _rewrite(folder, "items.parquet", lambda f: f.with_columns(pl.col("item_id").cast(pl.String)))
    _rewrite(folder, "interactions.parquet", lambda f: f.drop("ts"))
    with pytest.raises(ValidationFailed) as e:
        validate_dataset(folder)
    assert len(e.value.problems) >= 2
    assert {p.file for p in e.value.problems} >= {"items.parquet", "interactions.parquet"}


def test_media_given_as_paths_decode(folder, tiny_ds):
    media = folder / "media"
    media.mkdir()
    first = tiny_ds.items.head(3)
    for row in first.iter_rows(named=True):
        (media / f"{row['item_id']}.png").write_bytes(row["image"])
    _rewrite(
        folder,
        "items.parquet",
        lambda f: f.head(3).with_columns(
            (pl.lit("media/") + pl.col("item_id").cast(pl.String) + ".png").alias("image")
        ),
    )
    _rewrite(folder, "interactions.parquet", lambda f: f.filter(pl.col("item_id") <= 3))
    _rewrite(folder, "queries.parquet", lambda f: f.filter(pl.col("item_id") <= 3))
    validate_dataset(folder)
    (media / "2.png").write_bytes(b"broken")
    assert "column 'image' does not decode for item_id=2" in _problems(folder)


def test_loaded_frames_have_contract_dtypes(tiny_ds):
    assert tiny_ds.items.schema["item_id"] == pl.Int64
    assert tiny_ds.interactions.schema["ts"] == pl.Int64
    assert tiny_ds.interactions.schema["click"] == pl.Float32
    assert tiny_ds.items.schema["image"] == pl.Binary
