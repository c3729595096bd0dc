"""The engine interface and the ``--engine`` spelling: ``local`` or ``dask://HOST:PORT``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from mlvet.errors import UsageError

__all__ = ["Engine", "EngineError", "open_engine"]

T = TypeVar("T")
R = TypeVar("R")


class EngineError(UsageError):
    """The engine named by ``--engine`` cannot be used (bad spelling, scheduler unreachable): exit 4."""


class Engine(Protocol):
    """Runs ``task(state, item)`` for many items somewhere, and yields results as they complete.

    ``state`` (the policy) is shipped to each worker once, not with every item. ``task`` must be a
    module-level function (it travels by reference) and must be pure: the same inputs give the same
    result wherever and however often it runs, which is what makes retries and resumed runs safe. An item
    whose task could not be run (its worker died for good, the task raised) yields ``on_failure(item,
    reason)`` — an ``error`` result, never a dropped or clean one.
    """

    #: How results are labelled in messages and benchmark tables ("local (2 processes)", "dask://…").
    name: str

    def map(self, task: Callable[[Any, T], R], state: Any, items: Sequence[T], *,
            on_failure: Callable[[T, str], R], sizes: Sequence[int] | None = None) -> Iterator[tuple[int, R]]:
        """Yield ``(index, task(state, items[index]))`` for every item, in completion order."""
        ...

    def close(self) -> None:
        """Release workers and connections (idempotent)."""
        ...


def open_engine(spec: str | None, jobs: int = 0) -> Engine:
    """The engine ``spec`` names: ``local`` (or None: worker processes, ``jobs`` of them, 0 = auto) or
    ``dask://HOST:PORT`` (a running Dask scheduler). Raises :class:`EngineError` for anything else."""
    text = (spec or "local").strip()
    if text == "local":
        from mlvet.engine.local import LocalEngine

        return LocalEngine(jobs)
    if text.startswith(("dask://", "tcp://")):
        from mlvet.engine.dask_engine import DaskEngine

        address = "tcp://" + text.split("://", 1)[1]
        host, _, port = address[len("tcp://"):].rpartition(":")
        if not host or not port.isdigit():
            raise EngineError(f"--engine {text!r}: expected dask://HOST:PORT")
        return DaskEngine(address)
    raise EngineError(f"--engine {text!r}: expected 'local' or 'dask://HOST:PORT'")
