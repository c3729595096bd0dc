"""What every metadata source shares: the size caps, the collector that merges sources, bounded file readers."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from typing import Any

from mlvet.inventory.model import AssetMetadata

log = logging.getLogger("mlvet.inventory.metadata")


#: Caps on what is read per source. Cards and configs of real models are kilobytes; these leave room for
#: cards with long tables and tokenizer configs with chat templates, and bound the worst case.
MAX_CARD_BYTES = 4 * 1024 * 1024


MAX_JSON_BYTES = 4 * 1024 * 1024


MAX_YAML_BYTES = 1024 * 1024


#: safetensors header bytes read per asset in total (a 400-shard checkpoint has ~400 small headers).
MAX_SAFETENSORS_HEADER_BYTES = 64 * 1024 * 1024


MAX_SHARDS = 512


#: Parquet footers read (the first fields hold the row count and schema; row-group stats follow).
MAX_PARQUET_FOOTER_BYTES = 1024 * 1024


MAX_PARQUET_FILES = 64


#: Directory entries looked at when the caller gives no file list.
MAX_LISTING = 10_000


#: Length of a string kept in ``extra`` or as a list entry.
MAX_VALUE_CHARS = 512


MAX_LIST_ITEMS = 64


_HF_URL = re.compile(r"^https?://(?:www\.)?huggingface\.co/(?:datasets/)?([\w.-]+/[\w.-]+?)/?$")


_SHARD = re.compile(r"-\d{5}-of-\d{5}(?=\.)")


_VARIANT = re.compile(r"\.(fp16|bf16|fp32|non_ema|ema|int8|fp8)$")


class _Collector:
    """Accumulates fields from several sources: scalars first-wins, lists merged without duplicates."""

    def __init__(self) -> None:
        self.scalars: dict[str, Any] = {}
        self.lists: dict[str, list[str]] = {}
        self.extra: dict[str, str] = {}
        self.card = False
        self.remote_code = False

    def set(self, name: str, value: Any) -> None:
        if name in self.scalars:
            return
        if isinstance(value, str):
            value = _clean(value)
            if not value:
                return
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return
        self.scalars[name] = value

    def add(self, name: str, values: Iterable[Any]) -> None:
        items = self.lists.setdefault(name, [])
        for value in values:
            text = _clean(value) if isinstance(value, str) else None
            if text and text not in items and len(items) < MAX_LIST_ITEMS:
                items.append(text)

    def note(self, key: str, value: Any) -> None:
        if key in self.extra or value is None or isinstance(value, (dict, list)):
            return
        text = _clean(str(value).lower() if isinstance(value, bool) else str(value))
        if text:
            self.extra[key] = text

    def build(self) -> AssetMetadata:
        s, li = self.scalars, self.lists
        return AssetMetadata(
            architecture=s.get("architecture"),
            parameters=s.get("parameters"),
            task=s.get("task"),
            license=s.get("license"),
            base_models=tuple(li.get("base_models", ())),
            datasets=tuple(li.get("datasets", ())),
            library=s.get("library"),
            languages=tuple(li.get("languages", ())),
            tags=tuple(li.get("tags", ())),
            card=self.card,
            card_sections=tuple(li.get("card_sections", ())),
            remote_code=self.remote_code,
            extra=tuple(self.extra.items()),
        )


def _clean(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return text


def _strings(value: Any) -> list[str]:
    """A YAML/JSON value that may be one string or a list of them (other types dropped)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value[:MAX_LIST_ITEMS] if isinstance(v, str)]
    return []


def _read_bytes(path: str, limit: int) -> bytes | None:
    """The file's first ``limit`` bytes; None when unreadable or not a regular file (a FIFO would block)."""
    from mlvet.walk import open_regular

    f = open_regular(path)
    if f is None:
        return None
    try:
        with f:
            return f.read(limit)
    except OSError:
        return None


def _read_json(path: str) -> Any:
    """A small JSON document, or None when too large, binary or malformed (parse failures are not ours)."""
    try:
        if os.path.getsize(path) > MAX_JSON_BYTES:
            return None
    except OSError:
        return None
    data = _read_bytes(path, MAX_JSON_BYTES)
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8-sig"), parse_constant=lambda _n: None)
    except (ValueError, RecursionError):
        return None


def _parse_yaml(text: str) -> Any:
    """The project's safe YAML subset; on failure each top-level key is tried on its own.

    Cards are hand-edited: one entry outside the subset (an anchor in a widget, a tab) must not lose the
    license and base model written next to it.
    """
    from mlvet.errors import AnalysisError
    from mlvet.formats.mlflow import parse_yaml

    try:
        return parse_yaml(text, "card front matter")
    except AnalysisError:
        pass
    out: dict[str, Any] = {}
    chunk: list[str] = []
    lines = [*text.splitlines(), "\0"]
    for line in lines:
        starts_key = bool(line) and not line[0].isspace() and not line.startswith(("-", "#"))
        if starts_key and chunk:
            try:
                value = parse_yaml("\n".join(chunk), "card front matter")
            except AnalysisError:
                value = None
            if isinstance(value, dict):
                for k, v in value.items():
                    out.setdefault(k, v)
            chunk = []
        chunk.append(line)
    return out


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _hub_id(kv: dict[str, Any], prefix: str) -> str | None:
    """A base model or dataset entry as a Hub id: from its Hub URL, else its name."""
    url = kv.get(f"{prefix}.repo_url")
    if isinstance(url, str) and (m := _HF_URL.match(url.strip())):
        return m.group(1)
    name = kv.get(f"{prefix}.name")
    return name if isinstance(name, str) else (url if isinstance(url, str) else None)
