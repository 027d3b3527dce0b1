import pickle
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from perfpredict.checkpoints import load_checkpoint
from perfpredict.errors import CheckpointError, UnsafeCheckpointError


def _model():
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))


def test_formats_agree(tmp_path):
    sd = _model().state_dict()
    save_file({k: v.contiguous() for k, v in sd.items()}, tmp_path / "m.safetensors")
    torch.save(sd, tmp_path / "m.pt")
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "m.pth")
    np.savez(tmp_path / "m.npz", **{k: v.numpy() for k, v in sd.items()})
    loaded = [load_checkpoint(tmp_path / f"m.{s}") for s in ("safetensors", "pt", "pth", "npz")]
    order = ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]
    # safetensors files keep no order: layers come back in natural name order
    assert [k for k in loaded[0].tensors if k.endswith("weight")] == ["0.weight", "1.weight", "2.weight"]
    assert sorted(loaded[0].tensors) == sorted(order)
    for ck in loaded:
        assert list(ck.tensors) == order or ck is loaded[0]
        assert {"1.running_mean", "1.running_var", "1.num_batches_tracked"} == set(ck.skipped)
        np.testing.assert_array_equal(ck.tensors["2.weight"], sd["2.weight"].numpy())


def test_half_precision_is_upcast(tmp_path):
    save_file({"w": torch.ones(2, 2, dtype=torch.bfloat16), "h": torch.ones(3, dtype=torch.float16)},
              tmp_path / "h.safetensors")
    ck = load_checkpoint(tmp_path / "h.safetensors")
    assert ck.tensors["w"].dtype == np.float32 and ck.tensors["h"].dtype == np.float32


class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"w": _Payload(str(marker))}, f)
    with pytest.raises(UnsafeCheckpointError, match="state_dict"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


def test_whole_module_is_refused(tmp_path):
    torch.save(_model(), tmp_path / "whole.pt")
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        load_checkpoint(tmp_path / "whole.pt")


@pytest.mark.parametrize("content, suffix", [(b"", ".pt"), (b"hello", ".pt"), (b"\x00" * 20, ".safetensors"),
                                             (b"x", ".npz")])
def test_garbage_files(tmp_path, content, suffix):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_missing_dir_and_suffix(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="folder"):
        load_checkpoint(tmp_path)
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(CheckpointError, match="suffix"):
        load_checkpoint(tmp_path / "a.txt")


def test_quantized_tensors_are_dequantized_and_integers_skipped(tmp_path):
    w = torch.randn(4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # quantized tensor creation is deprecated
        q = torch.quantize_per_tensor(w, scale=0.05, zero_point=0, dtype=torch.qint8)
    torch.save({"fc.weight": q, "fc.bias": torch.zeros(4, dtype=torch.float64), "steps": torch.tensor(7)},
               tmp_path / "q.pt")
    ck = load_checkpoint(tmp_path / "q.pt")
    np.testing.assert_allclose(ck.tensors["fc.weight"], q.dequantize().numpy())
    assert ck.tensors["fc.bias"].dtype == np.float64
    assert "int64" in ck.skipped["steps"]
