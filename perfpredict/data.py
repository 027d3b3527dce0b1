"""Datasets as normalized tensors with a fixed train/eval split.

``digits`` is scikit-learn's embedded 8x8 digits set (no download ever). ``mnist`` and
``fashion_mnist`` are read from torchvision's layout (``MNIST/raw/*-ubyte[.gz]``) without
importing torchvision (it takes longer to import than the data take to read); ``cifar10``
through torchvision's python version or from the binary version (``cifar-10-batches-bin``).

The data root is, in order: the ``root`` argument, the ``PERFPREDICT_DATA`` environment
variable, then ``~/.cache/perfpredict/data`` (``$XDG_CACHE_HOME`` is honoured).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import DatasetNotFoundError, unknown_name

__all__ = ["Dataset", "DATASETS", "DATASET_SHAPES", "load_dataset", "data_root", "cache_dir"]

DATA_ENV = "PERFPREDICT_DATA"


@dataclass(frozen=True)
class Dataset:
    """A classification dataset held in memory.

    Attributes
    ----------
    name : str
        Registered dataset name.
    x_train, y_train, x_eval, y_eval : torch.Tensor
        Images as float32 ``(N, C, H, W)``, standardized with training-set statistics,
        and int64 labels.
    num_classes : int
        Number of classes.
    eval_split : str
        What the evaluation split is (official test set or a held-out training part).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_eval: torch.Tensor
    y_eval: torch.Tensor
    num_classes: int
    eval_split: str

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of one image."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)


def cache_dir() -> Path:
    """User cache folder of perfpredict (``$XDG_CACHE_HOME/perfpredict``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "perfpredict"


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data root: argument, then ``$PERFPREDICT_DATA``, then the user cache."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return cache_dir() / "data"


def _standardize(x_train: torch.Tensor, x_eval: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return (x_train - mean) / std, (x_eval - mean) / std


def _load_digits(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]
    order = np.random.default_rng(0).permutation(len(images))
    n_eval = len(images) // 3
    ev, tr = order[:n_eval], order[n_eval:]
    split = f"fixed random third of scikit-learn digits ({n_eval} images, seed 0)"
    return images[tr], bunch.target[tr], images[ev], bunch.target[ev], split


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (MNIST's format), plain or gzip-compressed."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        magic, ndim = int.from_bytes(raw[:2], "big"), raw[3]
        shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
        if magic != 0 or raw[2] != 0x08 or len(raw) != 4 + 4 * ndim + math.prod(shape):
            raise ValueError("not an IDX file of unsigned bytes, or truncated")
    except (OSError, EOFError, ValueError, IndexError, zlib.error) as exc:
        raise DatasetNotFoundError(f"{path} is corrupted ({exc}); delete it and download the "
                                   "dataset again") from exc
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _mnist_like(cls_name: str, folder: str) -> Callable[[Path], tuple]:
    """Loader of MNIST or Fashion-MNIST in torchvision's layout (``FOLDER/raw``, .gz or not)."""

    def load(root: Path) -> tuple:
        raw = root / folder / "raw"
        found = []
        for name in _MNIST_FILES:
            candidates = [raw / name, raw / f"{name}.gz"]
            path = next((p for p in candidates if p.exists()), None)
            if path is None:
                raise DatasetNotFoundError(
                    f"{cls_name} not found under {root}: expected {raw}/ holding "
                    f"{', '.join(f'{n}.gz' for n in _MNIST_FILES)} (torchvision's layout). Get "
                    f"it with torchvision.datasets.{cls_name}(root='{root}', download=True), or "
                    f"point --data-root / ${DATA_ENV} at a folder that has it")
            found.append(path)
        x_tr, y_tr, x_te, y_te = (_read_idx(p) for p in found)
        x_tr, x_te = (x.astype(np.float32)[:, None] / 255.0 for x in (x_tr, x_te))
        split = f"official {cls_name} test set ({len(x_te)} images)"
        return x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64), split

    return load


def _read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    records = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64)


