"""How a figure of many small areas is aggregated to the areas taken as a whole: the rules, and one vectorised
computation of them over any number of groups of areas at once.

The rules (``RULES``, by the catalogue's ``unit``; ``WEIGHTED`` and ``RATIOS`` name the bases known here):

- **counts** (``count``, ``sum``): summed over the areas.
- **shares** (``percentage`` with a catalogue ``denominator``): re-derived from the summed counts, the
  numerator's count column (``<id>`` without ``_pct``) over the summed denominator x 100; never an average
  of the areas' percentages. Where no numerator column is held (a vote share), each area's count is
  recovered as share x denominator / 100 first, which is the same sum.
- **averages whose base is known** (``WEIGHTED``): the mean age weighted by the residents, an average
  household size by the households; **ratios of two counts** (``RATIOS``): a density is the summed residents
  over the summed hectares.
- **deciles and categories** (``decile``, ``category``): how many areas fall in each decile or class.
- **everything else** (ranks, scores, medians, published percentages whose denominator is not held, rates
  whose base is not held, changes 2011 -> 2021): not aggregable, said so, and shown as their distribution
  across the areas (lowest, quartiles, median, highest); never averaged.

``group_stats`` computes every variable of a dataset for every group in one pass of column-wise sums
(pandas ``groupby``), and ``figure`` turns one group's statistics into the figure a profile prints. The
pipeline (pipeline/profiles.py) calls it once per build for every authority, region and nation (the
profiles' comparators); atlas/profile.py calls it per request for the profile's own areas: one rule, one
computation, for both. Pure: numpy and pandas, nothing of the store (the pipeline imports it).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RATIOS", "RULES", "STATS", "WEIGHTED", "figure", "group_stats", "inputs", "rule_of"]

#: How each unit aggregates (see the module's docstring); a unit not named here is not aggregable.
RULES: dict[str, str] = {"count": "sum", "sum": "sum", "percentage": "share", "decile": "deciles",
                         "category": "categories"}
#: Averages whose base (a count of the same dataset) is known: the area's figure weighted by it.
WEIGHTED: dict[str, str] = {
    "ks102ew0018": "ks102ew0001",  # mean age, by all usual residents
    "ks403ew0006": "ks403ew0001",  # average household size, by households
    "ks403ew0007": "ks403ew0001",  # average rooms per household, by households
    "ks403ew0008": "ks403ew0001",  # average bedrooms per household, by households
    "gla2011_avhholdsz": "gla2011_hholds",  # average household size, by households
}
#: Ratios of two counts of the same dataset: summed numerator over summed denominator (x scale).
RATIOS: dict[str, tuple[str, str]] = {
    "ks101ew0008": ("ks101ew0001", "ks101ew0007"),  # persons per hectare
    "qs102ew0003": ("qs102ew0001", "qs102ew0002"),  # persons per hectare
    "pop2017_density": ("pop2017_population", "pop2017_area_km2"),  # people per km2
}
#: The catalogue's ``kind`` of a classification (atlas/extracts.py's CATEGORICAL; the pipeline writes it).
CATEGORICAL = "categorical"
#: Why a figure is not aggregated, by unit (else the general sentence).
_WHY_NOT = {
    "rank": "a rank among all areas cannot be added up or averaged",
    "average rank": "a rank among all areas cannot be added up or averaged",
    "score": "an index score is published per area; averaging it would weight every area alike",
    "years": "a median cannot be recovered from the areas' medians",
    "percentage": "a published percentage whose denominator is not held here",
    "percent": "a change between censuses is published per area",
    "percentage points": "a change between censuses is published per area",
    "rate": "a rate whose base population is not published with it",
    "proportion": "a proportion whose base population is not published with it",
    "ratio": "a ratio whose parts are not published with it",
}
#: The columns of ``group_stats``'s answer (and of the pipeline's profiles extract, with ``place``).
STATS = ("group", "variable", "rule", "size", "areas", "value", "numerator", "denominator", "held", "q0", "q1",
         "q2", "q3", "q4", "counts")
_QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)


def rule_of(row: dict) -> str:
    """The aggregation rule of a catalogue row: sum, share, weighted, ratio, deciles, categories, or
    distribution (not aggregable)."""
    if row.get("built"):  # a built indicator (atlas/builder.py): its cells summed, over its denominator's
        return "share"
    if row.get("id") in WEIGHTED:
        return "weighted"
    if row.get("id") in RATIOS:
        return "ratio"
    if row.get("kind") == CATEGORICAL:
        return "categories"
    unit = (row.get("unit") or "").lower()
    found = RULES.get(unit)
    if found == "share" and not row.get("denominator"):
        return "distribution"
    return found or "distribution"


def _matrix(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The columns ``names`` of ``frame`` as one float64 matrix (NaN where missing or not a number)."""
    if not names:
        return np.empty((len(frame), 0))
    part = frame[names]
    if all(dtype.kind == "f" for dtype in part.dtypes):
        return part.to_numpy(dtype="float64", na_value=np.nan)
    return part.apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


