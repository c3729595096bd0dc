"""Every rebuilt published bypass must be ranked high or critical, naming what it would run.

Why a separate suite from ``test_malicious_corpus``: these samples are the advisories themselves
(picklescan / fickling GHSAs, loader CVEs, vendor write-ups), one test id per advisory sample, so a
regression names the advisory that came back.  Samples that need an engine change owned by another part
of mlvet are strict xfails naming the owner (``KNOWN_MISSES``; details in ``MISSES.md`` of the ``advisories``
branch): when the owner's fix lands the xfail turns into a failure and the marker must be dropped.  Misses
already fixed on another branch that is not merged yet are non-strict (``PENDING_MERGE``).

The policy section "Gadgets from published scanner bypasses (advisories)" of ``default.toml`` is tested
both ways: each entry classifies its advisory's callable as dangerous, and the benign neighbours of those
entries (classes that ordinary pickles reconstruct) stay out of the dangerous tier.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

import build_advisories
import build_malicious
import pytest

import mlvet
from mlvet.model import FileResult, Finding, Severity
from mlvet.policy import Tier, default_policy

ADVISORIES = build_advisories.build_all()
BY_NAME = {a.name: a for a in ADVISORIES}

_FS = "archives (branch fs): "
_TPL = "configs/templates (branch templates): "

#: Samples whose fix belongs to another component (strict xfail; see MISSES.md for the exact change).
KNOWN_MISSES: dict[str, str] = {
}


#: Misses already fixed on another engineer's branch (seen with that branch's scanner), pending the merge:
#: non-strict xfails, so the merge turns them into passes without touching this file. Drop them after it.
PENDING_MERGE: dict[str, str] = {}


def _param(name: str) -> object:
    if name in KNOWN_MISSES:
        return pytest.param(name, id=name, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[name])])
    if name in PENDING_MERGE:
        reason = f"fixed on branch {PENDING_MERGE[name]}, pending merge"
        return pytest.param(name, id=name, marks=[pytest.mark.xfail(strict=False, reason=reason)])
    return pytest.param(name, id=name)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FileResult]:
    """Each sample written under its (sometimes misleading) file name and scanned once via ``mlvet.scan``."""
    root = tmp_path_factory.mktemp("advisories")
    paths = build_advisories.write_all(root)
    out = {}
    for adv, path in zip(ADVISORIES, paths, strict=True):
        report = mlvet.scan(path)
        assert len(report.results) == 1, f"{adv.name}: {len(report.results)} results"
        out[adv.name] = report.results[0]
    return out


def _high(result: FileResult) -> list[Finding]:
    return [f for f in result.findings if f.severity >= Severity.HIGH]


def test_catalogue_is_well_formed() -> None:
    """Unique names, a source and a date on every sample, an owner on every miss, deterministic bytes."""
    again = build_advisories.build_all()
    assert [(a.name, a.data) for a in again] == [(a.name, a.data) for a in ADVISORIES]
    assert len(BY_NAME) == len(ADVISORIES)
    for a in ADVISORIES:
        assert a.source and a.note and a.filename and "/" not in a.filename
        assert len(a.published) >= 7 and a.published[:2] in ("19", "20"), a.name
        assert a.component in ("pickle-sem", "fs", "keras-onnx", "templates"), a.name
    assert set(KNOWN_MISSES) <= set(BY_NAME), set(KNOWN_MISSES) - set(BY_NAME)
    assert set(PENDING_MERGE) <= set(BY_NAME), set(PENDING_MERGE) - set(BY_NAME)
    assert not set(KNOWN_MISSES) & set(PENDING_MERGE)
    assert len(ADVISORIES) >= 80


@pytest.mark.parametrize("name", [_param(a.name) for a in ADVISORIES])
def test_advisory_ranked_high_and_named(name: str, results: dict[str, FileResult]) -> None:
    adv = BY_NAME[name]
    result = results[name]
    shown = [(f.rule_id, f.severity.label, f.message[:120]) for f in result.findings]
    assert result.severity >= Severity.HIGH, f"{name} ({adv.source}): {result.status.value} {shown}"
    if adv.expect is not None:
        text = " ".join(f"{f.message} {f.evidence}" for f in _high(result))
        assert adv.expect in text, f"{name}: no high/critical finding names {adv.expect}: {shown}"


# ---- the policy section ----------------------------------------------------------------------------

_SECTION = "# ---- Gadgets from published scanner bypasses (advisories) ----"
_TOML = Path(mlvet.__file__).parent / "policy" / "default.toml"

#: One callable per entry of the section, as a pickle names it (module, qualname).
SECTION_EXAMPLES: dict[str, tuple[str, str]] = {
    "pexpect": ("pexpect", "run"),
    "ptyprocess": ("ptyprocess.ptyprocess", "PtyProcess.spawn"),
    "psutil:Popen": ("psutil", "Popen"),
    "syslog": ("syslog", "syslog"),
    "joblib.numpy_pickle_compat:load_compatibility": ("joblib.numpy_pickle_compat", "load_compatibility"),
    "numpy.lib._datasource": ("numpy.lib._datasource", "open"),
    "scipy.io*:FortranFile": ("scipy.io._fortran", "FortranFile"),
    "scipy.io*:netcdf_file": ("scipy.io", "netcdf_file"),
    "scipy.io*:savemat": ("scipy.io.matlab._mio", "savemat"),
    "scipy.io*:mmwrite": ("scipy.io", "mmwrite"),
    "pandas:HDFStore": ("pandas", "HDFStore"),
    "pandas*:*.query": ("pandas.core.frame", "DataFrame.query"),
    "pandas*:*.eval": ("pandas", "DataFrame.eval"),
    "tensorflow.python.platform.gfile": ("tensorflow.python.platform.gfile", "GFile"),
    "tensorflow.python.lib.io": ("tensorflow.python.lib.io.file_io", "FileIO"),
    "keras.src.utils.file_utils": ("keras.src.utils.file_utils", "get_file"),
    "PIL.ImageMath": ("PIL.ImageMath", "eval"),
    "mako": ("mako.template", "Template"),
    "gzip:open": ("gzip", "open"),
    "gzip:GzipFile": ("gzip", "GzipFile"),
    "bz2:open": ("bz2", "open"),
    "bz2:BZ2File": ("bz2", "BZ2File"),
    "lzma:open": ("lzma", "open"),
    "lzma:LZMAFile": ("lzma", "LZMAFile"),
    "transformers.models.rag.retrieval_rag:LegacyIndex": ("transformers.models.rag.retrieval_rag", "LegacyIndex"),
    "transformers*:*.load_repo_checkpoint": (
        "transformers.modeling_tf_utils",
        "TFPreTrainedModel.load_repo_checkpoint",
    ),
    "*lightning*:*.load_from_checkpoint": ("lightning.pytorch.core.module", "LightningModule.load_from_checkpoint"),
    "gensim*:*.load": ("gensim.models.word2vec", "Word2Vec.load"),
    "statsmodels*:*.load": ("statsmodels.regression.linear_model", "RegressionResults.load"),
    "statsmodels.iolib.smpickle": ("statsmodels.iolib.smpickle", "load_pickle"),
    "invoke": ("invoke", "run"),
    "nltk.data:load": ("nltk.data", "load"),
    "nltk.downloader": ("nltk.downloader", "Downloader.download"),
    "smolagents.local_python_executor": ("smolagents.local_python_executor", "evaluate_python_code"),
    "Cython": ("Cython.Build.Inline", "cython_inline"),
    "_cffi_backend": ("_cffi_backend", "load_library"),
    "typing:get_type_hints": ("typing", "get_type_hints"),
    "typing:ForwardRef.*": ("typing", "ForwardRef._evaluate"),
    "typing:_eval_type": ("typing", "_eval_type"),
    "annotationlib": ("annotationlib", "get_annotations"),
    "builtins:exit": ("builtins", "exit"),
    "builtins:quit": ("__builtin__", "quit"),
    "_sitebuiltins": ("_sitebuiltins", "Quitter"),
    "fastai*:load_learner": ("fastai.learner", "load_learner"),
    "fastai*:*.load": ("fastai.learner", "Learner.load"),
    "transformers*:*.save_pretrained": ("transformers.models.bert.configuration_bert", "BertConfig.save_pretrained"),
    "transformers*:*.push_to_hub": ("transformers", "BertModel.push_to_hub"),
    "_bootsubprocess": ("_bootsubprocess", "Popen.wait"),
    "_testcapi": ("_testcapi", "run_in_subinterp"),
    "_testinternalcapi": ("_testinternalcapi", "get_configs"),
    "_gdbm": ("_gdbm", "open"),
    "_dbm": ("_dbm", "open"),
    "_posixshmem": ("_posixshmem", "shm_open"),
    "antigravity": ("antigravity", "geohash"),
    "zipapp": ("zipapp", "create_archive"),
    "wave:open": ("wave", "open"),
    "aifc:open": ("aifc", "open"),
    "sunau:open": ("sunau", "open"),
    "readline": ("readline", "write_history_file"),
    "xml.etree*:*.write": ("xml.etree.ElementTree", "ElementTree.write"),
    "smtpd": ("smtpd", "DebuggingServer"),
    "winreg": ("winreg", "SetValueEx"),
    "_winreg": ("_winreg", "SetValueEx"),
    "keras.config:enable_unsafe_deserialization": ("keras.config", "enable_unsafe_deserialization"),
    "keras.src.saving.serialization_lib:enable_unsafe_deserialization": (
        "keras.src.saving.serialization_lib",
        "enable_unsafe_deserialization",
    ),
    "keras.src.backend.common.global_state:set_global_attribute": (
        "keras.src.backend.common.global_state",
        "set_global_attribute",
    ),
    "tf_keras*:enable_unsafe_deserialization": (
        "tf_keras.src.saving.serialization_lib",
        "enable_unsafe_deserialization",
    ),
}

#: Names ordinary pickles reconstruct next to the new entries: they must not become dangerous.
BENIGN_NEIGHBOURS = [
    ("pandas.core.frame", "DataFrame"),
    ("pandas", "DataFrame"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("scipy.io.matlab._mio5_params", "mat_struct"),
    ("scipy.sparse._csr", "csr_matrix"),
    ("gensim.models.word2vec", "Word2Vec"),
    ("gensim.models.keyedvectors", "KeyedVectors"),
    ("statsmodels.regression.linear_model", "RegressionResultsWrapper"),
    ("statsmodels.tsa.arima.model", "ARIMAResults"),
    ("pytorch_lightning.core.module", "LightningModule"),
    ("transformers.models.bert.modeling_bert", "BertModel"),
    ("transformers.models.rag.retrieval_rag", "RagRetriever"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("omegaconf.dictconfig", "DictConfig"),
    ("typing", "ForwardRef"),
    ("typing", "Any"),
    ("nltk.tokenize.punkt", "PunktSentenceTokenizer"),
    ("fastai.learner", "Learner"),
    ("transformers.models.bert.configuration_bert", "BertConfig"),
    ("builtins", "set"),
    ("xml.etree.ElementTree", "Element"),
    ("wave", "Wave_read"),
]


def _section_matches() -> list[str]:
    text = _TOML.read_text(encoding="utf-8")
    assert _SECTION in text, "the advisories section is missing from default.toml"
    section = text.split(_SECTION, 1)[1]
    return [e["match"] for e in tomllib.loads(section).get("dangerous", [])]


def test_section_is_last_and_reasoned() -> None:
    """The section is the file's last; every entry is dangerous-tier and its reason names its source."""
    text = _TOML.read_text(encoding="utf-8")
    section = text.split(_SECTION, 1)[1]
    assert "[[safe]]" not in section and "[score]" not in section
    entries = tomllib.loads(section)["dangerous"]
    for e in entries:
        assert len(e["reason"]) > 30, e
    assert set(_section_matches()) == set(SECTION_EXAMPLES), "each entry needs an example in this test"


