"""What the guard patches: one row per loader, by module and attribute path (data, not code).

``kind`` names the wrapper (:mod:`mlvet.guard.wrappers`): how the loader's input is found and when it is
vetted. Names are looked up with ``getattr`` on modules the *user's program* imports; the guard itself
never imports a framework (a target whose module was never imported is patched when it is, by the import
hook in :mod:`mlvet.guard.patcher`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ALIAS_PACKAGES", "EXEMPT_CALLERS", "TARGETS", "Target"]


@dataclass(frozen=True)
class Target:
    """A loader to wrap: ``module`` (imported by the user), dotted ``attr`` inside it, wrapper ``kind``."""

    module: str
    attr: str
    kind: str
    #: Name of the argument that holds the input, and its position (for ``path`` / ``numpy`` / pretrained).
    arg: str = ""
    position: int = 0


TARGETS: tuple[Target, ...] = (
    # The standard library: scanned per call (file objects from their position, bytes as they are).
    Target("pickle", "load", "pickle_load"),
    Target("pickle", "loads", "pickle_loads"),
    # Framework loaders that take a path or a file object.
    Target("torch.serialization", "load", "path", "f"),
    Target("torch", "load", "path", "f"),
    Target("joblib.numpy_pickle", "load", "path", "filename"),
    Target("joblib", "load", "path", "filename"),
    Target("numpy", "load", "numpy", "file"),
    Target("keras.src.saving.saving_api", "load_model", "path", "filepath"),
    Target("keras.saving", "load_model", "path", "filepath"),
    Target("keras.models", "load_model", "path", "filepath"),
    Target("tf_keras.src.saving.saving_api", "load_model", "path", "filepath"),
    Target("tf_keras.models", "load_model", "path", "filepath"),
    Target("tf_keras.saving", "load_model", "path", "filepath"),
    # from_pretrained: the local folder, or the already-cached snapshot, before the library reads it
    # (files downloaded during the call are vetted by the Hub download wrappers below).
    Target("transformers.modeling_utils", "PreTrainedModel.from_pretrained", "pretrained",
           "pretrained_model_name_or_path"),
    Target("transformers.models.auto.auto_factory", "_BaseAutoModelClass.from_pretrained", "pretrained",
           "pretrained_model_name_or_path"),
    Target("transformers.configuration_utils", "PretrainedConfig.from_pretrained", "pretrained",
           "pretrained_model_name_or_path"),
    Target("transformers.models.auto.configuration_auto", "AutoConfig.from_pretrained", "pretrained",
           "pretrained_model_name_or_path"),
    Target("transformers.tokenization_utils_base", "PreTrainedTokenizerBase.from_pretrained", "pretrained",
           "pretrained_model_name_or_path"),
    Target("transformers.models.auto.tokenization_auto", "AutoTokenizer.from_pretrained", "pretrained",
           "pretrained_model_name_or_path"),
    Target("diffusers.pipelines.pipeline_utils", "DiffusionPipeline.from_pretrained", "pretrained",
           "pretrained_model_name_or_path"),
    Target("diffusers.models.modeling_utils", "ModelMixin.from_pretrained", "pretrained",
           "pretrained_model_name_or_path"),
    Target("diffusers.configuration_utils", "ConfigMixin.load_config", "pretrained",
           "pretrained_model_name_or_path"),
    Target("sentence_transformers.base.model", "BaseModel.__init__", "pretrained_init",
           "model_name_or_path"),
    # Downloads: the returned local path (file or snapshot folder) is vetted before the caller gets it.
    Target("huggingface_hub.file_download", "hf_hub_download", "result"),
    Target("huggingface_hub._snapshot_download", "snapshot_download", "result"),
    Target("huggingface_hub", "hf_hub_download", "result"),
    Target("huggingface_hub", "snapshot_download", "result"),
    # MLflow: every flavour's load_model resolves its model URI to a local folder through this function.
    Target("mlflow.tracking.artifact_utils", "_download_artifact_from_uri", "result"),
)

#: Packages in which ``from x import loader`` copies of a patched loader are re-pointed at the wrapper
#: (transformers, diffusers and sentence-transformers import ``hf_hub_download`` by name, MLflow flavours
#: import ``_download_artifact_from_uri`` by name). The standard library is deliberately not in this list.
ALIAS_PACKAGES: frozenset[str] = frozenset({
    "torch", "joblib", "numpy", "keras", "tf_keras", "transformers", "diffusers", "sentence_transformers",
    "huggingface_hub", "mlflow", "peft", "timm", "sklearn",
})

#: Callers whose pickle traffic is process-internal, not model files: multiprocessing and friends pass
#: pickles between a parent and the workers it started (the same trust domain), including a spawned child
#: reading its own bootstrap data with ``pickle.load`` from a pipe. Their ``pickle.load(s)`` calls are not
#: scanned. Matched on the calling module's ``__name__`` (exact or as a package prefix).
EXEMPT_CALLERS: tuple[str, ...] = (
    "multiprocessing", "concurrent.futures", "torch.multiprocessing", "joblib.externals.loky",
    "joblib._parallel_backends", "joblib.parallel",
)
