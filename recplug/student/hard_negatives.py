"""The stage-III callback that refreshes mined hard negatives while the student trains."""

from __future__ import annotations

import json

import numpy as np
import torch

from recplug.student.embed import embed_entries, embed_items
from recplug.student.fit import StepRefresh
from recplug.student.lightning import ContentModule
from recplug.student.mining import mine_hard_negatives
from recplug.student.run import StudentRun


class HardNegativeRefresh(StepRefresh):
    """Every `refresh_every` steps: embed, find the F1-optimal threshold per source, set hard negatives."""

    def __init__(self, run: StudentRun, every: int):
        super().__init__(every)
        self.run = run
        self.history: list[dict] = []

    def refresh(self, module: ContentModule, step: int) -> None:
        m = self.run.cfg.mining
        items = embed_items(
            module.encoder,
            self.run.store,
            self.run.tokenizer,
            self.run.cfg.item_view,
            batch=self.run.cfg.embed_batch,
        )
        for s, p in enumerate(module.pairsets):
            if p.spec.loss != "infonce" or p.target_rows is None:
                continue
            view = p.spec.views[p.spec.patterns[0][0]]
            if p.query_rows is not None:
                q = embed_entries(module.encoder, self.run.store, self.run.tokenizer, view, rows=p.query_rows)
            else:
                q = embed_entries(
                    module.encoder, self.run.store, self.run.tokenizer, view, texts=p.query_texts
                )
            hard, info = mine_hard_negatives(
                q, items, p.target_rows, m.per_query, m.candidates, p.query_groups, p.query_rows
            )
            module.hard_negatives[s] = hard
            self.history.append({"step": step, "source": p.spec.name, **info})
        module.encoder.train()

    def saved(self, module: ContentModule) -> dict:
        hard = {str(s): torch.from_numpy(np.ascontiguousarray(h)) for s, h in module.hard_negatives.items()}
        return {"hard_negatives": hard, "history": json.loads(json.dumps(self.history, default=float))}

    def restore(self, module: ContentModule, state: dict) -> None:
        module.hard_negatives = {int(s): h.numpy() for s, h in state["hard_negatives"].items()}
        self.history = list(state["history"])
