"""Rule identities: every finding names one of these, so suppressions, SARIF and docs stay stable.

Ids are grouped by area (bandit-style): ``PKL1xx`` pickle calls, ``PKL2xx`` pickle structure and
obfuscation, ``ARC3xx`` containers and archives, ``KER4xx`` Keras, ``TFG5xx`` TensorFlow (and TFLite),
``ONX6xx`` ONNX, ``GGF7xx`` GGUF and chat templates, ``SFT8xx`` safetensors, ``HFR9xx`` Hugging Face
repositories, ``OTH0xx`` other formats (skops, PMML, MLflow ...), ``BKD1xx`` architectural backdoors (graph
triggers, out-of-family weights), ``DAT0xx`` datasets (loading scripts, pickled Arrow extension types,
custom feature types), ``FMT0xx`` format-independent problems.
Format modules register their own rules with :func:`define_rule`. A new rule is a
new entry here; the README's rule table is generated from this registry (``mlvet rules``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlvet.model import Severity


@dataclass(frozen=True)
class Rule:
    """Documentation of one rule: what it detects, why that matters, and what to do about it."""

    id: str
    name: str
    severity: Severity
    summary: str
    why: str
    fix: str
    cwe: int | None = None


_RULES: dict[str, Rule] = {}


def _rule(
    id: str, name: str, severity: Severity, summary: str, why: str, fix: str, cwe: int | None = None
) -> Rule:
    rule = Rule(id, name, severity, summary, why, fix, cwe)
    if id in _RULES:  # pragma: no cover - a programming error caught at import
        raise RuntimeError(f"duplicate rule id {id}")
    _RULES[id] = rule
    return rule


def define_rule(
    id: str, name: str, severity: Severity, summary: str, why: str, fix: str, cwe: int | None = None
) -> Rule:
    """Register a rule from a format module (ids must be unique; see the id ranges in this module's doc)."""
    return _rule(id, name, severity, summary, why, fix, cwe)


def get_rule(rule_id: str) -> Rule:
    """Look a rule up by id (KeyError for an unknown id)."""
    return _RULES[rule_id]


def all_rules() -> tuple[Rule, ...]:
    """Every registered rule, by id (import the format modules first for a complete list)."""
    return tuple(sorted(_RULES.values(), key=lambda r: r.id))


_LOAD = "Loading this file with pickle, torch.load, joblib.load or numpy.load(allow_pickle=True) runs it."
_NO_LOAD = "Do not load the file. Obtain the model from its publisher in a safe format (safetensors, ONNX)."

PKL100 = _rule(
    "PKL100", "dangerous-call", Severity.CRITICAL,
    "The pickle calls a callable that can execute code, start processes, or touch files or the network.",
    _LOAD, _NO_LOAD, 502,
)
PKL101 = _rule(
    "PKL101", "dangerous-import", Severity.HIGH,
    "The pickle imports a dangerous callable without calling it directly.",
    "Importing it has side effects, and the object can still be invoked by another call, by a "
    "__setstate__ or by code that later uses the loaded model.",
    _NO_LOAD, 502,
)
PKL102 = _rule(
    "PKL102", "dangerous-argument", Severity.CRITICAL,
    "A dangerous callable is passed as an argument to a call made while loading.",
    "Higher-order callables (map, partial, apply, sorted's key…) invoke what they are given: a classic way "
    "to hide the real call from scanners that only check the outer callable.",
    _NO_LOAD, 502,
)
PKL110 = _rule(
    "PKL110", "unknown-call", Severity.MEDIUM,
    "The pickle calls a callable that is in neither policy tier, with arguments chosen by the file (ranked by "
    "where it lives and what it is given).",
    "Unknown code runs at load time. It may be a benign library function, or a gadget that no denylist knows "
    "yet: an ML library's callable given plain data ranks low, the standard library, user code and other "
    "packages medium, and any callable handed a path, URL, command line, code or a nested pickle high.",
    "Review the callable. If it is trusted, add it to the safe tier in [tool.mlvet] or a --policy file.",
    502,
)
PKL111 = _rule(
    "PKL111", "unknown-import", Severity.LOW,
    "The pickle imports a callable that is in neither policy tier, without invoking it.",
    "Loading imports the module (running its top-level code); the object itself is not called.",
    "Review the module; add it to the safe tier if it is trusted.",
    502,
)
PKL112 = _rule(
    "PKL112", "unknown-reconstruct", Severity.LOW,
    "The pickle rebuilds an object of a class the policy does not know, without calling it with arguments.",
    "Reconstruction (NEWOBJ, copyreg._reconstructor, __new__ + BUILD, an enum looked up by value) runs only "
    "the class's own __new__/__setstate__ after importing its module; no callable of the file's choosing "
    "receives the file's data. The class must still be importable, so the file depends on that code.",
    "Check that the class comes from code you trust (your own project or a known library).",
    502,
)
PKL113 = _rule(
    "PKL113", "argument-effect", Severity.HIGH,
    "A call's arguments give it an effect beyond building an object: a file opened for writing, a download, "
    "a command line or code handed to it.",
    "A callable that is harmless with ordinary arguments (numpy.memmap, scipy.io.FortranFile, a dataset "
    "class) creates, truncates or downloads files when the pickle chooses its mode or flags.",
    _NO_LOAD, 73,
)
PKL114 = _rule(
    "PKL114", "executed-state", Severity.CRITICAL,
    "A rebuilt object's state carries code that its class's __setstate__ executes, in a shape the library "
    "itself never writes.",
    "Some library classes execute part of their pickled state when they are rebuilt (SciPy distributions "
    "exec their argument-parser template); the reconstruction looks harmless but runs the file's code.",
    "Do not load the file; an ordinary save writes exactly the library's own text there.",
    94,
)
PKL200 = _rule(
    "PKL200", "malformed-pickle", Severity.MEDIUM,
    "The pickle stream is malformed or truncated; analysis covers everything up to the fault.",
    "Loaders execute every opcode before the fault, so a payload placed before a deliberate error still runs "
    "while scanners that give up on the error report nothing (nullifAI, 'broken pickle').",
    "Treat the file as untrusted; a genuine model file is never malformed.",
    20,
)
PKL201 = _rule(
    "PKL201", "computed-global", Severity.CRITICAL,
    "STACK_GLOBAL takes its module or name from a value computed at load time, not a constant.",
    "Building import names at load time exists only to hide them from static scanners.",
    _NO_LOAD, 502,
)
PKL202 = _rule(
    "PKL202", "extension-code", Severity.HIGH,
    "The pickle references a callable through a copyreg extension code (EXT1/EXT2/EXT4).",
    "Extension codes are resolved through a registry in the loading process; the callable cannot be known "
    "from the file alone.",
    "Do not load unless you control the extension registry of the loading process.",
    502,
)
PKL203 = _rule(
    "PKL203", "attribute-injection", Severity.HIGH,
    "BUILD sets attributes directly on an imported module, class or function.",
    "Setting attributes on imported objects monkey-patches library code for the rest of the process.",
    _NO_LOAD, 915,
)
PKL204 = _rule(
    "PKL204", "dynamic-call", Severity.HIGH,
    "The pickle calls the result of another call (a callable computed at load time).",
    "Calling a computed object is how getattr/attrgetter chains reach functions a scanner does not see.",
    _NO_LOAD, 502,
)
PKL205 = _rule(
    "PKL205", "reflective-name", Severity.CRITICAL,
    "An imported name walks through dunder attributes (e.g. __globals__, __builtins__, __subclasses__).",
    "Reflective attribute chains reach eval/exec and os from any harmless-looking object.",
    _NO_LOAD, 502,
)
PKL206 = _rule(
    "PKL206", "nested-pickle", Severity.HIGH,
    "Bytes embedded in the pickle are themselves a pickle that is deserialised at load time.",
    "A nested pickle hides its payload from scanners that only read the outer stream.",
    _NO_LOAD, 502,
)
PKL207 = _rule(
    "PKL207", "unresolved-reference", Severity.HIGH,
    "A callable reference could not be resolved within mlvet's analysis limits.",
    "mlvet fails closed: what it cannot resolve is reported rather than passed.",
    "Raise the relevant limit in the policy, or treat the file as untrusted.",
)
PKL208 = _rule(
    "PKL208", "frame-violation", Severity.HIGH,
    "An opcode runs past the end of its protocol-4 FRAME (or a FRAME starts inside another).",
    "pickle.load(file) and pickle.loads(bytes) then read different opcodes from the same bytes, so a "
    "payload can hide inside what one reader sees as data. mlvet analyses both readings.",
    _NO_LOAD, 20,
)
PKL209 = _rule(
    "PKL209", "memory-bomb", Severity.HIGH,
    "Loading makes the unpickler allocate or walk far more than the file holds: shared containers nested "
    "through the memo (GET/DUP), a huge memo key, or bytes(n) / list(range(n)) with a huge n.",
    "The stream is small and calls nothing a denylist would catch, yet the loader (or anything that hashes, "
    "prints, compares or copies the value) runs out of memory or time: a denial of service from data alone.",
    _NO_LOAD, 776,
)
PKL210 = _rule(
    "PKL210", "trailing-pickle", Severity.INFO,
    "The file holds more than one pickle stream.",
    "pickle.load reads only the first, but loaders that read on (legacy torch.load, joblib, custom code) "
    "run the others, which is where payloads are hidden.",
    "Review every stream's findings; all of them are analysed.",
)
PKL211 = _rule(
    "PKL211", "trailing-data", Severity.LOW,
    "Data follows the last pickle stream and is not part of any known container layout.",
    "Hidden trailing data can carry a second payload for a custom loader.",
    "Check where the extra data comes from.",
)
ARC300 = _rule(
    "ARC300", "archive-anomaly", Severity.MEDIUM,
    "The archive's structure is irregular (CRC mismatch, flag bits, header mismatch, prefixed data…).",
    "These tricks make some readers (and so some scanners) reject or skip a member that the model loader "
    "still reads and executes.",
    "A genuine model archive has none of these; re-export it from its source.",
)
ARC301 = _rule(
    "ARC301", "archive-limit", Severity.HIGH,
    "An archive exceeded a safety limit (size, ratio, depth or member count): a possible decompression bomb.",
    "Bombs exhaust disk and memory of whatever unpacks them; the rest of the archive was not analysed.",
    "Inspect the archive by hand; raise the limit in the policy only for a trusted source.",
    409,
)
ARC302 = _rule(
    "ARC302", "archive-path", Severity.HIGH,
    "An archive member would be written outside the extraction folder: an absolute or '..' name, a tar "
    "symlink or hardlink to a target outside, or a zip entry stored as a Unix symlink.",
    "Extractors that honour it (tarfile.extractall without filter='data', the default up to Python 3.13; "
    "unzip, bsdtar; loaders that unpack .nemo, get_file or artifact archives) write or link outside the target "
    "folder (zip-slip, CVE-2007-4559, CVE-2025-4517, CVE-2025-12060). No model writer produces such members.",
    "Do not extract the archive; if you must, use tarfile's filter='data' and inspect it first.",
    22,
)
ARC303 = _rule(
    "ARC303", "archive-bomb", Severity.HIGH,
    "The archive is built as a decompression bomb: several entries share the same compressed bytes.",
    "Overlapping entries (David Fifield's non-recursive zip bomb) make every extractor inflate the same data "
    "once per entry, exhausting disk and memory from a small file; ordinary zip writers never overlap "
    "entries. Entries beyond the first few overlapping ones are not analysed.",
    "Do not extract or load the archive.",
    409,
)
ARC310 = _rule(
    "ARC310", "torchscript-code", Severity.MEDIUM,
    "The archive holds TorchScript code, which runs when the model is loaded and called.",
    "TorchScript can call file and process operations through torch ops; review the code shown.",
    "Review the code, or use a weights-only format.",
    94,
)
ARC311 = _rule(
    "ARC311", "torchscript-present", Severity.INFO,
    "The archive holds TorchScript code (listed for review; no file, process or custom op was seen in it).",
    "TorchScript code runs when the model is called; mlvet lists it so a reviewer knows it is there.",
    "Nothing to do for models from a trusted source; review the code otherwise.",
    94,
)
FMT001 = _rule(
    "FMT001", "format-mismatch", Severity.LOW,
    "The file's content does not match what its extension claims.",
    "Renaming a pickle to .png, .bin or .txt hides it from tools that trust extensions.",
    "Check why the file is named this way.",
)


FMT002 = _rule(
    "FMT002", "link-outside", Severity.MEDIUM,
    "A symbolic link inside the scanned folder points outside it; the target was not analysed.",
    "Whoever loads the folder reads the link's target: a file the folder's publisher did not ship, whose "
    "content depends on the machine (an absolute /tmp path can be planted later, a link to a key or a token "
    "can be read into a vocabulary). mlvet does not read outside the folder it was given, so the verdict "
    "is incomplete.",
    "Replace the link with the file itself, or scan the target explicitly if you trust it.",
    59,
)


# ---- issue 12 (fmt-img): legacy GGML, llamafile, Lightning, container images; BKD1xx architectural backdoors ----
OTH090 = _rule(
    "OTH090", "ggml-parser-attack", Severity.HIGH,
    "A legacy GGML/GGMF/GGJT file declares counts, lengths or dimensions that cannot be real.",
    "GGML carries no code, but its loaders (llama.cpp before August 2023, koboldcpp, ctransformers, gpt4all) "
    "size buffers from these numbers without checks: vocab sizes beyond the file, huge token or name lengths "
    "and more than 4 dimensions overflow or over-read their heap, the GGUF parser bugs' older siblings.",
    "Do not load the file. A GGML file written by a real converter never has these values; convert a trusted "
    "original to GGUF instead.",
    787,
)
OTH091 = _rule(
    "OTH091", "ggml-tensor-bounds", Severity.HIGH,
    "A legacy GGML tensor's data runs past the end of the file, or bytes follow the last tensor.",
    "Loaders mmap or read tensor data by the sizes in the tensor table; data beyond the end makes them read "
    "out of bounds (a truncated download shows the same thing), and bytes after the last tensor are "
    "unreferenced data that can carry a second payload.",
    "Re-download the file from its publisher, or convert a trusted original to GGUF.",
    125,
)
OTH092 = _rule(
    "OTH092", "llamafile-executable", Severity.LOW,
    "The file is a llamafile: a native executable (APE/ELF/PE/shell polyglot) with a GGUF model in an "
    "embedded zip.",
    "A llamafile is a program, not a model a loader parses: running it runs its machine code with your "
    "privileges, and mlvet does not analyse machine code. That is what the user asked for when running it, "
    "so it is ranked low; the embedded GGUF and its chat template are scanned like any GGUF file.",
    "Run llamafiles only from publishers you trust (check the release's checksum or signature), or extract "
    "the GGUF and load it with your own llama.cpp build.",
    94,
)
OTH093 = _rule(
    "OTH093", "image-digest-mismatch", Severity.HIGH,
    "A blob of an OCI/Docker image or an Ollama model does not match the digest (or size) its manifest or "
    "its content-addressed name declares.",
    "Images and Ollama models are content-addressed: the digest is the only thing that ties a layer to the "
    "manifest that was signed, pulled or reviewed. A blob whose bytes differ was changed after the fact "
    "(tampering) or corrupted; runtimes that do not re-verify local blobs run it anyway.",
    "Delete the local copy and pull the image or model again from its registry; find out who could write "
    "to the store.",
    345,
)
OTH094 = _rule(
    "OTH094", "image-layout-anomaly", Severity.MEDIUM,
    "An OCI/Docker image or Ollama model manifest is inconsistent: a referenced blob is missing, a digest is "
    "malformed, or a layer has an unknown media type.",
    "The runtime resolves layers from the manifest; a manifest that names blobs the store does not hold, or "
    "content of unknown kind, means what runs is not what was scanned.",
    "Pull the image or model again; inspect unknown layer types before running it.",
    20,
)
OTH095 = _rule(
    "OTH095", "lightning-instantiator", Severity.HIGH,
    "A PyTorch Lightning checkpoint names a custom '_instantiator' in its hyper-parameters.",
    "LightningModule/LightningDataModule.load_from_checkpoint imports the dotted path in "
    "hyper_parameters['_instantiator'] and calls it with the class and the saved hyper-parameters; Lightning "
    "up to 2.5 accepted any path (2.6 allows only its own LightningCLI instantiator). Any other value makes "
    "older Lightning import a module of the checkpoint's choosing and call into it.",
    "Do not load the checkpoint with load_from_checkpoint; load the state_dict with torch.load("
    "weights_only=True) into a model you construct yourself.",
    94,
)
OTH096 = _rule(
    "OTH096", "lightning-class-path", Severity.INFO,
    "A PyTorch Lightning checkpoint's hyper-parameters name classes that load_from_checkpoint instantiates "
    "(LightningCLI '_class_path', or 'class_path'/'init_args' entries).",
    "LightningCLI stores the model's class path and nested class_path/init_args configs; loading through "
    "its instantiator (jsonargparse) imports and constructs them. Ordinary CLI checkpoints name the "
    "project's own classes (listed for review); process, code-execution or deserialisation callables are "
    "attacks and ranked critical.",
    "Check that every class path belongs to the model's own code.",
    94,
)
BKD100 = _rule(
    "BKD100", "graph-trigger-branch", Severity.MEDIUM,
    "The model graph compares a model input (or a slice or reduction of it) with a constant and uses the "
    "result to select between outputs (Where/If/Select): a structure that changes the output on a trigger.",
    "Architectural backdoors (Bober-Irizar et al., 2023; HiddenLayer ShadowLogic, 2024) hide the trigger "
    "check in the graph itself, so they survive fine-tuning and need no poisoned weights: when the input "
    "matches the constant the branch bypasses the model body. Genuine models rarely compare raw inputs "
    "with constants; the evidence lists the subgraph. Heuristic: medium, high when the selected value does "
    "not depend on the model body at all.",
    "Review the listed nodes; retrain or re-export the model from trusted code if they are not part of its "
    "published architecture.",
    506,
)
BKD101 = _rule(
    "BKD101", "weight-outlier-layer", Severity.LOW,
    "A weight tensor's statistics (standard deviation or largest magnitude) are far out of family with the "
    "other tensors of the same shape in the model.",
    "Weight-space backdoors and injected payloads (data hidden in low bits, a hand-edited neuron) change one "
    "layer's distribution while its siblings keep the trained one. Heuristic (robust z-score over layers of "
    "the same shape): a pointer for review, not a verdict.",
    "Compare the listed tensor with the publisher's original; re-download or re-train if they differ.",
    506,
)
