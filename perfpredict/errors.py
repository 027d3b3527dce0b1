"""Exception hierarchy. Every message says what went wrong and what to do about it."""

from __future__ import annotations

__all__ = [
    "PerfPredictError",
    "DatasetNotFoundError",
    "UnknownNameError",
    "CheckpointError",
    "UnsafeCheckpointError",
    "ZooStoreError",
    "SchemaMismatchError",
    "BundleError",
    "DomainError",
]


class PerfPredictError(Exception):
    """Base class of every error that perfpredict raises on purpose."""


class DatasetNotFoundError(PerfPredictError, FileNotFoundError):
    """A dataset is not where the data root says it should be."""


class UnknownNameError(PerfPredictError, KeyError):
    """A name (dataset, architecture, schema, optimizer, ...) is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointError(PerfPredictError, ValueError):
    """A checkpoint file cannot be read as a set of named tensors."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint holds pickled objects other than tensors; it is refused unexecuted."""


class ZooStoreError(PerfPredictError):
    """A zoo folder is missing, corrupted, or was made from another spec."""


class SchemaMismatchError(PerfPredictError, ValueError):
    """Features were made with another schema (or columns) than a predictor expects."""


class BundleError(PerfPredictError):
    """A predictor bundle is missing files, was altered, or has an unknown format."""


class DomainError(PerfPredictError, ValueError):
    """A checkpoint cannot be a network of the dataset a predictor is asked about (its first
    layer or head does not fit)."""


def unknown_name(kind: str, name: str, known: object) -> UnknownNameError:
    """Build the error for an unregistered name, listing the valid choices."""
    choices = ", ".join(sorted(map(str, known)))  # type: ignore[call-overload]
    return UnknownNameError(f"unknown {kind} {name!r}; choose one of: {choices}")
