"""kill -9 inside a teacher, a content stage and a CRE phase, then rerun: every output byte equals an
uninterrupted run's. Each run is a child process; the killed one gets SIGKILL as soon as its first
checkpoint lands, so the kill falls somewhere in the steps after it (wherever the machine's speed puts
it), with no chance to clean up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import small_student_config

CHILD = """
import json, sys
import torch
torch.set_num_threads(1)
which, data, out, params = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
if which == "teacher":
    from teachers.config import load_config
    from teachers.train import train_teacher
    train_teacher(data, out, load_config(None, **params), progress=False, evaluate=False)
elif which == "student":
    from recplug.student.train import train_student
    from recplug.student.train_config import StudentConfig
    train_student(data, out, StudentConfig.model_validate(params), progress=False)
else:
    from recplug.student.cre.config import load_cre_config
    from recplug.student.cre.train import train_cre
    student = params.pop("student")
    train_cre(data, student, out, load_cre_config(None, **params), progress=False)
"""
# what may differ between two runs of the same work: logs with wall times, checkpoints, Lightning's logs
VOLATILE = {"checkpoint", "checkpoints", "logs", "tb", "train_log.csv", "metrics.md"}


def _child(which: str, data: Path, out: Path, params: dict) -> subprocess.Popen:
    env = os.environ | {"TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-c", CHILD, which, str(data), str(out), json.dumps(params)]
    return subprocess.Popen(cmd, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-3000:]


def _kill_when(proc: subprocess.Popen, marker: Path) -> None:
    """SIGKILL the child the moment `marker` exists (its first checkpoint)."""
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"the child ended (code {proc.returncode}) before {marker} appeared")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _outputs(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not VOLATILE & set(p.relative_to(folder).parts)
    }


def _killed_then_resumed_equals_straight(which, data, tmp_path, params, marker: str) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run = _child(which, data, straight, params)
    victim = _child(which, data, killed, params)  # both at once: the two cores
    _kill_when(victim, killed / marker)
    _finish(run)
    _finish(_child(which, data, killed, params))
    a, b = _outputs(straight), _outputs(killed)
    assert sorted(a) == sorted(b)
    differ = [name for name in a if a[name] != b[name]]
    assert not differ, f"outputs differ after kill -9 and resume: {differ}"
    assert any(name.endswith("embeddings.parquet") for name in a)


def test_kill_inside_a_teacher(tiny_dir, tmp_path):
    params = {"kind": "seq", "max_steps": 40, "checkpoint_every": 5, "log_every": 5}
    _killed_then_resumed_equals_straight("teacher", tiny_dir, tmp_path, params, "checkpoint/checkpoint.json")


def test_kill_inside_a_content_stage(tiny_dir, tmp_path):
    cfg = small_student_config(
        stages=[{"name": "I", "steps": 12, "lr": 1e-3}, {"name": "II", "steps": 30, "lr": 1e-3}],
        checkpoint_every=5,
    )
    params = cfg.model_dump(mode="json")
    _killed_then_resumed_equals_straight(
        "student", tiny_dir, tmp_path, params, "stages/II/checkpoints/last.ckpt"
    )


def test_kill_inside_a_cre_phase(tiny_dir, tiny_student, tmp_path):
    from test_cre import own_teacher_folder

    teacher = own_teacher_folder(tiny_dir, tmp_path / "teacher")
    params = {
        "student": str(tiny_student[0]),
        "teachers": [{"name": "own", "path": str(teacher)}],
        "min_history": 3,
        "checkpoint_every": 5,
        "refresh_every": 4,
        "phases": [
            # the kill lands in the sequence phase, whose content-aware views rank by the cached embeddings
            {"name": "seq2item", "steps": 30, "lr": 1e-3, "weights": {"seq2item": 1.0}},
            {"name": "id2item", "steps": 8, "lr": 1e-3, "weights": {"id2item": 1.0, "aux_i2i": 0.5}},
        ],
    }
    _killed_then_resumed_equals_straight(
        "cre", tiny_dir, tmp_path, params, "phases/seq2item/checkpoints/last.ckpt"
    )
