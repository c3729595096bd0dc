"""MLflow model folders: the ``MLmodel`` file says which flavour loads the model and with what.

``mlflow.pyfunc.load_model`` imports the flavour's ``loader_module``, puts the model's ``code`` folder on
``sys.path``, runs a ``model_code_path`` script (models from code), and unpickles ``python_model``
(cloudpickle), sklearn ``pickled_model`` files (pickle/cloudpickle), PyTorch ``model.pth`` (with a
configurable ``pickle_module``) and so on. This module reads ``MLmodel`` (YAML, parsed by the small safe
subset parser below: no tags, anchors or object construction, so nothing in the file can make it build a
Python object) and reports what loads code, naming the artifact; the artifacts themselves are scanned as
files by their own handlers. Environment files next to it (``conda.yaml``, ``python_env.yaml``,
``requirements.txt``) are checked for pip installs from URLs, VCS and extra indexes.

YAML parser choice: PyYAML is not a dependency of mlvet and would have to be optional (an MLflow folder
would then be an error result without it). MLmodel files are written by ``yaml.safe_dump`` in block style,
so a strict subset parser covers them; anything outside the subset is an AnalysisError (fail closed).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any, BinaryIO

from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.model import Severity
from mlvet.rules import define_rule

MAX_MLMODEL_BYTES = 16 * 1024 * 1024
MAX_ENV_BYTES = 1024 * 1024

OTH020 = define_rule(
    "OTH020", "mlflow-custom-code", Severity.MEDIUM,
    "The MLflow model runs Python code shipped with it: a custom loader_module, a code folder put on "
    "sys.path, or a model_code_path script.",
    "mlflow.pyfunc.load_model imports that code with your privileges; it is code, not data.",
    "Review the code files (mlvet analyses .py files in the model folder) before loading the model.",
    94,
)
OTH021 = define_rule(
    "OTH021", "mlflow-pickle-artifact", Severity.LOW,
    "An MLflow flavour loads an artifact with pickle or cloudpickle (python_model, sklearn pickled_model, "
    "PyTorch model.pth ...).",
    "Loading a pickle runs whatever it references; the artifact's own scan result says what that is.",
    "Check the artifact's findings; prefer skops (sklearn) or safetensors-based flavours.",
    502,
)
OTH022 = define_rule(
    "OTH022", "mlflow-custom-deserializer", Severity.MEDIUM,
    "An MLflow flavour loads its artifact through a module named in MLmodel (PyTorch pickle_module_name, "
    "Keras keras_module) that is not the library's own.",
    "The named module is imported and used to deserialise the model: attacker-chosen code runs on load.",
    "Use the flavour's default module; review the named one.",
    502,
)
OTH023 = define_rule(
    "OTH023", "mlflow-env-remote-install", Severity.LOW,
    "The MLflow model's environment installs packages from URLs, version control, local paths or extra "
    "package indexes.",
    "mlflow models serve / restore environments install these: code from a source no registry vouches "
    "for, or a dependency-confusion index.",
    "Pin packages from your own registry; review every URL.",
    829,
)

_FLAVORS_RE = re.compile(rb"(?m)^flavors:")
_OTHER_KEYS_RE = re.compile(
    rb"(?m)^(artifact_path|utc_time_created|mlflow_version|model_uuid|run_id|model_size_bytes|"
    rb"saved_input_example_info|signature|databricks_runtime|model_id):"
)
_PICKLE_EXT = (".pkl", ".pickle", ".cloudpickle", ".joblib", ".pth", ".pt", ".dill", ".sav")
_DEFAULT_PICKLE_MODULES = frozenset({"mlflow.pytorch.pickle_module", "pickle", "cloudpickle", None})
_REMOTE_PIP = re.compile(
    r"(git\+|hg\+|svn\+|bzr\+|https?://|ftp://|file:|--extra-index-url|--index-url|(^|\s)-i\s|"
    r"--find-links|(^|\s)-f\s|--trusted-host|(^|\s)-e\s|^\.{0,2}/)"
)


# ---- a strict YAML subset -----------------------------------------------------------------------------


class _YamlError(ValueError):
    pass


def _strip_comment(text: str) -> str:
    """Remove a trailing ``# comment`` outside quotes."""
    quote: str | None = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


