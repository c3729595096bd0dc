"""Shared judgement for model formats that *name* native or Python code the loading application supplies.

Custom layers (Core ML), custom operators (MXNet, PaddlePaddle, ExecuTorch, OpenVINO) and plugins
(TensorRT) are not code in the file: the runtime looks a name up in what the application registered and
fails if nothing answers. Such a name tells a reviewer which extra code the model needs, so it is reported
low, as mlvet already rates TensorFlow and TFLite custom operators. A name that suggests file, process,
network or interpreter access is medium: a model has no business asking for that, and an attacker who
knows which extensions a target loads picks exactly those.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from mlvet.model import Severity
from mlvet.rules import define_rule

#: Words in an operator, layer, class or plugin name that suggest access beyond tensor math.
SUSPICIOUS = re.compile(r"(?i)(file|read|write|exec|shell|system|popen|process|socket|http|url|download|upload|"
                        r"rpc|python|pyfunc|eval|command|spawn|dlopen|library|nstask)")


def reference_severity(name: str) -> Severity:
    """Low for an ordinary custom name, medium when the name suggests file/process/network access."""
    return Severity.MEDIUM if SUSPICIOUS.search(name) else Severity.LOW


# ---- compiled engines whose layout is not published (TensorRT plans, RKNN NPU programs) ----------------

OTH080 = define_rule(
    "OTH080", "embedded-executable", Severity.HIGH,
    "A compiled model engine embeds an executable or shared library (ELF, PE or Mach-O image).",
    "TensorRT serializes plugin libraries and, for version-compatible engines, its lean runtime into the "
    "engine and loads them as native code when the application allows host code; an executable image "
    "inside a model is native code the model brings along.",
    "Do not load the engine with host code allowed unless you built it; rebuild engines from ONNX locally.",
    829,
)
OTH081 = define_rule(
    "OTH081", "opaque-engine", Severity.LOW,
    "The compiled engine's body is in an undocumented vendor layout; only its framing was analysed.",
    "mlvet checked the header and searched the whole body for embedded executables and library names, but "
    "cannot list the layers or plugins a vendor engine runs. An engine is tied to the machine it was built "
    "for; review where it came from.",
    "Prefer building engines locally from a reviewed ONNX or framework model.",
)
OTH079 = define_rule(
    "OTH079", "engine-library-reference", Severity.LOW,
    "The compiled engine names a shared library (a plugin library path or file name).",
    "An engine that needs plugins only works once the application loads the library that provides them; "
    "the runtime does not load a library by a name in the file (embedded libraries are OTH080), so the "
    "name tells a reviewer which native code the engine depends on.",
    "Check that the named library is one you ship and trust.",
    114,
)

#: Executable images: ELF (class, data and version bytes checked), PE (MZ with a PE header), Mach-O.
_EXEC = re.compile(rb"\x7fELF[\x01\x02][\x01\x02]\x01|\xcf\xfa\xed\xfe|\xce\xfa\xed\xfe|MZ")
#: A shared-library suffix; the name is taken from the bytes before it (no backtracking regex over binary).
_LIB_SUFFIX = re.compile(rb"\.(?:so(?:\.\d+)*|dll|dylib)(?![\w.])")
_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:\\")
_SCAN_CHUNK = 1 << 20


def scan_body(stream: BinaryIO, start: int, end: int) -> tuple[list[tuple[int, str]], list[str]]:
    """Executable images (offset, kind) and shared-library names found in ``[start, end)`` of ``stream``.

    A linear pass in 1 MiB chunks with a small overlap: bounded memory for any engine size.
    """
    images: list[tuple[int, str]] = []
    libs: list[str] = []
    pos = start
    carry = b""
    while pos < end and len(images) < 20:
        stream.seek(pos)
        chunk = stream.read(min(_SCAN_CHUNK, end - pos))
        if not chunk:
            break
        data = carry + chunk
        base = pos - len(carry)
        for m in _EXEC.finditer(data):
            kind = _image_kind(data, m.start())
            if kind and base + m.start() not in {o for o, _ in images}:
                images.append((base + m.start(), kind))
        for m in _LIB_SUFFIX.finditer(data):
            name = _library_name(data, m.start(), m.end())
            if name and name not in libs and len(libs) < 50:
                libs.append(name)
        carry = data[-256:]
        pos += len(chunk)
    return images, libs


def _library_name(data: bytes, dot: int, end: int) -> str:
    """The path-like run of bytes ending at a library suffix (at most 200 bytes), or "" when none."""
    start = dot
    while start > 0 and dot - start < 200 and data[start - 1] in _NAME_BYTES:
        start -= 1
    stem = data[start:dot].rsplit(b"/", 1)[-1].rsplit(b"\\", 1)[-1].rsplit(b":", 1)[-1]
    if not stem or not all(c in _NAME_BYTES for c in stem) or stem.strip(b".") != stem:
        return ""
    return data[start:end].decode("ascii", "replace")


def _image_kind(data: bytes, i: int) -> str:
    sig = data[i : i + 4]
    if sig == b"\x7fELF":
        return "ELF"
    if sig[:2] == b"MZ":
        if i + 0x40 > len(data):
            return ""
        pe = int.from_bytes(data[i + 0x3C : i + 0x40], "little")
        return "PE" if 0x40 <= pe < 4096 and data[i + pe : i + pe + 4] == b"PE\x00\x00" else ""
    if i + 16 > len(data):
        return ""
    cpu = int.from_bytes(data[i + 4 : i + 8], "little")
    filetype = int.from_bytes(data[i + 12 : i + 16], "little")
    return "Mach-O" if sig[0] != 0xCA and cpu in _MACHO_CPUS and 1 <= filetype <= 12 else ""


_MACHO_CPUS = frozenset({7, 12, 0x01000007, 0x0100000C})
