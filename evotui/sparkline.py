"""Unicode-block sparklines of loss series, vectorised (they are drawn for every visible row on
every repaint).

With ``baseline=True`` the first row is the untrained step-0 baseline: its loss (≈5 nats) would
flatten everything after the first drop into ``█▄▃▂▁▁▁▁``, so the scale is taken over the
snapshots after it and the baseline gets the first cell of its own, clipped at ``█`` when it is
above that range. A rise after the first drop is then as tall as the training itself makes it.
"""

from __future__ import annotations

import warnings

import numpy as np

BLOCKS = "▁▂▃▄▅▆▇█"


def sparklines(matrix: np.ndarray, width: int, baseline: bool = False) -> list[str]:
    """:func:`sparkline` of every column of a (steps x examples) matrix in one vectorised pass;
    ``baseline``: the first row is the step-0 baseline (see the module docstring)."""
    data = np.asarray(matrix, dtype=float)
    if data.ndim != 2 or width <= 0:
        return []
    n, k = data.shape
    if n == 0:
        return [""] * k
    if baseline and n >= 2 and width >= 2:
        return _with_baseline(data, width)
    if n > width:
        starts = np.linspace(0, n, width + 1).astype(int)[:-1]
        valid = ~np.isnan(data)
        sums = np.add.reduceat(np.where(valid, data, 0.0), starts, axis=0)
        counts = np.add.reduceat(valid.astype(np.int64), starts, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            data = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    finite = ~np.isnan(data)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanmin(np.where(finite, data, np.nan), axis=0)
        hi = np.nanmax(np.where(finite, data, np.nan), axis=0)
        span = hi - lo
        scaled = np.where(span > 1e-9, (data - lo) / np.where(span > 1e-9, span, 1.0) * 7.999, 0.0)
    levels = np.clip(np.nan_to_num(scaled, nan=0.0).astype(int), 0, 7)
    chars = np.array(list(BLOCKS) + [" "])
    picked = np.where(finite, levels, 8)
    return ["".join(chars[picked[:, j]].tolist()) for j in range(k)]


def _with_baseline(data: np.ndarray, width: int) -> list[str]:
    body = data[1:]
    rest = sparklines(body, width - 1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanmin(body, axis=0)
        hi = np.nanmax(body, axis=0)
        span = hi - lo
        first = data[0]
        level = np.where(span > 1e-9, (first - lo) / np.where(span > 1e-9, span, 1.0) * 7.999, 7.0)
        # A baseline at or below a flat series' value sits at the bottom with it.
        level = np.where((span <= 1e-9) & (first <= hi + 1e-9), 0.0, level)
    levels = np.clip(np.nan_to_num(level, nan=0.0).astype(int), 0, 7)
    out = []
    for j, line in enumerate(rest):
        cell = " " if np.isnan(first[j]) else BLOCKS[levels[j]]
        out.append(cell + line)
    return out


def sparkline(values: np.ndarray, width: int) -> str:
    """Unicode blocks for a loss series, resampled (bin means) to at most ``width`` characters,
    scaled to the series' own range; NaN bins are blank. Vectorised: it runs per visible row on
    every repaint."""
    if width <= 0:
        return ""
    series = np.asarray(values, dtype=float)
    n = series.size
    if n == 0:
        return ""
    if n > width:
        starts = np.linspace(0, n, width + 1).astype(int)[:-1]
        valid = ~np.isnan(series)
        sums = np.add.reduceat(np.where(valid, series, 0.0), starts)
        counts = np.add.reduceat(valid.astype(np.int64), starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            series = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    finite = ~np.isnan(series)
    if not finite.any():
        return " " * len(series)
    lo, hi = float(series[finite].min()), float(series[finite].max())
    span = hi - lo
    if span <= 1e-9:
        levels = np.zeros(len(series), dtype=int)
    else:
        levels = np.minimum(7, ((np.where(finite, series, lo) - lo) / span * 7.999).astype(int))
    pairs = zip(levels.tolist(), finite.tolist(), strict=True)
    return "".join(BLOCKS[v] if ok else " " for v, ok in pairs)
