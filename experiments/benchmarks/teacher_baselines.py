"""Speed of the teachers' evaluation on a dataset: ranking the whole warm catalogue per event, for a
teacher's embeddings and for the two baselines beside it (most popular, item co-occurrence), and the
co-occurrence baseline against its earlier torch path.

    python -m experiments.benchmarks.teacher_baselines --data runs/large/data [--events 2048]
        [--out runs/benchmarks]

- embeddings:            recplug's `rank_by_embeddings` (random unit embeddings of the teacher's dimension:
                         the cost does not depend on their values);
- most popular:          `most_popular_ranks`;
- co-occurrence:         `cooccurrence_ranks`: the cosine-normalised item-to-item matrix built once (scipy),
                         each chunk's histories times it;
- co-occurrence (torch): the earlier path, two torch sparse x dense products per chunk through the users
                         (items x users incidence), no item-to-item matrix: the reference for the speed-up.

Every path ranks the same events (the validation split's, a seeded sample of `--events`); the table
gives seconds, events/s, and how often the two co-occurrence paths give the same rank (they differ only
where float32 summation order splits a tie). Prints the machine; writes OUT/teacher_baselines.md and
.json. Compare ratios measured in one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from experiments.benchmarks.machine import report, timed_call


def torch_cooccurrence_ranks(data, ev, chunk: int = 1024) -> np.ndarray:
    """The co-occurrence baseline as recplug computed it before the item-to-item matrix: per chunk, a
    dense (chunk x items) history matrix through the items x users incidence and back."""
    from recplug.metrics import ranks_from_scores
    from teachers.evaluate import _targets_and_exclusions

    n_items = data.items.size - 1
    pairs = np.unique(np.stack([data.item_row - 1, data.user_row - 1]), axis=1)
    x = torch.sparse_coo_tensor(
        torch.as_tensor(pairs),
        torch.ones(pairs.shape[1]),
        (n_items, data.users.size - 1),
        check_invariants=True,
    ).coalesce()
    inv_sqrt = torch.sparse.sum(x, dim=1).to_dense().clamp(min=1).rsqrt()
    xt = x.t().coalesce()
    targets, exclude = _targets_and_exclusions(ev)
    hist = ev.history_list()
    ranks = np.empty(len(ev), dtype=np.float64)
    for lo in range(0, len(ev), chunk):
        part = hist[lo : lo + chunk]
        rows = torch.as_tensor(np.repeat(np.arange(len(part)), [len(v) for v in part]))
        h = torch.zeros(len(part), n_items)
        h.index_put_(
            (rows, torch.as_tensor(np.concatenate(part) - 1)), torch.ones(len(rows)), accumulate=True
        )
        users = torch.sparse.mm(xt, (h * inv_sqrt).T)
        scores = (torch.sparse.mm(x, users).T * inv_sqrt).contiguous()
        ranks[lo : lo + len(part)] = ranks_from_scores(
            scores, targets[lo : lo + chunk], exclude[lo : lo + chunk]
        )
    return ranks


def main() -> None:
    from recplug.data import load_dataset
    from teachers.config import load_config
    from teachers.data import TeacherData
    from teachers.evaluate import cooccurrence_ranks, most_popular_ranks, rank_by_embeddings

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="a dataset folder (e.g. runs/large/data)")
    p.add_argument("--events", type=int, default=2048, help="validation events ranked (seeded sample)")
    p.add_argument("--out", default="runs/benchmarks")
    args = p.parse_args()

    ds = load_dataset(args.data)
    cfg = load_config(kind="id")
    data, seconds_data = timed_call(lambda: TeacherData.from_dataset(ds, cfg))
    ev = data.eval_set(ds, ds.meta.splits.valid_end, cfg.history_len, max_events=args.events)
    n_items = data.items.size - 1
    gen = torch.Generator().manual_seed(0)
    unit = lambda n: torch.nn.functional.normalize(torch.randn(n, cfg.output_dim, generator=gen), dim=1)  # noqa: E731
    queries, items = unit(len(ev)), unit(n_items)

    paths = {
        "embeddings": lambda: rank_by_embeddings(queries, items, ev),
        "most popular": lambda: most_popular_ranks(data, ev),
        "co-occurrence": lambda: cooccurrence_ranks(data, ev),
        "co-occurrence (torch)": lambda: torch_cooccurrence_ranks(data, ev),
    }
    ranks, seconds = {}, {}
    for name, fn in paths.items():
        ranks[name], seconds[name] = timed_call(fn)
        print(f"{name}: {seconds[name]:.1f} s", flush=True)
    new, old = ranks["co-occurrence"], ranks["co-occurrence (torch)"]
    equal = float(np.mean(new == old))
    speedup = seconds["co-occurrence (torch)"] / seconds["co-occurrence"]
    recall = {k: (float(np.mean(new <= k)), float(np.mean(old <= k))) for k in (10, 50)}
    md = "\n".join(
        [
            f"{len(ev):,} validation events x {n_items:,} warm items ({args.data}; teacher data built in "
            f"{seconds_data:.1f} s)",
            "",
            "| path | seconds | events/s |",
            "|---|---|---|",
            *(f"| {n} | {s:.1f} | {len(ev) / s:,.0f} |" for n, s in seconds.items()),
            "",
            f"co-occurrence over its torch path: {speedup:.1f}x; same rank on {equal:.2%} of events "
            f"(max difference {np.abs(new - old).max():.0f}); "
            + ", ".join(f"Recall@{k} {a:.4f} vs {b:.4f}" for k, (a, b) in recall.items()),
        ]
    )
    report(
        args.out,
        "teacher_baselines",
        md,
        {
            "args": vars(args),
            "events": len(ev),
            "items": n_items,
            "seconds": seconds,
            "speedup_cooccurrence": speedup,
            "equal_ranks": equal,
            "recall": recall,
        },
    )


if __name__ == "__main__":
    main()
