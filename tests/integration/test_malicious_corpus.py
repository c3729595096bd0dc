"""Every published bypass shape in the malicious corpus must be reported, naming what it would run.

Why two views of the same corpus: the per-sample test pins each file (a regression names the exact
sample), and the per-technique test gives every bypass *class* its own test id, so removing the detection
of one technique (say, EXT opcodes or zip flag bits) fails a test named after that technique even when
the summary of hundreds of sample ids is skimmed.

"Names the callable" is checked on high and critical findings only: a low "unknown import" that happens
to mention ``os.system`` must not count as detecting an ``os.system`` payload. A sample may list
alternatives (``alt_callables``); values in angle brackets name a construct rather than a callable and
are matched by the rule that reports that construct (see ``_CONSTRUCT_RULES``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import build_malicious
import pytest

from mlvet.model import FileResult, Finding, Severity, Status

SAMPLES = build_malicious.build_all()
BY_NAME = {s.name: s for s in SAMPLES}
BY_TECHNIQUE: dict[str, list[build_malicious.Sample]] = defaultdict(list)
for _s in SAMPLES:
    BY_TECHNIQUE[_s.technique].append(_s)
TECHNIQUES = sorted(BY_TECHNIQUE)

#: Construct placeholders used by the corpus (``<...>``) and the rules that report those constructs.
_CONSTRUCT_RULES = {"<unresolved STACK_GLOBAL>": frozenset({"PKL201", "PKL207"})}
_EXT_PLACEHOLDER = re.compile(r"<EXT[124] (0x[0-9a-fA-F]+)>")

# ---- known bugs (each one fails strictly until the scanner is fixed; then drop the marker) ------------

_BUG_COUNTER_WALK = (
    "BUG: policy walk readings miss a dangerous tail behind two name segments: "
    "classify('collections', 'Counter.os.system') is 'unknown' (only PKL110 medium), so the high "
    "findings never name os.system"
)
_BUG_FRAME_READING = (
    "BUG: frame straddle is flagged (PKL208) but the hidden GLOBAL/REDUCE is never analysed: the "
    "alternative reading starts at the frame end (131073) while CPython's file unpickler resumes "
    "opcodes at 131078, inside the BINBYTES payload; os.system is not named"
)
#: Samples and techniques with a known, reasoned gap (strict xfail). Empty: every sample is detected.
KNOWN_SAMPLE_BUGS: dict[str, str] = {}
KNOWN_TECHNIQUE_BUGS: dict[str, str] = {}

#: Techniques whose *mechanism* has its own rule: every sample of the class must carry one of them, so
#: the structural detection is pinned independently of the callable it hides.
TECHNIQUE_RULES: dict[str, frozenset[str]] = {
    "PKL-BROKEN-STREAM": frozenset({"PKL200", "PKL211"}),
    "PKL-MULTI-STREAM": frozenset({"PKL210", "PKL211"}),
    "PKL-FRAME-STRADDLE": frozenset({"PKL208"}),
    "PKL-EXT-REGISTRY": frozenset({"PKL202"}),
    "PKL-STACK-GLOBAL-COMPUTED": frozenset({"PKL201"}),
    "ZIP-BAD-CRC": frozenset({"ARC300"}),
    "ZIP-FLAG-BITS": frozenset({"ARC300"}),
    "ZIP-NAME-MISMATCH": frozenset({"ARC300"}),
    "ZIP-DUPLICATE-NAME": frozenset({"ARC300"}),
    "ZIP-EXTRA-FIELD": frozenset({"ARC300"}),
    "ZIP-CORRUPT-SIBLING": frozenset({"ARC300"}),
    "ZIP-PREFIX": frozenset({"ARC300"}),
    "ZIP-POLYGLOT-PREFIX": frozenset({"ARC300"}),
    "ZIP-EOCD-CONFUSION": frozenset({"ARC300"}),
}

#: nullifAI-style broken pickles: the payload runs before the fault, so the verdict must carry both the
#: critical call and the fact that analysis stopped at a fault.
BROKEN_AFTER_PAYLOAD = (
    "broken_invalid_opcode_after_reduce",
    "broken_truncated_no_stop",
    "broken_binunicode_overrun",
    "broken_stack_underflow_after_payload",
    "broken_mark_missing_after_payload",
    "stack_global_keyerror_after_payload",
    "stack_global_type_confusion_after_payload",
)


# ---- helpers ------------------------------------------------------------------------------------------


def _high(result: FileResult) -> list[Finding]:
    return [f for f in result.findings if f.severity >= Severity.HIGH]


def _names_construct_or_callable(name: str, findings: Iterable[Finding]) -> bool:
    """Whether ``findings`` report ``name`` (a dotted callable or a ``<construct>`` placeholder)."""
    findings = list(findings)
    if name in _CONSTRUCT_RULES:
        return any(f.rule_id in _CONSTRUCT_RULES[name] for f in findings)
    ext = _EXT_PLACEHOLDER.fullmatch(name)
    if ext is not None:
        code = int(ext.group(1), 16)
        code_rx = re.compile(rf"(?<![\w]){code}(?![\w])|{re.escape(ext.group(1))}", re.IGNORECASE)
        return any(f.rule_id == "PKL202" and code_rx.search(f"{f.message} {f.evidence}") for f in findings)
    assert not name.startswith("<"), f"the corpus uses a construct placeholder this test does not know: {name}"
    # A dotted name as a whole word: 'os.system' matches 'pathlib.os.system' or "os.system('id')", but
    # 'pickle.loads' does not match '_pickle.loads' (that spelling must be listed as an alternative).
    rx = re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])")
    return any(rx.search(f.message) or rx.search(f.evidence) for f in findings)


def detection_problems(sample: build_malicious.Sample, result: FileResult) -> list[str]:
    """Why ``result`` does not count as detecting ``sample`` (empty when it does)."""
    problems = []
    if result.severity < Severity.HIGH:
        problems.append(f"severity is {result.severity.label}, expected high or critical")
    accepted = (sample.expect_callable, *sample.alt_callables)
    if not any(_names_construct_or_callable(n, _high(result)) for n in accepted):
        shown = [(f.rule_id, f.severity.label, f.message, f.evidence) for f in result.findings]
        problems.append(f"no high/critical finding names any of {accepted}; findings: {shown}")
    return problems


@pytest.fixture(scope="module")
def corpus_results(malicious_paths: dict[str, Path], scan_one) -> dict[str, FileResult]:  # type: ignore[no-untyped-def]
    """Each sample scanned once through ``mlvet.scan`` (shared by the per-sample and per-technique views)."""
    return {name: scan_one(path) for name, path in malicious_paths.items()}


def _param(name: str, bugs: dict[str, str]) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=bugs[name])] if name in bugs else []
    return pytest.param(name, id=name, marks=marks)


# ---- tests --------------------------------------------------------------------------------------------


def test_corpus_is_complete_and_consistent() -> None:
    """The parametrisation below really covers the whole corpus (no sample silently filtered out)."""
    assert len(SAMPLES) == len(BY_NAME), "sample names must be unique"
    assert sum(len(v) for v in BY_TECHNIQUE.values()) == len(SAMPLES)
    for name in (*KNOWN_SAMPLE_BUGS, *BROKEN_AFTER_PAYLOAD):
        assert name in BY_NAME, f"{name} is referenced by this test but no longer in the corpus"
    for technique in (*KNOWN_TECHNIQUE_BUGS, *TECHNIQUE_RULES):
        assert technique in BY_TECHNIQUE, f"{technique} is referenced by this test but not in the corpus"


@pytest.mark.parametrize("name", [_param(s.name, KNOWN_SAMPLE_BUGS) for s in SAMPLES])
def test_sample_detected_and_named(name: str, corpus_results: dict[str, FileResult]) -> None:
    sample = BY_NAME[name]
    result = corpus_results[name]
    problems = detection_problems(sample, result)
    assert not problems, f"{name} ({sample.technique}, {sample.filename}): " + "; ".join(problems)


@pytest.mark.parametrize("technique", [_param(t, KNOWN_TECHNIQUE_BUGS) for t in TECHNIQUES])
def test_technique(technique: str, corpus_results: dict[str, FileResult]) -> None:
    """One test per bypass class: every sample of the class is detected, by its mechanism where it has one."""
    failures = []
    for sample in BY_TECHNIQUE[technique]:
        result = corpus_results[sample.name]
        problems = detection_problems(sample, result)
        wanted = TECHNIQUE_RULES.get(technique)
        if wanted is not None and not {f.rule_id for f in result.findings} & wanted:
            problems.append(f"no finding from the technique's own rules {sorted(wanted)}")
        if problems:
            failures.append(f"{sample.name}: {'; '.join(problems)}")
    assert not failures, f"{technique}: " + "\n".join(failures)


@pytest.mark.parametrize("name", BROKEN_AFTER_PAYLOAD)
def test_broken_pickle_fails_closed(name: str, corpus_results: dict[str, FileResult]) -> None:
    """A payload placed before a deliberate fault is both reported (critical) and marked incomplete."""
    sample = BY_NAME[name]
    result = corpus_results[name]
    assert result.status is Status.ERROR, f"{name}: status {result.status.value}, expected error"
    assert result.errors, "an error result must say why"
    critical = [f for f in result.findings if f.severity is Severity.CRITICAL]
    assert critical, f"{name}: no critical finding; findings {[(f.rule_id, f.severity.label) for f in result.findings]}"
    assert _names_construct_or_callable(sample.expect_callable, critical)
    assert any(f.rule_id == "PKL200" for f in result.findings), "the fault itself must be a finding (PKL200)"


def test_findings_are_located_in_the_scanned_file(corpus_results: dict[str, FileResult]) -> None:
    """Findings point into the scanned file (path of the result), never elsewhere."""
    for name, result in corpus_results.items():
        for f in result.findings:
            assert f.location.path == result.path, f"{name}: finding located in {f.location.path}"
