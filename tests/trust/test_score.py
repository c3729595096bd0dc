"""The report card (``mlvet score``): separation of benign and malicious models, weights, layouts, outputs.

Benign models are written at test time by the real libraries (transformers ``save_pretrained`` of a tiny
config-built GPT-2 with a huggingface_hub ``ModelCard``; ``torch.save``; a scikit-learn estimator pickled
and joblib-dumped); malicious ones are the whole test corpus (``tests/corpus/build_malicious.py``). The
HTML report is rendered by a real headless Chromium; its screenshot is decoded (``_png.py``) and looked at.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from mlvet.cli import main as mlvet_main
from mlvet.errors import PolicyError
from mlvet.policy import load_policy_file
from mlvet.trust.score import CheckResult, Risk, ScoreCard, aggregate, all_checks, score_model
from mlvet.trust.score import base as score_base
from mlvet.trust.score.checks.license import classify_license
from mlvet.trust.score.render import render_html, render_json
from mlvet.trust.score.settings import score_settings

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
CHECK_NAMES = {c.name for c in all_checks()}


# ---- benign models, made by the real libraries ----------------------------------------------------------


def _write_hf_model(dest: Path, *, license: str = "apache-2.0", model_id: str = "tiny-gpt2-test",
                    heading_extra: str = "") -> Path:
    from huggingface_hub import ModelCard, ModelCardData
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=128, n_positions=64, bos_token_id=0,
                     eos_token_id=0)
    GPT2LMHeadModel(cfg).save_pretrained(dest, safe_serialization=True)
    data = ModelCardData(license=license, base_model="openai-community/gpt2", datasets=["Salesforce/wikitext"],
                         language="en", library_name="transformers", pipeline_tag="text-generation")
    card = ModelCard.from_template(
        data, model_id=model_id, model_description="A tiny GPT-2 built from a config, for tests.",
        developers="mlvet tests", training_data="wikitext-103", direct_use="Exercising model tooling.",
        bias_risks_limitations="Far too small to be useful; random weights.", testing_metrics="perplexity",
        get_started_code="from transformers import pipeline\npipe = pipeline('text-generation', model='.')",
    )
    text = str(card) + (f"\n\n## {heading_extra}\n\nExtra section.\n" if heading_extra else "")
    (dest / "README.md").write_text(text, encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def benign(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name → path of each benign model."""
    import joblib  # noqa: TID251 - fixture generation only
    import numpy as np
    import torch  # noqa: TID251 - fixture generation only
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("benign")
    hf = _write_hf_model(root / "hf-gpt2")
    torch.manual_seed(0)
    pt = root / "linear.pt"
    torch.save(torch.nn.Linear(4, 2).state_dict(), pt)
    rng = np.random.default_rng(0)
    clf = LogisticRegression().fit(rng.random((20, 3)), np.arange(20) % 2)
    pkl = root / "sklearn.pkl"
    with open(pkl, "wb") as fh:
        pickle.dump(clf, fh)
    jl = root / "sklearn.joblib"
    joblib.dump(clf, jl)
    return {"hf-gpt2 (safetensors + card)": hf, "torch .pt state dict": pt, "sklearn pickle": pkl,
            "sklearn joblib": jl}


@pytest.fixture(scope="module")
def benign_cards(benign: dict[str, Path]) -> dict[str, ScoreCard]:
    return {name: score_model(p) for name, p in benign.items()}


@pytest.fixture(scope="module")
def malicious_cards(malicious_paths: dict[str, Path]) -> dict[str, ScoreCard]:
    return {name: score_model(p) for name, p in malicious_paths.items()}


# ---- separation and explanations ------------------------------------------------------------------------


def test_every_malicious_sample_scores_below_every_benign_model(
    benign_cards: dict[str, ScoreCard], malicious_cards: dict[str, ScoreCard]
) -> None:
    good = sorted((c.score, name) for name, c in benign_cards.items())
    bad = sorted(((c.score, name) for name, c in malicious_cards.items()), reverse=True)
    print(f"\nbenign scores: {good}")
    print(f"malicious: {len(bad)} samples, highest {bad[:3]}, lowest {bad[-1]}")
    assert len(bad) > 200, "the whole corpus is scored"
    assert bad[0][0] < good[0][0], f"worst benign {good[0]} does not beat best malicious {bad[0]}"
    # The margin, in figures: every malicious sample is held at or below the high-finding cap.
    assert all(s <= 4.0 for s, _n in bad), bad[:5]
    assert good[0][0] >= 5.5, good
    assert benign_cards["hf-gpt2 (safetensors + card)"].score >= 8.0
    for name, card in malicious_cards.items():
        code = next(c for c in card.checks if c.name == "code_execution")
        assert code.score == 0, (name, code)


