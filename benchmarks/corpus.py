"""The benchmark corpus: malicious samples, benign models, and large performance inputs.

Everything is generated into a cache directory (``benchmarks/.corpus/`` by default, gitignored;
override with ``$MLVET_BENCH_CORPUS``) instead of being committed, because the performance inputs
are hundreds of MB to several GB.  Large files are written under a temporary name and renamed
when complete, with a sidecar ``.meta.json``, so an interrupted run never leaves a truncated file
that a later run would trust.

Nothing here ever loads (unpickles) a generated file: samples are built from opcodes or written
by the real producer (``torch.save``), and checked only by size.

Run ``python benchmarks/corpus.py`` to (re)generate everything and list what is there.
"""

from __future__ import annotations

import collections
import hashlib
import importlib.util
import io
import json
import os
import pickle  # producer side only: pickle.dumps on data built here; nothing is ever loaded
import random
import shutil
import string
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
MALICIOUS_BUILDER = REPO / "tests" / "corpus" / "build_malicious.py"
BENIGN_ASSETS = REPO / "tests" / "assets" / "benign"
# The issue-9 corpus, by its path inside a checkout of the repository (see ``repo_roots``).
ECOSYSTEM_REL = "tests/assets/ecosystem"
ADVISORIES_REL = "tests/corpus/build_advisories.py"
PICKLES_REL = "tests/assets/pickles"
# Bump when a generator changes so cached files are rebuilt.
GENERATOR_VERSION = 1
MB = 1_000_000
MiB = 1 << 20

Kind = Literal["malicious", "benign", "gray", "perf"]

# Where each file came from; the report has one row per source.  "new" = the issue-9 corpus.
NEW_SOURCES: tuple[str, ...] = ("ecosystem-data", "ecosystem-code", "advisories", "issue9-pickles")
OLD_SOURCES: tuple[str, ...] = ("old-malicious", "old-benign")


@dataclass(frozen=True)
class CorpusFile:
    """One file the tools are run on."""

    path: Path
    kind: Kind
    label: str  # technique (malicious), format/description (benign), input id (perf)
    name: str
    fallback: bool = False  # True when built by this module because the real source was missing
    source: str = ""  # one of NEW_SOURCES / OLD_SOURCES (empty in results saved before they existed)
    scan_root: str = ""  # folder mlvet scans to judge this file (folder-shaped models); "" = the file
    sha256: str = ""  # content hash: saved runs are only reused for the very same bytes


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def repo_roots() -> list[Path]:
    """Checkouts searched, in order, for each corpus source: ``$MLVET_BENCH_REPO`` (a list of
    folders separated by ``os.pathsep``) and then this repository.  Lets the harness read sources
    that still live in other worktrees (``MLVET_BENCH_REPO=/work/wt/corpus:/work/wt/advisories``)
    and, once merged, this repository's own ``tests/`` without any setting.
    """
    extra = [Path(p) for p in os.environ.get("MLVET_BENCH_REPO", "").split(os.pathsep) if p]
    return [*extra, REPO]


def find_in_repos(rel: str) -> Path | None:
    """The first checkout holding ``rel`` (a path inside the repository), or None."""
    for root in repo_roots():
        if (root / rel).exists():
            return root / rel
    return None


def corpus_dir() -> Path:
    return Path(os.environ.get("MLVET_BENCH_CORPUS", str(BENCH_DIR / ".corpus")))


# --------------------------------------------------------------------------------------------------
# Malicious samples
# --------------------------------------------------------------------------------------------------


def _p2_global_reduce(module: str, name: str, arg: str) -> bytes:
    """Protocol-2 pickle: GLOBAL module.name, call it with one str argument (REDUCE)."""
    a = arg.encode()
    return (
        b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\nq\x00"
        b"X" + struct.pack("<I", len(a)) + a + b"q\x01\x85q\x02Rq\x03."
    )


def _p4_stack_global_reduce(module: str, name: str, arg: str) -> bytes:
    """Protocol-4 pickle: STACK_GLOBAL from two memoized strings, then REDUCE."""

    def short_unicode(s: str) -> bytes:
        b = s.encode()
        return b"\x8c" + bytes([len(b)]) + b + b"\x94"

    return (
        b"\x80\x04" + short_unicode(module) + short_unicode(name) + b"\x93\x94" + short_unicode(arg) + b"\x85\x94R\x94."
    )


