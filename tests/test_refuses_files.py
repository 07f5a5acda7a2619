"""Bad files are refused in ONE line naming the culprit, never read silently and never a traceback:
embedding, user-state and semantic-id files, teacher folders, dataset tables, checkpoints of every kind
(student `save_pretrained` folders, teacher exports and checkpoints, CRE states, Lightning `.ckpt`),
configs, and the CLI's policy for errors nobody expected."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import torch

from experiments.cli import main
from recplug.data import load_dataset
from recplug.data.embeddings import read_embeddings, write_embeddings, write_metadata
from recplug.data.errors import DatasetError

DIM = 8
DATASET = "world-tiny"


# ---------------------------------------------------------------- shared assertions and corruptions


def assert_one_line(message: str, culprits) -> None:
    assert "\n" not in message.strip() and "Traceback" not in message, message
    for culprit in culprits:
        assert str(culprit) in message, f"{culprit!r} not in {message!r}"


def refused(call, culprits, error=DatasetError) -> None:
    with pytest.raises(error) as info:
        call()
    assert_one_line(str(info.value), culprits)


def cli_refuses(capsys, argv, culprits) -> None:
    """`recplug ARGV` exits with 2 and its one error line names every culprit."""
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("recplug: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert_one_line(errors[0], culprits)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def flip_middle(path: Path, n: int = 16) -> None:
    """Flip `n` bytes in the middle of the file (the footer stays intact)."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + n] = bytes(b ^ 0xFF for b in data[mid : mid + n])
    path.write_bytes(bytes(data))


