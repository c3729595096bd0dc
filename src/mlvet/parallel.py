"""Worker processes for scanning many files: started once, fed batches, stopped promptly.

Scanning is CPU-bound pure Python, so parallelism needs processes, and processes only pay off when what
they save exceeds what they cost: starting them, shipping work to them and results back. The first naive
version (one task per file, a fresh pool per call) made ``scan -j 2`` over 10,000 small files two to three
times *slower* than one process. Hence:

* **One pool per command.** :class:`WorkerPool` starts its workers once; the policy reaches each worker
  once, through the initializer (inherited for free under ``fork``), never with every task.
* **Batches, by count and by bytes.** :func:`make_batches` packs many small files into one task (each task
  costs two pickled messages and a wake-up) but keeps several tasks per worker so that a slow file cannot
  leave the others idle; a big file is a batch of its own. Batches are handed out largest first.
* **Deterministic output.** Results carry their input index; callers put them back in input order, so the
  report is byte-identical whatever ``-j`` was.
* **The default job count comes from the machine and the input** (:func:`default_jobs`): the CPUs this
  process may run on, capped, and one process when the input is too small to repay the start-up — the
  default must never be slower than ``-j 1``.
* **Interruption.** Workers ignore SIGINT (a terminal sends Ctrl-C to the whole process group; the parent
  alone decides) and die on SIGTERM without cleanup of their own (they hold nothing to clean). When the parent
  is interrupted (Ctrl-C, or SIGTERM raised as :class:`mlvet.commands._io.Terminated`), the pool cancels
  what is pending, terminates the workers and reaps them before the exception goes on: no orphans, and the
  command exits 130/143 at once instead of finishing the queue. On Linux a worker also dies with its parent
  (``PR_SET_PDEATHSIG``) should the parent be killed outright.
* **Fork safety.** ``fork`` is the cheapest start (no re-import, nothing pickled) but is unsafe once other
  threads exist (a lock held by another thread stays held in the child forever). The pool forks only from a
  single-threaded process and otherwise uses ``forkserver`` (``spawn`` where neither exists).
* **Fail closed.** A batch whose worker died (killed, out of memory) yields an error result for each of its
  items, made by the caller's ``on_failure``; it is never dropped and never clean.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["MAX_DEFAULT_JOBS", "WorkerPool", "available_cpus", "default_jobs", "make_batches", "resolve_jobs"]

T = TypeVar("T")
R = TypeVar("R")

#: The default never starts more workers than this, however many CPUs there are (memory, fair sharing).
MAX_DEFAULT_JOBS = 8
#: Below this many files (and :data:`PARALLEL_MIN_BYTES`) the default is one process: a small scan costs
#: less than starting workers (about 0.5 ms a small file against tens of milliseconds for a pool).
PARALLEL_MIN_FILES = 200
#: ... unless the files are big: two multi-GB files are worth a worker each.
PARALLEL_MIN_BYTES = 1 << 30
#: Most files one task carries, and most bytes (a bigger file is a task of its own).
BATCH_MAX_FILES = 64
BATCH_MAX_BYTES = 64 << 20
#: Tasks per worker the batching aims for, so that one slow batch cannot leave the other workers idle.
TASKS_PER_WORKER = 4


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count), at least 1."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if count is not None:
        return max(1, count() or 1)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_jobs(n_files: int, total_bytes: int, cpus: int | None = None) -> int:
    """Worker processes for an input of ``n_files`` totalling ``total_bytes`` when the user chose none.

    One when there is one CPU, one file, or too little work to repay starting workers; otherwise one per
    available CPU, capped at :data:`MAX_DEFAULT_JOBS` and at the number of files.
    """
    cpus = available_cpus() if cpus is None else cpus
    if cpus <= 1 or n_files < 2:
        return 1
    if n_files < PARALLEL_MIN_FILES and total_bytes < PARALLEL_MIN_BYTES:
        return 1
    return min(cpus, MAX_DEFAULT_JOBS, n_files)


def resolve_jobs(jobs: int | None, n_files: int, total_bytes: int) -> int:
    """``jobs`` as given (never more than there are files), or :func:`default_jobs` for 0/None ("auto")."""
    if not jobs:
        return default_jobs(n_files, total_bytes)
    return max(1, min(jobs, n_files))


def make_batches(sizes: Sequence[int], jobs: int, *, max_files: int = BATCH_MAX_FILES,
                 max_bytes: int = BATCH_MAX_BYTES) -> list[list[int]]:
    """Group the indexes of items with these byte ``sizes`` into tasks, largest task first.

    Consecutive items share a task (a folder's files are usually alike) until it holds ``max_files`` items,
    or ``max_bytes`` (a single item above it is a task of its own), or its fair share of
    ``len(sizes) / (jobs * TASKS_PER_WORKER)`` items, whichever comes first. Handing out the biggest tasks
    first keeps a large file at the end of the input from running alone after everything else is done.
    """
    per_task = max(1, min(max_files, math.ceil(len(sizes) / max(1, jobs * TASKS_PER_WORKER))))
    batches: list[list[int]] = []
    weights: list[int] = []
    current: list[int] = []
    current_bytes = 0
    for i, size in enumerate(sizes):
        if current and (len(current) >= per_task or current_bytes + size > max_bytes):
            batches.append(current)
            weights.append(current_bytes)
            current, current_bytes = [], 0
        current.append(i)
        current_bytes += max(0, size)
    if current:
        batches.append(current)
        weights.append(current_bytes)
    order = sorted(range(len(batches)), key=lambda b: (-weights[b], b))
    return [batches[b] for b in order]


# ---- the worker side ------------------------------------------------------------------------------------

_WORKER_STATE: Any = None

# ---- where the current file's read has got to (progress within big files) -------------------------------

#: The descriptor of the file this process is scanning now (-1: none), and in a worker its slot in the
#: shared array through which the parent sees it.
_READING = {"fd": -1, "slot": -1}
_SLOTS: Any = None


def note_reading(fd: int) -> None:
    """The scanner says which file descriptor it is reading (-1 when done): a word written, nothing else.

    A progress bar then follows a big file byte by byte without any cost to the scan: it asks the kernel
    for the descriptor's offset (:func:`reading_position`, :meth:`WorkerPool.in_flight`) from its own thread.
    """
    _READING["fd"] = fd
    if _SLOTS is not None:
        _SLOTS[2 * _READING["slot"]] = fd


def reading_position() -> int:
    """Bytes into the file this process is scanning now (0 when none); safe from another thread."""
    fd = _READING["fd"]
    if fd < 0:
        return 0
    try:
        return os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:  # closed meanwhile: the file is done and counted by its result
        return 0


def _fd_position(pid: int, fd: int) -> int:
    """The offset of another process's descriptor, from ``/proc`` (0 where there is no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}", "rb") as fh:
            head = fh.read(64)
    except OSError:
        return 0
    for line in head.splitlines():
        if line.startswith(b"pos:"):
            return int(line[4:].strip() or 0)
    return 0


def _init_worker(state: Any, slots: Any = None, counter: Any = None) -> None:
    """Runs once in each worker: keep the shared state (the policy), set the signal behaviour."""
    global _WORKER_STATE, _SLOTS  # noqa: PLW0603 - one value per worker process, set once
    _WORKER_STATE = state
    if slots is not None and counter is not None:
        with counter.get_lock():
            _READING["slot"] = counter.value
            counter.value += 1
        _SLOTS = slots
        slots[2 * _READING["slot"] + 1] = os.getpid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's "raise Terminated": just end
    if hasattr(signal, "pthread_sigmask"):  # blocked by the parent around the fork (see _signals_held)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):  # best effort: die with the parent even if it is SIGKILLed
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))
            if os.getppid() == 1:  # the parent died before prctl took effect
                os._exit(1)


