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


class _Net(torch.nn.Module):
    """A user's own module class: not importable by whoever loads the file."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
        self.head = torch.nn.Linear(4, 10)


@pytest.mark.parametrize("name", ["whole.pt", "whole.pth.tar", "whole.th", "whole"])
def test_whole_pickled_models_are_read_by_content_without_creating_them(tmp_path, name):
    model = _Net()
    torch.save(model, tmp_path / name)
    ck = load_checkpoint(tmp_path / name)
    sd = model.state_dict()
    assert list(ck.tensors) == ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                                "head.weight", "head.bias"]
    for k, v in ck.tensors.items():
        np.testing.assert_array_equal(v, sd[k].numpy())
    assert "features.1.running_var" in ck.skipped


def test_training_snapshots_and_lightning_checkpoints(tmp_path):
    model = _model()
    sd = model.state_dict()
    opt = torch.optim.SGD(model.parameters(), 0.1, momentum=0.9)
    torch.save({"epoch": 5, "arch": "mlp", "state_dict": sd, "optimizer": opt.state_dict(), "best_acc1": 0.9},
               tmp_path / "checkpoint.pth.tar")
    torch.save({"epoch": 2, "global_step": 100, "state_dict": {f"model.{k}": v for k, v in sd.items()},
                "optimizer_states": [opt.state_dict()], "hyper_parameters": {"lr": 0.1}}, tmp_path / "last.ckpt")
    torch.save({"epoch": 1, "model": model, "optimizer": opt}, tmp_path / "snapshot")  # whole objects
    for name in ("checkpoint.pth.tar", "last.ckpt", "snapshot"):
        ck = load_checkpoint(tmp_path / name)
        assert list(ck.tensors) == ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"], name
        np.testing.assert_array_equal(ck.tensors["2.weight"], sd["2.weight"].numpy())


class _Reduce:
    """Pickles as ``func(*args)``: how a malicious file makes the unpickler call something."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)

    def __call__(self, *args):  # pickle wants the function of a reduce to be callable
        raise AssertionError("never called")


def _payloads(marker):
    import builtins
    import collections
    import os

    touch = f"open({str(marker)!r}, 'w')"
    return {
        "os.system": _Reduce(os.system, f"touch {marker}"),
        "eval": _Reduce(builtins.eval, touch),
        "exec": _Reduce(builtins.exec, touch),
        "getattr chain": _Reduce(_Reduce(builtins.getattr, _Reduce(builtins.__import__, "os"), "system"),
                                 f"touch {marker}"),
        "nested reduce": _Reduce(builtins.open, _Reduce(str, str(marker)), "w"),
        "setstate on a dict": _StateTrick(collections.OrderedDict, {"__class__": _Reduce(os.system, "true")}),
        "rebuild from a payload": _Reduce(torch._utils._rebuild_tensor_v2, _Reduce(os.system, f"touch {marker}"),
                                          0, (2,), (1,), False, collections.OrderedDict()),
    }


class _StateTrick:
    """Pickles as ``cls()`` followed by BUILD with ``state``."""

    def __init__(self, cls, state):
        self.cls, self.state = cls, state

    def __reduce__(self):
        return (self.cls, (), self.state)


@pytest.mark.parametrize("kind", ["os.system", "eval", "exec", "getattr chain", "nested reduce",
                                  "setstate on a dict", "rebuild from a payload"])
def test_malicious_torch_files_run_nothing(tmp_path, kind):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"fc.weight": torch.ones(2, 3), "payload": _payloads(marker)[kind]}, path)
    try:
        ck = load_checkpoint(path)
    except CheckpointError as exc:
        assert str(path) in str(exc)  # refused, saying which file
    else:
        assert list(ck.tensors) == ["fc.weight"] and "payload" in ck.skipped  # inert, left out
    assert not marker.exists()


def _storage_pickle(tmp_path, key, offset=0, size=(2,), stride=(1,)):
    """A zip-format torch file whose one tensor names storage ``key`` (as a crafted file could)."""
    import io
    import zipfile

    class _Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, key, "cpu", 4) if obj is _STORAGE else None

    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump({"w": _Reduce(torch._utils._rebuild_tensor_v2, _STORAGE, offset, size,
                                                    stride, False, __import__("collections").OrderedDict())})
    path = tmp_path / "crafted.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buffer.getvalue())
        z.writestr("archive/version", b"3\n")
        z.writestr("archive/byteorder", b"little")
        z.writestr("archive/data/0", np.arange(4, dtype=np.float32).tobytes())
        z.writestr("archive/secret", b"\x00" * 16)
    return path


