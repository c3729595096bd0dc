"""Training-data lineage: which datasets a model was trained on, found statically next to the model.

Trust in a model starts with its training data (issue 15), so the inventory records, per model, the datasets it
names and where that claim comes from:

``model-card``
    The card's ``datasets:`` front matter (what ``Trainer.push_to_hub``/``create_model_card`` writes too).
``mlflow-run``
    The MLflow run that logged the model (the ``run_id`` in MLmodel, or ``source_run_id`` of an MLflow 3
    logged model's ``meta.yaml``) and its dataset inputs in a file-store tracking folder
    (``<experiment>/<run>/inputs/*/meta.yaml`` → ``<experiment>/datasets/<id>/meta.yaml``) or, failing that, in
    an ``mlflow.db`` SQLite tracking store above the model (MLflow 3's default backend): name, source URI,
    MLflow's own digest, the input's ``mlflow.data.context``.
``lightning-hparams``
    Data-like hyper-parameters (``data_dir``, ``dataset``, ``train_file`` …) of a Lightning checkpoint, read from
    the ``hparams.yaml`` Lightning writes beside ``checkpoints/`` and from the checkpoint's own pickle run
    *symbolically* by the scanner's pickle machine (nothing is unpickled).
``explicit``
    ``mlvet data link MODEL DATASET [--lock FILE]`` (recorded in the database, not found here).

A Trainer's ``training_args.bin`` is a pickle of ``TrainingArguments``, which names no dataset; it is never
read. Every reader is bounded and tolerant: a malformed file yields no lineage from that source, never an
exception (lineage is metadata; the scanner reports what is dangerous in the same files).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mlvet.inventory.model import AssetMetadata

#: Largest YAML/JSON metadata file read for lineage.
MAX_META_BYTES = 1 << 20
#: Largest checkpoint pickle (``data.pkl``) run symbolically for hyper-parameters.
MAX_CKPT_PICKLE_BYTES = 64 << 20
#: Dataset inputs read per MLflow run.
MAX_INPUTS = 256
_HEX = re.compile(r"^[0-9a-f]{32}$")
_DATA_KEYS = re.compile(r"(^|_)(data|dataset|datasets|corpus)(_|$)"
                        r"|^(train|training|val|valid|test)_(file|files|path|dir|data|set|url|uri)s?$", re.IGNORECASE)


@dataclass(frozen=True)
class DatasetRef:
    """One dataset a model was trained (or evaluated) on, and where that was read."""

    #: Name as the source gives it: Hub id, MLflow dataset name, path, URI.
    name: str
    #: "model-card", "mlflow-run", "lightning-hparams" or "explicit".
    source: str
    #: Where the data lives (hf://datasets/..., s3://..., a local path), when known.
    uri: str | None = None
    #: The dataset lock's root digest (sha256 hex) when the link names a lock.
    lock_root: str | None = None
    #: The source's own content digest when it has one (MLflow's dataset digest), with its kind.
    digest: str | None = None
    digest_kind: str | None = None
    #: Context: the MLflow input context ("training"), the hyper-parameter key, the lock file path.
    detail: str | None = None
    #: The dataset was verified against its lock when linked: True, False, or None when not checked.
    verified: bool | None = None

    @property
    def locked(self) -> bool:
        """True when the reference pins content by a lock root digest."""
        return self.lock_root is not None


def _read_small(path: str) -> str | None:
    try:
        if os.path.getsize(path) > MAX_META_BYTES:
            return None
        with open(path, "rb") as f:
            return f.read().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


def _yaml(path: str) -> Any:
    from mlvet.errors import AnalysisError
    from mlvet.formats.mlflow import parse_yaml

    text = _read_small(path)
    if text is None:
        return None
    try:
        return parse_yaml(text, os.path.basename(path))
    except AnalysisError:
        return None


# ---- model card ---------------------------------------------------------------------------------------


def from_card(metadata: AssetMetadata | None) -> list[DatasetRef]:
    """The card's ``datasets:`` entries (Hub ids; a URL or path is kept as written)."""
    if metadata is None:
        return []
    out = []
    for name in metadata.datasets:
        uri = name if "://" in name or name.startswith("/") else f"hf://datasets/{name}"
        out.append(DatasetRef(name=name, source="model-card", uri=uri))
    return out


# ---- MLflow -------------------------------------------------------------------------------------------


