"""Predictor bundles on disk: a pickle-free folder, every file's SHA-256 in its manifest.

``manifest.json`` (schema, feature names, metrics, training provenance, interval half-widths,
the domain model's settings, library versions, SHA-256 of every file), ``xgboost.ubj``
(XGBoost's own format; ``xgboost.1.ubj``, ... for the other fits of an averaged predictor),
one JSON file per linear model (imputation, scaling, coefficients and link) and
``domain.safetensors`` (the arrays of the :class:`~perfpredict.predictor.domain.DomainModel`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import read_versioned_json, sha256_file, write_json_atomic
from ..errors import BundleError
from .domain import DomainModel
from .models import AccuracyPredictor

if TYPE_CHECKING:
    from .bundles import PredictorBundle

__all__ = ["BUNDLE_FORMAT", "save_bundle", "load_bundle"]

BUNDLE_FORMAT = 3
"""2: intervals widen with the distance to the training zoo, and a domain model is saved.
3: a model's entry lists its ``files`` (several for averaged XGBoost fits). Format 2 is read too."""
_READABLE = (2, 3)


def _linear_json(p: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in p.items()}


def save_bundle(bundle: "PredictorBundle", path: str | os.PathLike[str]) -> Path:
    """Write ``bundle`` to the folder ``path`` (created); returns the folder."""
    from .. import __version__

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}
    for name, pred in bundle.models.items():
        if pred.model == "xgboost":
            paths = [out / (f"{name}.ubj" if k == 0 else f"{name}.{k}.ubj") for k in range(len(pred.boosters_))]
            for booster, file in zip(pred.boosters_, paths):
                booster.save_model(str(file))
        else:
            paths = [out / f"{name}.json"]
            write_json_atomic(paths[0], _linear_json(pred.linear_))
        files[name] = {"files": [{"file": f.name, "sha256": sha256_file(f)} for f in paths], "kind": pred.model,
                       "params": json.loads(json.dumps(pred.get_params())),
                       "fitted": json.loads(json.dumps(getattr(pred, "best_params_", {})))}
    import sklearn
    import xgboost

    manifest = {"format_version": BUNDLE_FORMAT, "schema": bundle.schema,
                "schema_version": bundle.schema_version, "feature_names": bundle.feature_names,
                "models": files, "info": bundle.info, "domain": _save_domain(bundle.domain, out),
                "versions": {"perfpredict": __version__, "xgboost": xgboost.__version__,
                             "scikit-learn": sklearn.__version__}}
    write_json_atomic(out / "manifest.json", manifest)
    return out


def _save_domain(domain: DomainModel | None, out: Path) -> dict[str, Any] | None:
    """Write the domain model's arrays as safetensors; its manifest entry."""
    if domain is None:
        return None
    from safetensors.numpy import save_file

    arrays, info = domain.to_saved()
    file = out / "domain.safetensors"
    save_file(arrays, str(file))
    file.chmod(0o644)
    return {"file": file.name, "sha256": sha256_file(file), **info}


def _load_domain(folder: Path, entry: dict[str, Any] | None) -> DomainModel | None:
    if entry is None:
        return None
    from safetensors.numpy import load_file

    file = _verified(folder, entry)
    return DomainModel.from_saved(load_file(str(file)), entry)


def _verified(folder: Path, entry: dict[str, Any]) -> Path:
    """The bundle file of a manifest entry, after checking that it exists and is unaltered."""
    file = folder / entry["file"]
    if not file.exists():
        raise BundleError(f"{file} is missing from the bundle; re-fit the predictor")
    if sha256_file(file) != entry["sha256"]:
        raise BundleError(f"{file} was altered (SHA-256 differs from manifest.json); "
                          "re-fit the predictor or restore the file")
    return file


def _read_manifest(folder: Path) -> dict[str, Any]:
    return read_versioned_json(folder / "manifest.json", _READABLE, BundleError,
                               missing="it is not a predictor bundle (no manifest.json); make one "
                                       "with `perfpredict fit FEATURES -o DIR`",
                               corrupt="re-fit the predictor")


def _load_model(folder: Path, entry: dict[str, Any], names: list[str]) -> AccuracyPredictor:
    files = [_verified(folder, f) for f in entry.get("files", [entry])]  # format 2: one file, in the entry itself
    pred = AccuracyPredictor(**{"link": "identity", **entry["params"]})  # bundles older than `link` fitted the accuracy
    pred.feature_names_in_ = np.asarray(names, dtype=object)
    pred.n_features_in_ = len(names)
    pred.boosters_, pred.linear_ = [], None
    if entry["kind"] == "xgboost":
        pred.best_params_ = entry.get("fitted", {})
        for file in files:
            pred.boosters_.append(pred._xgb())
            pred.boosters_[-1].load_model(str(file))
    else:
        raw = json.loads(files[0].read_text())
        pred.linear_ = {k: np.asarray(v, dtype=np.float64) if isinstance(v, list) else v for k, v in raw.items()}
    return pred


def load_bundle(path: str | os.PathLike[str]) -> "PredictorBundle":
    """Load a bundle written by :func:`save_bundle`, verifying every file's SHA-256.

    Raises
    ------
    BundleError
        Missing or altered files, or an unknown format.
    """
    from .bundles import PredictorBundle

    folder = Path(path)
    manifest = _read_manifest(folder)
    names = list(manifest["feature_names"])
    models = {name: _load_model(folder, entry, names) for name, entry in manifest["models"].items()}
    return PredictorBundle(models, manifest["schema"], manifest["schema_version"], names,
                           manifest.get("info", {}), _load_domain(folder, manifest.get("domain")))
