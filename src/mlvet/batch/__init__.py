"""Batch scans recorded in the database: resumable, exactly-once, cache-first (``scan --db``, ``hub-scan``).

A batch scan is a set of *units* (a local file, or the files of one remote repository), each scanned by a
pure task on an engine (:mod:`mlvet.engine`). The client — the only process that talks to the database —
does the rest:

1. starts a run, or with ``--resume`` continues one (same inputs, same policy), and skips every file that
   already has a result row in it;
2. looks the remaining files up in the content-hash result cache (:class:`mlvet.store.results.ResultCache`):
   a hit is recorded at once, without a worker; files sharing content within the run are scanned once;
3. submits the rest and records each result as it completes with an idempotent insert keyed by (run id,
   path): a batch delivered twice (a task retried after its worker was killed, a resumed run) is written
   once.

Layer: may import the store, the engines, the remote sources, the scanner, the policy and the model; not
the commands or the CLI.
"""

from __future__ import annotations

from mlvet.batch.run import BatchStats, FileRef, Unit, run_batch

__all__ = ["BatchStats", "FileRef", "Unit", "run_batch"]
