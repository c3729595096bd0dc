"""The error tree: every error class carries its exit code, and mlvet.errors documents each one truly."""

from __future__ import annotations

import re
from pathlib import Path

import mlvet.errors as errors
from mlvet.commands._io import EXIT_SIGINT, EXIT_SIGTERM
from mlvet.errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_USAGE, MlvetError

README = Path(__file__).resolve().parents[2] / "README.md"


def _all_errors() -> list[type[MlvetError]]:
    # Import every module that defines an error class, then walk the tree.
    import mlvet.bom.cyclonedx
    import mlvet.bom.spdx
    import mlvet.containers.gguf
    import mlvet.containers.safetensors
    import mlvet.containers.zipread
    import mlvet.engine.base
    import mlvet.outfile
    import mlvet.remote.base
    import mlvet.remote.hf
    import mlvet.server.wire
    import mlvet.store
    import mlvet.trust.signing
    import mlvet.trust.tensors
    import mlvet.trust.torchckpt  # noqa: F401

    found: list[type[MlvetError]] = []
    todo: list[type[MlvetError]] = [MlvetError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_is_in_the_documented_tree_with_its_exit_code() -> None:
    doc = errors.__doc__ or ""
    rows = {m.group(1): (m.group(2), int(m.group(3)))
            for m in re.finditer(r"(\w+(?:Error|Exceeded|Refused|Truncated|Document))\s+(mlvet[\w.]+)\s+(\d)", doc)}
    for cls in _all_errors():
        if cls.__module__.startswith("mlvet.commands"):
            continue
        assert cls.__name__ in rows, f"{cls.__name__} is not in the error tree of mlvet.errors"
        module, code = rows[cls.__name__]
        assert cls.__module__ == module, (cls.__name__, cls.__module__, module)
        assert cls.exit_code == code, (cls.__name__, cls.exit_code, code)


def test_exit_codes_are_the_readme_table() -> None:
    table = README.read_text(encoding="utf-8").split("### Exit codes", 1)[1].split("\n\n", 2)[1]
    codes = [int(m) for m in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)]
    assert codes == [EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM]
