"""`World`: generate a dataset folder from (preset, seed), or rebuild a world from a folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from recplug.data.io import PARQUET_OPTIONS, atomic_write, write_parquet
from recplug.data.meta import DatasetMeta, PositiveRule, Splits, read_meta
from recplug.data.schema import INTERACTIONS_FILE, ITEMS_FILE, META_FILE, QUERIES_FILE
from recplug.data.world.config import DAY, START_TS, WorldConfig, preset
from recplug.data.world.latents import Latents
from recplug.data.world.logs import INTERACTION_SCHEMA, simulate_logs
from recplug.data.world.queries import make_queries
from recplug.data.world.render import render_media, render_text
from recplug.data.world.truth import GroundTruth
from recplug.data.world.vocab import ATTRIBUTES

MEDIA_BATCH = 512


class World:
    def __init__(self, config: WorldConfig, seed: int = 0, preset_name: str | None = None):
        self.config, self.seed, self.preset_name = config, seed, preset_name
        self._latents: Latents | None = None

    @classmethod
    def from_preset(cls, name: str, seed: int = 0, **overrides) -> World:
        return cls(preset(name, **overrides), seed, name)

    @classmethod
    def from_dataset(cls, directory: str | Path) -> World:
        """Rebuild the world that generated a dataset folder (from its dataset.json)."""
        meta = read_meta(Path(directory))
        if meta.generator is None or meta.seed is None:
            raise ValueError(
                f"{Path(directory) / META_FILE}: not a generated world (no 'generator' / 'seed' key)"
            )
        return cls(WorldConfig.model_validate(meta.generator), meta.seed, meta.preset)

    @property
    def latents(self) -> Latents:
        if self._latents is None:
            self._latents = Latents(self.config, self.seed)
        return self._latents

    def ground_truth(self) -> GroundTruth:
        return GroundTruth(self.latents)

    def meta(self) -> DatasetMeta:
        cfg = self.config
        day_ts = lambda d: START_TS + int(round(d)) * DAY  # noqa: E731
        train_end = day_ts(cfg.n_days * cfg.train_frac)
        valid_end = day_ts(cfg.n_days * (cfg.train_frac + cfg.valid_frac))
        return DatasetMeta(
            name=f"world-{self.preset_name or 'custom'}",
            modalities=["text", "image", "audio"],
            text_fields=["title", "description", "tags"],
            label_columns=["click", "finish", "like"],
            positive_rule=PositiveRule(column="click", min=1),
            splits=Splits(start=START_TS, train_end=train_end, valid_end=valid_end, end=day_ts(cfg.n_days)),
            seed=self.seed,
            preset=self.preset_name,
            media=cfg.media,
            generator=json.loads(cfg.model_dump_json()),
            source="recplug synthetic world",
        )

    def render_media(self, item_ids: np.ndarray) -> pl.DataFrame:
        """(item_id, image, audio) for any items, the same bytes whatever the batch: the large preset
        stores no media and readers call this on demand."""
        idx = np.asarray(item_ids, dtype=np.int64) - 1
        items = self.latents.items
        media = render_media(items.attrs[idx], items.media_seed[idx], self.config)
        return media.insert_column(0, pl.Series("item_id", idx + 1))

    def items_frame(self, progress: bool = True) -> pl.DataFrame:
        items, cfg = self.latents.items, self.config
        attrs = items.attrs
        topic, shape = (attrs[:, [a.name for a in ATTRIBUTES].index(n)] for n in ("topic", "shape"))
        frame = pl.DataFrame(
            {
                "item_id": np.arange(1, cfg.n_items + 1, dtype=np.int64),
                "category": np.char.add(
                    np.char.add(np.array(ATTRIBUTES[6].values)[topic], "/"),
                    np.array(ATTRIBUTES[0].values)[shape],
                ),
                "created_ts": START_TS + items.created_day * DAY - (items.created_day == 0) * DAY,
            }
        ).hstack(render_text(attrs, self.seed))
        if cfg.media == "inline":
            batches = range(0, cfg.n_items, MEDIA_BATCH)
            media = pl.concat(
                [
                    self.render_media(np.arange(lo, min(lo + MEDIA_BATCH, cfg.n_items)) + 1).drop("item_id")
                    for lo in tqdm(batches, desc="render media", unit="batch", disable=not progress)
                ]
            )
            frame = frame.hstack(media)
        return frame

    def generate(self, out: str | Path, progress: bool = True) -> Path:
        """Write items, interactions (streamed day by day), queries and dataset.json to `out`."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / META_FILE).unlink(missing_ok=True)  # a folder without dataset.json is incomplete
        write_parquet(self.items_frame(progress), out / ITEMS_FILE)

        def write_logs(tmp: str) -> None:
            bar = tqdm(total=self.config.n_days, desc="simulate days", unit="day", disable=not progress)
            n = 0
            with pq.ParquetWriter(
                tmp,
                INTERACTION_SCHEMA,
                compression=PARQUET_OPTIONS["compression"],
                compression_level=PARQUET_OPTIONS["compression_level"],
            ) as writer:
                for table in simulate_logs(self.latents):
                    writer.write_table(table, row_group_size=1_000_000)
                    n += table.num_rows
                    bar.update(1)
                    bar.set_postfix(impressions=f"{n:,}")
            bar.close()

        atomic_write(out / INTERACTIONS_FILE, write_logs)
        write_parquet(make_queries(self.latents), out / QUERIES_FILE)
        self.meta().write(out)
        return out


def ground_truth_of(directory: str | Path) -> GroundTruth | None:
    """The ground truth when `directory` holds a generated world, else None (real data has none)."""
    try:
        return World.from_dataset(directory).ground_truth()
    except ValueError:
        return None