@pytest.mark.parametrize("pattern", sorted(SECTION_EXAMPLES))
def test_section_entry_classifies_its_gadget(pattern: str) -> None:
    module, name = SECTION_EXAMPLES[pattern]
    verdict = default_policy().classify(module, name)
    assert verdict.tier is Tier.DANGEROUS, f"{pattern}: {module}.{name} is {verdict}"


@pytest.mark.parametrize(("module", "name"), BENIGN_NEIGHBOURS, ids=[f"{m}.{n}" for m, n in BENIGN_NEIGHBOURS])
def test_benign_neighbour_not_dangerous(module: str, name: str) -> None:
    assert default_policy().classify(module, name).tier is not Tier.DANGEROUS


# ---- live: the techniques really run under the real loader ----------------------------------------

#: How each live loader reads the sample (an exception raised after the payload ran is swallowed).
_LIVE_TEMPLATE = "import sys{imp}\ntry:\n    {load}\nexcept BaseException:\n    pass\n"
_LIVE_SCRIPTS = {
    "pickle": _LIVE_TEMPLATE.format(imp=", pickle", load="pickle.loads(open(sys.argv[1], 'rb').read())"),
    "torch": _LIVE_TEMPLATE.format(imp=", torch", load="torch.load(sys.argv[1], weights_only=False)"),
}

