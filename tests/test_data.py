import gzip
import numpy as np
import pytest
import torch

from perfpredict.data import data_root, load_dataset
from perfpredict.errors import DatasetNotFoundError, UnknownNameError


def test_digits_is_embedded_split_and_standardized():
    d = load_dataset("digits")
    assert d.x_train.shape == (1198, 1, 8, 8) and d.x_eval.shape == (599, 1, 8, 8)
    assert d.num_classes == 10 and d.input_shape == (1, 8, 8)
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std()) - 1) < 1e-3
    assert set(d.y_train.tolist()) == set(range(10))


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("PERFPREDICT_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("PERFPREDICT_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "perfpredict" / "data"


@pytest.mark.parametrize("name, layout", [("mnist", "MNIST/raw"), ("fashion_mnist", "FashionMNIST/raw"),
                                          ("cifar10", "cifar-10-batches")])
def test_missing_dataset_names_layout(tmp_path, name, layout):
    with pytest.raises(DatasetNotFoundError, match=layout):
        load_dataset(name, tmp_path)


def test_unknown_dataset():
    with pytest.raises(UnknownNameError, match="digits"):
        load_dataset("imagenet")


@pytest.mark.parametrize("name, n_train, n_eval, shape, split", [
    ("mnist", 60000, 10000, (1, 28, 28), "official"),
    ("fashion_mnist", 60000, 10000, (1, 28, 28), "official"),
    ("cifar10", 40000, 10000, (3, 32, 32), "data_batch_5 held out"),
])
def test_real_datasets(data_root, name, n_train, n_eval, shape, split):
    before = sorted(p.name for p in data_root.rglob("*"))
    d = load_dataset(name, data_root)
    assert len(d.y_train) == n_train and len(d.y_eval) == n_eval
    assert d.input_shape == shape and d.num_classes == 10 and split in d.eval_split
    assert d.x_train.dtype == torch.float32 and abs(float(d.x_train.mean())) < 1e-3
    assert np.bincount(d.y_eval.numpy(), minlength=10).min() > 800
    assert sorted(p.name for p in data_root.rglob("*")) == before  # the data root is never written


def _idx(array):
    """IDX bytes (MNIST's format) of a uint8 array."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(raw, n_train=6, n_eval=4, compress=(True, False, True, False)):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (n_train, 28, 28)), np.arange(n_train) % 10,
              rng.integers(0, 256, (n_eval, 28, 28)), np.arange(n_eval) % 10]
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte"]
    raw.mkdir(parents=True)
    for name, array, gz in zip(names, arrays, compress):
        data = _idx(array)
        (raw / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)
    return arrays


def test_mnist_layout_read_without_torchvision(tmp_path):
    arrays = _write_mnist(tmp_path / "MNIST" / "raw")
    d = load_dataset("mnist", tmp_path)
    assert d.x_train.shape == (6, 1, 28, 28) and d.x_eval.shape == (4, 1, 28, 28)
    assert d.y_train.tolist() == arrays[1].tolist() and d.y_eval.tolist() == arrays[3].tolist()
    raw = torch.from_numpy(arrays[0].astype(np.float32)[:, None] / 255.0)
    torch.testing.assert_close(d.x_train, (raw - raw.mean()) / raw.std())


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupted_mnist_file_is_named(tmp_path, damage):
    raw = tmp_path / "FashionMNIST" / "raw"
    _write_mnist(raw)
    victim = raw / "t10k-images-idx3-ubyte.gz"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a gzip file")
    with pytest.raises(DatasetNotFoundError, match="t10k-images-idx3-ubyte.gz is corrupted.*download"):
        load_dataset("fashion_mnist", tmp_path)