class _Groups:
    """The rows of a frame by group: sorted once, so every sum over every group is one ``np.add.reduceat``."""

    def __init__(self, groups: np.ndarray | None, n: int) -> None:
        if groups is None:
            self.names, inverse = np.zeros(1, dtype=np.int64), np.zeros(n, dtype=np.int64)
        else:
            inverse, names = pd.factorize(np.asarray(groups, dtype=object), sort=True)
            self.names = np.asarray(names, dtype=object)
        self.order = np.argsort(inverse, kind="stable")
        self.size = np.bincount(inverse, minlength=len(self.names))
        self.starts = np.concatenate([[0], np.cumsum(self.size)[:-1]])

    def sums(self, matrix: np.ndarray) -> np.ndarray:
        """Column sums per group (groups x columns)."""
        if matrix.shape[1] == 0 or matrix.shape[0] == 0:
            return np.zeros((len(self.names), matrix.shape[1]))
        return np.add.reduceat(matrix[self.order], self.starts, axis=0)

    def slices(self, matrix: np.ndarray) -> list[np.ndarray]:
        ordered = matrix[self.order]
        return [ordered[a:a + n] for a, n in zip(self.starts, self.size, strict=True)]


def group_stats(rows: list[dict], frame: pd.DataFrame, groups: np.ndarray | None = None) -> pd.DataFrame:
    """The statistics of every variable of ``rows`` (catalogue rows of one dataset) over each group of the
    rows of ``frame`` (one row per area, one column per variable id; ``groups`` gives each row's group, all
    one group, 0, when None): one row per (group, variable) with the columns ``STATS``. ``size`` is the
    group's areas; ``areas`` those with a figure under the rule; ``value``, ``numerator`` and ``denominator``
    a sum's, share's, weighted mean's or ratio's; ``held`` False where a share's denominator, a mean's base or
    a ratio's parts are not columns of the frame; ``q0``-``q4`` the lowest, quartiles, median and highest of
    a figure that is not aggregable; ``counts`` (JSON text) the areas per decile or class."""
    g = _Groups(groups, len(frame))
    ng = len(g.names)
    parts: list[pd.DataFrame] = []

    def emit(rule: str, ids: list[str], **columns: Any) -> None:
        if not ids:
            return
        out = {"group": np.repeat(g.names, len(ids)), "variable": np.tile(np.asarray(ids, dtype=object), ng),
               "rule": rule, "size": np.repeat(g.size, len(ids))}
        for key, value in columns.items():
            out[key] = value.reshape(-1) if isinstance(value, np.ndarray) else value
        parts.append(pd.DataFrame(out))

    by_rule: dict[str, list[dict]] = {}
    for row in rows:
        by_rule.setdefault(rule_of(row), []).append(row)
    cols = set(frame.columns)
    numeric = sorted({c for rule, held in by_rule.items() if rule != "categories" for r in held
                      for c in inputs(r) if c in cols})
    at = {c: i for i, c in enumerate(numeric)}
    x = _matrix(frame, numeric)

    def column(name: str) -> np.ndarray:
        return x[:, at[name]]

    ids = [r["id"] for r in by_rule.get("sum", [])]
    if ids:
        v = x[:, [at[i] for i in ids]] if all(i in at for i in ids) else _matrix(frame.reindex(columns=ids), ids)
        have = np.isfinite(v)
        areas = g.sums(have.astype(np.int64))
        total = g.sums(np.where(have, v, 0.0))
        emit("sum", ids, areas=areas, value=np.where(areas > 0, total, np.nan))

    def paired(rule: str, found: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], missing: list[str]) -> None:
        """Sums of numerator and denominator over the areas ``ok`` (one triple of columns per variable)."""
        if found:
            ok = np.column_stack([f[3] for f in found])
            num = g.sums(np.where(ok, np.column_stack([f[1] for f in found]), 0.0))
            den = g.sums(np.where(ok, np.column_stack([f[2] for f in found]), 0.0))
            with np.errstate(divide="ignore", invalid="ignore"):
                value = num / np.where(den > 0, den, np.nan) * (100.0 if rule == "share" else 1.0)
            emit(rule, [f[0] for f in found], areas=g.sums(ok.astype(np.int64)), numerator=num, denominator=den,
                 value=value, held=True)
        emit(rule, missing, areas=0, held=False)

    found, missing = [], []
    for row in by_rule.get("share", []):
        vid, den_id = row["id"], row["denominator"]
        if den_id not in at or vid not in at:
            missing.append(vid) if den_id not in at else found.append(
                (vid, np.zeros(len(frame)), np.zeros(len(frame)), np.zeros(len(frame), dtype=bool)))
            continue
        value, den = column(vid), column(den_id)
        num_id = vid[:-4] if vid.endswith("_pct") else None
        # each area's count recovered from its share and its denominator where no count column is held
        num = column(num_id) if num_id in at else value * den / 100.0
        found.append((vid, num, den, np.isfinite(num) & np.isfinite(den) & np.isfinite(value)))
    paired("share", found, missing)

    found, missing = [], []
    for row in by_rule.get("weighted", []):
        vid, base_id = row["id"], WEIGHTED[row["id"]]
        if base_id not in at:
            missing.append(vid)
            continue
        value = column(vid) if vid in at else np.full(len(frame), np.nan)
        base = column(base_id)
        ok = np.isfinite(value) & np.isfinite(base)
        found.append((vid, value * np.where(ok, base, 0.0), base, ok))
    paired("weighted", found, missing)

    found, missing = [], []
    for row in by_rule.get("ratio", []):
        top_id, bottom_id = RATIOS[row["id"]]
        if top_id not in at or bottom_id not in at:
            missing.append(row["id"])
            continue
        top, bottom = column(top_id), column(bottom_id)
        found.append((row["id"], top, bottom, np.isfinite(top) & np.isfinite(bottom)))
    paired("ratio", found, missing)

    ids = [r["id"] for r in by_rule.get("deciles", [])]
    if ids:
        v = np.column_stack([column(i) if i in at else np.full(len(frame), np.nan) for i in ids])
        areas = g.sums(np.isfinite(v).astype(np.int64))
        per = [g.sums((v == k).astype(np.int64)) for k in range(1, 11)]
        counts = [json.dumps({str(k + 1): int(per[k][gi, vi]) for k in range(10)}, separators=(",", ":"))
                  for gi in range(ng) for vi in range(len(ids))]
        emit("deciles", ids, areas=areas, counts=counts)

    for row in by_rule.get("categories", []):
        vid = row["id"]
        text = frame[vid] if vid in cols else pd.Series(None, index=frame.index, dtype=object)
        ok = (text.notna() & (text.astype(str) != "")).to_numpy()
        codes = np.where(ok, text.astype(str).to_numpy(dtype=object), None)
        counts, areas = [], []
        for part in g.slices(codes.reshape(-1, 1)):
            held = pd.Series(part[:, 0]).dropna()
            areas.append(len(held))
            counts.append(json.dumps({str(c): int(n) for c, n in held.value_counts().sort_index().items()},
                                     separators=(",", ":")))
        emit("categories", [vid], areas=np.asarray(areas), counts=counts)

    ids = [r["id"] for r in by_rule.get("distribution", [])]
    if ids:
        v = np.column_stack([column(i) if i in at else np.full(len(frame), np.nan) for i in ids])
        areas = g.sums(np.isfinite(v).astype(np.int64))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column with no figure in a group: NaN
            q = np.stack([np.nanquantile(part, _QUANTILES, axis=0) for part in g.slices(v)])  # groups x 5 x ids
        emit("distribution", ids, areas=areas, **{f"q{i}": q[:, i, :] for i in range(len(_QUANTILES))})

    if not parts:
        return pd.DataFrame({c: [] for c in STATS})
    out = pd.concat(parts, ignore_index=True)
    for name in STATS:
        if name not in out:
            out[name] = None if name in ("counts", "held") else np.nan
    out["held"] = out["held"].where(out["held"].notna(), True).astype(bool)
    return out[list(STATS)]