#: Module each live sample needs on this interpreter (the sample is skipped when it is missing).
LIVE_REQUIRES = {
    "ps_trace_runctx": "trace",
    "fk_pexpect_run": "pexpect",
    "ma_psutil_popen": "psutil",
    "scipy_fortranfile_write": "scipy",
    "numpy_memmap_w_plus": "numpy",
    "torch_fx_reduce_graph_module": "torch",
    "ssti_mako_template_ctor": "mako",
    "fk_private_testcapi_subinterp": "_testcapi",
    "ps_idlelib_calltip_fetch_tip": "idlelib.calltip",
    "ps_idlelib_autocomplete_fetch_completions": "idlelib.autocomplete",
    "ps_numpy_f2py_getlincoef": "numpy.f2py.crackfortran",
    "ps_cloudpickle_make_function": "cloudpickle",
    "fk_subinterpreter_interpreters": "_interpreters",
    "fk_subinterpreter_xxsubinterpreters": "_xxsubinterpreters",
    "ps_torch_magic_number_reduce": "torch",
    "zip_torch_archive_dir_dotdot": "torch",
}


def _live_param(name: str) -> object:
    marks = [pytest.mark.live]
    mod = LIVE_REQUIRES.get(name)
    if mod is not None:
        try:
            __import__(mod)
        except ImportError:
            marks.append(pytest.mark.skip(reason=f"{mod} is not available on this interpreter"))
    return pytest.param(name, id=name, marks=marks)


@pytest.mark.parametrize("name", [_live_param(a.name) for a in ADVISORIES if a.live is not None])
def test_live_payload_runs(name: str, tmp_path: Path) -> None:
    """The real loader in a subprocess (cwd = a temp dir) leaves the canary: the technique is real."""
    adv = BY_NAME[name]
    sample = tmp_path / adv.filename
    sample.write_bytes(adv.data)
    marker = tmp_path / "env_marker"
    env = dict(os.environ, MLVET_MARKER=str(marker))
    subprocess.run(
        [sys.executable, "-c", _LIVE_SCRIPTS[adv.live or "pickle"], str(sample)],
        cwd=tmp_path,
        env=env,
        timeout=120,
        capture_output=True,
        check=False,
    )
    canaries = [marker, tmp_path / build_malicious.REL_MARKER]
    assert any(p.exists() for p in canaries), f"{name}: loading left no canary in {tmp_path}"
