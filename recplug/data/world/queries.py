"""Search queries: an item's attributes said in words (image and audio ones too, e.g. "red", "slow"),
with synonyms, dropped words and noise; graded relevance = share of the query's attributes an item has.
So good text-to-item search needs an item's image and audio, not only its text."""

from __future__ import annotations

import numpy as np
import polars as pl

from recplug.data.world.latents import Latents, rng_for
from recplug.data.world.vocab import ATTRIBUTES, FILLER_WORDS, word_table

MAX_QUERY_ATTRS = 4


def make_queries(latents: Latents) -> pl.DataFrame:
    """Rows (query, item_id, score): each query's source item (score 1) and graded other items."""
    cfg, items = latents.cfg, latents.items
    rng = rng_for(latents.seed, 20)
    n_q = int(round(cfg.queries_per_item * cfg.n_items))
    if n_q == 0:
        return pl.DataFrame(schema={"query": pl.String, "item_id": pl.Int64, "score": pl.Float32})
    n_attr = len(ATTRIBUTES)
    src = np.searchsorted(np.cumsum(items.popularity), rng.random(n_q) * items.popularity.sum())
    # 2..4 attributes per query, chosen at random among all modalities
    n_used = rng.integers(2, MAX_QUERY_ATTRS + 1, n_q)
    chosen = np.argsort(rng.random((n_q, n_attr)), axis=1)[:, :MAX_QUERY_ATTRS]
    used = np.arange(MAX_QUERY_ATTRS)[None, :] < n_used[:, None]  # (n_q, MAX) which slots are real
    values = items.attrs[src[:, None], chosen]  # (n_q, MAX)

    words = np.full((n_q, MAX_QUERY_ATTRS), None, dtype=object)
    for j, a in enumerate(ATTRIBUTES):  # a loop over the 8 attributes, not over rows
        flat, offsets, counts = word_table(a.name)
        sel = chosen == j
        v = values[sel]
        words[sel] = flat[offsets[v] + (rng.random(len(v)) * counts[v]).astype(int)]
    dropped = rng.random(words.shape) < 0.12
    dropped[:, 0] = False  # keep at least one word
    words[~used | dropped] = None
    noise = np.where(
        rng.random(n_q) < 0.25,
        np.array(FILLER_WORDS, dtype=object)[rng.integers(0, len(FILLER_WORDS), n_q)],
        None,
    )
    words = np.concatenate([words, noise[:, None]], axis=1)
    words = np.take_along_axis(words, np.argsort(rng.random(words.shape), axis=1), axis=1)
    text = (
        pl.DataFrame(
            {f"w{j}": pl.Series(words[:, j].tolist(), dtype=pl.String) for j in range(words.shape[1])}
        )
        .select(pl.concat_str(pl.all(), separator=" ", ignore_nulls=True))
        .to_series()
    )

    # graded relevance of other items: share of the query's (kept) attributes they match
    kept = used & ~dropped[:, :MAX_QUERY_ATTRS]
    cand = rng.integers(0, cfg.n_items, (n_q, cfg.relevance_candidates))
    match = items.attrs[cand[:, :, None], chosen[:, None, :]] == values[:, None, :]  # (n_q, C, MAX)
    score = (match & kept[:, None, :]).sum(-1) / kept.sum(1, keepdims=True)
    score = np.where(cand == src[:, None], -1.0, score)  # the source item is added below
    m = cfg.relevance_rows_per_query - 1
    top = np.argsort(-(score + 0.01 * rng.random(score.shape)), axis=1)[:, :m]
    rows = pl.DataFrame(
        {
            "query_idx": np.concatenate([np.arange(n_q), np.repeat(np.arange(n_q), m)]),
            "item_id": np.concatenate([src, np.take_along_axis(cand, top, axis=1).ravel()]) + 1,
            "score": np.concatenate([np.ones(n_q), np.take_along_axis(score, top, axis=1).ravel()]).astype(
                np.float32
            ),
        }
    )
    rows = rows.filter(pl.col("score") > 0).unique(
        ["query_idx", "item_id"], keep="first", maintain_order=True
    )
    queries = pl.DataFrame({"query_idx": np.arange(n_q), "query": text})
    return (
        rows.sort("query_idx", maintain_order=True)
        .join(queries, on="query_idx", maintain_order="left")
        .select("query", "item_id", "score")
    )
