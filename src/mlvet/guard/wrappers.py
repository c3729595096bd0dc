"""Wrapper factories: each returns a function that vets a loader's input, then calls the loader unchanged.

The wrapper runs *before* the wrapped loader: it finds the input (a path, a folder, a file object, bytes),
has :class:`~mlvet.guard.check.Checker` scan it or reuse a cached verdict, raises
:class:`~mlvet.guard.errors.UnsafeModelError` when it fails, and otherwise calls the original loader with the
same arguments and returns its result unchanged. Nothing in a scanned file runs before its verdict, so the
file cannot switch the guard off first.

``pickle.load``/``pickle.loads`` called while a guarded *framework* loader runs (``torch.load`` reading
its legacy header pickles, joblib's unpickler) are not re-scanned: the framework loader's whole input was
vetted already. Calls from multiprocessing and similar process-internal channels are passed through (see
:data:`~mlvet.guard.targets.EXEMPT_CALLERS`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from mlvet.guard.check import Checker
from mlvet.guard.targets import EXEMPT_CALLERS, Target

__all__ = ["ORIGINAL_ATTR", "make_wrapper"]

#: Attribute every wrapper carries: the function it wraps (so a later installation can unwrap stale copies).
ORIGINAL_ATTR = "__mlvet_guard_original__"

_state = threading.local()

Func = Callable[..., Any]


@contextlib.contextmanager
def _vetted_call() -> Iterator[None]:
    """Mark that a guarded framework loader whose whole input was vetted is running on this thread."""
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


def _inside_vetted_call() -> bool:
    return getattr(_state, "depth", 0) > 0


def _exempt_caller(depth: int = 2) -> bool:
    """True when the code calling the wrapper lives in a process-internal pickling module."""
    try:
        frame = sys._getframe(depth)
    except ValueError:
        return False
    module = frame.f_globals.get("__name__", "")
    return isinstance(module, str) and any(module == p or module.startswith(p + ".") for p in EXEMPT_CALLERS)


def _argument(target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if len(args) > target.position:
        return args[target.position]
    return kwargs.get(target.arg)


def _replace_argument(target: Target, args: tuple[Any, ...], kwargs: dict[str, Any], value: Any) -> tuple[
        tuple[Any, ...], dict[str, Any]]:
    if len(args) > target.position:
        return (*args[: target.position], value, *args[target.position + 1:]), kwargs
    return args, {**kwargs, target.arg: value}


def _vet_input(checker: Checker, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any],
               loader: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Vet a path or file-object argument; returns the (possibly replaced) arguments to call with."""
    value = _argument(target, args, kwargs)
    if isinstance(value, (str, os.PathLike)):
        checker.check_path(value, loader)
    elif hasattr(value, "read"):
        if _seekable(value):
            checker.check_file_object(value, loader)
        else:
            # A framework loader may need the whole stream: read it once, vet it, hand over a copy.
            data = value.read()
            checker.check_bytes(data, loader, getattr(value, "name", "<stream>") or "<stream>")
            return _replace_argument(target, args, kwargs, io.BytesIO(data))
    return args, kwargs


def _seekable(f: Any) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _loader_name(target: Target) -> str:
    top = target.module.split(".")[0]
    return f"{top}.{target.attr.split('.')[-1]}" if "." not in target.attr else f"{top}.{target.attr}"


def pickle_load(original: Func, checker: Checker, target: Target, loads: Func) -> Func:
    """``pickle.load(file, ...)``: vet the stream from its position; unseekable streams via ``loads``."""

    @functools.wraps(original)
    def load(file: Any, *args: Any, **kwargs: Any) -> Any:
        if _inside_vetted_call() or _exempt_caller():
            return original(file, *args, **kwargs)
        data = checker.check_file_object(file, "pickle.load")
        if data is not None:
            return loads(data, *args, **kwargs)
        return original(file, *args, **kwargs)

    return load


def pickle_loads(original: Func, checker: Checker, target: Target) -> Func:
    """``pickle.loads(data, ...)``: vet the bytes (cached by their hash)."""

    @functools.wraps(original)
    def loads(data: Any, /, *args: Any, **kwargs: Any) -> Any:
        if _inside_vetted_call() or _exempt_caller() or not isinstance(data, (bytes, bytearray, memoryview)):
            return original(data, *args, **kwargs)
        checker.check_bytes(data, "pickle.loads")
        return original(data, *args, **kwargs)

    return loads


