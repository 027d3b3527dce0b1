"""Shared fixtures. Real-data tests read the datasets from $PERFPREDICT_DATA; under CI they
fail (never skip) when it is not set."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
from hypothesis import settings
from torch import nn

from perfpredict.cli import run
from perfpredict.zoo import SearchSpace, ZooSpec, generate_zoo

# CI replays the same examples on every run; locally, hypothesis explores new ones
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

PLAIN_SPACE = SearchSpace(lr_range=(1e-3, 0.05), lr_ranges={}, data_fraction_range=(0.1, 1.0),
                          mlp_norm=("none",), mlp_width=(16, 32, 64, 128, 256), cnn_norm=("none",),
                          cnn_head=("gap",), vit_hidden=(16, 32, 64))
"""Plain networks (no BatchNorm, no hidden dense layers in CNNs): what the domain tests assume."""

TINY_SPEC = ZooSpec(name="tiny", datasets=("digits",), families=("mlp", "cnn", "vit"),
                    runs_per_group=3, epochs=2, seed=1, max_train_samples=300, space=PLAIN_SPACE)


def run_cli(*args: object) -> subprocess.CompletedProcess:
    """``perfpredict ARGS`` through the console script's entry point (``perfpredict.cli.run``),
    in this process: the exit code and the text written to stdout and stderr, as a user sees
    them, without the seconds of interpreter and torch start-up of a subprocess."""
    argv = ["perfpredict", *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    code: object = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), mock.patch.object(sys, "argv", argv):
        try:
            run()
        except SystemExit as exc:
            code = exc.code
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return subprocess.CompletedProcess(argv, returncode, out.getvalue(), err.getvalue())


class _Block(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)
        self.conv2, self.bn2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))


@pytest.fixture()
def bn_resnet() -> dict:
    """The state dict of a small BatchNorm ResNet (option-B shortcuts) for 1-channel images, 10 classes."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = nn.Sequential()
        net.conv, net.bn = nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        net.layer1, net.layer2 = _Block(8, 8), _Block(8, 16)
        net.fc = nn.Linear(16, 10)
    return net.state_dict()


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = os.environ.get("PERFPREDICT_DATA")
    if not root:
        if os.environ.get("CI"):
            pytest.fail("PERFPREDICT_DATA must point at the datasets in CI")
        pytest.skip("set PERFPREDICT_DATA to run real-data tests")
    return Path(root)


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 9-run digits zoo (MLP, CNN, ViT), trained in-process."""
    out = tmp_path_factory.mktemp("zoo") / "tiny"
    generate_zoo(TINY_SPEC, out, workers=0)
    return out


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))
