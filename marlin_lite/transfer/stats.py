"""Statistics of the report: Student t quantiles (from the regularised incomplete beta function),
t-intervals over seeds, paired differences and their verdicts. Plain Python, no dependencies."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c if abs(1 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c if abs(1 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function ``I_x(a, b)`` for ``a, b > 0``, ``0 <= x <= 1``."""
    if not 0 <= x <= 1:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if x in (0, 1):
        return float(x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """``P(T <= t)`` for Student's t with ``df > 0`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df}")
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on :func:`t_cdf`).

    ``t_quantile(0.975, 2) = 4.3027``, ``t_quantile(0.975, 30) = 2.0423``; for large ``df`` it
    approaches the normal quantile (1.96).
    """
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


def t_interval(values: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Mean and two-sided ``level`` t-interval of ``values`` (e.g. one number per seed).

    Returns ``mean``, ``half_width`` (``t_{(1+level)/2, n-1} * sd / sqrt(n)``, sample sd),
    ``lo``, ``hi``, ``n`` and ``sd``. Non-finite values are dropped; with one value the
    half-width is ``nan`` (no interval); with none, every number is ``nan``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    kept = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(kept)
    if n == 0:
        return {"mean": math.nan, "half_width": math.nan, "lo": math.nan, "hi": math.nan, "n": 0, "sd": math.nan}
    mean = sum(kept) / n
    if n == 1:
        return {"mean": mean, "half_width": math.nan, "lo": math.nan, "hi": math.nan, "n": 1, "sd": math.nan}
    sd = math.sqrt(sum((v - mean) ** 2 for v in kept) / (n - 1))
    half = t_quantile((1 + level) / 2, n - 1) * sd / math.sqrt(n)
    return {"mean": mean, "half_width": half, "lo": mean - half, "hi": mean + half, "n": n, "sd": sd}


def paired_difference(a: Mapping[Any, float], b: Mapping[Any, float], level: float = 0.95) -> dict[str, Any]:
    """Per-seed differences ``a[s] - b[s]`` over the seeds both have (finite values), and their
    mean with a ``level`` t-interval (:func:`t_interval`). ``per_seed`` maps seed -> difference."""
    seeds = [s for s in a if s in b and a[s] is not None and b[s] is not None and math.isfinite(a[s]) and math.isfinite(b[s])]
    per_seed = {s: float(a[s]) - float(b[s]) for s in seeds}
    return {"per_seed": per_seed, **t_interval(list(per_seed.values()), level)}


def verdict(lo: float | None, hi: float | None) -> str:
    """``"> 0"``, ``"< 0"`` or ``"n.s."`` (the interval holds 0, or there is none)."""
    if lo is not None and math.isfinite(lo) and lo > 0:
        return "> 0"
    if hi is not None and math.isfinite(hi) and hi < 0:
        return "< 0"
    return "n.s."