_STORAGE = object()


def test_crafted_storages_are_checked(tmp_path):
    """The restricted unpickler's own checks (torch's weights-only loader reads such files first)."""
    from perfpredict.checkpoints.torch_pickle import read_torch_pickle

    ok = read_torch_pickle(str(_storage_pickle(tmp_path, "0", offset=1, size=(2,), stride=(2,))))
    np.testing.assert_array_equal(ok["w"].numpy(), [1.0, 3.0])
    for key, offset, size, stride, message in [("../secret", 0, (2,), (1,), "outside its data folder"),
                                               ("0", 3, (2,), (1,), "past the end"),
                                               ("0", 0, (2, 2), (1,), "do not match"),
                                               ("0", -1, (2,), (1,), "other than a storage"),
                                               ("7", 0, (2,), (1,), "lacks the storage")]:
        with pytest.raises(CheckpointError, match=message):
            read_torch_pickle(str(_storage_pickle(tmp_path, key, offset, size, stride)))


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
    (tmp_path / "a.txt").write_text("some notes")
    with pytest.raises(CheckpointError, match="not a checkpoint perfpredict can read"):
        load_checkpoint(tmp_path / "a.txt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        load_checkpoint(tmp_path / "empty.pt")


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


def _need_h5py():
    """h5py comes with the keras extra, which CI installs: missing there is a failure, not a skip."""
    import importlib.util
    import os

    if importlib.util.find_spec("h5py") is None:
        if os.environ.get("CI"):
            pytest.fail("h5py is missing: install perfpredict[keras]")
        pytest.skip("install perfpredict[keras] to read Keras weights")


def _keras_weights(rng):
    """A conv-BatchNorm-dense Keras model's weights, in Keras layouts (HWIO kernels, in x out)."""
    return {"conv2d": [rng.normal(size=(3, 3, 1, 4)), rng.normal(size=4)],
            "batch_normalization": [rng.normal(size=4) for _ in range(4)],
            "dense": [rng.normal(size=(36, 10)), rng.normal(size=10)]}


def _write_keras2(path, weights, full_model):
    import h5py

    names = {"conv2d": ["kernel", "bias"], "batch_normalization": ["gamma", "beta", "moving_mean", "moving_variance"],
             "dense": ["kernel", "bias"]}
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if full_model else f
        root.attrs["layer_names"] = [n.encode() for n in ["conv2d", "batch_normalization", "flatten", "dense"]]
        root.create_group("flatten").attrs["weight_names"] = []
        for layer, values in weights.items():
            group = root.create_group(layer)
            group.attrs["weight_names"] = [f"{layer}/{n}:0".encode() for n in names[layer]]
            for n, v in zip(names[layer], values):
                group.create_dataset(f"{layer}/{n}:0", data=v)


def _write_keras3(path, weights):
    import io
    import json
    import zipfile

    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for layer, values in weights.items():
            group = f.create_group(f"layers/{layer}/vars")
            for i, v in enumerate(values):
                group.create_dataset(str(i), data=v)
    config = {"config": {"layers": [{"config": {"name": n}} for n in ("conv2d", "batch_normalization", "dense")]}}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", buffer.getvalue())


@pytest.mark.parametrize("layout", ["keras2 model", "keras2 weights", "keras3"])
def test_keras_weights_in_torch_layout(tmp_path, layout):
    _need_h5py()
    weights = _keras_weights(np.random.default_rng(0))
    path = tmp_path / ("model.keras" if layout == "keras3" else "model.h5")
    if layout == "keras3":
        _write_keras3(path, weights)
    else:
        _write_keras2(path, weights, full_model=layout == "keras2 model")
    ck = load_checkpoint(path)
    assert list(ck.tensors) == ["conv2d.weight", "conv2d.bias", "batch_normalization.weight",
                                "batch_normalization.bias", "dense.weight", "dense.bias"]
    np.testing.assert_allclose(ck.tensors["conv2d.weight"], weights["conv2d"][0].transpose(3, 2, 0, 1))
    np.testing.assert_allclose(ck.tensors["dense.weight"], weights["dense"][0].T)
    assert set(ck.skipped) == {"batch_normalization.running_mean", "batch_normalization.running_var"}
    from perfpredict.features.structure import checkpoint_structure

    structure = checkpoint_structure(ck)
    assert (structure.input_channels, structure.num_classes) == (1, 10) and "batch_norm" in structure.layer_kinds
