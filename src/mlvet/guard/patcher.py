"""Applying and removing the guard's patches: now for loaded modules, on import for the others.

* A target whose module is already imported is patched at once; every other target is patched right
  after its module is imported, by a meta-path finder that wraps the module's loader (only for modules of
  the watched packages, so the rest of the interpreter's imports are untouched).
* ``from x import loader`` copies of a patched loader inside the watched packages
  (:data:`~mlvet.guard.targets.ALIAS_PACKAGES`) are re-pointed at the wrapper, at install time and
  whenever another module of those packages is imported.
* Every change is recorded, so :meth:`Patcher.remove` restores exactly what was there.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Callable, Sequence
from typing import Any

from mlvet.guard.check import Checker
from mlvet.guard.targets import ALIAS_PACKAGES, TARGETS, Target
from mlvet.guard.wrappers import ORIGINAL_ATTR, make_wrapper

__all__ = ["Patcher"]

Func = Callable[..., Any]


class Patcher:
    """Holds the wrappers of one installed guard and the record needed to undo them."""

    def __init__(self, checker: Checker, targets: Sequence[Target] = TARGETS) -> None:
        self.checker = checker
        self._targets = tuple(targets)
        self._modules = frozenset(t.module for t in self._targets)
        self._watched = frozenset(t.module.split(".")[0] for t in self._targets) | ALIAS_PACKAGES
        #: (owner object, attribute, previous value) in the order applied.
        self._undo: list[tuple[Any, str, Any]] = []
        #: id(original function) -> wrapper, for alias re-pointing.
        self._wrapper_of: dict[int, Func] = {}
        self._originals: dict[int, Func] = {}
        #: code object of each wrapped original -> its target (to find copies made with FunctionType).
        self._code_targets: dict[int, tuple[Any, Target]] = {}
        self._lock = threading.RLock()
        self._finder = _Finder(self)
        self._original_loads: Func | None = None

    # ---- public -------------------------------------------------------------------------------------------

    def apply(self) -> None:
        """Patch every target already importable from ``sys.modules`` and start watching imports."""
        import pickle

        self._original_loads = pickle.__dict__["loads"]
        with self._lock:
            for module_name in sorted(self._modules):
                module = sys.modules.get(module_name)
                if module is not None:
                    self._patch_module(module_name, module)
            self._repoint_all()
            sys.meta_path.insert(0, self._finder)

    def remove(self) -> None:
        """Restore every patched attribute and stop watching imports."""
        with self._lock:
            if self._finder in sys.meta_path:
                sys.meta_path.remove(self._finder)
            for owner, attr, previous in reversed(self._undo):
                setattr(owner, attr, previous)
            self._undo.clear()
            self._sweep()
            self._wrapper_of.clear()
            self._originals.clear()

    def watches(self, fullname: str) -> bool:
        """Whether a module of this name is one the guard must see right after import."""
        return fullname in self._modules or fullname.split(".", maxsplit=1)[0] in ALIAS_PACKAGES

    def after_import(self, fullname: str, module: types.ModuleType) -> None:
        """Called once a watched module has executed: patch its targets, re-point aliases in it."""
        with self._lock:
            if fullname in self._modules:
                self._patch_module(fullname, module)
                self._repoint_all()
            else:
                self._repoint(module)
                self._wrap_copies(module)

    # ---- internals ----------------------------------------------------------------------------------------

    def _patch_module(self, module_name: str, module: types.ModuleType) -> None:
        for target in self._targets:
            if target.module == module_name:
                self._patch(target, module)

    def _patch(self, target: Target, module: types.ModuleType) -> None:
        owner: Any = module
        *path, attr = target.attr.split(".")
        for part in path:
            owner = getattr(owner, part, None)
            if owner is None:
                return
        raw = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr, None)
        if raw is None:
            return
        if _is_wrapper(raw):  # a wrapper left behind (copied by a module while patched)
            raw = _original_of(raw)
        if isinstance(raw, classmethod):
            func = raw.__func__
            if id(func) in self._wrapper_of:  # already wrapped (a parent class patched first)
                return
            wrapper = make_wrapper(target, func, self.checker, self._loads())
            self._record(owner, attr, raw, classmethod(wrapper))
            self._wrapper_of[id(func)] = wrapper
            self._originals[id(func)] = func
            self._code_targets[id(func.__code__)] = (func.__code__, target)
            return
        if not callable(raw):
            return
        if id(raw) in self._wrapper_of:  # the same function reached under another name: reuse its wrapper
            self._record(owner, attr, raw, self._wrapper_of[id(raw)])
            return
        wrapper = make_wrapper(target, raw, self.checker, self._loads())
        self._wrapper_of[id(raw)] = wrapper
        self._originals[id(raw)] = raw
        code = getattr(raw, "__code__", None)
        if code is not None:
            self._code_targets[id(code)] = (code, target)
        self._record(owner, attr, raw, wrapper)

    def _sweep(self) -> None:
        """Put originals back wherever a wrapper was copied while the guard was installed.

        ``from torch.serialization import load`` run while ``torch.serialization`` was patched binds the
        wrapper, and transformers gives every ``AutoModel*`` class its own copy of ``from_pretrained``; no undo
        record knows those names. Every module namespace and every class defined in a module is checked.
        """
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict):
                continue
            for key, value in list(namespace.items()):
                if _is_wrapper(value):
                    with contextlib.suppress(AttributeError, TypeError):
                        setattr(module, key, _original_of(value))
                elif isinstance(value, type) and value.__module__ == module.__name__:
                    _sweep_class(value)

    def _wrap_copies(self, module: types.ModuleType) -> None:
        """Wrap copies of a wrapped original (same code object) in the classes this module defines."""
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict) or not self._code_targets:
            return
        for value in list(namespace.values()):
            if not isinstance(value, type) or value.__module__ != module.__name__:
                continue
            for attr, raw in list(value.__dict__.items()):
                func = raw.__func__ if isinstance(raw, classmethod) else raw
                code = getattr(func, "__code__", None)
                if code is None or _is_wrapper(func) or id(func) in self._wrapper_of:
                    continue
                entry = self._code_targets.get(id(code))
                if entry is None or entry[0] is not code:
                    continue
                wrapper = make_wrapper(entry[1], func, self.checker, self._loads())
                self._wrapper_of[id(func)] = wrapper
                self._originals[id(func)] = func
                self._record(value, attr, raw, classmethod(wrapper) if isinstance(raw, classmethod) else wrapper)

    def _loads(self) -> Func:
        assert self._original_loads is not None
        return self._original_loads

    def _record(self, owner: Any, attr: str, previous: Any, new: Any) -> None:
        setattr(owner, attr, new)
        self._undo.append((owner, attr, previous))

    def _repoint_all(self) -> None:
        for name, module in list(sys.modules.items()):
            if module is not None and name.split(".")[0] in ALIAS_PACKAGES:
                self._repoint(module)
                self._wrap_copies(module)

    def _repoint(self, module: types.ModuleType) -> None:
        """Re-point module-level names bound to an original loader at its wrapper."""
        if not self._wrapper_of:
            return
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            return
        mine = {id(w) for w in self._wrapper_of.values()}
        for name, value in list(namespace.items()):
            if not callable(value) or id(value) in mine:
                continue
            base = _original_of(value)
            wrapper = self._wrapper_of.get(id(base))
            if wrapper is not None and self._originals.get(id(base)) is base:
                self._record(module, name, value, wrapper)


def _is_wrapper(value: Any) -> bool:
    """A guard wrapper (or a copy of one): a plain function carrying the original in its own ``__dict__``.

    Checked on the function's ``__dict__``, never with ``getattr``: proxies and mocks answer any attribute.
    """
    return isinstance(value, types.FunctionType) and ORIGINAL_ATTR in value.__dict__


def _sweep_class(cls: type) -> None:
    for attr, raw in list(vars(cls).items()):
        func = raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw
        if not _is_wrapper(func):
            continue
        original = _original_of(func)
        restored = type(raw)(original) if isinstance(raw, (classmethod, staticmethod)) else original
        with contextlib.suppress(AttributeError, TypeError):
            setattr(cls, attr, restored)


def _original_of(value: Any) -> Any:
    """Unwrap guard wrappers (of any installation) down to the library's own function."""
    seen = 0
    while seen < 16 and _is_wrapper(value):
        value = value.__dict__[ORIGINAL_ATTR]
        seen += 1
    return value


class _Finder(importlib.abc.MetaPathFinder):
    """Finds watched modules through the other finders and wraps their loader to call back after exec."""

    def __init__(self, patcher: Patcher) -> None:
        self._patcher = patcher
        self._busy = threading.local()

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if getattr(self._busy, "on", False) or not self._patcher.watches(fullname):
            return None
        self._busy.on = True
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy.on = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, self._patcher)
        return spec


class _Loader(importlib.abc.Loader):
    """Delegates to the real loader; after ``exec_module`` hands the module to the patcher."""

    def __init__(self, inner: Any, patcher: Patcher) -> None:
        self._inner = inner
        self._patcher = patcher

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: types.ModuleType) -> None:
        # Keep the real loader visible to introspection (inspect.getsource, importlib.resources).
        module.__loader__ = self._inner
        if module.__spec__ is not None:
            module.__spec__.loader = self._inner
        self._inner.exec_module(module)
        self._patcher.after_import(module.__name__, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
