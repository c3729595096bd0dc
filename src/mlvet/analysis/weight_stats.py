"""Out-of-family weight tensors: a layer whose statistics differ sharply from its siblings'.

Weight-level backdoors and payloads change one layer while the others keep their trained distribution:
a hand-set neuron (a large weight that fires on the trigger), bytes of a payload hidden in a tensor
(steganography; malware in the low bits of a layer makes its values noise of a different scale). Layers of
one family (same shape: the 32 ``q_proj`` matrices of a transformer) are trained the same way and have
similar spread and peak magnitude, so a robust z-score of log-std and log-max-abs within a family points
out the odd one. It is a heuristic pointer for review (low): families need at least ``MIN_FAMILY``
members, and a tensor is reported only when it is both a robust outlier and far from the family's median
by a factor (``MIN_RATIO``), which ordinary training never produces within a family.

The engine takes samples the format layer read (floats, bounded per tensor), never whole files.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

#: Elements sampled per tensor (evenly strided over the whole tensor).
SAMPLE = 16_384
#: Smallest family compared (fewer members give no reliable median).
MIN_FAMILY = 6
#: Robust z-score above which a statistic is out of family.
Z_LIMIT = 8.0
#: And the factor by which it must differ from the family median.
MIN_RATIO = 8.0


@dataclass(frozen=True)
class TensorStats:
    """Spread and peak of one tensor's sample."""

    name: str
    shape: tuple[int, ...]
    std: float
    max_abs: float


@dataclass(frozen=True)
class Outlier:
    """A tensor whose statistic is far from its shape family's."""

    name: str
    shape: tuple[int, ...]
    statistic: str
    value: float
    family_median: float
    family_size: int
    z: float


def stats_of(name: str, shape: tuple[int, ...], values: list[float]) -> TensorStats | None:
    """Statistics of a sample (None for empty samples or non-finite values: nothing to compare)."""
    n = len(values)
    if n < 16:
        return None
    if not all(math.isfinite(v) for v in values):
        return None
    mean = math.fsum(values) / n
    sq = math.fsum(map(operator.mul, values, values)) / n
    std = math.sqrt(max(sq - mean * mean, 0.0))
    peak = max(map(abs, values))
    return TensorStats(name, shape, std, peak)


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def outliers(stats: list[TensorStats]) -> list[Outlier]:
    """Tensors out of family by std or max-abs (robust z on the log scale, plus a ratio floor)."""
    families: dict[tuple[int, ...], list[TensorStats]] = {}
    for s in stats:
        if len(s.shape) >= 2:  # matrices and kernels; biases and norms are too small and too varied
            families.setdefault(s.shape, []).append(s)
    found: list[Outlier] = []
    for members in families.values():
        if len(members) < MIN_FAMILY:
            continue
        for statistic in ("std", "max_abs"):
            vals = [getattr(m, statistic) for m in members]
            if any(v <= 0 for v in vals):
                continue
            logs = [math.log(v) for v in vals]
            med = _median(logs)
            mad = _median([abs(x - med) for x in logs])
            scale = max(mad / 0.6745, 0.05)  # floor: a family of near-identical tensors is not all outliers
            for m, x in zip(members, logs, strict=True):
                z = (x - med) / scale
                if abs(z) > Z_LIMIT and abs(x - med) > math.log(MIN_RATIO):
                    found.append(Outlier(m.name, m.shape, statistic, math.exp(x), math.exp(med), len(members), z))
    return found
