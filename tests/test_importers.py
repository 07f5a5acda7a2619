"""MovieLens and generic table imports produce valid folders and lose no rating."""

from __future__ import annotations

import json
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


# --- separators, headers, RecBole, ISO times, per-file maps -------------------------------------------

EXPECTED = {
    "user_id": [1, 2, 3],
    "item_id": [10, 11, 10],
    "ts": [1000, 2000, 3000],
    "rating": [5.0, 3.0, 4.0],
}
NAMED = ["--map", "user_id=uid", "--map", "item_id=iid", "--map", "rating=r", "--map", "ts=t"]
POSITIONAL = ["--map", "user_id=1", "--map", "item_id=2", "--map", "rating=3", "--map", "ts=4"]
SHAPES = {
    "tab-no-header (ml-100k u.data)": (
        "u.data",
        "1\t10\t5\t1000\n2\t11\t3\t2000\n3\t10\t4\t3000\n",
        POSITIONAL,
    ),
    "whitespace-runs": ("log.txt", "uid  iid r    t\n 1 10  5 1000\n2 11 3 2000\n3   10 4 3000\n", NAMED),
    "semicolon": ("log.csv", "uid;iid;r;t\n1;10;5;1000\n2;11;3;2000\n3;10;4;3000\n", NAMED),
    "double-colon (ml-1m)": ("ratings.dat", "1::10::5::1000\n2::11::3::2000\n3::10::4::3000\n", POSITIONAL),
    "recbole-inter": (
        "ml.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t5\t1000.0\n2\t11\t3\t2000.0\n"
        "3\t10\t4\t3000.9\n",
        ["--map", "ts=timestamp"],
    ),
    "explicit-sep-tab": (
        "log.txt",
        "uid\tiid\tr\tt\n1\t10\t5\t1000\n2\t11\t3\t2000\n3\t10\t4\t3000\n",
        [*NAMED, "--sep", "tab"],
    ),
}


@pytest.mark.parametrize("name, text, args", SHAPES.values(), ids=SHAPES.keys())
def test_table_import_reads_many_shapes(tmp_path, name, text, args):
    from experiments.cli import main

    (tmp_path / name).write_text(text)
    assert (
        main(
            [
                "data",
                "import",
                "table",
                "--interactions",
                str(tmp_path / name),
                "--out",
                str(tmp_path / "ds"),
                *args,
            ]
        )
        == 0
    )
    got = load_dataset(tmp_path / "ds").interactions.sort("ts")
    assert got.select(list(EXPECTED)).to_dict(as_series=False) == EXPECTED


def test_header_less_string_ids_need_no_header(tmp_path):
    (tmp_path / "log.csv").write_text("c_a,0266875001,5,1000\nc_b,0266875002,3,2000\n")
    mapping = {"user_id": "1", "item_id": "2", "rating": "3", "ts": "4"}
    ds = load_dataset(import_table(tmp_path / "log.csv", tmp_path / "ds", mapping=mapping, header=False))
    assert ds.interactions.height == 2 and ds.meta.id_maps == ["user_id", "item_id"]


def test_iso_8601_times_with_offsets_are_utc_seconds(tmp_path):
    (tmp_path / "log.csv").write_text(
        "uid,iid,r,t\n1,10,5,2018-09-20T10:00:00Z\n2,11,3,2018-09-20T12:00:00+02:00\n3,10,4,2018-09-20 10:00:01\n4,11,2,2018-09-20T12:00:02.5+0200\n"
    )
    mapping = {"user_id": "uid", "item_id": "iid", "rating": "r", "ts": "t"}
    ts = load_dataset(import_table(tmp_path / "log.csv", tmp_path / "ds", mapping=mapping)).interactions["ts"]
    assert sorted(ts.to_list()) == [1537437600, 1537437600, 1537437601, 1537437602]


def test_items_file_has_its_own_map(tmp_path):
    (tmp_path / "log.csv").write_text("uid,article,r,t\n1,a1,5,1000\n2,a2,3,2000\n")
    (tmp_path / "items.tsv").write_text("id\tname\na1\tTee\na2\tTop\na3\tSock\n")
    out = import_table(
        tmp_path / "log.csv",
        tmp_path / "ds",
        items=tmp_path / "items.tsv",
        mapping={"user_id": "uid", "item_id": "article", "rating": "r", "ts": "t"},
        items_mapping={"item_id": "id", "title": "name"},
    )
    ds = load_dataset(out)
    assert ds.items.sort("item_id")["title"].to_list() == ["Tee", "Top", "Sock"]
    assert ds.interactions["item_id"].is_in(ds.items["item_id"].implode()).all()


def test_long_text_is_truncated_at_import_and_counted_by_validate_and_describe(tmp_path, capsys, monkeypatch):
    from experiments.cli import main
    from recplug.data.importers import table
    from recplug.data.limits import clip_text

    monkeypatch.setattr(table, "clip_text", lambda frame: clip_text(frame, 8))
    (tmp_path / "log.csv").write_text("user_id,item_id,rating,ts\n1,10,5,1000\n2,11,3,2000\n")
    (tmp_path / "items.csv").write_text("item_id,title\n10,short\n11,a much longer title\n")
    out = import_table(tmp_path / "log.csv", tmp_path / "ds", items=tmp_path / "items.csv")
    assert load_dataset(out).items.sort("item_id")["title"].to_list() == ["short", "a much l"]
    # a folder written elsewhere: validate and describe count what a reader will cut
    meta = json.loads((out / "dataset.json").read_text())
    (out / "dataset.json").write_text(json.dumps({**meta, "limits": {"text_chars": 6}}))
    assert main(["data", "validate", str(out)]) == 0
    assert "1 'title' value(s) are over 6 characters" in capsys.readouterr().out
    assert main(["data", "describe", str(out), "--out", str(tmp_path / "d")]) == 0
    assert json.loads((tmp_path / "d" / "describe.json").read_text())["text_over_limit"] == {"title": 1}


def test_reimport_replaces_an_older_dataset_whole(tmp_path):
    (tmp_path / "log.csv").write_text("user_id,item_id,rating,ts\n1,10,5,1000\n2,11,3,2000\n")
    first = import_table(tmp_path / "log.csv", tmp_path / "ds")
    (first / "queries.parquet").write_bytes(b"stale")  # an entry the new import does not write
    (tmp_path / "log.csv").write_text("user_id,item_id,rating,ts\n1,10,5,1000\n")
    again = load_dataset(import_table(tmp_path / "log.csv", tmp_path / "ds"))
    assert again.interactions.height == 1 and again.queries is None
    assert oct((tmp_path / "ds").stat().st_mode & 0o777) == "0o755"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_media_symlinked_inside_the_folder_is_read(tmp_path):
    from recplug.data.media import read_media

    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.png").write_bytes(b"png bytes")
    (tmp_path / "alias.png").symlink_to(tmp_path / "media" / "a.png")
    assert read_media("alias.png", tmp_path) == read_media("media/a.png", tmp_path) == b"png bytes"
