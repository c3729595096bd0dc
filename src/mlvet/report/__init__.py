"""Output formats for a :class:`~mlvet.model.ScanReport`, chosen by name.

The CLI never branches on the format: it asks :func:`get_renderer` for the name the user gave. Adding a
format is one new module plus one entry in ``_BUILTIN`` below (or a :func:`register_renderer` call from a
plugin). Importing this package is cheap: a built-in format's module is imported when that format is
first asked for (``mlvet scan x.pt -f json`` never imports the text or SARIF renderers, and a CLI run per
file in a pre-commit hook pays only for the output it writes); heavy dependencies (``rich``) are imported
inside ``render``. The renderer classes and helpers below are still importable from here, on first access.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from mlvet.report.base import Renderer

if TYPE_CHECKING:
    from mlvet.report.jsonfmt import JsonRenderer, report_from_json, report_to_dict
    from mlvet.report.sarif import SarifRenderer, report_to_sarif
    from mlvet.report.text import TextRenderer

__all__ = [
    "JsonRenderer",
    "Renderer",
    "SarifRenderer",
    "TextRenderer",
    "get_renderer",
    "register_renderer",
    "renderer_names",
    "report_from_json",
    "report_to_dict",
    "report_to_sarif",
]

#: Where each public name of a built-in format lives (imported on first access, PEP 562).
_LAZY = {"JsonRenderer": "jsonfmt", "report_from_json": "jsonfmt", "report_to_dict": "jsonfmt",
         "SarifRenderer": "sarif", "report_to_sarif": "sarif", "TextRenderer": "text"}

#: The built-in formats by name, with the class that renders each; the first one is the default for a console.
_BUILTIN = {"text": "TextRenderer", "json": "JsonRenderer", "sarif": "SarifRenderer"}

_REGISTRY: dict[str, Renderer | None] = {}  # None: a built-in not imported yet


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    loaded: ModuleType
    if module == "jsonfmt":  # spelled out: mlvet never imports a module by a computed name
        from mlvet.report import jsonfmt as loaded
    elif module == "sarif":
        from mlvet.report import sarif as loaded
    else:
        from mlvet.report import text as loaded
    value = getattr(loaded, name)
    globals()[name] = value
    return value


def register_renderer(renderer: Renderer, *, replace: bool = False) -> Renderer:
    """Make ``renderer`` available under its name.

    Re-registering a taken name is refused unless ``replace`` is set, so that two formats cannot silently
    shadow each other.
    """
    key = renderer.name.strip().lower()
    if not key:
        raise ValueError("a renderer needs a non-empty name")
    if key in _REGISTRY and not replace:
        raise ValueError(f"a renderer named {key!r} is already registered")
    _REGISTRY[key] = renderer
    return renderer


def get_renderer(name: str) -> Renderer:
    """The renderer for ``name`` (case-insensitive); ValueError listing the choices otherwise."""
    key = name.strip().lower()
    if key not in _REGISTRY:
        choices = ", ".join(renderer_names())
        raise ValueError(f"unknown output format {name!r}; choose one of: {choices}")
    renderer = _REGISTRY[key]
    if renderer is None:
        renderer = _REGISTRY[key] = __getattr__(_BUILTIN[key])()
    return renderer


def renderer_names() -> tuple[str, ...]:
    """Registered format names in registration order (built-ins first)."""
    return tuple(_REGISTRY)


_REGISTRY.update(dict.fromkeys(_BUILTIN))