def flip_middle_page(path: Path) -> None:
    """Damage the parquet page nearest the middle of the file (footer intact): a data page header."""
    meta = pq.ParquetFile(path).metadata
    offsets = [
        meta.row_group(g).column(c).data_page_offset
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    ]
    at = min(offsets, key=lambda o: abs(o - path.stat().st_size // 2))
    data = bytearray(path.read_bytes())
    data[at : at + 16] = bytes(b ^ 0xFF for b in data[at : at + 16])
    path.write_bytes(bytes(data))


def make_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


# ---------------------------------------------------------------- embedding / teacher folders


@pytest.fixture(scope="module")
def dataset_ids(tiny_ds):
    return tiny_ds.items["item_id"].to_numpy(), tiny_ds.interactions["user_id"].unique().to_numpy()


def vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def frame(ids, vecs, id_column: str = "item_id") -> pl.DataFrame:
    vecs = [None if v is None else np.asarray(v, np.float32).tolist() for v in vecs]
    return pl.DataFrame(
        {id_column: list(ids), "embedding": pl.Series(vecs, dtype=pl.List(pl.Float32))}, strict=False
    )


@pytest.fixture
def teacher(tmp_path, dataset_ids):
    """A valid teacher folder (every item, the users, metadata.json): each case breaks one thing."""
    items, users = dataset_ids
    folder = tmp_path / "teacher"
    write_embeddings(folder / "embeddings.parquet", items, vectors(len(items)))
    write_embeddings(folder / "user_states.parquet", users, vectors(len(users), seed=1), "user_id")
    write_metadata(folder, {"kind": "id", "dim": DIM, "data": {"dataset": DATASET}})
    return folder


def _rewrite(column_values: dict):
    return lambda f: pl.DataFrame(column_values).write_parquet(f / "embeddings.parquet")


def _vectors_where(change):
    def mutate(f):
        ids = pl.read_parquet(f / "embeddings.parquet")["item_id"].to_numpy()
        v = vectors(len(ids))
        change(v)
        write_embeddings(f / "embeddings.parquet", ids, v)

    return mutate


def _metadata(value):
    return lambda f: (f / "metadata.json").write_text(value if isinstance(value, str) else json.dumps(value))


def _ragged(f):
    v = [np.ones(DIM, np.float32)] * 3 + [np.ones(7, np.float32)] + [np.ones(DIM, np.float32)] * 2
    frame(np.arange(1, 7), v).write_parquet(f / "embeddings.parquet")


EMBEDDING_CASES = {
    "empty-file": (lambda f: empty(f / "embeddings.parquet"), ["embeddings.parquet", "0 bytes"]),
    "truncated": (lambda f: truncate(f / "embeddings.parquet"), ["embeddings.parquet", "truncated"]),
    "bytes-flipped-mid-file": (
        lambda f: flip_middle(f / "embeddings.parquet"),
        ["embeddings.parquet", "damaged"],
    ),
    "csv-named-parquet": (
        lambda f: (f / "embeddings.parquet").write_text("item_id,embedding\n1,0.5\n"),
        ["embeddings.parquet", "not a parquet file"],
    ),
    "file-is-a-folder": (
        lambda f: make_folder(f / "embeddings.parquet"),
        ["embeddings.parquet", "is a folder"],
    ),
    "file-missing": (lambda f: (f / "embeddings.parquet").unlink(), ["embeddings.parquet", "not found"]),
    "user-states-in-its-place": (
        lambda f: shutil.copy(f / "user_states.parquet", f / "embeddings.parquet"),
        ["missing column 'item_id'", "looks like a user-state file"],
    ),
    "semantic-ids-in-its-place": (
        _rewrite({"item_id": [1, 2], "sid_0": [3, 4]}),
        ["embeddings.parquet", "missing column 'embedding'"],
    ),
    "embedding-not-a-list": (
        _rewrite({"item_id": [1, 2], "embedding": [0.5, 0.7]}),
        ["column 'embedding'", "expected list of float32"],
    ),
    "string-item-ids": (
        lambda f: frame(["a", "b"], vectors(2)).write_parquet(f / "embeddings.parquet"),
        ["column 'item_id'", "String"],
    ),
    "null-item-id": (
        lambda f: frame([1, None, 3], vectors(3)).write_parquet(f / "embeddings.parquet"),
        ["column 'item_id' is null at row 1"],
    ),
    "null-vector": (
        lambda f: frame([1, 2, 3], [vectors(1)[0], None, vectors(1)[0]]).write_parquet(
            f / "embeddings.parquet"
        ),
        ["column 'embedding' is null at row 1"],
    ),
    "duplicate-item-id": (
        lambda f: write_embeddings(f / "embeddings.parquet", [1, 2, 2, 3], vectors(4)),
        ["column 'item_id' has duplicate 2"],
    ),
    "mixed-vector-lengths": (_ragged, ["length 7 at row 3", "8 at row 0"]),
    "no-rows": (
        lambda f: frame(np.zeros(0, np.int64), np.zeros((0, DIM), np.float32)).write_parquet(
            f / "embeddings.parquet"
        ),
        ["embeddings.parquet", "no rows"],
    ),
    "empty-vectors": (
        lambda f: frame([1, 2], [np.zeros(0, np.float32)] * 2).write_parquet(f / "embeddings.parquet"),
        ["embeddings.parquet", "empty vectors"],
    ),
    "nan-vector": (_vectors_where(lambda v: v.__setitem__((5, 2), np.nan)), ["NaN/inf", "row 5"]),
    "inf-vector": (_vectors_where(lambda v: v.__setitem__((9, 0), np.inf)), ["NaN/inf", "row 9"]),
    "all-zero-vectors": (_vectors_where(lambda v: v.fill(0)), ["embeddings.parquet", "all zeros"]),
    "constant-vectors": (_vectors_where(lambda v: v.fill(0.25)), ["embeddings.parquet", "the same vector"]),
    "ids-of-another-dataset": (
        lambda f: (
            write_embeddings(f / "embeddings.parquet", np.arange(10**6, 10**6 + 300), vectors(300)),
            write_metadata(f, {"kind": "id", "dim": DIM, "data": {"dataset": "shop-2023"}}),
        ),
        ["covers 0 of the 1000 items", "none of its 300 item ids", "dataset 'shop-2023'", DATASET],
    ),
    "teacher-without-metadata": (
        lambda f: (f / "metadata.json").unlink(),
        ["metadata.json: missing", "teacher folder"],
    ),
    "metadata-bad-json": (
        _metadata('{"kind": "id", "dim": 8'),
        ["metadata.json", "not valid JSON", "line 1"],
    ),
    "metadata-empty": (_metadata(""), ["metadata.json", "empty"]),
    "metadata-a-list": (_metadata([8]), ["metadata.json", "JSON list"]),
    "metadata-dim-disagrees": (_metadata({"kind": "id", "dim": 16}), ["dim 8 but", "dim=16"]),
    "metadata-dim-not-a-number": (_metadata({"kind": "id", "dim": "eight"}), ["'dim' is 'eight'"]),
    "metadata-without-kind": (_metadata({"dim": DIM}), ["metadata.json", "['kind']"]),
    "metadata-is-a-folder": (lambda f: make_folder(f / "metadata.json"), ["metadata.json", "is a folder"]),
}


@pytest.mark.parametrize("mutate, culprits", EMBEDDING_CASES.values(), ids=EMBEDDING_CASES.keys())
def test_bad_teacher_embedding_files_are_refused(teacher, dataset_ids, mutate, culprits):
    mutate(teacher)
    refused(
        lambda: read_embeddings(teacher, teacher=True, dataset_ids=dataset_ids[0], dataset=DATASET),
        culprits,
    )


USER_STATE_CASES = {
    "user-states-truncated": (
        lambda f: truncate(f / "user_states.parquet"),
        ["user_states.parquet", "truncated"],
    ),
    "user-states-of-another-dataset": (
        lambda f: write_embeddings(
            f / "user_states.parquet", np.arange(10**6, 10**6 + 40), vectors(40), "user_id"
        ),
        ["user_states.parquet", "none of its 40 user ids"],
    ),
    "item-embeddings-in-its-place": (
        lambda f: shutil.copy(f / "embeddings.parquet", f / "user_states.parquet"),
        ["missing column 'user_id'", "looks like an item file"],
    ),
}


@pytest.mark.parametrize("mutate, culprits", USER_STATE_CASES.values(), ids=USER_STATE_CASES.keys())
def test_bad_user_state_files_are_refused(teacher, dataset_ids, mutate, culprits):
    mutate(teacher)
    refused(
        lambda: read_embeddings(
            teacher, "user_id", teacher=True, dataset_ids=dataset_ids[1], dataset=DATASET
        ),
        culprits,
    )


def _sids(values: dict):
    return lambda f: pl.DataFrame(values).write_parquet(f / "semantic_ids.parquet")


SEMANTIC_ID_CASES = {
    "sids-empty-file": (
        lambda f: (f / "semantic_ids.parquet").write_bytes(b""),
        ["semantic_ids.parquet", "0 bytes"],
    ),
    "sids-float-codes": (
        _sids({"item_id": [1, 2], "sid_0": [0.5, 1.5]}),
        ["column 'sid_0'", "expected integers"],
    ),
    "sids-of-another-dataset": (
        _sids({"item_id": [10**6, 10**6 + 1], "sid_0": [0, 1]}),
        ["semantic_ids.parquet", "none of its 2 item ids"],
    ),
}


@pytest.mark.parametrize("mutate, culprits", SEMANTIC_ID_CASES.values(), ids=SEMANTIC_ID_CASES.keys())
def test_bad_semantic_id_files_are_refused(teacher, dataset_ids, mutate, culprits):
    from features.tables import load_table

    mutate(teacher)
    refused(lambda: load_table("student", teacher, dataset_ids[0], DATASET), culprits)


def test_the_untouched_files_are_accepted(teacher, dataset_ids, student_model, tmp_path):
    """Each refusal above is the mutation's doing: the base files load cleanly."""
    from recplug.student.cre.sequence_encoder import SequenceEncoder
    from recplug.student.saved import load_encoder

    table = read_embeddings(teacher, teacher=True, dataset_ids=dataset_ids[0], dataset=DATASET)
    users = read_embeddings(teacher, "user_id", teacher=True, dataset_ids=dataset_ids[1], dataset=DATASET)
    assert table.vectors.shape == (1000, DIM) and not table.warnings and not users.warnings
    assert load_encoder(student_model).config.hidden_size == 16
    SequenceEncoder(DIM, "transformer", heads=2).save(tmp_path)
    assert SequenceEncoder.load(tmp_path).config["dim"] == DIM


def test_doubts_are_warnings_kept_for_the_report(teacher, dataset_ids):
    """Low coverage, another dataset's name in metadata.json and all-zero rows are used, with a warning."""
    ids = dataset_ids[0][:300]
    v = vectors(300)
    v[7] = 0
    write_embeddings(teacher / "embeddings.parquet", ids, v)
    write_metadata(teacher, {"kind": "id", "dim": DIM, "data": {"dataset": "world-tiny-v0"}})
    table = read_embeddings(teacher, teacher=True, dataset_ids=dataset_ids[0], dataset=DATASET)
    text = "\n".join(table.warnings)
    assert len(table.warnings) == 3, text
    assert "covers only 300 of the 1,000 items" in text and "(30%, below 50%)" in text
    assert "made from dataset 'world-tiny-v0'" in text and "1 of 300 vectors are all zeros" in text


# ---------------------------------------------------------------- dataset tables


def _copy_over(src: str, dst: str):
    return lambda d: shutil.copy(d / src, d / dst)


TABLE_CASES = {
    "items-truncated": (lambda d: truncate(d / "items.parquet"), ["items.parquet", "truncated"]),
    "interactions-empty": (lambda d: empty(d / "interactions.parquet"), ["interactions.parquet", "0 bytes"]),
    "interactions-page-damaged": (
        lambda d: flip_middle_page(d / "interactions.parquet"),
        ["interactions.parquet", "damaged"],
    ),
    "interactions-copied-over-items": (
        _copy_over("interactions.parquet", "items.parquet"),
        ["items.parquet", "looks like interactions.parquet"],
    ),
    "items-copied-over-interactions": (
        _copy_over("items.parquet", "interactions.parquet"),
        ["interactions.parquet", "no column(s) ['user_id', 'ts']"],
    ),
    "queries-is-a-folder": (lambda d: make_folder(d / "queries.parquet"), ["queries.parquet", "is a folder"]),
}


@pytest.mark.parametrize("mutate, culprits", TABLE_CASES.values(), ids=TABLE_CASES.keys())
def test_bad_dataset_tables_are_named(tiny_dir, tmp_path, mutate, culprits):
    data = tmp_path / "data"
    shutil.copytree(tiny_dir, data)
    mutate(data)
    refused(lambda: load_dataset(data), culprits)


# ---------------------------------------------------------------- student checkpoints


@pytest.fixture(scope="module")
def student_model(tmp_path_factory):
    """A tiny saved student (save_pretrained: config.json + model.safetensors), untrained."""
    from recplug.student.model_config import OmniConfig
    from recplug.student.modeling import OmniEncoder

    cfg = OmniConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        vision_hidden_size=16,
        vision_layers=1,
        audio_hidden_size=16,
        audio_layers=1,
        matryoshka_dims=[8, 16],
        perceiver_queries=2,
    )
    folder = tmp_path_factory.mktemp("student") / "model"
    OmniEncoder(cfg).save_pretrained(folder)
    return folder


def _edit_json(name: str, change):
    """A mutation rewriting the JSON file `name` of a folder through `change`."""

    def mutate(folder):
        path = folder / name
        path.write_text(json.dumps(change(json.loads(path.read_text()))))

    return mutate


def _config(change):
    return _edit_json("config.json", change)


STUDENT_CASES = {
    "weights-missing": (lambda m: (m / "model.safetensors").unlink(), ["incomplete", "no model.safetensors"]),
    "weights-empty": (lambda m: empty(m / "model.safetensors"), ["model.safetensors", "0 bytes"]),
    "weights-truncated": (
        lambda m: truncate(m / "model.safetensors"),
        ["model.safetensors", "truncated safetensors"],
    ),
    "only-pickled-weights": (
        lambda m: (m / "model.safetensors").rename(m / "pytorch_model.bin"),
        ["pytorch_model.bin", "never loaded"],
    ),
    "config-bad-json": (lambda m: (m / "config.json").write_text("{"), ["config.json", "not valid JSON"]),
    "config-of-another-model": (
        _config(lambda c: {**c, "model_type": "bert"}),
        ["config.json", "model_type 'bert'"],
    ),
    "weights-of-another-architecture": (
        _config(lambda c: {**c, "vision_hidden_size": 32}),
        ["model.safetensors", "do not fit the architecture", "of another shape"],
    ),
    "no-model-folder": (lambda m: shutil.rmtree(m), ["model", "does not exist"]),
}


@pytest.mark.parametrize("mutate, culprits", STUDENT_CASES.values(), ids=STUDENT_CASES.keys())
def test_bad_student_checkpoints_are_refused_by_the_cli(
    student_model, tiny_dir, tmp_path, capsys, mutate, culprits
):
    model = tmp_path / "model"
    shutil.copytree(student_model, model)
    mutate(model)
    cli_refuses(
        capsys, ["student", "embed", "--model", model, "--data", tiny_dir, "--out", tmp_path / "e"], culprits
    )


@pytest.mark.parametrize(
    "config, culprits",
    [("{not json", ["config.json", "not valid JSON"]), ('{"epochs": 3}', ["config.json", "key 'epochs'"])],
    ids=["run-config-bad-json", "run-config-unknown-key"],
)
def test_bad_student_run_configs_are_refused_by_the_cli(tiny_dir, tmp_path, capsys, config, culprits):
    (tmp_path / "config.json").write_text(config)
    cli_refuses(capsys, ["student", "eval", "--model", tmp_path, "--data", tiny_dir], culprits)


# ---------------------------------------------------------------- teacher exports and checkpoints

TEACHER = {"max_steps": 4, "embedding_dim": DIM, "output_dim": DIM, "checkpoint_every": 2}


@pytest.fixture(scope="module")
def trained_teacher(tiny_dir, tmp_path_factory):
    from teachers.config import load_config
    from teachers.train import train_teacher

    out = tmp_path_factory.mktemp("teacher") / "id"
    train_teacher(tiny_dir, out, load_config(kind="id", **TEACHER), progress=False, evaluate=False)
    return out


def _teacher_meta(change):
    return _edit_json("metadata.json", change)


SAVED_TEACHER_CASES = {
    "teacher-weights-truncated": (
        lambda t: truncate(t / "model.safetensors"),
        ["model.safetensors", "truncated"],
    ),
    "teacher-weights-missing": (
        lambda t: (t / "model.safetensors").unlink(),
        ["model.safetensors is missing"],
    ),
    "teacher-metadata-without-config": (
        _teacher_meta(lambda m: {k: v for k, v in m.items() if k != "config"}),
        ["metadata.json", "no 'config'"],
    ),
    "teacher-weights-of-another-config": (
        _teacher_meta(lambda m: {**m, "config": {**m["config"], "embedding_dim": 16}}),
        ["model.safetensors", "not weights of this model", "of another shape"],
    ),
}


@pytest.mark.parametrize("mutate, culprits", SAVED_TEACHER_CASES.values(), ids=SAVED_TEACHER_CASES.keys())
def test_bad_saved_teachers_are_refused_by_the_cli(
    trained_teacher, tiny_dir, tmp_path, capsys, mutate, culprits
):
    folder = tmp_path / "id"
    shutil.copytree(trained_teacher, folder)
    mutate(folder)
    cli_refuses(capsys, ["teachers", "eval", "--teacher", folder, "--data", tiny_dir], culprits)


CHECKPOINT_CASES = {
    "teacher-checkpoint-truncated": (
        lambda c: truncate(c / "checkpoint.safetensors"),
        ["checkpoint.safetensors", "truncated", "--no-resume"],
    ),
    "teacher-checkpoint-without-info": (
        lambda c: _rewrite_checkpoint(c, None),
        ["checkpoint.safetensors", "holds no checkpoint info"],
    ),
    "teacher-checkpoint-of-something-else": (
        lambda c: _rewrite_checkpoint(c, {"epoch": 1}),
        ["checkpoint.safetensors", "not a recplug teacher checkpoint"],
    ),
}


def _rewrite_checkpoint(folder, info):
    """The checkpoint's tensors saved again with other info in their metadata (None: none), no sidecar."""
    from safetensors.torch import load_file, save_file

    path = folder / "checkpoint.safetensors"
    tensors = load_file(path)
    save_file(tensors, path, metadata=None if info is None else {"info": json.dumps(info)})
    (folder / "checkpoint.json").unlink()


@pytest.mark.parametrize("mutate, culprits", CHECKPOINT_CASES.values(), ids=CHECKPOINT_CASES.keys())
def test_bad_teacher_checkpoints_are_refused_on_resume(
    trained_teacher, tiny_dir, tmp_path, capsys, mutate, culprits
):
    out = tmp_path / "id"
    shutil.copytree(trained_teacher, out)
    mutate(out / "checkpoint")
    sets = [a for k, v in TEACHER.items() for a in ("--set", f"{k}={v}")]
    cli_refuses(
        capsys,
        ["teachers", "train", "--kind", "id", "--data", tiny_dir, "--out", out, *sets, "--quiet"],
        culprits,
    )


def test_a_stale_sidecar_never_pairs_with_newer_tensors(tmp_path):
    """A kill between the tensors and the sidecar leaves a newer tensors file beside an older
    checkpoint.json: the info is read from the tensors file, so a resume never mixes the two."""
    from teachers.checkpoint import read_info, save_checkpoint

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    info = {"config_hash": "c", "data": "d", "torch_rng": [0]}
    save_checkpoint(tmp_path, model, optimizer, info | {"step": 10})
    (tmp_path / "checkpoint.json").write_text(json.dumps(info | {"step": 5}))
    assert read_info(tmp_path)["step"] == 10


def test_an_empty_teacher_checkpoint_is_refused(tmp_path):
    from teachers.checkpoint import load_checkpoint, save_checkpoint

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    save_checkpoint(tmp_path, model, optimizer, {"step": 1})
    empty(tmp_path / "checkpoint.safetensors")
    refused(lambda: load_checkpoint(tmp_path, model, optimizer), ["checkpoint.safetensors", "0 bytes"])


# ---------------------------------------------------------------- CRE and Lightning checkpoints


@pytest.fixture
def sequence_encoder(tmp_path):
    from recplug.student.cre.sequence_encoder import SequenceEncoder

    SequenceEncoder(DIM, "transformer", heads=2).save(tmp_path)
    return tmp_path


CRE_CASES = {
    "sequence-encoder-weights-missing": (
        lambda f: (f / "sequence_encoder.safetensors").unlink(),
        ["incomplete sequence encoder", "sequence_encoder.safetensors"],
    ),
    "sequence-encoder-weights-truncated": (
        lambda f: truncate(f / "sequence_encoder.safetensors"),
        ["sequence_encoder.safetensors", "truncated"],
    ),
    "sequence-encoder-config-unknown-kind": (
        lambda f: (f / "sequence_encoder.json").write_text(json.dumps({"dim": DIM, "kind": "lstm"})),
        ["sequence_encoder.json", "'lstm'"],
    ),
}


@pytest.mark.parametrize("mutate, culprits", CRE_CASES.values(), ids=CRE_CASES.keys())
def test_bad_sequence_encoders_are_refused(sequence_encoder, mutate, culprits):
    from recplug.student.cre.sequence_encoder import SequenceEncoder

    mutate(sequence_encoder)
    refused(lambda: SequenceEncoder.load(sequence_encoder), culprits)


def test_a_cre_phase_state_of_another_model_is_refused(tmp_path):
    """What `train_cre` does with a finished phase's cre_state.safetensors."""
    from safetensors.torch import save_model

    from recplug.data.weight_files import load_into

    save_model(torch.nn.Linear(4, 2), str(tmp_path / "cre_state.safetensors"))
    refused(
        lambda: load_into(torch.nn.Linear(8, 2), tmp_path / "cre_state.safetensors", "CRE phase state"),
        ["cre_state.safetensors", "'weight' (2, 4) in the file, (2, 8) in the model"],
    )


def _lightning_ckpt(path: Path) -> None:
    torch.save({"state_dict": {"w": torch.randn(4000)}, "global_step": 10}, path)


def _safetensors_named_ckpt(path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"w": torch.randn(4)}, str(path))