def test_every_check_runs_and_explains_itself(
    benign_cards: dict[str, ScoreCard], malicious_cards: dict[str, ScoreCard]
) -> None:
    cards = [*benign_cards.values(), *list(malicious_cards.values())[:40]]
    for card in cards:
        assert {c.name for c in card.checks} == CHECK_NAMES
        for c in card.checks:
            assert c.reason.strip(), (card.name, c.name)
            assert c.score is None or 0 <= c.score <= 10
            assert c.description.strip()


def test_an_unfilled_card_template_earns_little(benign: dict[str, Path], tmp_path: Path) -> None:
    from huggingface_hub import ModelCard, ModelCardData

    target = tmp_path / "empty-card"
    shutil.copytree(benign["hf-gpt2 (safetensors + card)"], target)
    (target / "README.md").write_text(str(ModelCard.from_template(ModelCardData(license="mit"))), encoding="utf-8")
    card = _check(score_model(target), "model_card")
    assert card.score == 2 and "only empty template sections" in card.reason, card


def test_benign_checks_say_what_they_saw(benign_cards: dict[str, ScoreCard]) -> None:
    hf = {c.name: c for c in benign_cards["hf-gpt2 (safetensors + card)"].checks}
    assert hf["serialization_format"].score == 10
    assert hf["license"].score == 10 and "apache-2.0" in hf["license"].reason
    assert hf["provenance"].score == 10
    assert any("openai-community/gpt2" in d for d in hf["provenance"].details)
    assert hf["model_card"].score == 10
    assert hf["signature"].score == 0 and "no signature" in hf["signature"].reason
    pt = {c.name: c for c in benign_cards["torch .pt state dict"].checks}
    assert pt["serialization_format"].score == 3 and "pytorch-zip" in pt["serialization_format"].reason
    assert pt["model_card"].score == 0 and pt["license"].score == 0


# ---- aggregation, inconclusive checks and the policy -----------------------------------------------------


def _weighted_mean(checks: tuple[CheckResult, ...]) -> float:
    pairs = [(c.score, c.weight) for c in checks if c.score is not None and c.weight > 0]
    return round(sum(s * w for s, w in pairs) / sum(w for _s, w in pairs), 1)


def test_inconclusive_checks_are_left_out_of_the_mean(benign_cards: dict[str, ScoreCard]) -> None:
    card = benign_cards["torch .pt state dict"]
    assert set(card.inconclusive) >= {"integrity", "pinned_revision"}
    assert card.uncapped_score == _weighted_mean(card.checks)
    # Were they counted as 0 instead, the score would be lower.
    as_zero = [CheckResult(c.name, 0 if c.score is None else c.score, c.reason, risk=c.risk, weight=c.weight)
               for c in card.checks]
    assert aggregate(as_zero) < card.uncapped_score
    # Adding an inconclusive check of any weight changes nothing.
    extra = CheckResult("x", None, "nothing to check", risk=Risk.CRITICAL, weight=10.0)
    assert aggregate([*card.checks, extra]) == card.uncapped_score


def test_aggregate_is_the_scorecard_weighted_mean() -> None:
    checks = [CheckResult("a", 10, "r", risk=Risk.CRITICAL, weight=10.0),
              CheckResult("b", 0, "r", risk=Risk.LOW, weight=2.5),
              CheckResult("c", None, "r", risk=Risk.HIGH, weight=7.5)]
    assert aggregate(checks) == 8.0  # (10*10 + 0*2.5) / 12.5
    assert aggregate([CheckResult("c", None, "r", weight=7.5)]) == 0.0  # nothing established: no confidence


def test_weights_in_a_user_policy_change_the_score(benign: dict[str, Path], benign_cards: dict[str, ScoreCard],
                                                   tmp_path: Path) -> None:
    target = benign["torch .pt state dict"]
    base = benign_cards["torch .pt state dict"]
    pol_file = tmp_path / "policy.toml"
    pol_file.write_text("[score]\nweights = { critical = 1.0, high = 1.0, medium = 1.0, low = 40.0 }\n")
    card = score_model(target, policy=load_policy_file(pol_file))
    print(f"\ndefault weights: {base.score}, low-heavy weights: {card.score}")
    assert card.weights == {"critical": 1.0, "high": 1.0, "medium": 1.0, "low": 40.0}
    assert card.score == _weighted_mean(card.checks)
    assert card.score < base.score - 1  # the missing card and licence (low risk) now dominate
    # Per-check overrides: ignoring the signature check lifts an unsigned model's score; making the missing
    # licence critical lowers it.
    pol_file.write_text('[score]\nrisk = { signature = "ignore" }\n')
    card2 = score_model(target, policy=load_policy_file(pol_file))
    assert _check(card2, "signature").weight == 0
    assert card2.score == _weighted_mean(card2.checks) > base.score
    pol_file.write_text('[score]\nrisk = { license = "critical" }\n')
    card3 = score_model(target, policy=load_policy_file(pol_file))
    lic = _check(card3, "license")
    assert lic.risk is Risk.CRITICAL and lic.weight == 10.0
    assert card3.score == _weighted_mean(card3.checks) < base.score
    print(f"signature ignored: {card2.score}, licence critical: {card3.score}")


