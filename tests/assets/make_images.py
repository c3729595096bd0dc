"""Container-image and Ollama fixtures (``tests/assets/images/``), built to the published layouts.

No image tool runs here (no docker daemon, no skopeo, no ollama), so the stores are written from the specs:

* OCI image layout (opencontainers/image-spec ``image-layout.md``, ``manifest.md``, ``config.md``):
  ``oci-layout``, ``index.json`` with an ``org.opencontainers.image.ref.name`` annotation, and
  ``blobs/sha256/<hex>`` for the manifest, the config and a gzip layer;
* ``docker save`` (moby ``image/spec/v1.2.md``, legacy layout): ``manifest.json``, ``repositories``,
  ``<config-hex>.json`` and ``<layer-id>/{VERSION,json,layer.tar}``; and the Docker 25+ layout with the
  same manifest.json naming ``blobs/sha256/<hex>`` members of an OCI layout inside the tar;
* an Ollama models folder (ollama ``server/manifest.go``, ``server/images.go``): ``manifests/
  registry.ollama.ai/library/tiny/latest`` (a Docker v2 manifest) and ``blobs/sha256-<hex>`` with the media
  types ``application/vnd.ollama.image.model|template|params|system|license``.

The model layer holds a small safetensors file and a config (benign) or a pickle that runs ``os.system``
(the malicious layer); Ollama's model blob is a GGUF from ``tests/assets/gguf``. Tampered variants change a
blob's bytes after the manifest was written, as someone with write access to the store would. Every file
is deterministic (fixed tar metadata, gzip mtime 0). Run: ``python tests/assets/make_images.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "images"
#: ``pickle`` protocol 0 calling os.system (the classic proof of concept).
EVIL_PICKLE = b"cos\nsystem\n(S'echo pwned-by-layer'\ntR."
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            info.mode = 0o644
            info.uname = info.gname = "root"
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def layer(evil: bool) -> bytes:
    files = {
        "model/config.json": json.dumps({"model_type": "tiny", "hidden_size": 4}).encode(),
        "model/model.safetensors": (HERE / "safetensors" / "benign_numpy.safetensors").read_bytes(),
    }
    if evil:
        files["model/model.pkl"] = EVIL_PICKLE
    return tar_bytes(files)


def config(diff_id: str) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Labels": {"org.example.model": "tiny"}},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
    }, sort_keys=True).encode()


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def oci_blobs(evil_layer_bytes: bool = False) -> tuple[dict[str, bytes], bytes]:
    """The blobs of a one-layer image (by hex digest) and its index.json; optionally tampered."""
    raw = layer(False)
    blob = gz(raw)
    cfg = config(sha(raw))
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": f"sha256:{sha(cfg)}", "size": len(cfg)},
        "layers": [{"mediaType": OCI_LAYER, "digest": f"sha256:{sha(blob)}", "size": len(blob)}],
    }, sort_keys=True).encode()
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": f"sha256:{sha(manifest)}", "size": len(manifest),
                       "annotations": {"org.opencontainers.image.ref.name": "tiny-model:1.0"}}],
    }, sort_keys=True).encode()
    blobs = {sha(cfg): cfg, sha(blob): blob, sha(manifest): manifest}
    if evil_layer_bytes:
        evil = gz(layer(True))
        blobs[sha(blob)] = evil + b"\0" * max(0, len(blob) - len(evil))  # same name, other bytes
    return blobs, index


def oci_folder(root: Path, tampered: bool) -> None:
    blobs, index = oci_blobs(tampered)
    write(root / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    write(root / "index.json", index)
    for hexd, data in blobs.items():
        write(root / "blobs" / "sha256" / hexd, data)


def docker_legacy(tampered: bool) -> bytes:
    raw = layer(False)
    cfg = config(sha(raw))
    layer_id = sha(b"layer-id" + raw)
    files = {
        "manifest.json": json.dumps([{"Config": f"{sha(cfg)}.json", "RepoTags": ["tiny-model:1.0"],
                                      "Layers": [f"{layer_id}/layer.tar"]}]).encode(),
        "repositories": json.dumps({"tiny-model": {"1.0": layer_id}}).encode(),
        f"{sha(cfg)}.json": cfg,
        f"{layer_id}/VERSION": b"1.0",
        f"{layer_id}/json": json.dumps({"id": layer_id, "os": "linux"}).encode(),
        f"{layer_id}/layer.tar": layer(True) if tampered else raw,
    }
    return tar_bytes(files)


def docker_oci() -> bytes:
    blobs, index = oci_blobs()
    manifest_hex = json.loads(index)["manifests"][0]["digest"][7:]
    manifest = json.loads(blobs[manifest_hex])
    files = {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index,
        "manifest.json": json.dumps([{"Config": f"blobs/sha256/{manifest['config']['digest'][7:]}",
                                      "RepoTags": ["tiny-model:1.0"],
                                      "Layers": [f"blobs/sha256/{manifest['layers'][0]['digest'][7:]}"]}]).encode(),
    }
    files.update({f"blobs/sha256/{h}": d for h, d in blobs.items()})
    return tar_bytes(files)


def ollama(root: Path, tampered: bool) -> None:
    model = (HERE / "gguf" / "benign_chat_template.gguf").read_bytes()
    parts = {
        "application/vnd.ollama.image.model": model,
        "application/vnd.ollama.image.template": b"{{ if .System }}<|system|>{{ .System }}{{ end }}"
                                                 b"<|user|>{{ .Prompt }}<|assistant|>",
        "application/vnd.ollama.image.params": json.dumps({"stop": ["<|user|>"], "temperature": 0.7}).encode(),
        "application/vnd.ollama.image.system": b"You are a helpful assistant.",
        "application/vnd.ollama.image.license": b"MIT License\n",
    }
    cfg = json.dumps({"model_format": "gguf", "model_family": "llama", "model_type": "tiny",
                      "file_type": "F32", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layers = [{"mediaType": t, "digest": f"sha256:{sha(d)}", "size": len(d)} for t, d in parts.items()]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "digest": f"sha256:{sha(cfg)}", "size": len(cfg)}, "layers": layers}
    write(root / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "latest",
          json.dumps(manifest).encode())
    for data in [cfg, *parts.values()]:
        write(root / "blobs" / f"sha256-{sha(data)}", data)
    if tampered:
        evil = (HERE / "gguf" / "ssti_cve_2024_34359.gguf").read_bytes()
        write(root / "blobs" / f"sha256-{sha(model)}", evil)
        missing = dict(manifest, layers=[*layers, {"mediaType": "application/vnd.ollama.image.adapter",
                                                   "digest": "sha256:" + "0" * 64, "size": 10}])
        write(root / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "adapter",
              json.dumps(missing).encode())


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    oci_folder(OUT / "oci_benign", tampered=False)
    oci_folder(OUT / "oci_tampered", tampered=True)
    write(OUT / "docker_benign.tar", docker_legacy(tampered=False))
    write(OUT / "docker_tampered.tar", docker_legacy(tampered=True))
    write(OUT / "docker_oci.tar", docker_oci())
    ollama(OUT / "ollama_benign", tampered=False)
    ollama(OUT / "ollama_tampered", tampered=True)


if __name__ == "__main__":
    main()