LIGHTNING_CASES = {
    "ckpt-empty": (empty, ["last.ckpt", "0 bytes"]),
    "ckpt-truncated": (truncate, ["last.ckpt", "truncated checkpoint"]),
    "ckpt-bytes-flipped-mid-file": (flip_middle, ["last.ckpt", "CRC mismatch"]),
    "ckpt-is-safetensors": (_safetensors_named_ckpt, ["last.ckpt", "not a torch checkpoint"]),
}


@pytest.mark.parametrize("mutate, culprits", LIGHTNING_CASES.values(), ids=LIGHTNING_CASES.keys())
def test_bad_lightning_checkpoints_are_named_and_set_aside(tmp_path, capsys, mutate, culprits):
    """A damaged last.ckpt is never resumed from: one line names it and what is wrong, the file is
    moved aside and its stage restarts from its start (not refused: every rerun would fail)."""
    from recplug.student.fit import usable_checkpoint

    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    _lightning_ckpt(last)
    mutate(last)
    assert usable_checkpoint(last) is None
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and "restarts from its start" in line, line
    for culprit in culprits:
        assert culprit in line, (culprit, line)
    assert not last.exists() and (tmp_path / "checkpoints" / "last.ckpt.corrupt").is_file()


class NotATensor:
    """Any object beyond tensors: `torch.load(weights_only=True)` must refuse to unpickle it."""