def test_caps_come_from_the_policy(malicious_paths: dict[str, Path], malicious_cards: dict[str, ScoreCard],
                                  tmp_path: Path) -> None:
    name = next(n for n, c in sorted(malicious_cards.items()) if c.cap is not None and c.cap.severity == "critical")
    capped = malicious_cards[name]
    path = malicious_paths[name]
    assert capped.cap is not None and capped.score == capped.cap.limit < capped.uncapped_score
    assert "untrustworthy" in capped.cap.reason
    pol_file = tmp_path / "p.toml"
    pol_file.write_text("[score]\ncaps = { critical = 10, high = 10 }\n")
    uncapped = score_model(path, policy=load_policy_file(pol_file))
    assert uncapped.cap is None and uncapped.score == uncapped.uncapped_score > capped.score


@pytest.mark.parametrize(("text", "message"), [
    ("[score]\nweigths = {}\n", "unknown score keys"),
    ("[score]\nweights = { severe = 3 }\n", "score.weights.severe"),
    ("[score]\nweights = { high = -1 }\n", "score.weights.high"),
    ("[score]\nweights = { high = true }\n", "score.weights.high"),
    ('[score]\nrisk = { signatur = "low" }\n', "unknown report-card check(s) signatur"),
    ('[score]\nrisk = { signature = "urgent" }\n', "score.risk.signature"),
    ("[score]\ncaps = { critical = 11 }\n", "score.caps.critical"),
    ("score = 3\n", "score must be a table"),
])
def test_invalid_score_policy_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    # The report card validates its own [score] table (the policy layer does not know the checks).
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        score_settings(load_policy_file(p))


