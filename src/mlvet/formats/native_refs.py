"""Shared judgement for model formats that *name* native or Python code the loading application supplies.

Custom layers (Core ML), custom operators (MXNet, PaddlePaddle, ExecuTorch, OpenVINO) and plugins
(TensorRT) are not code in the file: the runtime looks a name up in what the application registered and
fails if nothing answers. Such a name tells a reviewer which extra code the model needs, so it is reported
low, as mlvet already rates TensorFlow and TFLite custom operators. A name that suggests file, process,
network or interpreter access is medium: a model has no business asking for that, and an attacker who
knows which extensions a target loads picks exactly those.
"""

from __future__ import annotations

import re

from mlvet.model import Severity

#: Words in an operator, layer, class or plugin name that suggest access beyond tensor math.
SUSPICIOUS = re.compile(r"(?i)(file|read|write|exec|shell|system|popen|process|socket|http|url|download|upload|"
                        r"rpc|python|pyfunc|eval|command|spawn|dlopen|library|nstask)")


def reference_severity(name: str) -> Severity:
    """Low for an ordinary custom name, medium when the name suggests file/process/network access."""
    return Severity.MEDIUM if SUSPICIOUS.search(name) else Severity.LOW
