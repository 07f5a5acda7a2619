"""What a pipeline stage hands on: its report rows, the sections it wants in report.md (each a table of
its own rows with the columns the component declared, or text), its plots and its notes. The report is
rendered from these alone; no stage result is read back from disk to write it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recplug.metrics.intervals import MetricRow


@dataclass
class Section:
    """One block of report.md.

    Args:
        title: the block's heading.
        rows: the rows its table shows (the stage's own).
        columns: the metrics, one column each (declared by the component that makes the rows); empty
            for a block of text alone.
        text: markdown before the table (a data description, an explanation).
        note: a line after the table (a reference point, a caveat).
    """

    title: str
    rows: Sequence[MetricRow] = ()
    columns: Sequence[str] = ()
    text: str = ""
    note: str = ""


@dataclass
class StageResult:
    """Args:
    stage: the stage's name ('teachers', 'student', ...).
    rows: every report row the stage made (report.json holds them all).
    sections: what the stage shows in report.md, in order.
    plots: title -> PNG path of plots the stage drew itself.
    notes: facts for the report's notes (counts, timings, what was held out).
    """

    stage: str
    rows: list[MetricRow] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    plots: dict[str, Path] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
