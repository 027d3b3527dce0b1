"""Bad input at the command line: every file is reported or processed, nothing crashes, and
nothing in a file is ever executed."""

import json
import pickle
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import save_file

from conftest import run_cli as _cli


class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory, tiny_zoo):
    """A folder of one good checkpoint, odd but readable state dicts, and unreadable files."""
    folder = tmp_path_factory.mktemp("inputs")
    good = next((tiny_zoo / "runs").glob("*/epoch_002.safetensors"))
    (folder / "good.safetensors").write_bytes(good.read_bytes())
    marker = folder.parent / "pwned"
    with open(folder / "payload.pt", "wb") as f:
        pickle.dump({"w": _Payload(str(marker))}, f)
    torch.save(torch.nn.Linear(3, 2), folder / "whole_module.pt")
    (folder / "truncated.safetensors").write_bytes(good.read_bytes()[:200])
    (folder / "empty.pt").write_bytes(b"")
    (folder / "notes.pt").write_text("these are my notes")
    (folder / "dir.pt").mkdir()
    torch.save({"w.weight": torch.full((4, 3), float("nan")), "v.weight": torch.tensor([[np.inf, 1.0]]),
                "e.weight": torch.empty(0, 3), "s": torch.tensor(2.0)}, folder / "nonfinite.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # quantized tensor creation is deprecated
        quantized = torch.quantize_per_tensor(torch.randn(4, 4), 0.1, 0, torch.qint8)
    torch.save({"steps": torch.arange(5), "mask": torch.ones(3, dtype=torch.bool), "q.weight": quantized},
               folder / "integer_quantized.pt")
    save_file({"norm.weight": torch.ones(8), "norm.bias": torch.zeros(8)}, folder / "no_matrix.safetensors")
    return folder, marker


UNREADABLE = {"payload.pt", "truncated.safetensors", "empty.pt", "notes.pt"}
READABLE = {"good.safetensors", "nonfinite.pt", "integer_quantized.pt", "no_matrix.safetensors", "whole_module.pt"}


def test_features_of_a_folder_of_bad_inputs(bad_folder, tmp_path):
    folder, marker = bad_folder
    result = _cli("features", folder, "-o", tmp_path / "f.parquet")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and not marker.exists()
    for name in UNREADABLE:
        assert name in result.stderr
    assert "pickled" in result.stderr and "state_dict" in result.stderr  # says why, and what to do
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert {p.split("/")[-1] for p in frame["path"]} == READABLE
    assert np.isfinite(frame.set_index(frame["path"].str.split("/").str[-1]).loc["good.safetensors", "all.std.mean"])
    assert "steps" in result.stderr and "int64" in result.stderr  # left out, with the reason
    assert "empty.pt is empty (0 bytes)" in result.stderr


def test_features_of_nothing_readable_exits_1_and_writes_nothing(tmp_path):
    (tmp_path / "notes.txt").write_text("my notes")
    result = _cli("features", tmp_path / "notes.txt", "-o", tmp_path / "f.parquet")
    assert result.returncode == 1 and not (tmp_path / "f.parquet").exists()
    stderr = " ".join(result.stderr.split())
    assert "no input could be read" in stderr and "not a checkpoint perfpredict can read" in stderr


def test_predict_lists_what_it_could_not_read(bad_folder, tiny_zoo, tmp_path):
    folder, marker = bad_folder
    assert _cli("features", tiny_zoo, "-o", tmp_path / "f.parquet").returncode == 0
    assert _cli("fit", tmp_path / "f.parquet", "-o", tmp_path / "pred").returncode == 0
    files = sorted(p for p in folder.iterdir())
    result = _cli("predict", *files, folder / "missing.pt", "--predictor", tmp_path / "pred", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr and not marker.exists()
    payload = json.loads(result.stdout)
    # readable, but 3-input and 4-input networks cannot be digits networks (8x8 images): refused
    impossible = {"nonfinite.pt", "integer_quantized.pt", "whole_module.pt"}
    assert {r["checkpoint"].split("/")[-1] for r in payload["predictions"]} == READABLE - impossible
    failed = {f["checkpoint"].split("/")[-1]: f["error"] for f in payload["failed"]}
    assert set(failed) == UNREADABLE | impossible | {"dir.pt", "missing.pt"}
    assert all("cannot be a network of digits" in failed[name] for name in impossible)
    for row in payload["predictions"]:
        assert 0 <= row["predicted_accuracy"] <= 1
    left_out = {r["checkpoint"].split("/")[-1]: r["left_out"] for r in payload["predictions"]}
    # a zoo checkpoint leaves out nothing but BatchNorm running statistics (if it has BatchNorm)
    assert all("BatchNorm running statistic" in why for why in left_out["good.safetensors"].values())
    assert set(left_out["no_matrix.safetensors"]) == set()


def test_a_huge_tensor_takes_bounded_time(tmp_path):
    save_file({"big.weight": torch.randn(10_000, 10_000) * 0.01, "head.weight": torch.randn(10, 10_000)},
              tmp_path / "big.safetensors")
    # a process of its own, so that the time bound can stop it
    result = subprocess.run([sys.executable, "-c", "from perfpredict.cli import run; run()", "features",
                             str(tmp_path / "big.safetensors"), "-o", str(tmp_path / "f.parquet")],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert frame["first.std"].iloc[0] == pytest.approx(0.01, rel=0.01)
    assert np.isnan(frame["first.spectral_norm"].iloc[0])  # 10,000 singular values: not decomposed
    assert np.isnan(frame["alignment.gram_head"].iloc[0])  # nor a 10,000 x 10,000 Gram matrix formed


def _index_content(path):
    index = pd.read_parquet(path).sort_values(["run_id", "epoch"]).reset_index(drop=True)
    return index[["run_id", "epoch", "status", "test_accuracy", "path", "sha256"]]


def test_a_damaged_zoo_is_reported_then_repaired_by_resuming(tiny_zoo, tmp_path):
    from conftest import TINY_SPEC

    zoo = tmp_path / "zoo"
    shutil.copytree(tiny_zoo, zoo)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(TINY_SPEC.to_dict()))
    (zoo / "index.parquet").write_bytes(b"PAR1 not really parquet")
    result = _cli("features", zoo, "-o", tmp_path / "f.parquet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "corrupted" in result.stderr and "zoo generate" in result.stderr

    runs = sorted(p for p in (zoo / "runs").iterdir())
    (runs[0] / "run.json").unlink()
    (runs[1] / "run.json").write_text("{\"run_id\": ")
    (runs[2] / "epoch_001.safetensors").unlink()
    damaged = {p.name for p in runs[:3]}
    result = _cli("zoo", "generate", zoo, "--spec", spec, "--workers", "0")
    assert result.returncode == 0, result.stderr
    reported = {line.split()[1] for line in result.stderr.splitlines() if "was incomplete" in line}
    assert reported == damaged
    set_aside = list((zoo / "runs").glob(".incomplete-*"))
    assert len(set_aside) == 3 and all(any(p.iterdir()) for p in set_aside)  # nothing deleted
    pd.testing.assert_frame_equal(_index_content(zoo / "index.parquet"),
                                  _index_content(tiny_zoo / "index.parquet"))  # retrained identically
    assert _cli("features", zoo, "-o", tmp_path / "f.parquet").returncode == 0


def test_altered_bundles_and_tables_without_needed_columns(tiny_zoo, tmp_path):
    assert _cli("features", tiny_zoo, "-o", tmp_path / "f.parquet").returncode == 0
    assert _cli("fit", tmp_path / "f.parquet", "-o", tmp_path / "pred", "--models", "linear").returncode == 0
    ckpt = next((tiny_zoo / "runs").glob("*/epoch_002.safetensors"))
    coef = json.loads((tmp_path / "pred" / "linear.json").read_text())
    coef["intercept"] += 0.5
    (tmp_path / "pred" / "linear.json").write_text(json.dumps(coef))
    result = _cli("predict", ckpt, "--predictor", tmp_path / "pred", "--model", "linear")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "altered" in result.stderr and "re-fit" in result.stderr

    table = pq.read_table(tmp_path / "f.parquet")
    for column, command in (("test_accuracy", ["fit", "-o", tmp_path / "p2"]), ("run_id", ["evaluate"])):
        pq.write_table(table.drop([column]), tmp_path / "partial.parquet")
        result = _cli(command[0], tmp_path / "partial.parquet", *command[1:], "--models", "linear")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert f"no {column} column" in result.stderr
    pq.write_table(table.drop(["all.std.mean"]), tmp_path / "partial.parquet")
    result = _cli("evaluate", tmp_path / "partial.parquet")
    assert result.returncode == 1 and "lacks 1 feature columns" in result.stderr
    result = _cli("fit", tiny_zoo / "index.parquet", "-o", tmp_path / "p3")  # not a feature table
    assert result.returncode == 1 and "not a perfpredict feature table" in result.stderr
