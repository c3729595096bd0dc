"""The guard with the real libraries: benign loads unchanged, malicious files refused before loading.

For every wrapped loader:

* **benign**: a file written by the library itself loads through the guard and gives the same object the
  unguarded loader gives (values compared), and a second load of the same file is a cache hit, not a scan;
* **malicious**: a file carrying a canary payload raises :class:`mlvet.guard.UnsafeModelError` naming the
  file and the finding; the canary file does not exist afterwards and no unpickler resolved the payload's
  global (audit log). ``test_canary_payloads_really_run`` proves each payload does write its canary when
  loaded without the guard (in a subprocess), so these tests can fail.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _guard_support as gs
import pytest

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(autouse=True, scope="module")
def _loader_environment() -> Iterator[None]:
    """The loaders' environment, for this module only (set at import time it leaked into every test that a
    pytest-xdist worker ran after collecting this file: the remote-source tests then ran in offline mode)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_BACKEND", os.environ.get("KERAS_BACKEND", "torch"))
        # No network here or in CI: without these, the Hub client retries connections before using the cache.
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        mp.setenv("MLFLOW_TRACKING_URI", "file:///nonexistent-mlvet-guard-tests")
        # transformers copies remote code into a modules cache and imports it from there: keep it per module.
        mp.setenv("HF_MODULES_CACHE", tempfile.mkdtemp(prefix="mlvet-guard-hf-modules-"))
        hub_constants = sys.modules.get("huggingface_hub.constants")
        if hub_constants is not None:  # the client read its environment at import: set its copy too
            mp.setattr(hub_constants, "HF_HUB_OFFLINE", True)
        yield
    hub_constants = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None:  # imported while offline: give later tests the online default back
        hub_constants.HF_HUB_OFFLINE = os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}


@dataclass(frozen=True)
class Case:
    name: str
    needs: str
    benign: Callable[[Path], Path]
    load: Callable[[Path], Any]
    same: Callable[[Any, Any], None]
    evil: Callable[[Path, Path], Path]
    load_evil: Callable[[Path], Any]
    #: Python run in a subprocess WITHOUT the guard to prove the payload (``{path}`` is substituted).
    control: str
    rule: str


# ---- per-library helpers ------------------------------------------------------------------------------------


def _benign_pickle(tmp: Path) -> Path:
    p = tmp / "data.pkl"
    p.write_bytes(pickle.dumps({"a": [1, 2.5, "x"], "b": (None, True)}, protocol=4))
    return p


def _pickle_load(p: Path) -> Any:
    with open(p, "rb") as f:
        return pickle.load(f)


def _eq(a: Any, b: Any) -> None:
    assert a == b


def _benign_torch(tmp: Path) -> Path:
    import torch

    p = tmp / "model.pt"
    torch.manual_seed(0)
    torch.save({"linear": torch.nn.Linear(3, 2).state_dict(), "epoch": 3}, p)
    return p


def _same_torch(a: Any, b: Any) -> None:
    import torch

    assert a.keys() == b.keys() and a["epoch"] == b["epoch"]
    for k in a["linear"]:
        assert torch.equal(a["linear"][k], b["linear"][k])


def _torch_file_object(p: Path) -> Any:
    import torch

    with open(p, "rb") as f:
        return torch.load(f, weights_only=False)


def _benign_joblib(tmp: Path) -> Path:
    import joblib
    from sklearn.linear_model import LogisticRegression

    p = tmp / "clf.joblib"
    joblib.dump(LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]), p)
    return p


def _same_sklearn(a: Any, b: Any) -> None:
    import numpy as np

    assert type(a) is type(b)
    assert np.array_equal(a.coef_, b.coef_) and np.array_equal(a.predict([[0.5], [2.5]]), b.predict([[0.5], [2.5]]))


def _benign_npy(tmp: Path) -> Path:
    import numpy as np

    p = tmp / "obj.npy"
    np.save(p, np.array([{"a": 1}, [1, 2], "s"], dtype=object), allow_pickle=True)
    return p