def _torch_like_zip(data_pkl: bytes, prefix: str = "archive") -> bytes:
    """A PyTorch-zip-layout archive (data.pkl, version, byteorder), entries stored uncompressed."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{prefix}/data.pkl", data_pkl)
        zf.writestr(f"{prefix}/byteorder", "little")
        zf.writestr(f"{prefix}/version", "3\n")
    return buf.getvalue()


def _fallback_malicious() -> list[tuple[str, str, str, bytes]]:
    """(filename, name, technique, data) for three classic opcode-built payloads.

    Only used while tests/corpus/build_malicious.py does not exist; results built on them are
    marked "fallback" in the report.  The commands are harmless echos, and nothing is executed.
    """
    return [
        (
            "fallback_global_reduce.pkl",
            "fallback: GLOBAL os.system + REDUCE",
            "global-reduce",
            _p2_global_reduce("os", "system", "echo mlvet-bench"),
        ),
        (
            "fallback_stack_global.pkl",
            "fallback: STACK_GLOBAL builtins.exec + REDUCE",
            "stack-global",
            _p4_stack_global_reduce("builtins", "exec", "print('mlvet-bench')"),
        ),
        (
            "fallback_torch_zip.pt",
            "fallback: PyTorch zip whose data.pkl calls posix.system",
            "zip-checkpoint",
            _torch_like_zip(_p2_global_reduce("posix", "system", "echo mlvet-bench")),
        ),
    ]


def _load_builder() -> object:
    """Import tests/corpus/build_malicious.py by path (tests/ is not an installed package)."""
    spec = importlib.util.spec_from_file_location("mlvet_bench_build_malicious", MALICIOUS_BUILDER)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {MALICIOUS_BUILDER}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    added = [p for p in (str(REPO), str(MALICIOUS_BUILDER.parent)) if p not in sys.path]
    sys.path[:0] = added
    try:
        spec.loader.exec_module(module)
    finally:
        for p in added:
            sys.path.remove(p)
    return module


def malicious_files(root: Path | None = None) -> tuple[list[CorpusFile], str]:
    """Write every malicious sample to ``<corpus>/malicious/``; return files and a source note."""
    global MALICIOUS_BUILDER  # noqa: PLW0603 - resolved per call: $MLVET_BENCH_REPO may name a newer checkout
    MALICIOUS_BUILDER = find_in_repos("tests/corpus/build_malicious.py") or MALICIOUS_BUILDER
    out = (root or corpus_dir()) / "malicious"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    samples: list[tuple[str, str, str, bytes]] = []
    fallback = False
    note: str
    try:
        if not MALICIOUS_BUILDER.exists():
            raise FileNotFoundError(MALICIOUS_BUILDER)
        builder = _load_builder()
        for s in builder.build_all():  # type: ignore[attr-defined]
            samples.append((str(s.filename), str(s.name), str(s.technique), bytes(s.data)))
        note = f"{len(samples)} samples from {MALICIOUS_BUILDER}"
    except Exception as exc:  # the builder is written in parallel: any failure means "use fallback"
        samples = _fallback_malicious()
        fallback = True
        note = f"FALLBACK: {len(samples)} built-in samples ({type(exc).__name__}: {exc})"
    files: list[CorpusFile] = []
    used: set[str] = set()
    for i, (filename, name, technique, data) in enumerate(samples):
        safe = Path(filename).name or f"sample_{i}"
        if safe in used:
            safe = f"{i:03d}_{safe}"
        used.add(safe)
        path = out / safe
        path.write_bytes(data)
        files.append(CorpusFile(path, "malicious", technique, name, fallback, "old-malicious", "", _sha256(path)))
    return files, note


# --------------------------------------------------------------------------------------------------
# Benign files
# --------------------------------------------------------------------------------------------------


def _manifest_labels() -> dict[str, str]:
    """filename -> label from tests/assets/benign/MANIFEST.json, whatever shape it has."""
    try:
        doc = json.loads((BENIGN_ASSETS / "MANIFEST.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries: Iterable[object]
    if isinstance(doc, dict):
        inner = doc.get("files", doc.get("assets", doc))
        if isinstance(inner, dict):
            entries = [{"file": k, **v} if isinstance(v, dict) else {"file": k, "format": v} for k, v in inner.items()]
        else:
            entries = inner if isinstance(inner, list) else []
    else:
        entries = doc if isinstance(doc, list) else []
    labels: dict[str, str] = {}
    for e in entries:
        if not isinstance(e, dict):
            continue
        fname = e.get("file") or e.get("filename") or e.get("path") or e.get("name")
        library, fmt = e.get("library"), e.get("format")
        label = f"{library}:{fmt}" if library and fmt else (library or fmt or e.get("description") or "")
        if isinstance(fname, str):
            labels[fname] = str(label)
    return labels


def benign_files(root: Path | None = None) -> tuple[list[CorpusFile], str]:
    """The committed benign assets, or a small generated fallback set when they are missing."""
    global BENIGN_ASSETS  # noqa: PLW0603 - as MALICIOUS_BUILDER
    BENIGN_ASSETS = find_in_repos("tests/assets/benign") or BENIGN_ASSETS
    if BENIGN_ASSETS.is_dir():
        labels = _manifest_labels()
        files = []
        for path in sorted(p for p in BENIGN_ASSETS.rglob("*") if p.is_file()):
            rel = path.relative_to(BENIGN_ASSETS).as_posix()
            if rel == "MANIFEST.json" or path.name.startswith(".") or path.suffix in (".py", ".md"):
                continue
            label = labels.get(rel) or labels.get(path.name) or path.suffix.lstrip(".") or "file"
            files.append(CorpusFile(path, "benign", label, rel, False, "old-benign", "", _sha256(path)))
        if files:
            return files, f"{len(files)} files from {BENIGN_ASSETS}"
    out = (root or corpus_dir()) / "benign-fallback"
    out.mkdir(parents=True, exist_ok=True)
    files = []
    plain = out / "plain_dict.pkl"
    plain.write_bytes(_plain_data_pickle(200_000))
    files.append(CorpusFile(plain, "benign", "pickle", "fallback: plain dict", True, "old-benign"))
    odict = out / "ordered_dict.pkl"
    # collections.OrderedDict is what every torch state_dict pickle references: must be clean.
    odict.write_bytes(b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00aq\x02K\x01s.")
    files.append(CorpusFile(odict, "benign", "pickle", "fallback: OrderedDict", True, "old-benign"))
    small_pt = out / "small_state_dict.pt"
    if _torch_available():
        _cached(small_pt, "torch-small", lambda tmp: _run_torch_writer(tmp, 2 * MB, "random", d_model=128))
        files.append(CorpusFile(small_pt, "benign", "pytorch-zip", "fallback: small state_dict", True, "old-benign"))
    return files, f"FALLBACK: {len(files)} generated benign files (tests/assets/benign/ missing)"


# --------------------------------------------------------------------------------------------------
# Performance inputs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerfInput:
    key: str
    filename: str
    description: str
    big: bool  # skipped by --quick


PERF_INPUTS: tuple[PerfInput, ...] = (
    PerfInput(
        "torch-500MB",
        "pytorch_zip_500MB.pt",
        "~520 MB PyTorch zip checkpoint (torch.save of a 5-layer transformer-like fp32 state_dict)",
        False,
    ),
    PerfInput(
        "pickle-10MB",
        "plain_data_10MB.pkl",
        "10 MiB protocol-4 pickle of plain Python data (dicts, lists, str, float, int, bytes, sets)",
        False,
    ),
    PerfInput(
        "torch-2.4GB",
        "pytorch_zip_2.4GB.pt",
        "~2.4 GB PyTorch zip checkpoint (9-layer d=2048 state_dict; tensor data is zeros)",
        True,
    ),
    PerfInput(
        "pickle-2.4GB",
        "pickle_binbytes_2.4GB.pkl",
        "2.4 GB protocol-4 pickle: small dict whose 'payload' is one 2.4e9-byte BINBYTES",
        True,
    ),
)


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _cached(path: Path, generator: str, build: Callable[[Path], None]) -> Path:
    """Return ``path``, building it via ``build(tmp_path)`` unless a complete cached copy exists."""
    meta = _meta_path(path)
    try:
        recorded = json.loads(meta.read_text(encoding="utf-8"))
        if (
            recorded.get("generator") == generator
            and recorded.get("version") == GENERATOR_VERSION
            and path.stat().st_size == recorded.get("size")
        ):
            return path
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.unlink(missing_ok=True)
    print(f"[corpus] generating {path.name} ...", file=sys.stderr, flush=True)
    build(tmp)
    tmp.replace(path)
    meta.write_text(
        json.dumps({"generator": generator, "version": GENERATOR_VERSION, "size": path.stat().st_size}),
        encoding="utf-8",
    )
    return path


def _plain_data(rng: random.Random, n_records: int) -> dict[str, object]:
    """Realistic plain-Python data: what a dataset index, a training log and a vocab look like."""
    alphabet = string.ascii_letters + string.digits + "äöüßéèçñåøæ日本語中文한국어"
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(2, 12))) for _ in range(5000)]
    tags = [f"tag_{w.lower()}" for w in words[:300]]
    steps = n_records // 4
    records: list[dict[str, object]] = []
    for i in range(n_records):
        records.append(
            {
                "id": i,
                "uid": rng.getrandbits(64),  # > 2**31: LONG1 / BININT variety
                "label": rng.choice(words),
                "text": " ".join(rng.choice(words) for _ in range(rng.randint(0, 8))),
                "score": rng.random(),
                "weight": rng.gauss(0.0, 3.0),
                "tags": [rng.choice(tags) for _ in range(rng.randint(0, 4))],  # memo back-references
                "bbox": (rng.random(), rng.random(), rng.random(), rng.random()),
                "valid": rng.random() > 0.1,
                "parent": None if i == 0 or rng.random() < 0.3 else rng.randrange(i),
                "digest": rng.randbytes(rng.choice((0, 8, 16, 32))),
                "counts": {w: rng.randint(-1000, 100000) for w in rng.sample(tags, rng.randint(0, 3))},
            }
        )
    return {
        "meta": {
            "name": "bench-plain-data",
            "version": (1, 4, 2),
            "created": "2024-05-01T12:00:00Z",
            "seed": 1234,
            "flags": {"shuffle": True, "cached": False, "notes": None},
            "splits": frozenset({"train", "val", "test"}),
            "big": 2**100 + 7,
            "neg": -(2**40),
            "ratio": 0.75,
        },
        "vocab": {w: i for i, w in enumerate(words)},
        "metrics": {
            "step": list(range(0, steps * 10, 10)),
            "train_loss": [2.5 * (0.999**k) + rng.random() * 0.05 for k in range(steps)],
            "val_loss": [2.6 * (0.999**k) + rng.random() * 0.05 for k in range(steps)],
            "lr": [3e-4 * min(1.0, k / 100) for k in range(steps)],
            "grad_norm": [abs(rng.gauss(1.0, 0.3)) for _ in range(steps)],
        },
        "seen_labels": set(words[:2000]),
        "records": records,
        "matrix": [[rng.randint(0, 255) for _ in range(64)] for _ in range(n_records // 20)],
    }


def _plain_data_pickle(target_bytes: int) -> bytes:
    """Size the plain-data structure so its protocol-4 pickle lands within 2% above ``target_bytes``."""
    n = 2000
    best: bytes | None = None
    for _ in range(10):
        blob = pickle.dumps(_plain_data(random.Random(1234), n), protocol=4)
        if target_bytes <= len(blob) <= target_bytes * 1.02:
            return blob
        if len(blob) >= target_bytes and (best is None or len(blob) < len(best)):
            best = blob
        n = (
            max(n + 1, int(n * target_bytes / len(blob) * 1.005))
            if len(blob) < target_bytes
            else int(n * target_bytes / len(blob) * 1.005)
        )
    if best is None:
        raise RuntimeError("could not reach the target pickle size")
    return best


def _write_plain_pickle(tmp: Path) -> None:
    tmp.write_bytes(_plain_data_pickle(10 * MiB))


def _write_binbytes_pickle(tmp: Path, payload_len: int = 2_400_000_000) -> None:
    """Stream a protocol-4 pickle equal in structure to ``pickle.dumps({'format':..., 'dtype':...,
    'payload': <bytes>}, protocol=4)`` (minus the optional FRAME opcodes), never holding the payload.

    2.4e9 bytes is above 2**31 but below 2**32, so CPython itself would emit BINBYTES (4-byte
    unsigned length) here; a scanner reading the length as signed, or buffering the argument,
    shows up immediately.
    """

    def key(s: str) -> bytes:
        b = s.encode()
        return b"\x8c" + bytes([len(b)]) + b + b"\x94"  # SHORT_BINUNICODE + MEMOIZE

    block = random.Random(42).randbytes(16 * MiB)
    with tmp.open("wb") as fh:
        fh.write(b"\x80\x04}\x94(")  # PROTO 4, EMPTY_DICT, MEMOIZE, MARK
        fh.write(key("format") + key("raw-tensor-blob/v1"))
        fh.write(key("dtype") + key("uint8"))
        fh.write(key("payload") + b"B" + struct.pack("<I", payload_len))  # BINBYTES
        remaining = payload_len
        while remaining:
            chunk = block[: min(len(block), remaining)]
            fh.write(chunk)
            remaining -= len(chunk)
        fh.write(b"\x94u.")  # MEMOIZE, SETITEMS, STOP


def _torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def _run_torch_writer(tmp: Path, target_bytes: int, fill: str, d_model: int) -> None:
    """Run the torch.save step in a child interpreter so the harness never imports torch."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "_torch_writer", str(tmp), str(target_bytes), fill]
    cmd.append(str(d_model))
    subprocess.run(cmd, check=True)


