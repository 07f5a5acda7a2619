"""Jobs spread over processes (experiments/workers.py): every result in the jobs' order, whichever
process ran it; a failure is raised, not lost."""

from __future__ import annotations

import operator

import pytest
import torch

from experiments.workers import forget, here_and_in_processes, per_process


def test_results_come_back_in_the_jobs_order():
    jobs = [(i, i + 1) for i in range(9)]
    want = [a * b for a, b in jobs]
    threads = torch.get_num_threads()
    assert here_and_in_processes(operator.mul, jobs, 2) == want
    assert here_and_in_processes(operator.mul, jobs[:1], 3) == want[:1]
    assert torch.get_num_threads() == threads  # this process's threads are given back


def test_a_failed_job_is_raised():
    with pytest.raises(ZeroDivisionError):
        here_and_in_processes(operator.truediv, [(1, 1), (1, 0), (2, 1), (3, 1)], 2)


def test_per_process_builds_once_until_forgotten():
    built = []
    for _ in range(3):
        per_process("k", lambda: built.append(1) or len(built))
    assert built == [1]
    forget()
    assert per_process("k", lambda: "again") == "again"
    forget()
