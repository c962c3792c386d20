"""Value and side-file encoding for the HERO dbs.

Records are msgpack-encoded. Numpy arrays are encoded *explicitly* as a msgpack extension type
(code :data:`NUMPY_EXT_CODE`) whose payload is ``msgpack([dtype.str, shape, raw bytes])``: no global
monkey-patching (msgpack_numpy) is involved, the dtype string carries the byte order, and any msgpack
implementation can decode the payload. Values may be lz4-frame compressed as a whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lz4.frame
import msgpack
import numpy as np

NUMPY_EXT_CODE = 42

# --------------------------------------------------------------------------------------------------
# value codec


def _encode_default(obj: Any) -> Any:
    """msgpack fallback: numpy arrays → ext type, numpy scalars → Python scalars."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("cannot store a numpy array of Python objects; convert it to lists first")
        arr = np.ascontiguousarray(obj)
        payload = msgpack.packb([arr.dtype.str, list(arr.shape), arr.tobytes()], use_bin_type=True)
        return msgpack.ExtType(NUMPY_EXT_CODE, payload)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot msgpack-encode a value of type {type(obj).__name__}")


def _decode_ext(code: int, data: bytes) -> Any:
    if code != NUMPY_EXT_CODE:
        raise ValueError(f"unknown msgpack extension type {code} (this reader knows {NUMPY_EXT_CODE})")
    dtype, shape, buf = msgpack.unpackb(data, raw=False)
    # frombuffer gives a read-only view of an immutable bytes object; copy so callers (torch.from_numpy,
    # in-place masking) get an ordinary writable array.
    return np.frombuffer(buf, dtype=np.dtype(dtype)).reshape(shape).copy()


def encode_value(obj: Any, compress: bool = False) -> bytes:
    """Serialise a record (dicts, lists, str, numbers, bytes, numpy arrays) to bytes.

    Args:
        obj: the record.
        compress: lz4-frame compress the msgpack bytes.
    """
    raw = msgpack.packb(obj, default=_encode_default, use_bin_type=True)
    return lz4.frame.compress(raw) if compress else raw


def decode_value(data: bytes | memoryview, compressed: bool = False) -> Any:
    """Inverse of :func:`encode_value` (tuples come back as lists, arrays as writable numpy arrays)."""
    if compressed:
        data = lz4.frame.decompress(data)
    return msgpack.unpackb(data, raw=False, ext_hook=_decode_ext, strict_map_key=False)


# --------------------------------------------------------------------------------------------------
# small JSON helpers


def read_json(path: str | Path) -> Any:
    """Load a JSON file."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json(path: str | Path, obj: Any, pretty: bool = False) -> None:
    """Write a JSON file (UTF-8, non-ASCII kept)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2 if pretty else None, default=_json_default)
        f.write("\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot JSON-encode a value of type {type(obj).__name__}")


