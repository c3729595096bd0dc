"""Helpers shared by the format tests: loading fixture generators, a protobuf encoder, a read counter."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlvet.model import FileResult

ASSETS = Path(__file__).resolve().parents[1] / "assets"

#: Protobuf wire types used by the encoder below.
VARINT, LEN = 0, 2


def load_asset_module(name: str) -> ModuleType:
    """Import a fixture generator (``tests/assets/<name>.py``) by path: tests/assets is no package."""
    spec = importlib.util.spec_from_file_location(f"_mlvet_assets_{name}", ASSETS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- a minimal protobuf encoder (test-side only) -----------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fv(num: int, value: int) -> bytes:
    """A varint field."""
    return varint(num << 3 | VARINT) + varint(value)


def fl(num: int, payload: bytes | str) -> bytes:
    """A length-delimited field."""
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(num << 3 | LEN) + varint(len(data)) + data


class CountingReader(io.RawIOBase):
    """A file wrapper that counts the bytes actually read (proves header-only scanning)."""

    def __init__(self, f: Any) -> None:
        super().__init__()
        self.f = f
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return int(self.f.seek(pos, whence))

    def tell(self) -> int:
        return int(self.f.tell())

    def readinto(self, b: Any) -> int:
        data = self.f.read(len(b))
        b[: len(data)] = data
        self.bytes_read += len(data)
        return len(data)


def scan_counting(path: Path, size: int) -> tuple[FileResult, int, int, float]:
    """Scan ``path`` through a byte-counting reader: (result, bytes read, peak traced memory, seconds).

    The multi-GB tests use it to prove a scan reads only headers, in bounded memory.
    """
    import time
    import tracemalloc

    from mlvet.policy import default_policy
    from mlvet.scanner import scan_stream

    with open(path, "rb") as f:
        counting = CountingReader(f)
        tracemalloc.start()
        start = time.perf_counter()
        try:
            result = scan_stream(counting, size, path.name, default_policy(), path=str(path))  # type: ignore[arg-type]
            elapsed = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return result, counting.bytes_read, peak, elapsed