def _run_batch(fn: Callable[[Any, Any], Any], items: list[Any]) -> list[Any]:
    state = _WORKER_STATE
    return [fn(state, item) for item in items]


# ---- the parent side ------------------------------------------------------------------------------------

_HELD = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while workers are forked; a signal that arrives meanwhile is delivered after.

    A worker forked just before Ctrl-C would otherwise get it before its initializer had set it to be
    ignored, and print a traceback into the user's terminal. The children inherit the blocked mask and
    unblock it once their handlers are in place; the parent unblocks on leaving, and gets what arrived.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _context() -> Any:
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["mlvet.parallel", "mlvet.scanner"])
        return ctx
    return multiprocessing.get_context("spawn")


class WorkerPool(Generic[T, R]):
    """``jobs`` worker processes that share ``state`` (e.g. the policy), used as a context manager.

    ``fn(state, item)`` must be a module-level function (it is sent by reference). Leaving the ``with`` block
    by an exception — notably ``KeyboardInterrupt`` — cancels pending batches and terminates the workers.
    """

    def __init__(self, jobs: int, state: Any) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self.jobs = jobs
        ctx = _context()
        #: Per worker: the descriptor it is reading, and its pid (see :meth:`in_flight`).
        self._slots = ctx.Array("q", [-1] * (2 * jobs), lock=False)
        self._counter = ctx.Value("i", 0)
        self._executor = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                             initargs=(state, self._slots, self._counter))

    def __enter__(self) -> WorkerPool[T, R]:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self._executor.shutdown(wait=True)
        else:
            self.terminate()

    def pids(self) -> list[int]:
        """Process ids of the running workers (empty before the first :meth:`submit`)."""
        processes = getattr(self._executor, "_processes", None) or {}
        return [p.pid for p in processes.values() if p.pid is not None]

    def in_flight(self) -> int:
        """Bytes the workers have read so far of the files they are scanning now (Linux; 0 elsewhere)."""
        if not sys.platform.startswith("linux"):
            return 0
        slots = list(self._slots)
        return sum(_fd_position(pid, fd) for fd, pid in zip(slots[::2], slots[1::2], strict=True)
                   if fd >= 0 and pid > 0)

    def terminate(self) -> None:
        """Stop now: cancel what is queued, kill the workers and reap them (no orphan, no zombie)."""
        processes = list((getattr(self._executor, "_processes", None) or {}).values())
        for p in processes:
            with contextlib.suppress(Exception):
                p.terminate()
        self._executor.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            with contextlib.suppress(Exception):
                p.join(timeout=2)
                if p.is_alive():
                    p.kill()
                    p.join(timeout=2)

    def submit(self, fn: Callable[[Any, T], R], items: Sequence[T], sizes: Sequence[int],
               on_failure: Callable[[T, str], R]) -> Iterator[tuple[int, R]]:
        """Queue every item now; return an iterator of ``(index, fn(state, items[index]))`` in completion order.

        Submitting starts the workers (all of them at once under ``fork``, before the executor's own thread
        exists), so a caller may start its own threads (a progress bar) right after this returns. A batch
        that fails as a whole (its worker died) yields ``on_failure(item, reason)`` for each of its items.
        """
        futures: dict[Any, list[int]] = {}
        with _signals_held():
            for batch in make_batches(sizes, self.jobs):
                futures[self._executor.submit(_run_batch, fn, [items[i] for i in batch])] = batch
        return self._collect(futures, items, on_failure)

    @staticmethod
    def _collect(futures: dict[Any, list[int]], items: Sequence[T],
                 on_failure: Callable[[T, str], R]) -> Iterator[tuple[int, R]]:
        from concurrent.futures import FIRST_COMPLETED, wait

        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                batch = futures.pop(fut)
                try:
                    results = fut.result()
                except Exception as exc:
                    reason = f"worker process failed while analysing ({type(exc).__name__}: {exc})"
                    results = [on_failure(items[i], reason) for i in batch]
                yield from zip(batch, results, strict=True)


def ordered(n: int, pairs: Iterator[tuple[int, R]], each: Callable[[R], None] | None = None) -> list[R]:
    """Collect ``(index, result)`` pairs into a list in index order, calling ``each`` as results arrive."""
    slots: list[Any] = [None] * n
    for i, res in pairs:
        slots[i] = res
        if each is not None:
            each(res)
    return slots
