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
MovieLens is text only: no image or audio.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from recplug.data.errors import DatasetError
from recplug.data.io import write_dataset
from recplug.data.meta import DatasetMeta, PositiveRule
from recplug.data.split import quantile_splits
from recplug.data.validate import validate_dataset

ML100K_GENRES = (
    "unknown Action Adventure Animation Children Comedy Crime Documentary Drama Fantasy Film-Noir Horror "
    "Musical Mystery Romance Sci-Fi Thriller War Western"
).split()


def _lines(path: Path, sep: str, names: list[str]) -> pl.DataFrame:
    """Read a latin-1 file whose fields are split by a multi-character separator (ml-1m's '::')."""
    text = path.read_bytes().decode("latin-1")
    frame = pl.DataFrame({"line": text.splitlines()}).filter(pl.col("line").str.len_chars() > 0)
    return frame.select(pl.col("line").str.splitn(sep, len(names)).struct.rename_fields(names)).unnest("line")


def _read_latest(src: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    ratings = pl.read_csv(src / "ratings.csv", schema_overrides={"rating": pl.Float32})
    movies = pl.read_csv(src / "movies.csv")
    tags = (
        pl.read_csv(src / "tags.csv", schema_overrides={"tag": pl.String})
        if (src / "tags.csv").is_file()
        else None
    )
    ratings = ratings.select(
        pl.col("userId").cast(pl.Int64).alias("user_id"),
        pl.col("movieId").cast(pl.Int64).alias("item_id"),
        pl.col("timestamp").cast(pl.Int64).alias("ts"),
        pl.col("rating").cast(pl.Float32),
    )
    movies = movies.select(
        pl.col("movieId").cast(pl.Int64).alias("item_id"),
        "title",
        pl.col("genres").str.split("|").alias("genres"),
    )
    if tags is not None:
        tags = tags.select(pl.col("movieId").cast(pl.Int64).alias("item_id"), pl.col("tag").cast(pl.String))
    return ratings, movies, tags


def _read_1m(src: Path) -> tuple[pl.DataFrame, pl.DataFrame, None]:
    ratings = _lines(src / "ratings.dat", "::", ["user_id", "item_id", "rating", "ts"]).select(
        pl.col("user_id").cast(pl.Int64),
        pl.col("item_id").cast(pl.Int64),
        pl.col("ts").cast(pl.Int64),
        pl.col("rating").cast(pl.Float32),
    )
    movies = _lines(src / "movies.dat", "::", ["item_id", "title", "genres"]).select(
        pl.col("item_id").cast(pl.Int64), "title", pl.col("genres").str.split("|")
    )
    return ratings, movies, None


def _read_100k(src: Path) -> tuple[pl.DataFrame, pl.DataFrame, None]:
    ratings = pl.read_csv(
        src / "u.data", separator="\t", has_header=False, new_columns=["user_id", "item_id", "rating", "ts"]
    ).select(
        pl.col("user_id").cast(pl.Int64),
        pl.col("item_id").cast(pl.Int64),
        pl.col("ts").cast(pl.Int64),
        pl.col("rating").cast(pl.Float32),
    )
    text = (src / "u.item").read_bytes().decode("latin-1")
    raw = pl.read_csv(
        io.StringIO(text),
        separator="|",
        has_header=False,
        quote_char=None,
        new_columns=["item_id", "title", "release", "video", "url", *ML100K_GENRES],
    )
    genres = pl.concat_list(
        [pl.when(pl.col(g) == 1).then(pl.lit(g)) for g in ML100K_GENRES]
    ).list.drop_nulls()
    movies = raw.select(pl.col("item_id").cast(pl.Int64), "title", genres.alias("genres"))
    return ratings, movies, None


LAYOUTS = {
    "latest": (("ratings.csv", "movies.csv"), _read_latest),
    "1m": (("ratings.dat", "movies.dat"), _read_1m),
    "100k": (("u.data", "u.item"), _read_100k),
}


def detect_layout(src: Path) -> str:
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
    label, rule = "rating", PositiveRule(column="rating", min=positive_min)
    if implicit:
        ratings = ratings.drop("rating").with_columns(pl.lit(1.0, dtype=pl.Float32).alias("play"))
        label, rule = "play", PositiveRule(column="play", min=1)
    meta = DatasetMeta(
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
    return Path(out)
