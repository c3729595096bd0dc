"""Model and dataset cards (README.md): the YAML front matter's declared facts and the body's section headings."""

from __future__ import annotations

import re
from typing import Any

from mlvet.inventory.metadata._common import (
    MAX_CARD_BYTES,
    MAX_LIST_ITEMS,
    MAX_YAML_BYTES,
    _Collector,
    _parse_yaml,
    _read_bytes,
    _strings,
)

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")


_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _card(c: _Collector, path: str) -> None:
    data = _read_bytes(path, MAX_CARD_BYTES)
    if data is None:
        return  # listed but gone or unreadable: no card to speak of
    c.card = True
    if not data or b"\0" in data[:8192]:
        return  # binary or empty: a card exists, it says nothing
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    body = text
    if text.startswith("---"):
        lines = text.splitlines(keepends=True)
        if lines[0].strip() == "---":
            for i in range(1, len(lines)):
                if lines[i].strip() in ("---", "..."):
                    front = "".join(lines[1:i])
                    body = "".join(lines[i + 1 :])
                    if len(front) <= MAX_YAML_BYTES:
                        doc = _parse_yaml(front)
                        if isinstance(doc, dict):
                            _card_fields(c, doc)
                    break
    c.add("card_sections", _headings(body))


def _headings(body: str) -> list[str]:
    """ATX and setext headings outside fenced code, lower-cased, markdown emphasis and links removed."""
    out: list[str] = []
    fence: str | None = None
    prev = ""
    for line in body.splitlines():
        m = _FENCE.match(line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            prev = ""
            continue
        if fence:
            continue
        title: str | None = None
        if h := _HEADING.match(line):
            title = h.group(2)
        elif prev.strip() and _SETEXT.match(line) and not prev.lstrip().startswith(("-", "*", "#", ">", "|")):
            title = prev
        if title:
            title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
            title = re.sub(r"[*_`]+", "", title).strip().lower()
            if title and title not in out:
                out.append(title)
        prev = line
    return out


def _card_fields(c: _Collector, doc: dict[str, Any]) -> None:
    lic = doc.get("license")
    licenses = _strings(lic)
    name = doc.get("license_name")
    if isinstance(name, str) and name.strip() and (not licenses or licenses[0].lower() == "other"):
        c.set("license", name)
    elif licenses:
        c.set("license", licenses[0])
    if len(licenses) > 1:
        c.note("licenses", ", ".join(licenses))
    c.note("license_link", doc.get("license_link"))
    c.add("base_models", _strings(doc.get("base_model")))
    c.note("base_model_relation", doc.get("base_model_relation"))
    c.add("datasets", _strings(doc.get("datasets")))
    c.set("task", doc.get("pipeline_tag"))
    tasks = _strings(doc.get("task_categories"))
    if tasks:
        c.set("task", tasks[0])
    eval_tasks = _model_index_tasks(doc.get("model-index"))
    if eval_tasks:
        c.set("task", eval_tasks[0])
        c.note("eval_tasks", ", ".join(eval_tasks))
    c.set("library", doc.get("library_name"))
    c.add("languages", _strings(doc.get("language")))
    c.add("tags", _strings(doc.get("tags")))
    c.note("pretty_name", doc.get("pretty_name"))
    configs = doc.get("configs")
    if isinstance(configs, list):
        names = [x["config_name"] for x in configs if isinstance(x, dict) and isinstance(x.get("config_name"), str)]
        if names:
            c.note("configs", ", ".join(names))
    _dataset_info_rows(c, doc.get("dataset_info"))


def _model_index_tasks(value: Any) -> list[str]:
    """Task types named by the card's ``model-index`` evaluation results."""
    tasks: list[str] = []
    if not isinstance(value, list):
        return tasks
    for entry in value[:MAX_LIST_ITEMS]:
        results = entry.get("results") if isinstance(entry, dict) else None
        for result in results[:MAX_LIST_ITEMS] if isinstance(results, list) else ():
            task = result.get("task") if isinstance(result, dict) else None
            kind = task.get("type") if isinstance(task, dict) else None
            if isinstance(kind, str) and kind.strip() and kind.strip() not in tasks:
                tasks.append(kind.strip())
    return tasks


def _dataset_info_rows(c: _Collector, info: Any) -> None:
    """Row counts and features from a dataset card's ``dataset_info`` (one mapping or one per config)."""
    infos = info if isinstance(info, list) else [info]
    rows = 0
    seen = False
    features: list[str] = []
    for item in infos[:MAX_LIST_ITEMS]:
        if not isinstance(item, dict):
            continue
        splits = item.get("splits")
        for split in splits[:MAX_LIST_ITEMS] if isinstance(splits, list) else ():
            n = split.get("num_examples") if isinstance(split, dict) else None
            if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
                rows += n
                seen = True
        feats = item.get("features")
        for feat in feats[:MAX_LIST_ITEMS] if isinstance(feats, list) else ():
            name = feat.get("name") if isinstance(feat, dict) else None
            if isinstance(name, str) and name not in features:
                features.append(name)
    if seen:
        c.note("num_rows", rows)
    if features:
        c.note("features", ", ".join(features))
