"""The ``local`` engine: today's batched process pool (:mod:`mlvet.parallel`), or this process for one job."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

__all__ = ["LocalEngine"]

T = TypeVar("T")
R = TypeVar("R")


class LocalEngine:
    """Worker processes on this machine: ``jobs`` of them (0 chooses from the machine and the input).

    One job runs the tasks in this process (no fork, no pickling), exactly as ``-j 1`` always has.
    """

    def __init__(self, jobs: int = 0) -> None:
        self.jobs = jobs
        self.name = "local" if not jobs else f"local ({jobs} process{'es' if jobs != 1 else ''})"

    def map(self, task: Callable[[Any, T], R], state: Any, items: Sequence[T], *,
            on_failure: Callable[[T, str], R], sizes: Sequence[int] | None = None) -> Iterator[tuple[int, R]]:
        """Yield ``(index, result)`` as batches complete (in order when run in this process)."""
        from mlvet.parallel import WorkerPool, resolve_jobs

        if not items:
            return
        sizes = list(sizes) if sizes else [0] * len(items)
        n_jobs = resolve_jobs(self.jobs, len(items), sum(sizes))
        if n_jobs <= 1:
            for i, item in enumerate(items):
                yield i, task(state, item)
            return
        with WorkerPool[T, R](n_jobs, state) as pool:
            yield from pool.submit(task, items, sizes, on_failure)

    def close(self) -> None:
        """Nothing outlives :meth:`map`: the pool is stopped when its iterator ends."""
