"""mlvet.guard: scan model files at load time and refuse the ones that fail the policy.

::

    import mlvet.guard
    mlvet.guard.install()          # or: python -m mlvet.guard script.py, or `mlvet guard install` + MLVET_GUARD=1
    model = torch.load("model.pt")        # scanned first; raises mlvet.guard.UnsafeModelError if unsafe

Wrapped loaders (each patched when its module is imported, or at once if it already was):
``pickle.load``/``pickle.loads``, ``torch.load``, ``joblib.load``, ``numpy.load(allow_pickle=True)``,
``keras.models.load_model`` (and ``keras.saving``, ``tf_keras``), ``from_pretrained`` of transformers
models/configs/tokenizers and diffusers pipelines/models, ``SentenceTransformer(...)``, ``hf_hub_download``
and ``snapshot_download`` results, and every MLflow flavour's ``load_model`` (through the function that
resolves a model URI to a local folder). The scan runs before the loader reads a byte and verdicts are cached
by content hash (see :mod:`mlvet.guard.cache`). Scope and limits are documented in ``docs/guard.md``.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from mlvet.guard.errors import UnsafeModelError

if TYPE_CHECKING:
    from mlvet.guard.check import Stats
    from mlvet.guard.patcher import Patcher
    from mlvet.policy import Policy

__all__ = ["UnsafeModelError", "install", "installed", "stats", "uninstall"]

_lock = threading.Lock()


class _Installed:
    """The one installation of this process (None when the guard is not installed)."""

    patcher: Patcher | None = None


def install(policy: Policy | str | os.PathLike[str] | None = None, fail_on: str = "high",
            *, cache_dir: str | None = None, disk_cache: bool = True) -> None:
    """Wrap the model loaders so that each scans its input first and refuses it when it fails.

    ``policy`` is a :class:`~mlvet.policy.Policy`, a policy file, or None for the shipped policy;
    ``fail_on`` the lowest severity that refuses a load (``critical``, ``high``, ``medium``, ``low``,
    ``info``). Content that cannot be fully analysed is refused whatever the threshold. Installing again
    replaces the previous installation (new policy, new threshold). ``cache_dir`` overrides the on-disk
    verdict cache folder; ``disk_cache=False`` keeps verdicts in memory only.
    """
    from mlvet.guard.check import Checker
    from mlvet.guard.patcher import Patcher
    from mlvet.model import Severity
    from mlvet.policy import Policy as _Policy

    threshold = Severity.parse(fail_on)
    pol: _Policy | None
    if policy is None or isinstance(policy, _Policy):
        pol = policy
    else:
        from mlvet import load_policy

        pol = load_policy(policy)
    import mlvet.scanner  # noqa: F401 - loaded before any loader is wrapped; format modules load on demand
    patcher = Patcher(Checker(pol, threshold, cache_dir, use_disk_cache=disk_cache))
    with _lock:
        if _Installed.patcher is not None:
            _Installed.patcher.remove()
        patcher.apply()
        _Installed.patcher = patcher


def uninstall() -> None:
    """Restore every wrapped loader (a no-op when the guard is not installed)."""
    with _lock:
        if _Installed.patcher is not None:
            _Installed.patcher.remove()
            _Installed.patcher = None


def installed() -> bool:
    """Whether the guard is currently installed in this process."""
    return _Installed.patcher is not None


def stats() -> Stats | None:
    """Counters of the installed guard (scans, cache hits, refusals), or None when not installed."""
    active = _Installed.patcher
    return active.checker.stats if active is not None else None
