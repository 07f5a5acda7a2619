"""`recplug data describe`: what a dataset holds, as numbers (JSON), a markdown summary and a plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from recplug.data.io import Dataset, atomic_write_text, load_dataset  # noqa: E402
from recplug.data.labels import label_balance  # noqa: E402
from recplug.data.limits import describe_cut, raw_items, text_over_limit  # noqa: E402
from recplug.data.schema import MEDIA_FIELDS, TEXT_FIELDS  # noqa: E402
from recplug.data.split import cold_items, period_expr  # noqa: E402


def describe_dataset(ds: Dataset) -> dict[str, Any]:
    """Counts, modality coverage, label rates, split sizes, cold-item share (of a lazily loaded
    dataset, so large folders work)."""
    meta, items, inter = ds.meta, ds.items, ds.interactions
    item_cols = items.collect_schema().names()
    labels = [c for c in meta.label_columns if c in inter.collect_schema().names()]
    counts = (
        inter.select(
            pl.len().alias("interactions"),
            pl.col("user_id").n_unique().alias("users"),
            pl.col("item_id").n_unique().alias("items_seen"),
            ((pl.col("ts").max() - pl.col("ts").min()) / 86400).alias("days"),
            meta.positive_rule.expr().mean().alias("positive_rate"),
            *(pl.col(c).mean().alias(f"mean_{c}") for c in labels),
        )
        .collect()
        .row(0, named=True)
    )
    n_items = items.select(pl.len()).collect().item()
    present = [f for f in (*TEXT_FIELDS, *MEDIA_FIELDS) if f in item_cols]
    coverage = (
        items.select(
            *(
                (
                    pl.col(f).is_not_null()
                    & (pl.col(f).cast(pl.String).str.len_bytes() > 0 if f in TEXT_FIELDS else pl.lit(True))
                )
                .mean()
                .alias(f)
                for f in present
            )
        )
        .collect()
        .row(0, named=True)
        if present
        else {}
    )
    if meta.media == "on_demand":
        coverage |= {m: "on demand" for m in MEDIA_FIELDS if m in meta.modalities}
    periods = (
        inter.group_by(period_expr(meta.splits).alias("period"))
        .agg(pl.len().alias("interactions"), meta.positive_rule.expr().mean().alias("positive_rate"))
        .sort(pl.col("period").cast(pl.Enum(["train", "valid", "test"])))  # describe.json's key order
        .collect()
    )
    cold = cold_items(ds)
    test = inter.filter(pl.col("ts") >= meta.splits.valid_end)
    n_test = test.select(pl.len()).collect().item()
    cold_impr = test.filter(pl.col("item_id").is_in(cold.implode())).select(pl.len()).collect().item()
    n_queries = ds.queries.select(pl.len()).collect().item() if ds.queries is not None else 0
    balance = label_balance(inter, meta)
    text_limit = meta.size_limits.text_chars
    text_cut = text_over_limit(raw_items(ds.root), text_limit)  # as stored: the loader clips
    shared = (
        (
            inter.group_by("user_id", "ts")
            .agg(pl.len().alias("n"))
            .filter(pl.col("n") > 1)
            .select(pl.col("n").sum())
        )
        .collect()
        .item()
    )
    return {
        "name": meta.name,
        "modalities": meta.modalities,
        "positive_rule": meta.positive_rule.describe(),
        "items": n_items,
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in counts.items()},
        "queries": n_queries,
        "modality_coverage": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in coverage.items()},
        "periods": {
            r["period"]: {"interactions": r["interactions"], "positive_rate": round(r["positive_rate"], 4)}
            for r in periods.to_dicts()
        },
        "cold_items": len(cold),
        "cold_item_share": round(len(cold) / max(n_items, 1), 4),
        "test_interactions_on_cold_items": round(cold_impr / max(n_test, 1), 4),
        "negatives": balance.negatives,
        "time_granularity": meta.time_granularity,
        "basket": meta.basket,
        "rows_sharing_user_ts": round((shared or 0) / max(counts["interactions"], 1), 4),
        "context_columns": meta.context_columns,
        "text_over_limit": text_cut,
        "notes": [n for n in [balance.note(meta), describe_cut(text_cut, text_limit)] if n],
    }


def popularity_plot(ds: Dataset, path: Path) -> Path:
    """Log-log rank plot of item interaction counts (all and positive): the long tail at a glance."""
    per_item = (
        ds.interactions.group_by("item_id")
        .agg(pl.len().alias("all"), ds.meta.positive_rule.expr().sum().alias("positive"))
        .collect()
    )
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for col in ("all", "positive"):
        counts = np.sort(per_item[col].to_numpy())[::-1]
        counts = counts[counts > 0]
        ax.loglog(np.arange(1, len(counts) + 1), counts, label=f"{col} interactions")
    ax.set_xlabel("item rank")
    ax.set_ylabel("interactions per item")
    ax.set_title(f"Item popularity: {ds.meta.name}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def to_markdown(stats: dict[str, Any]) -> str:
    lines = [f"# Dataset `{stats['name']}`", "", "| quantity | value |", "|---|---|"]
    for key in (
        "items",
        "users",
        "interactions",
        "queries",
        "days",
        "positive_rate",
        "negatives",
        "rows_sharing_user_ts",
        "cold_items",
        "cold_item_share",
        "test_interactions_on_cold_items",
    ):
        v = stats[key]
        lines.append(
            f"| {key.replace('_', ' ')} | {v:,.4g} |"
            if isinstance(v, float)
            else f"| {key.replace('_', ' ')} | {v:,} |"
        )
    lines.append(f"| positive rule | `{stats['positive_rule']}` |")
    lines.append(f"| time granularity / basket | {stats['time_granularity']} / {stats['basket']} |")
    if stats["context_columns"]:
        lines.append(
            "| context columns | "
            + ", ".join(f"{c} ({k})" for c, k in stats["context_columns"].items())
            + " |"
        )
    for k, v in stats.items():
        if k.startswith("mean_"):
            lines.append(f"| mean {k[5:]} | {v:.4f} |")
    lines += [f"\n**Note**: {n}" for n in stats["notes"]]
    lines += ["", "## Modality coverage (share of items)", "", "| field | coverage |", "|---|---|"]
    lines += [
        f"| {k} | {v:.1%} |" if isinstance(v, float) else f"| {k} | {v} |"
        for k, v in stats["modality_coverage"].items()
    ]
    lines += ["", "## Periods", "", "| period | interactions | positive rate |", "|---|---|---|"]
    for p in ("train", "valid", "test"):
        if p in stats["periods"]:
            r = stats["periods"][p]
            lines.append(f"| {p} | {r['interactions']:,} | {r['positive_rate']:.4f} |")
    return "\n".join(lines) + "\n"


def describe_to(directory: str | Path, out: str | Path) -> tuple[dict[str, Any], str]:
    """Write describe.json, describe.md and popularity.png to `out`; return the stats and the markdown."""
    out = Path(out)
    ds = load_dataset(directory, lazy=True)
    stats = describe_dataset(ds)
    popularity_plot(ds, out / "popularity.png")
    md = to_markdown(stats) + "\n![popularity](popularity.png)\n"
    atomic_write_text(out / "describe.json", json.dumps(stats, indent=2))
    atomic_write_text(out / "describe.md", md)
    return stats, md
