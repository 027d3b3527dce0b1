"""Small file helpers shared by the stores: atomic JSON writes and file hashes."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_json_atomic", "sha256_file", "read_versioned_json"]


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` through a temporary file and an atomic rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_versioned_json(path: Path, version: int | tuple[int, ...], error: type[Exception], *, missing: str,
                        corrupt: str) -> dict[str, Any]:
    """Read a JSON file whose ``format_version`` must equal ``version`` (or be one of them).

    Raises ``error`` with ``missing`` or ``corrupt`` (what to do) appended to the cause.
    """
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path} does not exist; {missing}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path} is corrupted ({exc}); {corrupt}") from exc
    versions = (version,) if isinstance(version, int) else version
    if not isinstance(data, dict) or data.get("format_version") not in versions:
        found = data.get("format_version") if isinstance(data, dict) else None
        readable = " or ".join(map(str, versions))
        raise error(f"{path} has format_version {found}; this perfpredict reads version {readable}: {corrupt}")
    return data