def _scalar(text: str) -> Any:
    t = text.strip()
    if t in ("", "~", "null", "Null", "NULL"):
        return None
    if t in ("true", "True", "TRUE"):
        return True
    if t in ("false", "False", "FALSE"):
        return False
    if t[0] in "&*!|>%@`":
        raise _YamlError(f"unsupported YAML construct {t[:20]!r} (tags, anchors and aliases are not used by MLflow)")
    if t[0] == "'" and t.endswith("'") and len(t) >= 2:
        return t[1:-1].replace("''", "'")
    if t[0] == '"' and t.endswith('"') and len(t) >= 2:
        body = t[1:-1]
        return re.sub(r'\\(["\\/nrt0 ])', lambda m: {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(m[1], m[1]), body)
    if t[0] in "[{":
        return _flow(t)
    if re.fullmatch(r"[-+]?\d+", t):
        return int(t)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", t):
        return float(t)
    return t


def _flow(text: str) -> Any:
    """Flow collections of scalars (``[a, b]``, ``{k: v}``), nested; what safe_dump emits inline."""
    pos = 0

    def value() -> Any:
        nonlocal pos
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos >= len(text):
            raise _YamlError("unterminated flow collection")
        ch = text[pos]
        if ch in "[{":
            close = "]" if ch == "[" else "}"
            pos += 1
            items: list[Any] = []
            mapping: dict[str, Any] = {}
            while True:
                while pos < len(text) and text[pos] in " ,":
                    pos += 1
                if pos >= len(text):
                    raise _YamlError("unterminated flow collection")
                if text[pos] == close:
                    pos += 1
                    return mapping if ch == "{" else items
                before = pos
                v = value()
                if pos == before:
                    raise _YamlError(f"unexpected {text[pos]!r} in flow collection")
                while pos < len(text) and text[pos] == " ":
                    pos += 1
                if ch == "{":
                    if pos < len(text) and text[pos] == ":":
                        pos += 1
                        mapping[str(v)] = value()
                    else:
                        mapping[str(v)] = None
                else:
                    items.append(v)
        if ch in "'\"":
            end = pos + 1
            while end < len(text):
                if text[end] == ch:
                    if ch == "'" and end + 1 < len(text) and text[end + 1] == "'":
                        end += 2
                        continue
                    break
                end += 2 if ch == '"' and text[end] == "\\" else 1
            token = text[pos : end + 1]
            pos = end + 1
            return _scalar(token)
        start = pos
        while pos < len(text) and text[pos] not in ",]}":
            if text[pos] == ":" and text[pos + 1 : pos + 2] in (" ", ""):
                break
            pos += 1
        return _scalar(text[start:pos])

    out = value()
    if text[pos:].strip():
        raise _YamlError(f"unexpected text after flow collection: {text[pos:pos + 20]!r}")
    return out


def _split_key(text: str) -> tuple[str, str] | None:
    """``key: value`` → (key, value); None when the line is not a mapping entry."""
    quote: str | None = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and i == 0:
            quote = ch
        elif ch == ":" and (i + 1 == len(text) or text[i + 1] in " \t"):
            key = text[:i].strip()
            if key[:1] in ("'", '"'):
                key = str(_scalar(key))
            return key, text[i + 1 :].strip()
        elif ch in "[{" and i == 0:
            return None
    return None


class _Yaml:
    def __init__(self, text: str) -> None:
        self.raw = text.splitlines()
        self.lines: list[tuple[int, str, int]] = []  # indent, content, raw line index
        for idx, line in enumerate(self.raw):
            if "\t" in line[: len(line) - len(line.lstrip())]:
                raise _YamlError(f"line {idx + 1}: tab indentation")
            content = line.strip()
            if not content or content.startswith("#") or content in ("---", "..."):
                continue
            if content.startswith("%"):
                raise _YamlError(f"line {idx + 1}: YAML directives are not supported")
            self.lines.append((len(line) - len(line.lstrip()), line.strip(), idx))

    def parse(self) -> Any:
        if not self.lines:
            return None
        value, i = self.block(0, self.lines[0][0], 0)
        if i != len(self.lines):
            raise _YamlError(f"line {self.lines[i][2] + 1}: unexpected indentation")
        return value

    def block(self, i: int, indent: int, depth: int) -> tuple[Any, int]:
        if depth > 64:
            raise _YamlError("nesting deeper than 64 levels")
        content = self.lines[i][1]
        if content == "-" or content.startswith("- "):
            return self.sequence(i, indent, depth)
        if _split_key(_strip_comment(content)) is not None:
            return self.mapping(i, indent, depth)
        return self.multiline_scalar(i, indent - 1)

    def sequence(self, i: int, indent: int, depth: int) -> tuple[list[Any], int]:
        out: list[Any] = []
        while i < len(self.lines) and self.lines[i][0] == indent and (
            self.lines[i][1] == "-" or self.lines[i][1].startswith("- ")
        ):
            rest = self.lines[i][1][1:].lstrip()
            if not rest:
                if i + 1 < len(self.lines) and self.lines[i + 1][0] > indent:
                    value, i = self.block(i + 1, self.lines[i + 1][0], depth + 1)
                else:
                    value, i = None, i + 1
            else:
                # "- key: value" starts a mapping whose keys sit two columns further in.
                col = indent + (len(self.lines[i][1]) - len(rest))
                self.lines[i] = (col, rest, self.lines[i][2])
                value, i = self.block(i, col, depth + 1)
            out.append(value)
        return out, i

    def mapping(self, i: int, indent: int, depth: int) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        while i < len(self.lines) and self.lines[i][0] == indent:
            content = _strip_comment(self.lines[i][1])
            split = _split_key(content)
            if split is None:
                raise _YamlError(f"line {self.lines[i][2] + 1}: expected 'key: value'")
            key, rest = split
            value: Any
            if rest in ("|", ">", "|-", ">-", "|+", ">+"):
                value, i = self.block_scalar(i, indent, rest)
            elif rest:
                value, i = self.multiline_scalar(i, indent, rest)
            elif i + 1 < len(self.lines) and self.lines[i + 1][0] > indent:
                value, i = self.block(i + 1, self.lines[i + 1][0], depth + 1)
            elif i + 1 < len(self.lines) and self.lines[i + 1][0] == indent and (
                self.lines[i + 1][1] == "-" or self.lines[i + 1][1].startswith("- ")
            ):
                value, i = self.sequence(i + 1, indent, depth + 1)
            else:
                value, i = None, i + 1
            out[key] = value
        return out, i

    def multiline_scalar(self, i: int, indent: int, first: str | None = None) -> tuple[Any, int]:
        """A scalar that may continue on following lines (folded: one line break → space, blank → newline)."""
        text = first if first is not None else _strip_comment(self.lines[i][1])
        r = self.lines[i][2] + 1
        quote = text[:1] if text[:1] in ("'", '"') else None
        flow = text[:1] in ("[", "{")
        newlines = 0
        while r < len(self.raw):
            if (quote or flow) and _closed(text):
                break
            line = self.raw[r]
            stripped = line.strip()
            if not stripped:
                newlines += 1
                r += 1
                continue
            if not (quote or flow):
                ind = len(line) - len(line.lstrip())
                if ind <= indent or stripped.startswith(("#", "- ")) or stripped == "-" or _split_key(stripped):
                    break
                stripped = _strip_comment(stripped)
            text += "\n" * newlines if newlines and not flow else " "
            text += stripped
            newlines = 0
            r += 1
        i += 1
        while i < len(self.lines) and self.lines[i][2] < r:
            i += 1
        return _scalar(text), i

    def block_scalar(self, i: int, indent: int, style: str) -> tuple[str, int]:
        start_raw = self.lines[i][2] + 1
        i += 1
        while i < len(self.lines) and self.lines[i][0] > indent:
            i += 1
        end_raw = self.lines[i][2] if i < len(self.lines) else len(self.raw)
        body = self.raw[start_raw:end_raw]
        cut = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
        lines = [b[cut:] for b in body]
        text = "\n".join(lines) if style[0] == "|" else " ".join(x for x in lines if x)
        return text, i


def _closed(text: str) -> bool:
    if text[:1] in ("'", '"'):
        q = text[0]
        body = text[1:]
        body = body.replace("''", "") if q == "'" else re.sub(r"\\.", "", body)
        return q in body
    depth = 0
    quote: str | None = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth <= 0


def parse_yaml(text: str, what: str = "YAML") -> Any:
    """Parse the YAML subset MLflow writes; anything else → AnalysisError."""
    try:
        return _Yaml(text).parse()
    except _YamlError as exc:
        raise AnalysisError(f"{what}: {exc}") from None
    except RecursionError:
        raise AnalysisError(f"{what} nests too deeply to analyse") from None


# ---- MLmodel analysis ---------------------------------------------------------------------------------


def _read_text(path: str, limit: int) -> str | None:
    try:
        if os.path.getsize(path) > limit:
            return None
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def code_locations(mlmodel_path: str) -> list[str]:
    """Code folders and scripts (relative to the model folder) that loading the model imports or runs."""
    try:
        mtime = os.stat(mlmodel_path).st_mtime_ns
    except OSError:
        return []
    return list(_code_locations(mlmodel_path, mtime))


@lru_cache(maxsize=256)
def _code_locations(mlmodel_path: str, _mtime_ns: int) -> tuple[str, ...]:
    text = _read_text(mlmodel_path, MAX_MLMODEL_BYTES)
    if text is None:
        return ()
    try:
        doc = parse_yaml(text, "MLmodel")
    except AnalysisError:
        return ()
    out: list[str] = []
    flavors = doc.get("flavors") if isinstance(doc, dict) else None
    if isinstance(flavors, dict):
        for spec in flavors.values():
            if not isinstance(spec, dict):
                continue
            code = spec.get("code")
            if isinstance(code, str) and code and not os.path.isabs(code) and ".." not in code.split("/"):
                out.append(code)
            script = spec.get("model_code_path")
            if isinstance(script, str) and script:
                # MLflow records the path the script had when saved and runs <model>/<basename> on load.
                out.append(os.path.basename(script.replace("\\", "/")))
    return tuple(out)


def _pickle_files(spec: Any, depth: int = 0) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if depth > 4:
        return out
    if isinstance(spec, dict):
        for k, v in spec.items():
            if isinstance(v, str) and v.lower().endswith(_PICKLE_EXT):
                out.append((str(k), v))
            else:
                out.extend(_pickle_files(v, depth + 1))
    elif isinstance(spec, list):
        for v in spec[:1000]:
            out.extend(_pickle_files(v, depth + 1))
    return out


def analyse_mlmodel(doc: Any, ctx: ScanContext) -> None:
    """Analyse the text of an MLflow ``MLmodel`` file: the flavours it loads and what they would import."""
    if not isinstance(doc, dict) or not isinstance(doc.get("flavors"), dict):
        raise AnalysisError("MLmodel has no 'flavors' mapping")
    reported: set[str] = set()
    for name, spec in doc["flavors"].items():
        if not isinstance(spec, dict):
            continue
        loader = spec.get("loader_module")
        if isinstance(loader, str) and not loader.startswith("mlflow."):
            ctx.report(OTH020, f"flavour {name} imports custom loader module {loader!r}",
                       evidence=f"loader_module: {loader}")
        code = spec.get("code")
        if isinstance(code, str) and code:
            ctx.report(OTH020, f"flavour {name} puts the model's {code!r} folder on sys.path and imports from it",
                       evidence=f"code: {code}")
        script = spec.get("model_code_path")
        if isinstance(script, str) and script:
            base = os.path.basename(script.replace("\\", "/"))
            ctx.report(OTH020, f"flavour {name} runs the Python script {base!r} (model from code) to build the model",
                       evidence=f"model_code_path: {script}")
        pm = spec.get("python_model")
        if isinstance(pm, str) and pm:
            reported.add(pm)
            ctx.report(OTH021, f"flavour {name} unpickles python_model {pm!r} with cloudpickle (it is code)",
                       evidence=f"python_model: {pm}")
        fmt = spec.get("serialization_format")
        pickled = spec.get("pickled_model")
        if isinstance(pickled, str) and fmt in ("pickle", "cloudpickle") and pickled not in reported:
            reported.add(pickled)
            ctx.report(OTH021, f"flavour {name} loads {pickled!r} with {fmt}", evidence=f"serialization_format: {fmt}")
        pmod = spec.get("pickle_module_name")
        if name == "pytorch":
            if pmod not in _DEFAULT_PICKLE_MODULES:
                ctx.report(OTH022, f"PyTorch flavour unpickles with module {pmod!r}",
                           evidence=f"pickle_module_name: {pmod}")
            data = spec.get("model_data")
            if isinstance(data, str) and data not in reported and spec.get("model_format", "") != "pt2":
                reported.add(data)
                ctx.report(OTH021, f"PyTorch flavour loads {data!r} with torch.load (pickle)",
                           evidence=f"model_data: {data}")
        kmod = spec.get("keras_module")
        if isinstance(kmod, str) and kmod.split(".")[0] not in ("keras", "tensorflow", "tf_keras"):
            ctx.report(OTH022, f"flavour {name} loads the model with module {kmod!r}", evidence=f"keras_module: {kmod}")
    # Then any other pickle-looking artifact a flavour names (langchain, statsmodels, custom flavours ...).
    for name, spec in doc["flavors"].items():
        for key, file in _pickle_files(spec):
            if file not in reported:
                reported.add(file)
                ctx.report(OTH021, f"flavour {name} loads {file!r} ({key}), a pickle-based artifact",
                           evidence=f"{key}: {file}")
    folder = None if ctx.members or ctx.depth else os.path.dirname(os.path.abspath(ctx.path))
    if folder is not None:
        _check_env(doc, folder, ctx)


def _env_files(doc: dict[str, Any]) -> list[str]:
    names = {"conda.yaml", "python_env.yaml", "requirements.txt"}
    pyfunc = doc["flavors"].get("python_function")
    env = pyfunc.get("env") if isinstance(pyfunc, dict) else None
    if isinstance(env, dict):
        names.update(v for v in env.values() if isinstance(v, str))
    elif isinstance(env, str):
        names.add(env)
    return sorted(n for n in names if "/" not in n and "\\" not in n and n not in ("", ".", ".."))


def _pip_lines(doc: Any) -> list[str]:
    """pip requirement lines from conda.yaml (dependencies[].pip) or python_env.yaml (dependencies)."""
    out: list[str] = []
    if not isinstance(doc, dict):
        return out
    for key in ("dependencies", "build_dependencies"):
        deps = doc.get(key)
        if isinstance(deps, list):
            for d in deps:
                if isinstance(d, str):
                    out.append(d)
                elif isinstance(d, dict) and isinstance(d.get("pip"), list):
                    out.extend(x for x in d["pip"] if isinstance(x, str))
    channels = doc.get("channels")
    if isinstance(channels, list):
        out.extend(f"--channel {c}" for c in channels if isinstance(c, str) and "://" in c)
    return out


def _check_env(doc: dict[str, Any], folder: str, ctx: ScanContext) -> None:
    for name in _env_files(doc):
        text = _read_text(os.path.join(folder, name), MAX_ENV_BYTES)
        if text is None:
            continue
        if name.endswith((".yaml", ".yml")):
            try:
                lines = _pip_lines(parse_yaml(text, name))
            except AnalysisError:
                ctx.report(OTH023, f"{name} could not be parsed; its installs were not checked", evidence=name)
                continue
        else:
            lines = [ln.strip() for ln in text.splitlines()]
        hits = [ln for ln in lines if ln and not ln.startswith("#") and _REMOTE_PIP.search(ln)]
        if hits:
            ctx.report(OTH023, f"{name} installs from outside the package registry: {'; '.join(hits[:5])}",
                       evidence=hits[0][:240])


class MLmodelHandler:
    """MLflow ``MLmodel`` files, recognised by their ``flavors`` mapping."""
    id = "mlflow-mlmodel"
    priority = 65

    def sniff(self, probe: Probe) -> bool:
        head = probe.head
        return b"\x00" not in head and bool(_FLAVORS_RE.search(head)) and bool(_OTHER_KEYS_RE.search(head))

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size > MAX_MLMODEL_BYTES:
            raise AnalysisError(f"MLmodel of {size} bytes exceeds the {MAX_MLMODEL_BYTES}-byte limit")
        try:
            text = stream.read(MAX_MLMODEL_BYTES + 1).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AnalysisError(f"MLmodel is not valid UTF-8 (byte {exc.start})") from None
        analyse_mlmodel(parse_yaml(text, "MLmodel"), ctx)


register(MLmodelHandler())