def _load_cifar10(root: Path) -> tuple:
    py, binary = root / "cifar-10-batches-py", root / "cifar-10-batches-bin"
    if (py / "test_batch").exists():
        import torchvision.datasets as tvd

        train = tvd.CIFAR10(root=str(root), train=True, download=False)
        test = tvd.CIFAR10(root=str(root), train=False, download=False)
        x_tr, x_te = (d.data.transpose(0, 3, 1, 2) for d in (train, test))
        y_tr, y_te = np.asarray(train.targets), np.asarray(test.targets)
        split = "official CIFAR-10 test set (10000 images)"
    elif all((binary / f"data_batch_{i}.bin").exists() for i in range(1, 6)):
        parts = [_read_cifar_bin(binary / f"data_batch_{i}.bin") for i in range(1, 6)]
        test_file = binary / "test_batch.bin"
        if test_file.exists() and test_file.stat().st_size == 10000 * 3073:
            x_tr = np.concatenate([p[0] for p in parts])
            y_tr = np.concatenate([p[1] for p in parts])
            x_te, y_te = _read_cifar_bin(test_file)
            split = "official CIFAR-10 test set (10000 images)"
        else:
            x_tr = np.concatenate([p[0] for p in parts[:4]])
            y_tr = np.concatenate([p[1] for p in parts[:4]])
            x_te, y_te = parts[4]
            split = "data_batch_5 held out (official test set incomplete); trained on batches 1-4"
    else:
        raise DatasetNotFoundError(
            f"CIFAR-10 not found under {root}: expected cifar-10-batches-py/ (torchvision's "
            "python version) or cifar-10-batches-bin/data_batch_1..5.bin (binary version). "
            f"Get it with torchvision.datasets.CIFAR10(root='{root}', download=True), or point "
            f"--data-root / ${DATA_ENV} at a folder that has it"
        )
    scale = np.float32(1 / 255)
    return x_tr.astype(np.float32) * scale, y_tr, x_te.astype(np.float32) * scale, y_te, split


DATASETS: dict[str, Callable[[Path], tuple]] = {
    "digits": _load_digits,
    "mnist": _mnist_like("MNIST", "MNIST"),
    "fashion_mnist": _mnist_like("FashionMNIST", "FashionMNIST"),
    "cifar10": _load_cifar10,
}

DATASET_SHAPES: dict[str, tuple[tuple[int, int, int], int]] = {
    "digits": ((1, 8, 8), 10),
    "mnist": ((1, 28, 28), 10),
    "fashion_mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
}
"""``((channels, height, width), classes)`` of each registered dataset, known without loading it."""


@lru_cache(maxsize=4)
def _load_cached(name: str, root: Path) -> Dataset:
    x_tr, y_tr, x_ev, y_ev, split = DATASETS[name](root)
    xt, xe = _standardize(torch.from_numpy(np.ascontiguousarray(x_tr)), torch.from_numpy(x_ev))
    y_train = torch.as_tensor(np.asarray(y_tr), dtype=torch.int64)
    y_eval = torch.as_tensor(np.asarray(y_ev), dtype=torch.int64)
    n_classes = int(max(y_train.max(), y_eval.max())) + 1
    return Dataset(name, xt.contiguous(), y_train, xe.contiguous(), y_eval, n_classes, split)


def load_dataset(name: str, root: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a registered dataset with its fixed train/eval split.

    Parameters
    ----------
    name : {"digits", "mnist", "fashion_mnist", "cifar10"}
        Dataset name.
    root : path, optional
        Data root; defaults to ``$PERFPREDICT_DATA`` and then the user cache.

    Returns
    -------
    Dataset
        Standardized images and labels. Loaded once per process and then cached.

    Raises
    ------
    DatasetNotFoundError
        If the files are missing; the message names the expected layout.
    """
    if name not in DATASETS:
        raise unknown_name("dataset", name, DATASETS)
    resolved = data_root(root) if name != "digits" else Path(".")
    return _load_cached(name, resolved.resolve())
