"""The stage-III callback that refreshes mined hard negatives while the student trains."""

from __future__ import annotations

from lightning.pytorch.callbacks import Callback

from recplug.student.embed import embed_entries, embed_items
from recplug.student.lightning import ContentModule
from recplug.student.mining import mine_hard_negatives
from recplug.student.run import StudentRun


class HardNegativeRefresh(Callback):
    """Every `refresh_every` steps: embed, find the F1-optimal threshold per source, set hard negatives."""

    def __init__(self, run: StudentRun, every: int):
        self.run, self.every = run, every
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

    def on_train_start(self, trainer, module) -> None:
        self.refresh(module, trainer.global_step)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every == 0 and trainer.global_step < trainer.max_steps:
            self.refresh(module, trainer.global_step)