def path_loader(original: Func, checker: Checker, target: Target) -> Func:
    """A framework loader whose input is a path or a file object (torch, joblib, Keras)."""
    loader = _loader_name(target)

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = _vet_input(checker, target, args, kwargs, loader)
        with _vetted_call():
            return original(*args, **kwargs)

    return guarded


def numpy_loader(original: Func, checker: Checker, target: Target) -> Func:
    """``numpy.load``: only ``allow_pickle=True`` can execute anything, so only then is the file vetted."""

    @functools.wraps(original)
    def load(*args: Any, **kwargs: Any) -> Any:
        allow = kwargs["allow_pickle"] if "allow_pickle" in kwargs else (args[2] if len(args) > 2 else False)
        if not allow:
            return original(*args, **kwargs)
        args, kwargs = _vet_input(checker, target, args, kwargs, "numpy.load(allow_pickle=True)")
        with _vetted_call():
            return original(*args, **kwargs)

    return load


def result_checker(original: Func, checker: Checker, target: Target) -> Func:
    """A download/resolve function: vet the local file or folder it returns before the caller gets it."""
    loader = _loader_name(target)

    @functools.wraps(original)
    def resolved(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if isinstance(result, (str, os.PathLike)):
            checker.check_path(result, loader)
        return result

    return resolved


def pretrained(original: Func, checker: Checker, target: Target) -> Func:
    """``from_pretrained(cls, name_or_path, ...)`` (unbound function of a classmethod)."""
    loader = _loader_name(target)

    @functools.wraps(original)
    def from_pretrained(cls: Any, *args: Any, **kwargs: Any) -> Any:
        _vet_pretrained(checker, _argument(target, args, kwargs), kwargs, loader)
        return original(cls, *args, **kwargs)

    return from_pretrained


def pretrained_init(original: Func, checker: Checker, target: Target) -> Func:
    """A constructor that loads a model by name or path (``SentenceTransformer(name_or_path)``)."""
    loader = _loader_name(target)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        _vet_pretrained(checker, _argument(target, args, kwargs), kwargs, loader)
        original(self, *args, **kwargs)

    return __init__


def _vet_pretrained(checker: Checker, name: Any, kwargs: dict[str, Any], loader: str) -> None:
    """Vet a local model folder, or the snapshot of a Hub repo id already in the cache.

    Files the call downloads are vetted by the Hub download wrappers as they arrive (including remote code
    fetched for ``trust_remote_code=True``); files already cached were downloaded earlier, possibly without
    the guard, and are vetted here as one folder (so repository-level checks such as ``auto_map`` apply).
    """
    if not isinstance(name, (str, os.PathLike)):
        return
    path = os.fspath(name)
    if os.path.exists(path):
        checker.check_path(path, loader)
        return
    snapshot = _cached_snapshot(path, kwargs.get("cache_dir"), kwargs.get("revision"))
    if snapshot is not None:
        checker.check_path(snapshot, loader)


def _cached_snapshot(repo_id: str, cache_dir: Any, revision: Any) -> str | None:
    """The local snapshot folder of ``repo_id`` at ``revision`` in the Hub cache, if it is there."""
    if repo_id.count("/") > 1 or not repo_id.strip("/"):
        return None
    if cache_dir is None:
        cache_dir = os.environ.get("HF_HUB_CACHE") or os.path.join(
            os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")
    repo_folder = os.path.join(os.fspath(cache_dir), "models--" + repo_id.replace("/", "--"))
    rev = str(revision or "main")
    ref = os.path.join(repo_folder, "refs", rev)
    try:
        with open(ref, encoding="utf-8") as f:
            commit = f.read(128).strip()
    except OSError:
        commit = rev
    if not commit or "/" in commit or commit.startswith("."):
        return None
    snapshot = os.path.join(repo_folder, "snapshots", commit)
    return snapshot if os.path.isdir(snapshot) else None


#: Wrapper factory per target kind.
FACTORIES: dict[str, Callable[..., Func]] = {
    "pickle_loads": pickle_loads,
    "path": path_loader,
    "numpy": numpy_loader,
    "result": result_checker,
    "pretrained": pretrained,
    "pretrained_init": pretrained_init,
}


def make_wrapper(target: Target, original: Func, checker: Checker, original_loads: Func) -> Func:
    """The guarded replacement of ``original`` for ``target``."""
    if target.kind == "pickle_load":
        wrapper = pickle_load(original, checker, target, original_loads)
    else:
        wrapper = FACTORIES[target.kind](original, checker, target)
    setattr(wrapper, ORIGINAL_ATTR, original)
    return wrapper
