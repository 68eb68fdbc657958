"""Confidence intervals, paired differences and seeds needed: the statistics behind ``mtbench table``.

Conventions (README "Δm and confidence intervals"):
- A row's quantity (a primary metric or Δm) is a :class:`Sample`: one value per seed (repeated runs of the same
  configuration and seed averaged into one value: a reproduction, never an extra degree of freedom) and, per
  seed, optional bootstrap replicates over validation images (run records' ``bootstrap``).
- Its 95 % interval: Student t over seeds (mean ± t_{0.975, n-1} s / √n) when n ≥ 2; with one seed, the
  percentile interval of that seed's bootstrap replicates; with neither, no interval.
- Two samples differ significantly when the 95 % interval of their difference excludes 0: paired over their
  common seeds (t on per-seed differences) when they share at least two; else Welch's t when both have two
  seeds or more; else, one seed each with replicates on the same images, the paired bootstrap (replicate-wise
  differences, the same resampled images for both).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval (``low``/``high`` None: no interval), n and how it was made."""

    mean: float
    low: float | None = None
    high: float | None = None
    n: int = 1
    method: str = "none"  # "t" (Student t over seeds) | "bootstrap" (percentile, one seed) | "none"
    std: float | None = None  # sample std over seeds (n >= 2)

    @property
    def half_width(self) -> float | None:
        """Half the interval's width (for a t interval, the ± value)."""
        return None if self.low is None or self.high is None else (self.high - self.low) / 2

    def sign(self, value: float = 0.0) -> int:
        """+1 if the interval lies above ``value``, -1 below, 0 if it contains it (or there is none)."""
        if self.low is None or self.high is None:
            return 0
        return 1 if self.low > value else -1 if self.high < value else 0


@dataclass
class Sample:
    """Per-seed values of one quantity, with optional per-seed bootstrap replicates and repeat counts."""

    values: dict[int, float]
    replicates: dict[int, np.ndarray] = field(default_factory=dict)
    repeats: int = 0  # records beyond one per seed (reproductions averaged into their seed's value)

    @property
    def n(self) -> int:
        return len(self.values)

    def interval(self, level: float = LEVEL) -> Interval | None:
        if not self.values:
            return None
        vals = list(self.values.values())
        if len(vals) >= 2:
            return t_interval(vals, level)
        ((seed, v),) = self.values.items()
        reps = self.replicates.get(seed)
        if reps is not None and len(reps) > 1:
            return percentile_interval(v, reps, level)
        return Interval(v)


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Student-t interval of the mean: mean ± t_{(1+level)/2, n-1} · s / √n (n >= 2; n == 1: no interval)."""
    vals = [float(v) for v in values]
    n = len(vals)
    if n == 0:
        raise ValueError("t_interval needs at least one value")
    mean = statistics.fmean(vals)
    if n == 1:
        return Interval(mean)
    s = statistics.stdev(vals)
    h = float(sps.t.ppf((1 + level) / 2, n - 1)) * s / math.sqrt(n)
    return Interval(mean, mean - h, mean + h, n, "t", s)


def percentile_interval(point: float, replicates: Sequence[float] | np.ndarray, level: float = LEVEL) -> Interval:
    """Bootstrap percentile interval: the (1-level)/2 and (1+level)/2 quantiles of the replicates, around the
    full-sample ``point`` value (n = 1 seed)."""
    reps = np.asarray(replicates, dtype=float)
    reps = reps[np.isfinite(reps)]
    if reps.size < 2:
        return Interval(point)
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return Interval(point, float(lo), float(hi), 1, "bootstrap")


def difference(a: Sample, b: Sample, level: float = LEVEL) -> Interval | None:
    """Interval of mean(a) - mean(b) (module docstring: paired t, Welch t or paired bootstrap); None when none
    of them applies (e.g. one seed each without matching replicates)."""
    common = sorted(set(a.values) & set(b.values))
    if len(common) >= 2:
        return t_interval([a.values[s] - b.values[s] for s in common], level)
    if a.n >= 2 and b.n >= 2:
        return welch_interval(list(a.values.values()), list(b.values.values()), level)
    if a.n == 1 and b.n == 1 and common:
        s = common[0]
        ra, rb = a.replicates.get(s), b.replicates.get(s)
        if ra is not None and rb is not None and len(ra) == len(rb) and len(ra) > 1:
            return percentile_interval(a.values[s] - b.values[s], ra - rb, level)
    return None


def welch_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """Welch's t interval of mean(a) - mean(b) (unequal variances, Welch-Satterthwaite degrees of freedom)."""
    na, nb = len(a), len(b)
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    va, vb = statistics.variance(a) / na, statistics.variance(b) / nb
    se = math.sqrt(va + vb)
    d = ma - mb
    if se == 0:
        return Interval(d, d, d, min(na, nb), "t", 0.0)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    h = float(sps.t.ppf((1 + level) / 2, df)) * se
    return Interval(d, d - h, d + h, min(na, nb), "t")


def seeds_for_half_width(std: float, half_width: float, level: float = LEVEL, limit: int = 10_000) -> int | None:
    """Smallest n >= 2 whose t interval, at this between-seed ``std``, has half-width <= ``half_width``."""
    if std <= 0:
        return 2
    for n in range(2, limit + 1):
        if float(sps.t.ppf((1 + level) / 2, n - 1)) * std / math.sqrt(n) <= half_width:
            return n
    return None


def seeds_for_power(
    std: float, delta: float, level: float = LEVEL, power: float = 0.8, limit: int = 10_000
) -> int | None:
    """Smallest n >= 2 at which a two-sided one-sample (or paired) t-test at 1-``level`` detects a true mean
    difference ``delta`` with probability >= ``power``, given the between-seed ``std`` (noncentral t)."""
    if std <= 0:
        return 2
    for n in range(2, limit + 1):
        df, nc = n - 1, abs(delta) / std * math.sqrt(n)
        crit = float(sps.t.ppf((1 + level) / 2, df))
        p = float(sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc))
        if p >= power:
            return n
    return None


def per_seed(values: Mapping[int, Sequence[float]]) -> tuple[dict[int, float], int]:
    """Average repeated runs of each seed into one value; returns ({seed: value}, number of repeats)."""
    out = {s: statistics.fmean(v) for s, v in values.items() if v}
    return out, sum(len(v) - 1 for v in values.values() if v)
