"""MovieLens to a recplug dataset: ml-latest-small / ml-20m / ml-25m / ml-32m (CSV), ml-1m (`::`), ml-100k.

Rules (documented in the README):
- every rating is kept as an interaction; `rating` is the label; positive engagement is `rating >= 4`
  (changeable with `positive_min`);
- items are all movies of the catalog, rated or not; `title` is the title with its year, `description`
  the genres ("Adventure, Animation"), `tags` the users' free-text tags (deduplicated, lower-cased),
  `category` the first listed genre; `created_ts` is the movie's first rating time;
- splits are by time at the 70% / 85% quantiles of rating times;
- `implicit=True`: every rating becomes a `play` event (label 1, the rating dropped): a log with no
  negatives, the shape of most purchase / play / click logs (see experiments/configs/implicit.yaml).
MovieLens is text only: no image or audio. Every value is parsed with an error naming the file, column,
row and value, and the folder is written through `staging` (a failed import leaves nothing behind).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recplug.data.errors import DatasetError
from recplug.data.importers.columns import parse_int, parse_number, parse_time, required
from recplug.data.importers.reading import read_table
from recplug.data.importers.staging import staged
from recplug.data.io import write_dataset
from recplug.data.meta import make_meta
from recplug.data.split import quantile_splits
from recplug.data.validate import validate_dataset
from recplug.data.values import raise_first, required_rules

ML100K_GENRES = (
    "unknown Action Adventure Animation Children Comedy Crime Documentary Drama Fantasy Film-Noir Horror "
    "Musical Mystery Romance Sci-Fi Thriller War Western"
).split()
RATINGS = ("user_id", "item_id", "rating", "ts")


def _named(frame: pl.DataFrame, names: tuple[str, ...] | list[str], file: Path) -> pl.DataFrame:
    """A header-less file's positional columns (1, 2, ...) named; a wrong field count is an error."""
    if frame.width != len(names):
        raise DatasetError(
            f"{file}: {frame.width} field(s) per line, expected {len(names)} ({', '.join(names)})",
            file=str(file),
        )
    return frame.rename(dict(zip(frame.columns, names, strict=True)))


def _ratings(frame: pl.DataFrame, file: Path, source: tuple[str, ...] = RATINGS) -> pl.DataFrame:
    """(user, item, rating, time) source columns -> typed user_id, item_id, ts, rating, every value checked
    (errors name the source column, row and value)."""
    f = str(file)
    required(frame, source, f, "column")
    user, item, rating, ts = source
    raise_first(frame, required_rules(list(source)), f)
    frame = parse_number(parse_int(parse_int(frame, user, f), item, f), rating, f)
    frame = parse_time(frame, ts, f)
    return frame.select(
        pl.col(user).alias("user_id"),
        pl.col(item).alias("item_id"),
        pl.col(ts).alias("ts"),
        pl.col(rating).alias("rating"),
    )


def _movies(frame: pl.DataFrame, file: Path, item: str, genres: pl.Expr) -> pl.DataFrame:
    frame = parse_int(frame, item, str(file))
    return frame.select(pl.col(item).alias("item_id"), pl.col("title"), genres.alias("genres"))