def test_pretrained_files_are_checked_before_loading(tmp_path, student_model):
    from recplug.student.convert import convert_efficientnet_lite0
    from recplug.student.towers import tower_config

    tower = tmp_path / "minilm"
    shutil.copytree(student_model, tower)
    truncate(tower / "model.safetensors")
    refused(
        lambda: tower_config(tower, "text"), ["minilm/model.safetensors", "text tower weights", "truncated"]
    )
    pth = tmp_path / "efficientnet_lite0.pth"
    torch.save({"_fc.weight": torch.zeros(2), "hook": NotATensor()}, pth)
    refused(
        lambda: convert_efficientnet_lite0(pth, tmp_path / "out"),
        ["efficientnet_lite0.pth", "never unpickled"],
    )


def test_a_damaged_id_map_is_named(tmp_path):
    """A dataset's id map (string ids -> int64) is read when its ids are exported with their keys."""
    (tmp_path / "data" / "id_map").mkdir(parents=True)
    (tmp_path / "data" / "id_map" / "item_id.parquet").write_bytes(b"PAR1 cut")
    refused(
        lambda: write_embeddings(
            tmp_path / "embeddings.parquet", [1, 2], vectors(2), dataset=tmp_path / "data"
        ),
        ["id_map/item_id.parquet", "truncated"],
    )


