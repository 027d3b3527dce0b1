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
