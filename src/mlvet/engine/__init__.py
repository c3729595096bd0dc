"""Engines: where scan tasks run — this machine's worker processes, or a Dask cluster.

The scan core is a pure function of (content, policy) → result, so *where* it runs is a detail behind one
small interface, :class:`~mlvet.engine.base.Engine`: ``map(task, state, items)`` yields ``(index, result)``
pairs as the results complete. ``local`` is mlvet's own process pool (:mod:`mlvet.parallel`);
``dask://HOST:PORT`` submits the same tasks to a Dask distributed scheduler with retries. Another engine
(Ray, Spark) is one more module implementing ``map`` and ``close``, and one more line in :func:`open_engine`.

Layer: engines may import the scanner, the policy, the model, :mod:`mlvet.parallel` and :mod:`mlvet.remote`;
never the store, the inventory or the commands (recording results is the caller's job).
"""

from __future__ import annotations

from mlvet.engine.base import Engine, EngineError, open_engine

__all__ = ["Engine", "EngineError", "open_engine"]
