"""Output formats for a :class:`~mlvet.model.ScanReport`, chosen by name.

The CLI never branches on the format: it asks :func:`get_renderer` for the name the user gave. Adding a
format is one new module plus one entry in ``_BUILTIN`` below (or a :func:`register_renderer` call from a
plugin). Importing this package is cheap: heavy dependencies (``rich``) are imported inside ``render``.
"""

from __future__ import annotations

from mlvet.report.base import Renderer
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

#: The built-in formats; the first one is the default for a console.
_BUILTIN: tuple[Renderer, ...] = (TextRenderer(), JsonRenderer(), SarifRenderer())

_REGISTRY: dict[str, Renderer] = {}


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
    try:
        return _REGISTRY[name.strip().lower()]
    except KeyError:
        choices = ", ".join(renderer_names())
        raise ValueError(f"unknown output format {name!r}; choose one of: {choices}") from None


def renderer_names() -> tuple[str, ...]:
    """Registered format names in registration order (built-ins first)."""
    return tuple(_REGISTRY)


for _renderer in _BUILTIN:
    register_renderer(_renderer)
del _renderer