def _read_latest(src: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    ratings = _ratings(
        read_table(src / "ratings.csv", sep=","),
        src / "ratings.csv",
        ("userId", "movieId", "rating", "timestamp"),
    )
    movies_raw = read_table(src / "movies.csv", sep=",")
    required(movies_raw, ("movieId", "title", "genres"), str(src / "movies.csv"), "column")
    movies = _movies(movies_raw, src / "movies.csv", "movieId", pl.col("genres").str.split("|"))
    tags = None
    if (src / "tags.csv").is_file() and (src / "tags.csv").stat().st_size:
        tags = read_table(src / "tags.csv", sep=",", allow_empty=True)
        required(tags, ("movieId", "tag"), str(src / "tags.csv"), "column")
        tags = parse_int(tags, "movieId", str(src / "tags.csv")).select(
            pl.col("movieId").alias("item_id"), pl.col("tag")
        )
    return ratings, movies, tags


def _read_1m(src: Path) -> tuple[pl.DataFrame, pl.DataFrame, None]:
    read = lambda name: read_table(src / name, sep="::", header=False, encoding="latin-1")  # noqa: E731
    ratings = _ratings(_named(read("ratings.dat"), RATINGS, src / "ratings.dat"), src / "ratings.dat")
    movies = _named(read("movies.dat"), ("item_id", "title", "genres"), src / "movies.dat")
    return ratings, _movies(movies, src / "movies.dat", "item_id", pl.col("genres").str.split("|")), None


def _read_100k(src: Path) -> tuple[pl.DataFrame, pl.DataFrame, None]:
    ratings = _ratings(
        _named(read_table(src / "u.data", sep="\t", header=False), RATINGS, src / "u.data"), src / "u.data"
    )
    raw = read_table(src / "u.item", sep="|", header=False, encoding="latin-1", quote=None)
    raw = _named(raw, ["item_id", "title", "release", "video", "url", *ML100K_GENRES], src / "u.item")
    genres = pl.concat_list(
        [pl.when(pl.col(g) == "1").then(pl.lit(g)) for g in ML100K_GENRES]
    ).list.drop_nulls()
    return ratings, _movies(raw, src / "u.item", "item_id", genres), None


LAYOUTS = {
    "latest": (("ratings.csv", "movies.csv"), _read_latest),
    "1m": (("ratings.dat", "movies.dat"), _read_1m),
    "100k": (("u.data", "u.item"), _read_100k),
}


def detect_layout(src: Path) -> str:
    if not src.is_dir():
        raise DatasetError(f"{src}: no such folder (the unpacked MovieLens download)", file=str(src))
    for name, (files, _) in LAYOUTS.items():
        if all((src / f).is_file() for f in files):
            return name
    expected = "; ".join(f"{n}: {', '.join(f)}" for n, (f, _) in LAYOUTS.items())
    raise DatasetError(
        f"{src}: not a MovieLens folder I know (expected files for one of {expected})", file=str(src)
    )


def import_movielens(
    src: str | Path,
    out: str | Path,
    *,
    positive_min: float = 4.0,
    name: str | None = None,
    implicit: bool = False,
) -> Path:
    src = Path(src)
    layout = detect_layout(src)
    with staged(out) as tmp:
        _import(src, layout, tmp, positive_min, name, implicit)
    return Path(out)


def _import(src: Path, layout: str, out: Path, positive_min: float, name: str | None, implicit: bool) -> None:
    ratings, movies, tags = LAYOUTS[layout][1](src)
    first_seen = ratings.group_by("item_id").agg(pl.col("ts").min().alias("created_ts"))
    items = movies.join(first_seen, on="item_id", how="left").with_columns(
        pl.col("genres").list.first().alias("category"),
        pl.col("genres").list.join(", ").alias("description"),
    )
    if tags is not None:
        user_tags = (
            tags.with_columns(pl.col("tag").str.to_lowercase().str.strip_chars())
            .unique(["item_id", "tag"], maintain_order=True)
            .group_by("item_id", maintain_order=True)
            .agg(pl.col("tag").str.join(", ").alias("tags"))
        )
        items = items.join(user_tags, on="item_id", how="left")
    else:
        items = items.with_columns(pl.lit(None, dtype=pl.String).alias("tags"))
    items = items.select("item_id", "title", "description", "tags", "category", "created_ts").sort("item_id")
    label, rule = "rating", {"column": "rating", "min": positive_min}
    if implicit:
        ratings = ratings.drop("rating").with_columns(pl.lit(1.0, dtype=pl.Float32).alias("play"))
        label, rule = "play", {"column": "play", "min": 1}
    meta = make_meta(
        str(src),
        name=name or f"movielens-{src.name}" + ("-implicit" if implicit else ""),
        modalities=["text"],
        text_fields=["title", "description", "tags"],
        label_columns=[label],
        positive_rule=rule,
        splits=quantile_splits(ratings["ts"]),
        media="none",
        source=f"MovieLens ({layout} layout) from {src}; GroupLens licence: see the source's README",
    )
    write_dataset(out, meta, items, ratings.sort("ts", "user_id", "item_id"))
    validate_dataset(out)