def test_a_crashing_check_scores_zero(benign: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    class Boom(score_base.Check):
        name = "boom"
        risk = Risk.HIGH
        description = "always fails"

        def run(self, ctx: score_base.ScoreContext) -> CheckResult:
            raise RuntimeError("adversarial input")

    registry = dict(score_base._REGISTRY)
    monkeypatch.setattr(score_base, "_REGISTRY", registry)
    score_base.register(Boom())
    card = score_model(benign["hf-gpt2 (safetensors + card)"])
    boom = next(c for c in card.checks if c.name == "boom")
    assert boom.score == 0 and "adversarial input" in boom.reason and boom.weight == 7.5


def test_license_categories() -> None:
    assert classify_license("apache-2.0") == (10, "permissive")
    assert classify_license("MIT") == (10, "permissive")
    assert classify_license("gpl-3.0") == (8, "copyleft")
    assert classify_license("cc-by-nc-4.0") == (6, "use-restricted")
    assert classify_license("llama3.1") == (6, "use-restricted")
    assert classify_license("other") == (3, "unrecognised")


# ---- layouts: Hugging Face cache, local_dir downloads, signatures, remote code, binaries --------------------


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def _make_hf_cache(src: Path, cache: Path, commit: str, *, ref: str | None = "main") -> Path:
    """A cache laid out as huggingface_hub lays it out: hash-named blobs, snapshot symlinks, refs."""
    repo = cache / "models--mlvet--tiny-gpt2"
    (repo / "blobs").mkdir(parents=True)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in sorted(src.iterdir()):
        data = f.read_bytes()
        name = hashlib.sha256(data).hexdigest() if f.suffix == ".safetensors" else _git_blob_id(data)
        (repo / "blobs" / name).write_bytes(data)
        (snap / f.name).symlink_to(Path("..", "..", "blobs", name))
    if ref:
        (repo / "refs").mkdir()
        (repo / "refs" / ref).write_text(commit)
    return repo


def _check(card: ScoreCard, name: str) -> CheckResult:
    return next(c for c in card.checks if c.name == name)


def test_hf_cache_integrity_and_pinning(benign: dict[str, Path], tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = _make_hf_cache(benign["hf-gpt2 (safetensors + card)"], tmp_path / "hub", commit)
    card = score_model(repo)  # the repository folder resolves to the snapshot refs/main names
    assert card.target.endswith(commit) and card.name == "mlvet/tiny-gpt2"
    assert card.hub is not None and card.hub["revision"] == commit
    assert _check(card, "integrity").score == 10
    pinned = _check(card, "pinned_revision")
    assert pinned.score == 6 and "main" in pinned.reason and commit in pinned.reason
    # Fetched by commit: no ref names the snapshot.
    (repo / "refs" / "main").unlink()
    assert _check(score_model(repo / "snapshots" / commit), "pinned_revision").score == 10
    # A modified blob: integrity fails and names the file.
    blob = (repo / "snapshots" / commit / "model.safetensors").resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    tampered = score_model(repo / "snapshots" / commit)
    integ = _check(tampered, "integrity")
    assert integ.score == 0 and any("model.safetensors" in d for d in integ.details), integ
    assert tampered.score < card.score


def test_local_dir_download_records(benign: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "local"
    shutil.copytree(benign["hf-gpt2 (safetensors + card)"], target)
    meta = target / ".cache" / "huggingface" / "download"
    meta.mkdir(parents=True)
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    for f in target.iterdir():
        if f.is_file():
            data = f.read_bytes()
            etag = hashlib.sha256(data).hexdigest() if f.suffix == ".safetensors" else _git_blob_id(data)
            (meta / (f.name + ".metadata")).write_text(f"{commit}\n{etag}\n{f.stat().st_mtime + 5}\n")
    card = score_model(target)
    assert _check(card, "integrity").score == 10
    assert _check(card, "pinned_revision").score == 10
    assert _check(card, "dangerous_files").score == 10  # the bookkeeping folder is not model content
    (target / "config.json").write_text((target / "config.json").read_text().replace("gpt2", "gpt3"))
    assert _check(score_model(target), "integrity").score == 0


def test_signature_present_verified_and_tampered(benign: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("model_signing.signing", reason="model-signing is not installed")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from mlvet.trust import signing

    target = tmp_path / "signed"
    shutil.copytree(benign["hf-gpt2 (safetensors + card)"], target)
    key = ec.generate_private_key(ec.SECP256R1())
    priv, pub = tmp_path / "key.pem", tmp_path / "key.pub"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    signing.sign(target, "key", private_key=priv, signature=target / "model.sig")
    keyless = score_model(target)
    assert _check(keyless, "signature").score == 8 and "signer was not verified" in _check(keyless, "signature").reason
    assert _check(keyless, "integrity").score == 10
    verified = score_model(target, public_key=str(pub))
    assert _check(verified, "signature").score == 10
    assert verified.score > keyless.score
    (target / "config.json").write_text("{}")
    tampered = score_model(target, public_key=str(pub))
    sig = _check(tampered, "signature")
    assert sig.score == 0 and any("config.json" in d for d in sig.details), sig
    assert _check(tampered, "integrity").score == 0


def test_remote_code_and_native_binaries(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parents[1] / "assets" / "hf" / "tiny-remote-code"
    target = tmp_path / "remote"
    shutil.copytree(src, target)
    shutil.copy("/bin/true", target / "weights_helper.bin")  # a real ELF executable under a harmless name
    card = score_model(target)
    assert _check(card, "remote_code").score == 3 and "trust_remote_code" in _check(card, "remote_code").reason
    dangerous = _check(card, "dangerous_files")
    assert dangerous.score == 0 and any("weights_helper.bin: ELF" in d for d in dangerous.details)


def test_pickle_copy_next_to_safetensors(benign: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "dup"
    shutil.copytree(benign["hf-gpt2 (safetensors + card)"], target)
    shutil.copy(benign["torch .pt state dict"], target / "pytorch_model.bin")
    card = score_model(target)
    dup = _check(card, "unsafe_duplicates")
    assert dup.score == 4 and "pickle-based: pytorch_model.bin" in dup.details
    assert _check(card, "serialization_format").score == 3


# ---- outputs ---------------------------------------------------------------------------------------------


def test_json_document(benign_cards: dict[str, ScoreCard]) -> None:
    import io

    card = benign_cards["torch .pt state dict"]
    buf = io.StringIO()
    render_json(card, buf)
    doc = json.loads(buf.getvalue())
    assert isinstance(doc["score"], float) and doc["score"] == card.score
    assert doc["target"] == card.target
    assert doc["inconclusive"] == list(card.inconclusive)
    assert doc["tool_version"] and datetime.fromisoformat(doc["generated_at"]).tzinfo is not None
    for item in doc["checks"]:
        assert {"name", "score", "weight", "risk", "reason", "details"} <= set(item)
    assert [c["name"] for c in doc["checks"]] == [c.name for c in card.checks]


def test_cli(benign: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = str(benign["torch .pt state dict"])
    assert mlvet_main(["score", target, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert 0 <= doc["score"] <= 10 and {c["name"] for c in doc["checks"]} == CHECK_NAMES
    assert mlvet_main(["score", target, "--fail-under", "9.5"]) == 1
    assert "below --fail-under" in capsys.readouterr().err
    assert mlvet_main(["score", target, "--fail-under", "1"]) == 0
    text = capsys.readouterr().out
    assert "serialization_format" in text and f"{doc['score']:.1f}/10" in text
    out = tmp_path / "card.html"
    assert mlvet_main(["score", target, "-f", "html", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert mlvet_main(["score", str(tmp_path / "missing")]) == 4
    bad = tmp_path / "bad.toml"
    bad.write_text("[score]\nweights = { huge = 1 }\n")
    assert mlvet_main(["score", target, "--policy", str(bad)]) == 4


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI for the HTML report tests (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", *args]
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(cmd, capture_output=True, timeout=180, check=False, env=env, cwd=tmp_path)


def _html(card: ScoreCard, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        render_html(card, fh)
    return path


def _rgb(hex_colour: str) -> bytes:
    return bytes.fromhex(hex_colour.lstrip("#"))


@pytest.mark.parametrize("which", ["benign", "malicious"])
def test_html_report_renders_in_a_headless_browser(
    which: str, benign_cards: dict[str, ScoreCard], malicious_cards: dict[str, ScoreCard], tmp_path: Path
) -> None:
    from _png import read_png

    card = (benign_cards["hf-gpt2 (safetensors + card)"] if which == "benign"
            else malicious_cards[sorted(malicious_cards)[0]])
    page = _html(card, tmp_path / "card.html")
    shot = tmp_path / "card.png"
    proc = _chromium([f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()], tmp_path)
    assert shot.is_file(), proc.stderr.decode(errors="replace")[-2000:]
    image = read_png(shot.read_bytes())
    assert (image.width, image.height) == (1200, 1600)
    colours = image.colours(step=2)
    print(f"\n{which}: score {card.score}, {len(colours)} distinct colours in the screenshot")
    assert len(colours) > 100, "the page rendered as a near-blank image"
    # The page's own palette is on screen: the score colour of the gauge and bars, and the panel white.
    band = "#1a7f37" if card.score >= 8 else "#cf222e"
    assert _rgb(band)[:3] in {c[:3] for c in colours}, f"no {band} pixels: CSS did not apply"
    assert b"\xff\xff\xff" in {c[:3] for c in colours}

    dom = _chromium(["--dump-dom", page.as_uri()], tmp_path).stdout.decode("utf-8")
    assert f"{card.score:.1f}" in dom
    for name in CHECK_NAMES:
        assert f'data-check="{name}"' in dom, name
    if card.cap is not None:
        assert "Score capped at" in dom


def test_html_escapes_untrusted_text(tmp_path: Path) -> None:
    payload = "<script>document.title='pwned'</script>"
    target = tmp_path / "<img src=x onerror=alert(1)>"
    target.mkdir()
    _write_hf_model(target, license=payload, model_id="x", heading_extra=payload)
    card = score_model(target)
    assert payload in _check(card, "license").reason  # the untrusted text does reach the report ...
    page = _html(card, tmp_path / "xss.html")
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and "<img src=x" not in html  # ... but only escaped
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    dom = _chromium(["--dump-dom", page.as_uri()], tmp_path).stdout.decode("utf-8")
    assert "<script" not in dom and "<img" not in dom
    assert "pwned" not in dom.split("<title>", 1)[1].split("</title>", 1)[0]


def test_html_is_self_contained(benign_cards: dict[str, ScoreCard], tmp_path: Path) -> None:
    html = _html(benign_cards["sklearn pickle"], tmp_path / "c.html").read_text(encoding="utf-8")
    for marker in ("http://", "https://", "src=", "@import", "url("):
        assert marker not in html, marker
    assert "Content-Security-Policy" in html



def test_signature_layer_failure_is_reported_not_called_absent(benign: dict[str, Path],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from mlvet.trust import signing

    def broken(*_a: object, **_k: object) -> None:
        raise signing.SigningError("model_signing is not installed: install the signing extra")

    monkeypatch.setattr(signing, "inspect_signature", broken)
    sig = _check(score_model(benign["torch .pt state dict"]), "signature")
    assert sig.score == 0 and "could not be checked" in sig.reason and "signing extra" in sig.reason
