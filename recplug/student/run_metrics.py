"""A run's evaluation: the student's (or a TF-IDF baseline's) embeddings of the items and of the test
queries, scored by `recplug.student.evaluate`, plus what only a generated world can say (attribute
probes, q2i by the kind of words a query uses)."""

from __future__ import annotations

import numpy as np

from recplug.metrics.intervals import MetricRow
from recplug.student.baselines import TfidfBaseline
from recplug.student.embed import embed_entries, embed_items
from recplug.student.evaluate import evaluate_embeddings
from recplug.student.media_features import MediaFeatures
from recplug.student.modeling import OmniEncoder
from recplug.student.probes import attribute_probe_rows, probe_chance_rows, q2i_by_query_words_rows
from recplug.student.run import StudentRun
from recplug.student.views import QUERY_VIEW


def world_rows(
    run: StudentRun, emb: np.ndarray, query_emb: np.ndarray | None, variant: str
) -> list[MetricRow]:
    """What only a generated world can say (none on real data): attribute probes of the item
    embeddings (row = store row), and q2i split by whether the query names media attributes only."""
    if run.truth is None:
        return []
    rows = attribute_probe_rows(emb, run.store.item_ids, run.truth, variant)
    texts, targets = run.eval_pairs.queries
    if query_emb is not None and len(targets):
        warm = ~run.eval_pairs.cold_rows[targets]
        rows += q2i_by_query_words_rows(query_emb, emb, texts, targets, warm, variant)
    return rows


def evaluate_student(
    run: StudentRun, encoder: OmniEncoder, variant: str, media: MediaFeatures | None = None
) -> tuple[list[MetricRow], np.ndarray]:
    """The metric rows of `encoder`'s item embeddings (and the embeddings); `media`: its frozen
    encoders' stored outputs (`MediaFeatures`), when it has them."""
    emb = embed_items(
        encoder,
        run.store,
        run.tokenizer,
        run.cfg.item_view,
        batch=run.cfg.embed_batch,
        max_text_tokens=run.cfg.max_text_tokens,
        media=media,
    )
    q = g = None
    if len(run.eval_pairs.queries[0]):
        q, g = (
            embed_entries(
                encoder, run.store, run.tokenizer, QUERY_VIEW, texts=texts, batch=run.cfg.embed_batch
            )
            for texts in (run.eval_pairs.queries[0], run.eval_pairs.graded[0])
        )
    rows = evaluate_embeddings(emb, q, g, run.eval_pairs, run.store, variant, seed=run.cfg.seed)
    return rows + world_rows(run, emb, q, variant), emb


def tfidf_rows(run: StudentRun) -> list[MetricRow]:
    """The same metrics for a TF-IDF text baseline: what the student has to beat."""
    tf = TfidfBaseline(run.store)
    ep = run.eval_pairs
    queries = tf.embed_texts(ep.queries[0]) if len(ep.queries[0]) else None
    graded = tf.embed_texts(ep.graded[0]) if len(ep.queries[0]) else None
    rows = evaluate_embeddings(tf.items, queries, graded, ep, run.store, "tfidf baseline", seed=run.cfg.seed)
    chance = probe_chance_rows(run.store.item_ids, run.truth) if run.truth else []
    return rows + world_rows(run, tf.items, queries, "tfidf baseline") + chance


def text_truncation(run: StudentRun) -> dict:
    """How many items' text (as the item view sees it, instruction included) is longer than
    `max_text_tokens` and cut: counted for report.md."""
    from recplug.student.views import Encoding, Entries, encode_inputs

    rows = np.arange(len(run.store.item_ids))
    truncated = 0
    for lo in range(0, len(rows), 2048):
        entries = [Entries(run.cfg.item_view, item_rows=rows[lo : lo + 2048])]
        truncated += encode_inputs(
            run.store, run.tokenizer, entries, Encoding(max_text_tokens=run.cfg.max_text_tokens)
        )[1]["truncated_texts"]
    return {"items": len(rows), "truncated": int(truncated), "max_text_tokens": run.cfg.max_text_tokens}
