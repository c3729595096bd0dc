"""The ``dask://HOST:PORT`` engine: the same scan tasks on a Dask distributed cluster.

Why Dask distributed: it is a mature scheduler with worker failure handling built in. When a worker dies
(SIGKILL, out of memory, a lost machine) the scheduler reschedules the tasks that worker held on the others;
a task that *raises* is retried ``retries`` times. The scan task is a pure function of (content source,
policy), so running it twice is harmless; recording the result exactly once is the caller's job (an
idempotent upsert keyed by run and content, see :mod:`mlvet.store.results`).

Shipping: the policy is scattered to every worker once (``broadcast``), and files travel in batches
(:func:`mlvet.parallel.make_batches`) so that the scheduler's per-task cost (about a millisecond) is paid per
batch, not per small file. Workers must be able to import mlvet and to read the items: local paths need a
shared filesystem; remote sources (``hf://``) are fetched by the worker itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from mlvet.engine.base import EngineError

__all__ = ["DaskEngine"]

T = TypeVar("T")
R = TypeVar("R")

#: Retries of a task that raised (a worker's death is handled by the scheduler, see the module docstring).
RETRIES = 3
#: Seconds to wait for the scheduler before ``--engine`` is reported unusable (exit 4).
CONNECT_TIMEOUT_S = 20


def _run_batch(task: Callable[[Any, Any], Any], state: Any, items: list[Any]) -> list[Any]:
    """The worker side: one batch, in order (module level, so it travels by reference)."""
    return [task(state, item) for item in items]


class DaskEngine:
    """A client of the Dask scheduler at ``address`` (``tcp://HOST:PORT``)."""

    def __init__(self, address: str, *, retries: int = RETRIES, timeout: float = CONNECT_TIMEOUT_S) -> None:
        try:
            import distributed as _distributed
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(f"--engine dask:// needs {exc.name}", name="distributed") from exc
        distributed: Any = _distributed  # untyped library: called through Any
        self.address = address
        self.retries = retries
        self.name = "dask://" + address.split("://", 1)[1]
        try:
            self.client: Any = distributed.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise EngineError(f"cannot reach the Dask scheduler at {self.name}: {exc}") from exc

    def workers(self) -> int:
        """Worker threads the cluster has now (at least 1, for batching)."""
        info = self.client.scheduler_info(n_workers=-1)
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def map(self, task: Callable[[Any, T], R], state: Any, items: Sequence[T], *,
            on_failure: Callable[[T, str], R], sizes: Sequence[int] | None = None) -> Iterator[tuple[int, R]]:
        """Submit every batch now; yield ``(index, result)`` as batches complete on the cluster."""
        import distributed as _distributed

        from mlvet.parallel import make_batches

        distributed: Any = _distributed
        if not items:
            return
        sizes = list(sizes) if sizes else [0] * len(items)
        [state_future] = self.client.scatter([state], broadcast=True, hash=False)
        futures: dict[Any, list[int]] = {}
        for batch in make_batches(sizes, self.workers()):
            fut = self.client.submit(_run_batch, task, state_future, [items[i] for i in batch],
                                     retries=self.retries, pure=False)
            futures[fut] = batch
        try:
            for fut in distributed.as_completed(list(futures), loop=self.client.loop):
                batch = futures.pop(fut)
                try:
                    results = fut.result()
                except Exception as exc:  # KilledWorker after repeated deaths, or a task that kept raising
                    reason = f"Dask task failed ({type(exc).__name__}: {exc})"
                    results = [on_failure(items[i], reason) for i in batch]
                fut.release()
                yield from zip(batch, results, strict=True)
        finally:
            if futures:  # left early (interrupted): nothing more should run for us
                self.client.cancel(list(futures))
            state_future.release()

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster itself keeps running)."""
        self.client.close()
