import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open

from perfpredict._io import sha256_file
from perfpredict.errors import DatasetNotFoundError, ZooStoreError
from perfpredict.zoo import ZooSpec, ZooStore, generate_zoo

from conftest import TINY_SPEC


def test_zoo_layout_v1(tiny_zoo):
    meta = json.loads((tiny_zoo / "zoo.json").read_text())
    assert meta["format_version"] == 1 and meta["spec"] == TINY_SPEC.to_dict()
    assert "digits" in meta["eval_splits"] and "torch" in meta["versions"]
    index = pd.read_parquet(tiny_zoo / "index.parquet")
    assert len(index) == 9 * 3 and index["run_id"].nunique() == 9
    for col in ["run_id", "epoch", "family", "dataset", "status", "train_accuracy", "train_loss",
                "test_accuracy", "test_loss", "path", "sha256", "config.lr", "config.optimizer",
                "config.arch.depth", "config.schedule", "config.precision", "train_seconds", "precision"]:
        assert col in index.columns
    assert (index["train_seconds"] > 0).all() and set(index["precision"]) <= {"fp32", "bf16"}
    assert set(index["family"]) == {"mlp", "cnn", "vit"}
    row = index.iloc[0]
    assert sha256_file(tiny_zoo / row["path"]) == row["sha256"]
    run = json.loads((tiny_zoo / "runs" / row["run_id"] / "run.json").read_text())
    assert set(run) == {"format_version", "run_id", "spec", "status", "checkpoints", "train_seconds", "precision"}
    with safe_open(str(tiny_zoo / row["path"]), framework="np") as f:
        assert f.metadata()["run_id"] == row["run_id"]
        assert json.loads(f.metadata()["tensor_order"])[0] in f.keys()


def test_resume_trains_nothing_and_keeps_index(tiny_zoo):
    before = pd.read_parquet(tiny_zoo / "index.parquet")
    calls = []
    after = generate_zoo(TINY_SPEC, tiny_zoo, workers=0, on_run=lambda *a: calls.append(a))
    assert calls == []
    pd.testing.assert_frame_equal(before, after)


def test_interrupted_run_is_redone_without_duplicates(tmp_path):
    spec = ZooSpec(name="r", datasets=("digits",), families=("mlp",), runs_per_group=2, epochs=1,
                   max_train_samples=200)
    out = tmp_path / "zoo"
    store = ZooStore(out)
    store.open(spec, {})
    runs = spec.runs()
    (out / "runs" / f".tmp-{runs[0].run_id}-dead").mkdir()  # left by a crashed run
    index = generate_zoo(spec, out, workers=0)
    assert sorted(index["run_id"].unique()) == sorted(r.run_id for r in runs)
    assert not list((out / "runs").glob(".tmp-*"))
    assert len(index) == len(index.drop_duplicates(["run_id", "epoch"]))


def test_other_spec_is_refused(tiny_zoo):
    with pytest.raises(ZooStoreError, match="another spec"):
        ZooStore(tiny_zoo).open(ZooSpec(seed=99), {})
    renamed = dataclasses.replace(TINY_SPEC, name="other")
    with pytest.raises(ZooStoreError, match=r"differs in name: 'tiny' in zoo.json, 'other' given\)"):
        ZooStore(tiny_zoo).open(renamed, {})


def test_missing_and_corrupt_zoo(tmp_path):
    with pytest.raises(ZooStoreError, match="zoo generate"):
        ZooStore(tmp_path).load_index()
    spec = ZooSpec(runs_per_group=1)
    ZooStore(tmp_path).open(spec, {})
    (tmp_path / "index.parquet").write_bytes(b"not parquet")
    with pytest.raises(ZooStoreError, match="corrupted"):
        ZooStore(tmp_path).load_index()


def test_a_failed_start_leaves_no_folder(tmp_path):
    spec = ZooSpec(datasets=("mnist",), runs_per_group=1)
    with pytest.raises(DatasetNotFoundError):
        generate_zoo(spec, tmp_path / "new", data_root=tmp_path / "no-data")
    assert not (tmp_path / "new").exists()


def test_parallel_workers_match_serial(tmp_path):
    spec = ZooSpec(name="p", datasets=("digits",), families=("mlp",), runs_per_group=2, epochs=1,
                   max_train_samples=200)
    a = generate_zoo(spec, tmp_path / "a", workers=0)
    b = generate_zoo(spec, tmp_path / "b", workers=2)
    # one torch thread in workers vs several here: equal up to float reduction order
    cols = ["run_id", "epoch", "test_accuracy", "train_loss"]
    pd.testing.assert_frame_equal(a[cols], b[cols], rtol=1e-4)


def test_checkpoint_bytes_are_pinned():
    """Format v1 checkpoints are byte-exact: same tensors and metadata, same file."""
    import hashlib

    import torch
    from safetensors.torch import load

    from perfpredict.zoo import RunSpec
    from perfpredict.zoo.store import encode_checkpoint

    state = {"0.weight": torch.arange(6, dtype=torch.float32).view(2, 3), "0.bias": torch.tensor([0.5, -1.0])}
    blob = encode_checkpoint(RunSpec("digits", "mlp", {"depth": 1, "width": 2}), 3, state)
    assert hashlib.sha256(blob).hexdigest() == "d77a3673c5704b6c76840deabba0c1b7343b3cd4f6814b1c3e96c160738393a6"
    assert int.from_bytes(blob[:8], "little") % 8 == 0
    loaded = load(blob)
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


_FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


@st.composite
def _states(draw):
    names = draw(st.lists(st.from_regex(r"[a-z]{1,6}(\.[0-9]{1,2})?\.(weight|bias)", fullmatch=True),
                          min_size=1, max_size=6, unique=True))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    state = {}
    for name in names:
        shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
        state[name] = torch.randn(shape, generator=gen).to(draw(st.sampled_from(_FLOATS)))
    return state


@settings(max_examples=40, deadline=None)
@given(_states())
def test_checkpoint_round_trip(tmp_path_factory, state):
    from perfpredict.checkpoints import load_checkpoint
    from perfpredict.zoo.store import encode_checkpoint

    spec = TINY_SPEC.runs()[0]
    blob = encode_checkpoint(spec, 3, state)
    assert encode_checkpoint(spec, 3, dict(state)) == blob  # byte-stable
    path = tmp_path_factory.mktemp("rt") / "c.safetensors"
    path.write_bytes(blob)
    loaded = load_checkpoint(path)
    assert list(loaded.tensors) == list(state)  # the stored order comes back
    for name, tensor in state.items():
        expected = tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor
        np.testing.assert_array_equal(loaded.tensors[name], expected.numpy())
    with safe_open(str(path), framework="np") as f:
        assert f.metadata()["run_id"] == spec.run_id and f.metadata()["epoch"] == "3"
