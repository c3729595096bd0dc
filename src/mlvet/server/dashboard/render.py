"""The dashboard's Jinja2 environment: package templates, autoescaping always on, no template from outside.

Every value on a page may come from a scanned file (asset and file names, finding messages, evidence,
card metadata, gateway repo names), so escaping is not opt-in: ``autoescape=True`` for every template,
whatever its extension, and no filter marks text safe. Templates are package data loaded by name; user
input never selects or becomes a template.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from mlvet._version import __version__
from mlvet.trust.score.render import grade

_CSS_CLASS = re.compile(r"[^a-z0-9-]")


def cssclass(value: object) -> str:
    """A value reduced to a safe CSS class suffix (badge colours); anything unexpected becomes plain."""
    return _CSS_CLASS.sub("", str(value).lower())[:24] or "none"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The one template environment (cached: templates compile once per process)."""
    env = Environment(
        loader=PackageLoader("mlvet.server.dashboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cssclass"] = cssclass
    env.filters["grade"] = grade
    return env


def render(name: str, **context: Any) -> str:
    """Render a package template with the page context plus the values every page uses."""
    context.setdefault("version", __version__)
    context.setdefault("now", datetime.now(timezone.utc))
    return environment().get_template(name).render(**context)
