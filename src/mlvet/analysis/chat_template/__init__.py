"""Static analysis of Jinja chat templates (GGUF ``tokenizer.chat_template``, ``tokenizer_config.json``...).

Chat templates are programs: every loader that formats a conversation renders them. Rendered by a plain
``jinja2.Environment`` (llama-cpp-python before 0.2.72, CVE-2024-34359, and many home-grown servers) a
template can walk Python's object graph (``''.__class__.__mro__[1].__subclasses__()``,
``cycler.__init__.__globals__.os.popen``) and run commands. Jinja's sandbox blocks that walk; a scanner
cannot assume the loader uses it.

The template is parsed with Jinja's own parser, which builds a syntax tree and never executes anything
(no rendering, no ``as_const`` folding of filters: mlvet folds the few string operations that matter
itself, with size caps). The tree is then checked for what a prompt formatter never needs:

* reaching Python internals: ``_``-prefixed attributes or subscripts, including names built at render time
  (``'__cla' ~ 'ss__'``, ``|join``, ``|reverse``, ``{% set %}`` variables, ``|attr(...)``,
  ``map(attribute=...)``, ``'{0.__class__}'.format(...)``);
* process and module access (``popen``, ``system``, ``os``, ``subprocess``...);
* Jinja objects whose ``__init__.__globals__`` are the classic escape gadgets (``cycler``, ``joiner``,
  ``lipsum``, ``self``) and web-framework globals (``config``, ``request``);
* loading other templates (``include``/``import``/``extends``: file reads through the loader);
* render-time resource exhaustion (``range(10**9)``, huge repetitions) and unusually deep attribute chains.

Real templates (Llama 3, Mistral, Qwen, Gemma, Phi-3, ChatML, DeepSeek...) use ``namespace``,
``raise_exception``, ``strftime_now``, loops, slices and ``message['role']``: none of that is reported.

The package is split along its seams: :mod:`.rules` (rule ids), :mod:`.vocab` (the names and limits the
checks use), :mod:`.folding` (constant folding of render-time strings), :mod:`.checks` (the walk over
the syntax tree), :mod:`.evidence` (source forms for messages) and :mod:`.engine` (parsing and the typed
result). The engine returns a :class:`TemplateAnalysis`; the format layer reports it.
"""

from mlvet.analysis.chat_template.engine import TemplateAnalysis, TemplateIssue, analyse_template
from mlvet.analysis.chat_template.rules import GGF700, GGF701, GGF702, GGF703, GGF704, GGF705, GGF706, GGF707, GGF708
from mlvet.analysis.chat_template.vocab import MAX_FINDINGS, MAX_TEMPLATE_CHARS

__all__ = [
    "GGF700",
    "GGF701",
    "GGF702",
    "GGF703",
    "GGF704",
    "GGF705",
    "GGF706",
    "GGF707",
    "GGF708",
    "MAX_FINDINGS",
    "MAX_TEMPLATE_CHARS",
    "TemplateAnalysis",
    "TemplateIssue",
    "analyse_template",
]
