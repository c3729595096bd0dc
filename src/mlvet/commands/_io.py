"""What every command shares with the process around it: messages, signals, a closed stdout, output files.

One mechanism per concern, used by every command (never a patch per command):

* **Messages** — :func:`error`, :func:`warn` and :func:`note` print ``mlvet: error: …`` (resp. ``warning``,
  ``note``) on stderr: one prefix style, so scripts can grep it and people recognise it.
* **Signals** — :func:`install_signal_handlers` turns SIGTERM into :class:`Terminated`, a
  ``KeyboardInterrupt``; every ``finally`` and ``except BaseException`` cleanup (temporary files, database
  transactions, worker pools) then runs for ``kill`` exactly as for Ctrl-C. :func:`interrupt_exit_code`
  gives the conventional 130 (SIGINT) and 143 (SIGTERM).
* **A closed stdout** — :func:`guard_stdout` wraps ``sys.stdout`` so that a reader that goes away
  (``mlvet scan models | head -1``) silences the rest of the output instead of raising ``BrokenPipeError``:
  the command still finishes its work and exits with its own verdict. A closed pipe is not a finding.
* **Output files** — :func:`output_file` checks an ``-o`` target before the work and writes it atomically
  (:mod:`mlvet.outfile`).

Terminal escaping of untrusted text lives with the renderers (:func:`mlvet.report.text.printable`, and
:func:`cell` here for rich tables).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType
from typing import Any, TextIO

from mlvet.words import plural  # re-exported: commands count things in their messages

__all__ = [
    "Terminated", "cell", "check_output", "error", "guard_stdout", "install_signal_handlers",
    "interrupt_exit_code", "note", "output_file", "plural", "stdout_closed", "text_stdout", "warn",
]

#: Exit codes of an interrupted command: 128 + the signal number, as shells report a process killed by it.
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


def _say(kind: str, message: str) -> None:
    with contextlib.suppress(BrokenPipeError, ValueError):  # stderr gone too: nothing left to tell
        print(f"mlvet: {kind}: {message}" if kind else f"mlvet: {message}", file=sys.stderr, flush=True)


def error(message: str) -> None:
    """Print ``mlvet: error: message`` on stderr."""
    _say("error", message)


def warn(message: str) -> None:
    """Print ``mlvet: warning: message`` on stderr."""
    _say("warning", message)


def note(message: str) -> None:
    """Print ``mlvet: note: message`` on stderr."""
    _say("note", message)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, so that cleanup code runs as it does for Ctrl-C."""

    signum = signal.SIGTERM


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def install_signal_handlers() -> None:
    """Route SIGTERM through :class:`Terminated` (main thread only; a no-op elsewhere)."""
    with contextlib.suppress(ValueError):  # not the main thread (an embedding application): leave it alone
        signal.signal(signal.SIGTERM, _on_sigterm)


def interrupt_exit_code(exc: BaseException | None) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM: 128 + the signal number, as a shell reports them."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, Terminated):
            return EXIT_SIGTERM
        if isinstance(exc, KeyboardInterrupt):
            return EXIT_SIGINT
        exc = exc.__cause__ or exc.__context__
    return EXIT_SIGINT


class _PipeSafeStdout:
    """``sys.stdout`` that goes quiet when its reader closes the pipe (see the module docstring)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def _silence(self) -> None:
        self.closed_by_reader = True
        try:  # later writes, and the interpreter's final flush, go to /dev/null
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> int:
        if self.closed_by_reader:
            return len(text)
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._silence()
            return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.closed_by_reader:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._silence()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_stdout() -> None:
    """Replace ``sys.stdout`` by a pipe-safe wrapper (idempotent)."""
    if not isinstance(sys.stdout, _PipeSafeStdout) and sys.stdout is not None:
        sys.stdout = _PipeSafeStdout(sys.stdout)


def stdout_closed() -> bool:
    """True once the reader of stdout has gone away."""
    return isinstance(sys.stdout, _PipeSafeStdout) and sys.stdout.closed_by_reader


def output_file(path: str, *, what: str = "report", binary: bool = False) -> Any:
    """An atomic writer for ``-o``; call :func:`check_output` first, before the work."""
    from mlvet.outfile import atomic_writer

    return atomic_writer(path, binary=binary, what=what)


def check_output(path: str | None, *, what: str = "report") -> None:
    """Fail fast (exit 4) when ``-o path`` cannot be written, before any work is done."""
    if path is not None:
        from mlvet.outfile import check_writable

        check_writable(path, what=what)


def cell(text: str) -> str:
    """Untrusted text for a rich table cell: control characters escaped, rich markup inert."""
    from rich.markup import escape

    from mlvet.report.text import printable

    return escape(printable(text))


def text_stdout() -> TextIO:
    """``sys.stdout`` set to escape what cannot be encoded instead of failing on it."""
    stream = sys.stdout
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
    return stream