def _same_np(a: Any, b: Any) -> None:
    assert a.dtype == b.dtype and a.tolist() == b.tolist()


def _benign_keras(tmp: Path) -> Path:
    import keras

    p = tmp / "model.keras"
    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(p)
    return p


def _same_keras(a: Any, b: Any) -> None:
    import numpy as np

    assert [w.shape for w in a.get_weights()] == [w.shape for w in b.get_weights()]
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights(), strict=True))


def _same_state(a: Any, b: Any) -> None:
    import torch

    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _benign_vae(tmp: Path) -> Path:
    from diffusers import AutoencoderKL

    folder = tmp / "vae"
    vae = AutoencoderKL(block_out_channels=(8,), layers_per_block=1, latent_channels=2, norm_num_groups=4,
                        down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",))
    vae.save_pretrained(folder)
    return folder


def _evil_vae(tmp: Path, canary: Path) -> Path:
    folder = _benign_vae(tmp)
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    gs.evil_torch(folder / "diffusion_pytorch_model.bin", canary)
    return folder


def _benign_st(tmp: Path) -> Path:
    from sentence_transformers import SentenceTransformer, models

    folder = tmp / "st"
    SentenceTransformer(modules=[models.Transformer(str(gs.tiny_bert(tmp / "bert"))), models.Pooling(8)]).save(
        str(folder))
    return folder


def _evil_st(tmp: Path, canary: Path) -> Path:
    folder = _benign_st(tmp)
    (folder / "model.safetensors").unlink()
    gs.evil_torch(folder / "pytorch_model.bin", canary)
    return folder


def _st_load(p: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(p), device="cpu")


def _hub_benign(tmp: Path) -> Path:
    gs.hub_cache(tmp / "hub", "acme/tiny-bert", gs.tiny_bert(tmp / "src"))
    return tmp / "hub"


def _hub_evil(tmp: Path, canary: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    gs.evil_pickle(src / "model.pkl", canary)
    gs.hub_cache(tmp / "hub", "acme/evil", src)
    return tmp / "hub"


def _hub_download(cache: Path, repo: str, name: str) -> str:
    from huggingface_hub import hf_hub_download

    return str(hf_hub_download(repo, name, cache_dir=str(cache), local_files_only=True))


def _hub_remote_evil(tmp: Path, canary: Path) -> Path:
    gs.hub_cache(tmp / "hub", "acme/remote", gs.evil_remote_code(tmp / "src", canary))
    return tmp / "hub"


def _auto(p: Path, **kw: Any) -> Any:
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(p), **kw)


CASES = [
    Case("pickle.load", "pickle", _benign_pickle, _pickle_load, _eq,
         lambda t, c: gs.evil_pickle(t / "evil.pkl", c), _pickle_load,
         "import pickle; pickle.load(open({path!r}, 'rb'))", "PKL100"),
    Case("pickle.loads", "pickle", _benign_pickle, lambda p: pickle.loads(p.read_bytes()), _eq,
         lambda t, c: gs.evil_pickle(t / "evil.pkl", c), lambda p: pickle.loads(p.read_bytes()),
         "import pickle; pickle.loads(open({path!r}, 'rb').read())", "PKL100"),
    Case("torch.load", "torch", _benign_torch, lambda p: __import__("torch").load(p), _same_torch,
         lambda t, c: gs.evil_torch(t / "evil.pt", c), lambda p: __import__("torch").load(p, weights_only=False),
         "import torch; torch.load({path!r}, weights_only=False)", "PKL100"),
    Case("torch.load(file object)", "torch", _benign_torch, _torch_file_object, _same_torch,
         lambda t, c: gs.evil_torch(t / "evil.pt", c), _torch_file_object,
         "import torch; torch.load(open({path!r}, 'rb'), weights_only=False)", "PKL100"),
    Case("joblib.load", "joblib", _benign_joblib, lambda p: __import__("joblib").load(p), _same_sklearn,
         lambda t, c: gs.evil_joblib(t / "evil.joblib", c), lambda p: __import__("joblib").load(p),
         "import joblib; joblib.load({path!r})", "PKL100"),
    Case("numpy.load(allow_pickle=True)", "numpy", _benign_npy,
         lambda p: __import__("numpy").load(p, allow_pickle=True), _same_np,
         lambda t, c: gs.evil_npy(t / "evil.npy", c), lambda p: __import__("numpy").load(p, allow_pickle=True),
         "import numpy; numpy.load({path!r}, allow_pickle=True)", "PKL100"),
    Case("keras.models.load_model", "keras", _benign_keras,
         lambda p: __import__("keras").models.load_model(p), _same_keras,  # noqa: PLW0108 - imported lazily
         lambda t, c: gs.evil_keras(t / "evil.keras", c),
         lambda p: __import__("keras").models.load_model(p, safe_mode=False),
         "import os; os.environ['KERAS_BACKEND'] = 'torch'; import keras; "
         "keras.models.load_model({path!r}, safe_mode=False)", "KER400"),
    Case("transformers from_pretrained (folder, pickle weights)", "transformers",
         lambda t: gs.tiny_bert(t / "bert"), _auto, _same_state,
         lambda t, c: gs.evil_bert_weights(t / "bert", c), _auto,
         "import torch; torch.load({path!r} + '/pytorch_model.bin', weights_only=False)", "PKL100"),
    Case("transformers from_pretrained (trust_remote_code)", "transformers",
         lambda t: gs.tiny_bert(t / "bert"), _auto, _same_state,
         lambda t, c: gs.evil_remote_code(t / "bert", c), lambda p: _auto(p, trust_remote_code=True),
         "from transformers import AutoModel; AutoModel.from_pretrained({path!r}, trust_remote_code=True)",
         "HFR902"),
    Case("transformers from_pretrained (Hub cache, repo id)", "transformers", _hub_benign,
         lambda p: _auto(Path("acme/tiny-bert"), cache_dir=str(p), local_files_only=True), _same_state,
         _hub_remote_evil,
         lambda p: _auto(Path("acme/remote"), cache_dir=str(p), local_files_only=True, trust_remote_code=True),
         "from transformers import AutoModel; AutoModel.from_pretrained('acme/remote', cache_dir={path!r}, "
         "local_files_only=True, trust_remote_code=True)", "HFR902"),
    Case("huggingface_hub.hf_hub_download", "huggingface_hub", _hub_benign,
         lambda p: _hub_download(p, "acme/tiny-bert", "config.json"), _eq,
         _hub_evil, lambda p: _hub_download(p, "acme/evil", "model.pkl"),
         "import pickle; from huggingface_hub import hf_hub_download; "
         "pickle.load(open(hf_hub_download('acme/evil', 'model.pkl', cache_dir={path!r}, "
         "local_files_only=True), 'rb'))",
         "PKL100"),
    Case("diffusers from_pretrained", "diffusers", _benign_vae,
         lambda p: __import__("diffusers").AutoencoderKL.from_pretrained(str(p)), _same_state,
         _evil_vae, lambda p: __import__("diffusers").AutoencoderKL.from_pretrained(str(p)),
         "import torch; torch.load({path!r} + '/diffusion_pytorch_model.bin', weights_only=False)", "PKL100"),
    Case("sentence_transformers SentenceTransformer", "sentence_transformers", _benign_st, _st_load, _same_state,
         _evil_st, _st_load,
         "import torch; torch.load({path!r} + '/pytorch_model.bin', weights_only=False)", "PKL100"),
    Case("mlflow.sklearn.load_model", "mlflow", lambda t: gs.mlflow_model(t / "m"),
         lambda p: __import__("mlflow.sklearn").sklearn.load_model(str(p)), _same_sklearn,
         lambda t, c: gs.evil_mlflow(t / "m", c), lambda p: __import__("mlflow.sklearn").sklearn.load_model(str(p)),
         "import mlflow.sklearn; mlflow.sklearn.load_model({path!r})", "PKL100"),
    Case("mlflow.pyfunc.load_model", "mlflow", lambda t: gs.mlflow_model(t / "m"),
         lambda p: __import__("mlflow.pyfunc").pyfunc.load_model(str(p)).get_raw_model(), _same_sklearn,
         lambda t, c: gs.evil_mlflow(t / "m", c), lambda p: __import__("mlflow.pyfunc").pyfunc.load_model(str(p)),
         "import mlflow.pyfunc; mlflow.pyfunc.load_model({path!r})", "PKL100"),
]
IDS = [c.name for c in CASES]


def _require(case: Case) -> None:
    pytest.importorskip(case.needs)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_benign_load_unchanged_and_cached(case: Case, tmp_path: Path, guard: Any) -> None:
    _require(case)
    guard.module.uninstall()
    path = case.benign(tmp_path)
    expected = case.load(path)  # the library alone
    guard.reinstall()
    got = case.load(path)
    case.same(expected, got)
    scans, hits = guard.scans, guard.hits
    assert scans >= 1, f"the guard did not scan anything: {guard.module.stats()}"
    again = case.load(path)
    case.same(expected, again)
    assert guard.scans == scans, "a second load of the same file was scanned again"
    assert guard.hits > hits


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_malicious_load_refused_before_loading(case: Case, tmp_path: Path, canary: Path, guard: Any,
                                               find_class_log: list[tuple[str, str]]) -> None:
    _require(case)
    path = case.evil(tmp_path, canary)
    assert not canary.exists()
    find_class_log.clear()
    with pytest.raises(guard.module.UnsafeModelError) as info:
        case.load_evil(path)
    assert not canary.exists(), "the payload ran: the loader read the file before the guard refused it"
    assert ("builtins", "exec") not in find_class_log
    err = info.value
    assert err.findings and case.rule in {f.rule_id for f in err.findings}
    assert str(tmp_path) in err.path or err.path.startswith("<")
    assert case.rule in str(err)
    # Refused again from the cache, still without loading.
    scans = guard.scans
    with pytest.raises(guard.module.UnsafeModelError):
        case.load_evil(path)
    assert guard.scans == scans and not canary.exists()


@pytest.mark.live
def test_canary_payloads_really_run(tmp_path: Path) -> None:
    """Without the guard every malicious file above does run its payload (in a subprocess)."""
    rows = []
    for i, case in enumerate(CASES):
        try:
            __import__(case.needs)
        except ImportError:
            continue
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        canary = folder / "CANARY"
        path = case.evil(folder, canary)
        rows.append((case.name, case.control.format(path=str(path)), str(canary)))
    driver = textwrap.dedent("""
        import json, os, sys
        os.environ["KERAS_BACKEND"] = "torch"
        os.environ["HF_HUB_OFFLINE"] = "1"
        out = {}
        for name, code, canary in json.loads(sys.argv[1]):
            try:
                exec(code, {"__name__": "__control__"})
            except BaseException as exc:  # a loader may fail after the payload ran (the payload returned None)
                print(name, type(exc).__name__, exc, file=sys.stderr)
            out[name] = os.path.exists(canary)
        print(json.dumps(out))
    """)
    env = {k: v for k, v in os.environ.items() if k != "MLVET_GUARD"}
    env["HF_MODULES_CACHE"] = str(tmp_path / "hf-modules")
    proc = subprocess.run([sys.executable, "-c", driver, json.dumps(rows)], capture_output=True, text=True,
                          env=env, timeout=900, check=True)
    ran = json.loads(proc.stdout)
    assert ran and all(ran.values()), f"payloads that did not run without the guard: {ran}\n{proc.stderr[-3000:]}"
