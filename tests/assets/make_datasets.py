"""Make the dataset fixtures in tests/assets/datasets with the real libraries (run from the repo root).

    python tests/assets/make_datasets.py

Needs pandas, pyarrow, datasets and tensorflow (the `fixtures` extra); the outputs are committed so the test
suite does not need those libraries. Small on purpose: the inventory tests care about layout and format
recognition, not volume.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "datasets"


def main() -> None:
    import datasets
    import pandas as pd
    import pyarrow as pa
    import pyarrow.feather as feather
    import tensorflow as tf

    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    df = pd.DataFrame({"text": [f"review {i}" for i in range(50)], "label": [i % 2 for i in range(50)]})
    # Parquet shards of one split, as `datasets` push_to_hub lays them out.
    shards = OUT / "reviews" / "data"
    shards.mkdir(parents=True)
    df.iloc[:25].to_parquet(shards / "train-00000-of-00002.parquet")
    df.iloc[25:].to_parquet(shards / "train-00001-of-00002.parquet")
    # Single-file text datasets.
    df.to_csv(OUT / "reviews.csv", index=False)
    df.to_json(OUT / "reviews.jsonl", orient="records", lines=True)
    # Arrow IPC file (feather v2).
    feather.write_feather(pa.Table.from_pandas(df), OUT / "table.arrow")
    # datasets.save_to_disk folder (arrow stream shards + dataset_info.json + state.json).
    datasets.Dataset.from_pandas(df).save_to_disk(str(OUT / "saved_dataset"))
    # TFRecord written by TensorFlow.
    with tf.io.TFRecordWriter(str(OUT / "examples.tfrecord")) as w:
        for i in range(10):
            ex = tf.train.Example(features=tf.train.Features(feature={
                "x": tf.train.Feature(int64_list=tf.train.Int64List(value=[i]))}))
            w.write(ex.SerializeToString())
    # WebDataset shard: samples grouped by key (the format is a plain tar written in key order).
    with tarfile.open(OUT / "shard-000000.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
        for i in range(4):
            for ext, data in (("txt", f"caption {i}".encode()), ("cls", str(i % 2).encode()),
                              ("json", json.dumps({"i": i}).encode())):
                info = tarfile.TarInfo(f"{i:06d}.{ext}")
                info.size = len(data)
                info.mtime = 0
                tar.addfile(info, io.BytesIO(data))
    versions = {"pandas": pd.__version__, "pyarrow": pa.__version__, "datasets": datasets.__version__,
                "tensorflow": tf.__version__}
    (OUT / "MANIFEST.json").write_text(json.dumps({"generator": "tests/assets/make_datasets.py",
                                                   "versions": versions}, indent=1) + "\n")


if __name__ == "__main__":
    main()