# ---------------------------------------------------------------- configs and the CLI's error policy


def test_a_bad_yaml_config_names_file_and_line(tiny_dir, tmp_path, capsys):
    cfg = tmp_path / "teacher.yaml"
    cfg.write_text("kind: id\nepochs: [1, 2\nlr: 3\n")
    cli_refuses(
        capsys,
        ["teachers", "train", "--data", tiny_dir, "--out", tmp_path / "t", "--config", cfg],
        ["teacher.yaml", "invalid YAML at line 3"],
    )


def test_a_bad_yaml_override_names_the_option(tiny_dir, tmp_path, capsys):
    cli_refuses(
        capsys,
        ["teachers", "train", "--data", tiny_dir, "--out", tmp_path / "t", "--set", "epochs=[1"],
        ["--set epochs=[1", "invalid YAML"],
    )


def _raise(error: BaseException):
    def command(args):
        raise error

    return command


def _panic():
    import polars as pl

    return pl.exceptions.PanicException("assertion `left == right` failed\n  left: 69485")


UNEXPECTED = {
    "runtime-error": (RuntimeError("boom\nsecond line"), ["RuntimeError: boom", "--traceback"]),
    "permission-denied": (
        PermissionError(errno.EACCES, "Permission denied", "/data/items.parquet"),
        ["/data/items.parquet: permission denied"],
    ),
    "disk-full": (
        OSError(errno.ENOSPC, "No space left on device", "runs/x/embeddings.parquet"),
        ["runs/x/embeddings.parquet", "no space left", "free some space"],
    ),
    "folder-given-for-a-file": (
        IsADirectoryError(errno.EISDIR, "Is a directory", "runs/x/config.yaml"),
        ["runs/x/config.yaml: is a folder"],
    ),
    "polars-panic": (_panic(), ["PanicException", "assertion", "--traceback"]),
    "multi-line-value-error": (
        ValueError("shapes differ\n(3, 4) vs (4, 3)"),
        ["shapes differ", "--traceback"],
    ),
    "library-key-error": (KeyError("state_dict"), ["KeyError: 'state_dict'", "--traceback"]),
}


@pytest.mark.parametrize("error, culprits", UNEXPECTED.values(), ids=UNEXPECTED.keys())
def test_unexpected_errors_are_one_line_without_a_traceback(monkeypatch, tmp_path, capsys, error, culprits):
    import experiments.commands.data as data_commands

    monkeypatch.setattr(data_commands, "_describe", _raise(error))
    cli_refuses(capsys, ["data", "describe", tmp_path], culprits)


def test_traceback_flag_and_interrupt(monkeypatch, tmp_path, capsys):
    import experiments.commands.data as data_commands

    monkeypatch.setattr(data_commands, "_describe", _raise(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        main(["--traceback", "data", "describe", str(tmp_path)])
    monkeypatch.setattr(data_commands, "_describe", _raise(KeyboardInterrupt()))
    assert main(["data", "describe", str(tmp_path)]) == 130
    assert capsys.readouterr().err.strip() == "recplug: interrupted"