def _transformer_shapes(target_bytes: int, d_model: int) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes of a LLaMA-like fp32 state_dict with as many layers as reach the target."""
    vocab, ffn = 32000, int(d_model * 2.75)
    head: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (vocab, d_model))]
    tail: list[tuple[str, tuple[int, ...]]] = [
        ("model.norm.weight", (d_model,)),
        ("lm_head.weight", (vocab, d_model)),
    ]

    def nbytes(shapes: list[tuple[str, tuple[int, ...]]]) -> int:
        total = 0
        for _, shape in shapes:
            n = 4
            for dim in shape:
                n *= dim
            total += n
        return total

    layers: list[tuple[str, tuple[int, ...]]] = []
    i = 0
    while nbytes(head + layers + tail) < target_bytes:
        p = f"model.layers.{i}."
        layers += [
            (p + "self_attn.q_proj.weight", (d_model, d_model)),
            (p + "self_attn.k_proj.weight", (d_model, d_model)),
            (p + "self_attn.v_proj.weight", (d_model, d_model)),
            (p + "self_attn.o_proj.weight", (d_model, d_model)),
            (p + "mlp.gate_proj.weight", (ffn, d_model)),
            (p + "mlp.up_proj.weight", (ffn, d_model)),
            (p + "mlp.down_proj.weight", (d_model, ffn)),
            (p + "input_layernorm.weight", (d_model,)),
            (p + "post_attention_layernorm.weight", (d_model,)),
        ]
        i += 1
    return head + layers + tail


def _torch_writer(out: Path, target_bytes: int, fill: str, d_model: int) -> None:
    """Child-process body: build the state_dict and torch.save it.

    ``fill == "zeros"`` backs every tensor by a sparse file mapped with torch.from_file, so a
    multi-GB checkpoint is written page by page from the page cache instead of from GBs of
    anonymous memory.  ``"random"`` fills tensors with N(0, 0.02) like an initialised model.
    """
    # Imported here, in the child process only: the harness itself never imports torch.
    import torch  # noqa: TID251

    gen = torch.Generator().manual_seed(0)
    state: collections.OrderedDict[str, object] = collections.OrderedDict()
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".sparse-") as sparse_dir:
        for idx, (name, shape) in enumerate(_transformer_shapes(target_bytes, d_model)):
            numel = 1
            for dim in shape:
                numel *= dim
            if fill == "zeros":
                backing = Path(sparse_dir) / f"{idx}.bin"
                with backing.open("wb") as fh:
                    fh.truncate(numel * 4)
                state[name] = torch.from_file(str(backing), shared=False, size=numel, dtype=torch.float32).view(*shape)
            else:
                state[name] = torch.randn(*shape, generator=gen) * 0.02
        torch.save(state, str(out))


def perf_files(root: Path | None = None, include_big: bool = True) -> list[CorpusFile]:
    """Generate (or reuse cached) performance inputs."""
    out = (root or corpus_dir()) / "perf"
    files: list[CorpusFile] = []
    for spec in PERF_INPUTS:
        if spec.big and not include_big:
            continue
        path = out / spec.filename
        if spec.key == "torch-500MB":
            if not _torch_available():
                print("[corpus] torch not installed: skipping torch-500MB", file=sys.stderr)
                continue
            _cached(path, "torch-random", lambda t: _run_torch_writer(t, 500 * MB, "random", 1024))
        elif spec.key == "pickle-10MB":
            _cached(path, "plain-pickle", _write_plain_pickle)
        elif spec.key == "torch-2.4GB":
            if not _torch_available():
                print("[corpus] torch not installed: skipping torch-2.4GB", file=sys.stderr)
                continue
            _cached(path, "torch-zeros", lambda t: _run_torch_writer(t, 2_300 * MB, "zeros", 2048))
        elif spec.key == "pickle-2.4GB":
            _cached(path, "binbytes-pickle", _write_binbytes_pickle)
        files.append(CorpusFile(path, "perf", spec.key, spec.description))
    return files


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "_torch_writer":
        _torch_writer(Path(argv[1]), int(argv[2]), argv[3], int(argv[4]))
        return 0
    quick = "--quick" in argv
    _, mal_note = malicious_files()
    _, ben_note = benign_files()
    perf = perf_files(include_big=not quick)
    print(f"malicious: {mal_note}")
    print(f"benign:    {ben_note}")
    for f in perf:
        print(f"perf:      {f.label:<14} {f.path.stat().st_size / MB:>9.1f} MB  {f.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