def inputs(row: dict) -> list[str]:
    """The columns a variable's figure is computed from: its own, and its denominator, base or parts."""
    out = [row["id"]]
    if row.get("denominator"):
        out.append(row["denominator"])
        if row["id"].endswith("_pct"):
            out.append(row["id"][:-4])
    if row["id"] in WEIGHTED:
        out.append(WEIGHTED[row["id"]])
    out.extend(RATIOS.get(row["id"], ()))
    return out


def _float(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def figure(row: dict, stats: dict) -> dict:
    """A profile's figure of the catalogue row ``row`` from its ``group_stats`` record: rule, value (None
    where not aggregable or no area has a figure), numerator and denominator (a share's or a ratio's sums, a
    weighted mean's base), areas (with a figure), missing (without), distribution (deciles: counts per decile
    1-10; categories: counts per code; not aggregable: lowest, quartiles, median, highest), aggregable,
    note."""
    rule = str(stats["rule"])
    size, areas = int(stats["size"]), int(stats["areas"] or 0)
    out: dict[str, Any] = {"rule": rule, "value": None, "numerator": None, "denominator": None, "areas": areas,
                           "missing": size - areas, "distribution": None, "aggregable": True, "note": None}
    if rule == "sum":
        out["value"] = _float(stats["value"]) if areas else None
    elif rule in ("share", "weighted", "ratio"):
        if not bool(stats["held"]):
            what = {"share": "its denominator is", "weighted": "its base is", "ratio": "its parts are"}[rule]
            out.update(aggregable=False, areas=0, missing=size, note=f"{what} not held for these areas")
        else:
            out.update(numerator=_float(stats["numerator"]), denominator=_float(stats["denominator"]),
                       value=_float(stats["value"]))
            if rule == "weighted":
                out["note"] = f"weighted by {WEIGHTED[row['id']]}"
            elif rule == "ratio":
                top_id, bottom_id = RATIOS[row["id"]]
                out["note"] = f"{top_id} summed over {bottom_id} summed"
    elif rule == "deciles":
        out.update(aggregable=False, distribution={"counts": json.loads(stats["counts"])},
                   note="deciles are shown as how many areas fall in each, never averaged")
    elif rule == "categories":
        out.update(aggregable=False, distribution={"counts": json.loads(stats["counts"] or "{}")},
                   note="a classification: shown as how many areas fall in each class")
    else:
        unit = (row.get("unit") or "").lower()
        why = _WHY_NOT.get(unit, "published for each area, with no base to weight it by")
        if "median" in str(row.get("label") or "").lower():
            why = "a median cannot be recovered from the areas' medians"
        if areas:
            out["distribution"] = {"n": areas, "min": float(stats["q0"]), "q1": float(stats["q1"]),
                                   "median": float(stats["q2"]), "q3": float(stats["q3"]), "max": float(stats["q4"])}
        out.update(aggregable=False, note=f"not aggregable: {why}")
    return out
