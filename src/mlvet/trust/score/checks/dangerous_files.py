"""dangerous_files: executables, native libraries and scripts shipped alongside the weights.

A model repository needs weights, configs and a card. A native library, an executable or a shell script
in it is either a mistake or a way to get code onto the machines that download it; content decides
(ELF/PE/Mach-O headers) as well as names, since a renamed binary is the case that matters.
"""

from __future__ import annotations

import os

from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register
from mlvet.walk import open_regular
from mlvet.words import plural

_NATIVE_EXT = frozenset({".exe", ".dll", ".so", ".dylib", ".pyd", ".node", ".sys", ".msi", ".com", ".scr"})
_SCRIPT_EXT = frozenset({".sh", ".bash", ".zsh", ".bat", ".cmd", ".ps1", ".vbs", ".js", ".jar", ".pyc",
                         ".pyo", ".pl", ".rb", ".lua", ".command", ".applescript", ".wsf", ".hta"})
_MACHO = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")


def _native_magic(path: str) -> str | None:
    """"ELF", "PE" or "Mach-O" when the file's header says it is a native binary."""
    f = open_regular(path)  # never open a FIFO or device: opening a FIFO blocks forever
    if f is None:
        return None
    try:
        with f:
            head = f.read(64)
            if head[:4] == b"\x7fELF":
                return "ELF"
            if head[:4] in _MACHO:
                return "Mach-O"
            if head[:2] == b"MZ" and len(head) == 64:
                pe = int.from_bytes(head[60:64], "little")
                if 0 < pe < 1 << 20:
                    f.seek(pe)
                    if f.read(4) == b"PE\x00\x00":
                        return "PE"
    except OSError:
        return None
    return None


class DangerousFiles(Check):
    """Files that run code by their nature (pickles, Python, templates) and what the scanner found in them."""
    name = "dangerous_files"
    risk = Risk.HIGH
    description = "Executables, native libraries and scripts shipped with the model (by content and by name)."

    def run(self, ctx: ScoreContext) -> CheckResult:
        native: list[str] = []
        scripts: list[str] = []
        python: list[str] = []
        for f in ctx.files:
            ext = os.path.splitext(f)[1].lower()
            kind = _native_magic(f)
            if kind is not None:
                native.append(f"{ctx.rel(f)}: {kind} executable or library")
            elif ext in _NATIVE_EXT:
                native.append(f"{ctx.rel(f)}: {ext} file")
            elif ext in _SCRIPT_EXT:
                scripts.append(f"{ctx.rel(f)}: {ext} script or bytecode")
            elif ext == ".py":
                python.append(f"{ctx.rel(f)}: Python source")
        details = native + scripts + python
        if native:
            what = plural(len(native), "native executable or library", "native executables or libraries")
            return self.result(ctx, 0, f"{what} ship{'s' if len(native) == 1 else ''} with the model", details)
        if scripts:
            what = plural(len(scripts), "script or bytecode file", "scripts or bytecode files")
            return self.result(ctx, 3, f"{what} ship{'s' if len(scripts) == 1 else ''} with the model", details)
        if python:
            what = plural(len(python), "Python source file")
            return self.result(ctx, 7, f"{what} ship{'s' if len(python) == 1 else ''} with the model (see remote_code)",
                               details)
        return self.result(ctx, 10, f"no executables, libraries or scripts among {plural(len(ctx.files), 'file')}")


register(DangerousFiles())
