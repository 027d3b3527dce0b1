"""Every shell and Python example of the README runs as written, in order, in an empty folder,
with the smaller zoo sizes of ``SMALLER`` and the commands of ``SKIPPED`` left out (each with
why). Needs MNIST and CIFAR-10 (``$PERFPREDICT_DATA``)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import save_file

from conftest import run_cli
from perfpredict.archs import build_model

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(bash|python)\n(.*?)^```", re.M | re.S)

SMALLER = {  # README text -> what the test runs instead (the same zoo, smaller)
    "--runs 16 --epochs 1-4 --max-train-samples 10000":
        "--runs 4 --epochs 1-2 --max-train-samples 1000 --max-eval-samples 500",
    "runs_per_group=16, epochs=4, space=SearchSpace(epochs_range=(1, 4)), max_train_samples=10_000":
        "runs_per_group=4, epochs=2, space=SearchSpace(epochs_range=(1, 2)), max_train_samples=1_000, "
        "max_eval_samples=500",
    "--datasets mnist,cifar10 --families lenet,resnet --runs 16 --epochs 1-30":
        "--datasets mnist --families lenet,resnet --runs 2 --epochs 1-30 --calibration 1",
}
SKIPPED = {  # a command's start -> why the test does not run it
    "pip install": "installs the package; CI does it before the tests",
    "python -m pytest": "runs this test suite",
    "perfpredict demo": "tests/test_cli.py::test_demo_convinces runs it",
    "perfpredict zoo generate zoos/reference-": "hours of training; tests/test_pretrained.py checks the committed tables",
    "perfpredict features zoos/reference-": "needs the reference zoo's checkpoints",
    "perfpredict zoo generate zoos/v2-": "hours of training; tests/test_benchmarks.py reads portion tables",
    "perfpredict features zoos/v2-": "needs the zoo v2 portion's checkpoints",
    "perfpredict fit data/zoos/reference-": "minutes of fitting on 13,500 rows; the v1 predictor is no longer shipped",
    "perfpredict fit data/zoos/v2-": "minutes of fitting (one replaces the shipped predictor); tests/test_pretrained.py checks its tables",
    "python benchmarks/": "benchmarks take minutes to hours; their figures are in benchmarks/RESULTS.md",
}


def _examples() -> list[tuple[str, str, int]]:
    text = README.read_text()
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 2) for m in FENCE.finditer(text)]


def _commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [" ".join(shlex.split(line, comments=True)) for line in joined.splitlines()
            if shlex.split(line, comments=True)]


def _smaller(text: str) -> str:
    for readme, test in SMALLER.items():
        text = text.replace(readme, test)
    return text


def _run_shell(command: str) -> None:
    skip = next((why for start, why in SKIPPED.items() if command.startswith(start)), None)
    if skip is not None:
        return
    argv = shlex.split(_smaller(command))
    assert argv[0] == "perfpredict", f"the README's shell examples run perfpredict; add {command!r} to SKIPPED"
    done = run_cli(*argv[1:])
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr


def _files_the_readme_assumes(folder: Path) -> None:
    """``model.safetensors`` (a state dict) and ``other.pt`` (a whole pickled model) of MNIST networks."""
    torch.manual_seed(0)
    save_file(build_model("lenet", (1, 28, 28), 10).state_dict(), str(folder / "model.safetensors"))
    torch.save(build_model("mlp", (1, 28, 28), 10, depth=2, width=64), folder / "other.pt")


def test_readme_lists_what_it_skips_and_shrinks():
    text = README.read_text()
    commands = [c for lang, block, _ in _examples() if lang == "bash" for c in _commands(block)]
    for start in SKIPPED:
        assert any(c.startswith(start) for c in commands), f"SKIPPED names {start!r}, which the README lost"
    for readme in SMALLER:
        assert readme in text, f"SMALLER shrinks {readme!r}, which the README lost"


def test_readme_examples_run_as_written(data_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _files_the_readme_assumes(tmp_path)
    for lang, block, line in _examples():
        if lang == "bash":
            for command in _commands(block):
                _run_shell(command)
            continue
        namespace = {  # the placeholders of the scikit-learn example
            "list_of_checkpoint_paths_or_state_dicts": [],
            "accuracies": [],
        }
        if "list_of_checkpoint_paths_or_state_dicts" in block:
            index = pd.read_parquet(tmp_path / "zoos/mnist/index.parquet")
            namespace["list_of_checkpoint_paths_or_state_dicts"] = [tmp_path / "zoos/mnist" / p for p in index["path"]]
            namespace["accuracies"] = index["test_accuracy"].to_numpy()
        exec(compile(_smaller(block), f"README.md:{line}", "exec"), namespace)
    assert (tmp_path / "mnist-predictor/manifest.json").exists() and (tmp_path / "report/index.html").exists()
    assert len(pd.read_csv(tmp_path / "metrics.csv")) > 0
