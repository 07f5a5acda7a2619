"""MovieLens and generic table imports produce valid folders and lose no rating."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from recplug.data import DatasetError, load_dataset, time_split, validate_dataset
from recplug.data.importers import import_movielens, import_table

ML_SMALL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-latest-small"


@pytest.fixture(scope="module")
def ml_dir(tmp_path_factory):
    if not ML_SMALL.is_dir():
        pytest.skip(f"shared MovieLens data not found at {ML_SMALL}")
    return import_movielens(ML_SMALL, tmp_path_factory.mktemp("ml") / "ml")


def test_movielens_keeps_every_rating_and_validates(ml_dir):
    validate_dataset(ml_dir)
    ds = load_dataset(ml_dir)
    assert ds.interactions.height == 100_836
    assert ds.items.height == 9_742
    assert ds.interactions["user_id"].n_unique() == 610
    assert ds.meta.positive_rule.describe() == "rating >= 4"
    assert ds.meta.modalities == ["text"]
    raw = pl.read_csv(ML_SMALL / "ratings.csv")
    assert ds.interactions["rating"].sum() == pytest.approx(raw["rating"].sum())


def test_movielens_text_fields(ml_dir):
    items = load_dataset(ml_dir).items
    toy = items.filter(pl.col("item_id") == 1).row(0, named=True)
    assert toy["title"] == "Toy Story (1995)"
    assert toy["description"].startswith("Adventure, Animation")
    assert toy["category"] == "Adventure"
    assert "pixar" in toy["tags"]


def test_movielens_split_is_by_time_with_cold_items(ml_dir):
    split = time_split(load_dataset(ml_dir))
    assert split.train["ts"].max() < split.test["ts"].min()
    assert 0.6 < split.train.height / 100_836 < 0.8
    assert len(split.cold_items) > 0


def _write_ml1m(folder: Path) -> None:
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n")
    (folder / "movies.dat").write_bytes(
        "10::Amélie: Le Film (2001)::Comedy|Romance\n20::Heat (1995)::Action\n".encode("latin-1")
    )


def _write_ml100k(folder: Path) -> None:
    folder.mkdir()
    (folder / "u.data").write_text("1\t10\t5\t881250949\n2\t20\t2\t881250950\n")
    flags = ["0"] * 19
    f10, f20 = flags.copy(), flags.copy()
    f10[5], f20[1] = "1", "1"
    (folder / "u.item").write_bytes(
        (
            "10|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join(f10) + "\n"
            "20|GoldenEye (1995)|01-Jan-1995||http://y|" + "|".join(f20) + "\n"
        ).encode("latin-1")
    )


@pytest.mark.parametrize("layout,writer", [("1m", _write_ml1m), ("100k", _write_ml100k)])
def test_movielens_other_layouts(tmp_path, layout, writer):
    src = tmp_path / f"ml-{layout}"
    writer(src)
    ds = load_dataset(import_movielens(src, tmp_path / "out"))
    assert ds.items.height == 2
    assert ds.interactions.height in (2, 3)
    titles = ds.items.sort("item_id")["title"].to_list()
    assert titles[0] in ("Amélie: Le Film (2001)", "Toy Story (1995)")
    assert ds.items.sort("item_id")["category"].to_list()[1] == "Action"


def test_movielens_unknown_layout_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="not a MovieLens folder"):
        import_movielens(tmp_path, tmp_path / "out")


def test_generic_table_import_with_mapping(tmp_path):
    pl.DataFrame(
        {
            "uid": [1, 1, 2, 3],
            "iid": [10, 11, 10, 12],
            "when": [100, 200, 300, 400],
            "stars": [5.0, 2.0, 4.0, 1.0],
        }
    ).write_csv(tmp_path / "log.csv")
    pl.DataFrame({"iid": [10, 11, 12], "name": ["a", "b", "c"]}).write_parquet(tmp_path / "items.parquet")
    out = import_table(
        tmp_path / "log.csv",
        tmp_path / "ds",
        items=tmp_path / "items.parquet",
        mapping={"user_id": "uid", "item_id": "iid", "ts": "when", "rating": "stars", "title": "name"},
    )
    ds = load_dataset(out)
    assert ds.interactions.columns == ["user_id", "item_id", "ts", "rating"]
    assert ds.items["title"].to_list() == ["a", "b", "c"]
    assert ds.meta.text_fields == ["title"]


def test_generic_import_errors_name_the_column(tmp_path):
    pl.DataFrame({"uid": [1], "iid": [10], "ts": [1], "stars": [5.0]}).write_csv(tmp_path / "log.csv")
    with pytest.raises(
        DatasetError, match="mapping rating=score names column 'score', which is not in the file"
    ):
        import_table(
            tmp_path / "log.csv",
            tmp_path / "ds",
            mapping={"user_id": "uid", "item_id": "iid", "rating": "score"},
        )
    with pytest.raises(DatasetError, match="no label column after mapping"):
        import_table(tmp_path / "log.csv", tmp_path / "ds", mapping={"user_id": "uid", "item_id": "iid"})
