"""A small results table for downstream experiments: rows of dicts, mean ± std over seeds.

A :class:`ResultsTable` *is* a list of dicts (one row per run: the settings, such as ``task``,
``method``, ``fraction`` and ``seed``, and the metrics), so it prints, slices and serialises
like one. On top of that it can

* :meth:`~ResultsTable.summarize` rows that differ only in ``seed`` into mean and standard
  deviation (sample std, ``ddof=1``; 0 for a single seed) plus the number of seeds;
* render a Markdown table (:meth:`~ResultsTable.to_markdown`), raw or summarised as
  ``mean ± std``;
* round-trip through JSON (:meth:`~ResultsTable.to_json`, :meth:`ResultsTable.from_json`).

Which columns are settings and which are metrics is decided by value type: numbers that are
not listed in ``settings`` are metrics, everything else is a setting. The default settings are
:data:`SETTING_KEYS`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

#: Columns treated as settings (grouping keys) even though their values are numbers.
SETTING_KEYS = ("task", "method", "encoder", "fraction", "seed", "n_train", "n_test", "level", "manipulation")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt_setting(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _fmt(v: Any, digits: int) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


class ResultsTable(list):
    """A list of result rows (dicts) with summaries and exports.

    Args:
        rows: initial rows (dicts of JSON-friendly values).
        settings: column names that identify a run rather than measure it (default
            :data:`SETTING_KEYS`).
    """

    def __init__(self, rows: Iterable[dict[str, Any]] = (), *, settings: Iterable[str] = SETTING_KEYS) -> None:
        super().__init__()
        self.settings = tuple(settings)
        for row in rows:
            self.append(row)

    def append(self, row: dict[str, Any]) -> None:  # type: ignore[override]
        if not isinstance(row, dict):
            raise ValueError(f"a results row must be a dict, got {type(row).__name__}")
        super().append(dict(row))

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:  # type: ignore[override]
        for row in rows:
            self.append(row)

    def add(self, **row: Any) -> dict[str, Any]:
        """Append one row given as keyword arguments; returns it."""
        self.append(row)
        return self[-1]

    # ----------------------------------------------------------------------------------
    def columns(self) -> list[str]:
        """All column names, in order of first appearance."""
        seen: dict[str, None] = {}
        for row in self:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def metric_columns(self) -> list[str]:
        """Columns whose values are numbers and that are not settings."""
        return [c for c in self.columns() if c not in self.settings and any(_is_number(r.get(c)) for r in self)]

    def filter(self, **match: Any) -> ResultsTable:
        """Rows whose columns equal every given value, e.g. ``table.filter(method="pretrained_probe")``."""
        return ResultsTable((r for r in self if all(r.get(k) == v for k, v in match.items())), settings=self.settings)

    def summarize(self, over: str = "seed", metrics: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Group rows that differ only in ``over`` (and in metrics); per metric, mean and std.

        Returns one dict per group, in order of first appearance: the group's settings, then
        ``<metric>_mean``, ``<metric>_std`` (sample std, 0 for one value) per metric, and
        ``n_<over>`` (how many rows were averaged). ``nan`` values are skipped; a metric that is
        ``nan`` in every row stays ``nan``.
        """
        metrics = list(metrics) if metrics is not None else self.metric_columns()
        keys = [c for c in self.columns() if c != over and c not in metrics]
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in self:
            groups.setdefault(json.dumps([row.get(k) for k in keys], default=str), []).append(row)
        out = []
        for rows in groups.values():
            summary = {k: rows[0][k] for k in keys if k in rows[0]}
            for m in metrics:
                vals = [float(r[m]) for r in rows if _is_number(r.get(m)) and not math.isnan(float(r[m]))]
                mean = sum(vals) / len(vals) if vals else math.nan
                if len(vals) > 1:
                    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
                else:
                    std = 0.0 if vals else math.nan
                summary[f"{m}_mean"] = mean
                summary[f"{m}_std"] = std
            summary[f"n_{over}"] = len(rows)
            out.append(summary)
        return out

    # ----------------------------------------------------------------------------------
    def to_markdown(self, *, summary: bool = True, over: str = "seed", digits: int = 3, metrics: Iterable[str] | None = None) -> str:
        """A GitHub Markdown table.

        With ``summary=True`` (default) rows are grouped over ``over`` and metrics shown as
        ``mean ± std`` (just the mean for a single seed); otherwise every row is shown as it is.
        """
        if not len(self):
            return "(no results)"
        metrics = list(metrics) if metrics is not None else self.metric_columns()
        if summary:
            rows = self.summarize(over=over, metrics=metrics)
            keys = [c for c in self.columns() if c != over and c not in metrics]
            header = keys + metrics
            multi = any(r[f"n_{over}"] > 1 for r in rows)
            body = []
            for r in rows:
                cells = [_fmt_setting(r.get(k, "")) for k in keys]
                for m in metrics:
                    mean, std = r[f"{m}_mean"], r[f"{m}_std"]
                    cells.append(f"{_fmt(mean, digits)} ± {_fmt(std, digits)}" if multi else _fmt(mean, digits))
                body.append(cells)
            if multi:
                header = header + [f"n_{over}"]
                for cells, r in zip(body, rows):
                    cells.append(str(r[f"n_{over}"]))
        else:
            header = self.columns()
            body = [[_fmt(r.get(k, ""), digits) if k in metrics else _fmt_setting(r.get(k, "")) for k in header] for r in self]
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)

    def to_dicts(self) -> list[dict[str, Any]]:
        """Plain list of plain dicts (copies)."""
        return [dict(r) for r in self]

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """JSON text of the rows (``nan`` written as ``null``); also written to ``path`` if given."""
        rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in self]
        text = json.dumps({"settings": list(self.settings), "rows": rows}, indent=indent, default=str)
        if path is not None:
            p = Path(path)
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(p.name + ".tmp")
            tmp.write_text(text + "\n")
            tmp.replace(p)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> ResultsTable:
        """Read what :meth:`to_json` wrote (a JSON string or a file path); ``null`` metrics become ``nan``."""
        s = str(text_or_path)
        if not s.lstrip().startswith(("{", "[")):
            p = Path(s)
            if not p.exists():
                raise FileNotFoundError(f"results file {p} not found")
            s = p.read_text()
        data = json.loads(s)
        if isinstance(data, list):
            data = {"rows": data}
        settings = tuple(data.get("settings", SETTING_KEYS))
        rows = data.get("rows")
        if not isinstance(rows, list):
            raise ValueError("results JSON must be a list of rows or an object with a 'rows' list")
        table = cls(settings=settings)
        metric_like = {k for r in rows for k, v in r.items() if _is_number(v) and k not in settings}
        for r in rows:
            table.append({k: (math.nan if v is None and k in metric_like else v) for k, v in r.items()})
        return table

    def __repr__(self) -> str:
        return f"ResultsTable({len(self)} rows, columns={self.columns()})"


__all__ = ["ResultsTable", "SETTING_KEYS"]