def _find_up(start: str, levels: int, name: str, found: Callable[[str], bool]) -> str | None:
    """``start/name`` or the same name in one of ``levels - 1`` ancestors, the first for which ``found`` holds.

    Bounded on purpose: MLflow lays a model, its run and its store out a few folders apart, never further.
    """
    here = start
    for _ in range(levels):
        cand = os.path.join(here, name)
        if found(cand):
            return cand
        up = os.path.dirname(here)
        if up == here:
            break
        here = up
    return None


def _mlmodel_near(path: str) -> str | None:
    return _find_up(path if os.path.isdir(path) else os.path.dirname(path), 3, "MLmodel", os.path.isfile)


def _run_folder(model_dir: str, run_id: str) -> str | None:
    """The file-store folder of ``run_id``: a sibling of an ancestor of the model (``<exp>/<run_id>``)."""
    return _find_up(model_dir, 6, run_id, lambda c: os.path.isdir(os.path.join(c, "inputs"))
                    or os.path.isfile(os.path.join(c, "meta.yaml")))


def _source_uri(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw or None
    if isinstance(doc, dict):
        for key in ("uri", "url", "path", "dataset_source", "table_name"):
            v = doc.get(key)
            if isinstance(v, str) and v:
                return v
    return None


def _mlflow_db(model_dir: str) -> str | None:
    """``mlflow.db`` (the SQLite tracking store MLflow 3 uses by default) in the model's folder or an ancestor."""
    return _find_up(model_dir, 8, "mlflow.db", os.path.isfile)


def _db_inputs(db: str, run_id: str) -> list[DatasetRef]:
    """The run's dataset inputs from an MLflow SQLite store, opened read-only and immutable.

    SQLite is built to open untrusted files; ``trusted_schema=OFF`` keeps a crafted schema's views and triggers
    from calling functions, ``query_only`` forbids writes, and the query is indexed and limited.
    """
    import sqlite3
    from urllib.parse import quote

    conn = sqlite3.connect(f"file:{quote(os.path.abspath(db))}?mode=ro&immutable=1", uri=True, timeout=1)
    try:
        conn.execute("PRAGMA trusted_schema=OFF")
        conn.execute("PRAGMA query_only=ON")
        rows = conn.execute(
            "SELECT d.name, d.digest, d.dataset_source, t.value FROM inputs i "
            "JOIN datasets d ON d.dataset_uuid = i.source_id "
            "LEFT JOIN input_tags t ON t.input_uuid = i.input_uuid AND t.name = 'mlflow.data.context' "
            "WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND i.destination_id = ? "
            "ORDER BY i.input_uuid LIMIT ?", (run_id, MAX_INPUTS)).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()
    out = []
    for name, digest, source, context in rows:
        if not isinstance(name, str):
            continue
        out.append(DatasetRef(
            name=name, source="mlflow-run", uri=_source_uri(source),
            digest=digest if isinstance(digest, str) else None, digest_kind="mlflow" if digest else None,
            detail=f"run {run_id}" + (f", context {context}" if isinstance(context, str) else "")))
    return out


def from_mlflow(path: str) -> list[DatasetRef]:
    """Dataset inputs of the MLflow run that logged the model at (or above) ``path``: from the file-store run
    folder, else from an ``mlflow.db`` SQLite tracking store above the model."""
    mlmodel = _mlmodel_near(path)
    if mlmodel is None:
        return []
    doc = _yaml(mlmodel)
    model_dir = os.path.dirname(mlmodel)
    run_id = doc.get("run_id") if isinstance(doc, dict) else None
    if not isinstance(run_id, str):  # an MLflow 3 logged model: models/<id>/artifacts/MLmodel + meta.yaml
        meta = _yaml(os.path.join(os.path.dirname(model_dir), "meta.yaml"))
        run_id = meta.get("source_run_id") if isinstance(meta, dict) else None
    if not isinstance(run_id, str) or not _HEX.match(run_id):
        return []
    run = _run_folder(model_dir, run_id)
    if run is None:
        db = _mlflow_db(model_dir)
        return _db_inputs(db, run_id) if db is not None else []
    inputs = os.path.join(run, "inputs")
    datasets_dir = os.path.join(os.path.dirname(run), "datasets")
    out = []
    try:
        entries = sorted(os.listdir(inputs))[:MAX_INPUTS]
    except OSError:
        return []
    for entry in entries:
        meta = _yaml(os.path.join(inputs, entry, "meta.yaml"))
        if not isinstance(meta, dict) or meta.get("source_type") != "DATASET":
            continue
        ds_id = meta.get("source_id")
        if not isinstance(ds_id, str) or not _HEX.match(ds_id):
            continue
        ds = _yaml(os.path.join(datasets_dir, ds_id, "meta.yaml"))
        if not isinstance(ds, dict) or not isinstance(ds.get("name"), str):
            continue
        tags = meta.get("tags") if isinstance(meta.get("tags"), dict) else {}
        context = tags.get("mlflow.data.context") if isinstance(tags, dict) else None
        digest = ds.get("digest")
        out.append(DatasetRef(
            name=ds["name"], source="mlflow-run", uri=_source_uri(ds.get("source")),
            digest=digest if isinstance(digest, str) else None, digest_kind="mlflow" if digest else None,
            detail=f"run {run_id}" + (f", context {context}" if isinstance(context, str) else "")))
    return out


# ---- Lightning ----------------------------------------------------------------------------------------


def _data_values(hp: Any, prefix: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """(key path, value) of data-like string hyper-parameters (dicts walked a few levels deep)."""
    if depth > 4 or not isinstance(hp, dict):
        return
    for k, v in hp.items():
        if not isinstance(k, str):
            continue
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            yield from _data_values(v, key, depth + 1)
        elif _DATA_KEYS.search(k):
            values = v if isinstance(v, list) else [v]
            for item in values[:64]:
                if isinstance(item, str) and item.strip() and len(item) < 4096:
                    yield key, item.strip()


def _symbolic_hparams(ckpt: str) -> dict[str, Any]:
    """The checkpoint's hyper-parameter dicts as plain data, from its pickle run symbolically (never loaded)."""
    from mlvet.analysis.pickle_vm import Machine
    from mlvet.analysis.values import PDict, PList
    from mlvet.limits import Limits

    def plain(v: Any, depth: int = 0) -> Any:
        if depth > 6:
            return None
        if isinstance(v, PDict):
            return {k: plain(x, depth + 1) for k, x in v if isinstance(k, str)}
        if isinstance(v, PList):
            return [plain(x, depth + 1) for x in v]
        return v if isinstance(v, (str, int, float, bool)) else None

    try:
        with zipfile.ZipFile(ckpt) as zf:
            name = next((i for i in zf.infolist() if i.filename.endswith("/data.pkl") or i.filename == "data.pkl"),
                        None)
            if name is None or name.file_size > MAX_CKPT_PICKLE_BYTES:
                return {}
            with zf.open(name) as raw:
                import io

                res = Machine(io.BytesIO(raw.read(MAX_CKPT_PICKLE_BYTES)), Limits()).run()
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError):
        return {}
    top = plain(res.result)
    if not isinstance(top, dict):
        return {}
    return {k: top[k] for k in ("hyper_parameters", "datamodule_hyper_parameters") if isinstance(top.get(k), dict)}


def from_lightning(path: str, files: Sequence[str] | None = None) -> list[DatasetRef]:
    """Data-like hyper-parameters of Lightning checkpoints at ``path`` (a .ckpt, or the .ckpt among ``files``)."""
    if files is None:
        files = [path] if os.path.isfile(path) else []
    ckpts = sorted(f for f in files if f.endswith(".ckpt"))
    seen: set[tuple[str, str]] = set()
    out = []
    for ckpt in ckpts[:16]:
        hp_sources: list[tuple[str, Any]] = []
        for cand in (os.path.join(os.path.dirname(ckpt), "hparams.yaml"),
                     os.path.join(os.path.dirname(os.path.dirname(ckpt)), "hparams.yaml")):
            if os.path.isfile(cand):
                hp_sources.append(("hparams.yaml", _yaml(cand)))
                break
        hp_sources += list(_symbolic_hparams(ckpt).items())
        for where, hp in hp_sources:
            for key, value in _data_values(hp, ""):
                if (key, value) in seen:
                    continue
                seen.add((key, value))
                uri = value if "://" in value or value.startswith(("/", "./", "../")) else None
                out.append(DatasetRef(name=value, source="lightning-hparams", uri=uri, detail=f"{where}: {key}"))
    return out


def discover_lineage(path: str, metadata: AssetMetadata | None,
                     files: Sequence[str] | None = None) -> list[DatasetRef]:
    """Every dataset reference found statically for the model at ``path`` (card, MLflow run, Lightning).

    ``files``: the model's files (the inventory's or the report card's list), where checkpoints are looked for.
    """
    refs = from_card(metadata)
    # Lineage is metadata, read from files an attacker may have crafted: like the metadata readers, a reader that
    # fails on them yields nothing rather than stopping the inventory (the scanner reports what is dangerous).
    with contextlib.suppress(Exception):
        refs += from_mlflow(path)
    with contextlib.suppress(Exception):
        refs += from_lightning(path, files)
    return refs
