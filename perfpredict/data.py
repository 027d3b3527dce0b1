"""Datasets as normalized tensors with a fixed train/eval split.

``digits`` is scikit-learn's embedded 8x8 digits set (no download ever). ``mnist`` and
``fashion_mnist`` are read through torchvision's dataset classes; ``cifar10`` through
torchvision's python version or from the binary version (``cifar-10-batches-bin``).

The data root is, in order: the ``root`` argument, the ``PERFPREDICT_DATA`` environment
variable, then ``~/.cache/perfpredict/data`` (``$XDG_CACHE_HOME`` is honoured).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import DatasetNotFoundError, unknown_name

__all__ = ["Dataset", "DATASETS", "load_dataset", "data_root", "cache_dir"]

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


def _torchvision_mnist_like(cls_name: str, folder: str) -> Callable[[Path], tuple]:
    def load(root: Path) -> tuple:
        import torchvision.datasets as tvd
        from torchvision.datasets.utils import check_integrity

        cls = getattr(tvd, cls_name)
        raw = root / folder / "raw"
        unpacked = [raw / Path(name).stem for name, _ in cls.resources]
        packed = [raw / name for name, _ in cls.resources]
        if all(p.exists() for p in unpacked):
            source = root
        elif all(p.exists() for p in packed):
            for path, (_, md5) in zip(packed, cls.resources):
                if not check_integrity(str(path), md5):
                    raise DatasetNotFoundError(
                        f"{path} is corrupted (md5 differs from torchvision's); "
                        f"delete it and download {cls_name} again"
                    )
            source = _writable_mirror(root, folder, packed)
        else:
            raise DatasetNotFoundError(
                f"{cls_name} not found under {root}: expected {raw}/ holding "
                f"{', '.join(p.name for p in packed)} (torchvision's layout). Get it with "
                f"torchvision.datasets.{cls_name}(root='{root}', download=True), or point "
                f"--data-root / ${DATA_ENV} at a folder that has it"
            )
        # All archives are present and verified, so download=True only extracts them.
        train = cls(root=str(source), train=True, download=True)
        test = cls(root=str(source), train=False, download=True)
        x_tr = train.data.numpy().astype(np.float32)[:, None] / 255.0
        x_te = test.data.numpy().astype(np.float32)[:, None] / 255.0
        split = f"official {cls_name} test set ({len(x_te)} images)"
        return x_tr, train.targets.numpy(), x_te, test.targets.numpy(), split

    return load


def _writable_mirror(root: Path, folder: str, packed: list[Path]) -> Path:
    """Return a cache root that links to the archives, where torchvision may extract them.

    The data root itself is never written to: it may be shared or read-only.
    """
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    mirror = cache_dir() / "extracted" / key
    (mirror / folder / "raw").mkdir(parents=True, exist_ok=True)
    for path in packed:
        link = mirror / folder / "raw" / path.name
        if not link.exists():
            link.symlink_to(path.resolve())
    return mirror


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
    "mnist": _torchvision_mnist_like("MNIST", "MNIST"),
    "fashion_mnist": _torchvision_mnist_like("FashionMNIST", "FashionMNIST"),
    "cifar10": _load_cifar10,
}


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
