"""Server settings: a TOML file, then ``MLVET_SERVER_*`` environment variables, then command-line options.

Later sources win (command line over environment over file over defaults), the usual precedence, so an
operator can keep a config file and still override one value for one start. Every setting is checked
here, before the server binds a port: a typo or a bad value is a configuration error (exit 4), never a
server running with a default the operator did not choose.

File (``--config server.toml``), every key optional; a ``[server]`` table or top-level keys::

    db_url = "postgresql+psycopg://mlvet@db/mlvet"
    host = "127.0.0.1"
    port = 8080
    hub_upstream = "https://huggingface.co"
    cache_dir = "/var/cache/mlvet"
    anonymous_scopes = []          # e.g. ["read"] to let anyone read; empty: nothing anonymous
    max_upload_bytes = 67108864    # request bodies (pushes); larger requests get 413
    max_bom_bytes = 16777216       # uploaded BOMs
    request_timeout_s = 60.0       # time to start answering; then 408/503
    session_secret = "..."         # signs dashboard session cookies; random per start when unset
    session_max_age_s = 43200
    trusted_hosts = ["mlvet.example.org"]   # Host headers accepted; empty: any
    secure_cookies = false         # set the Secure flag on the session cookie (behind TLS)

Environment: ``MLVET_SERVER_<KEY>`` for each key (``MLVET_SERVER_PORT=9000``,
``MLVET_SERVER_ANONYMOUS_SCOPES=read``, lists comma-separated); ``MLVET_DB`` is the database default as for
every mlvet command.
"""

from __future__ import annotations

import dataclasses
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlvet.errors import UsageError

__all__ = ["SCOPES", "Settings", "load_settings", "parse_scopes"]

#: Every scope a token can carry. ``admin`` implies the others.
SCOPES = ("read", "push", "scan", "gateway", "admin")
_ENV_PREFIX = "MLVET_SERVER_"


def _default_cache_dir() -> str:
    return str(Path.home() / ".cache" / "mlvet" / "gateway")


@dataclass(frozen=True)
class Settings:
    """Everything ``mlvet serve`` is configured with (immutable once loaded; the app reads it, never edits it)."""

    #: SQLAlchemy URL of the inventory database (None: ``MLVET_DB`` or the default SQLite file).
    db_url: str | None = None
    #: Loopback by default: exposing the server is a decision the operator makes explicitly.
    host: str = "127.0.0.1"
    port: int = 8080
    #: The hub the gateway forwards to.
    hub_upstream: str = "https://huggingface.co"
    cache_dir: str = field(default_factory=_default_cache_dir)
    #: Scopes granted to requests without a token. Empty by default: nothing is anonymous.
    anonymous_scopes: frozenset[str] = frozenset()
    max_upload_bytes: int = 64 * 1024 * 1024
    max_bom_bytes: int = 16 * 1024 * 1024
    request_timeout_s: float = 60.0
    #: Key that signs session cookies and CSRF tokens; random per start when not configured (sessions then
    #: end with the process, which is safe, just less convenient).
    session_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    session_max_age_s: int = 12 * 3600
    trusted_hosts: tuple[str, ...] = ()
    secure_cookies: bool = False


_INT_KEYS = {"port", "max_upload_bytes", "max_bom_bytes", "session_max_age_s"}
_FLOAT_KEYS = {"request_timeout_s"}
_BOOL_KEYS = {"secure_cookies"}
_LIST_KEYS = {"anonymous_scopes", "trusted_hosts"}
_STR_KEYS = {"db_url", "host", "hub_upstream", "cache_dir", "session_secret"}
_KEYS = _INT_KEYS | _FLOAT_KEYS | _BOOL_KEYS | _LIST_KEYS | _STR_KEYS


def parse_scopes(value: str | list[str] | tuple[str, ...] | frozenset[str], where: str) -> frozenset[str]:
    """Scopes from ``"read,push"`` or a list; an unknown scope is a configuration error naming the choices."""
    items = value.split(",") if isinstance(value, str) else list(value)
    scopes = frozenset(s.strip() for s in items if isinstance(s, str) and s.strip())
    if any(not isinstance(s, str) for s in items):
        raise UsageError(f"{where}: scopes must be strings")
    unknown = sorted(scopes - set(SCOPES))
    if unknown:
        raise UsageError(f"{where}: unknown scope {', '.join(unknown)}; choose from {', '.join(SCOPES)}")
    return scopes


def _coerce(key: str, value: Any, where: str) -> Any:
    """One raw value (TOML value or environment string) as the setting's type, or a UsageError."""
    try:
        if key in _LIST_KEYS:
            if isinstance(value, str):
                value = [v for v in value.split(",") if v.strip()]
            if not isinstance(value, list):
                raise TypeError("a list")
            if key == "anonymous_scopes":
                return parse_scopes(value, where)
            return tuple(str(v).strip() for v in value)
        if key in _BOOL_KEYS:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise TypeError("true or false")
                return lowered in ("1", "true", "yes", "on")
            if not isinstance(value, bool):
                raise TypeError("true or false")
            return value
        if key in _INT_KEYS:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise TypeError("an integer")
            number = int(value)
            if number < (0 if key == "port" else 1) or (key == "port" and number > 65535):
                raise ValueError("out of range")
            return number
        if key in _FLOAT_KEYS:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise TypeError("a number")
            seconds = float(value)
            if not seconds > 0:
                raise ValueError("must be positive")
            return seconds
        if not isinstance(value, str) or not value:
            raise TypeError("a non-empty string")
        return value
    except UsageError:
        raise
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{where}: bad value {value!r} for {key} ({exc})") from None


def _read_file(path: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):  # pragma: no cover - version switch
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read the server config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    table = data.get("server", data)
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [server] must be a table")
    return table


def load_settings(config_file: str | None = None, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings from ``config_file`` (TOML), then ``env`` (``MLVET_SERVER_*``), then ``overrides`` (CLI).

    ``overrides`` values of None are ignored (an option the user did not give). Unknown keys in the file or
    the environment are errors: a misspelt setting must not be silently ignored.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        for key, value in _read_file(config_file).items():
            if key not in _KEYS:
                raise UsageError(f"{config_file}: unknown setting {key!r}; known: {', '.join(sorted(_KEYS))}")
            values[key] = _coerce(key, value, config_file)
    env = env if env is not None else {}
    for name, value in env.items():
        if not name.startswith(_ENV_PREFIX):
            continue
        key = name[len(_ENV_PREFIX):].lower()
        if key not in _KEYS:
            raise UsageError(f"environment variable {name} is not a server setting; known: "
                             + ", ".join(_ENV_PREFIX + k.upper() for k in sorted(_KEYS)))
        values[key] = _coerce(key, value, name)
    if "db_url" not in values and env.get("MLVET_DB"):
        values["db_url"] = env["MLVET_DB"]
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in _KEYS:
            raise UsageError(f"unknown server setting {key!r}")
        values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
    return dataclasses.replace(Settings(), **values)
