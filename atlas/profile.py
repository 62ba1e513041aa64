"""An area's profile: every indicator for a set of small areas taken as a whole, aggregated by the rule its
unit allows, beside the containing authorities, their region and their nation.

The rules (``RULES``, by the catalogue's ``unit``; ``WEIGHTED`` and ``RATIOS`` name the bases this module
knows):

- **counts** (``count``, ``sum``): summed over the areas.
- **shares** (``percentage`` with a catalogue ``denominator``): re-derived from the summed counts, the
  numerator's count column (``<id>`` without ``_pct``) over the summed denominator x 100; never an average
  of the areas' percentages. Where no numerator column is held (a vote share), each area's count is
  recovered as share x denominator / 100 first, which is the same sum.
- **averages and rates whose base is known** (``WEIGHTED``): the mean age weighted by the residents, an
  average household size by the households; **ratios of two counts** (``RATIOS``): a density is the summed
  residents over the summed hectares.
- **deciles and categories** (``decile``, ``category``): how many areas fall in each decile or class.
- **everything else** (ranks, scores, medians, published percentages whose denominator is not held, rates
  whose base is not held, changes 2011 -> 2021): not aggregable, said so, and shown as their distribution
  across the areas (lowest, quartiles, median, highest); never averaged.

A profile's subject is any set of small areas of one level: a single area, a district, a place larger than
a district (a region, Wales, a combined authority, a partnership's area, ``all``), or a saved area (its
codes, resolved by atlas/areas.py). Every read goes through the store's ``dataset_values`` (so published
datasets appear exactly for those who may read them); comparators' aggregates are cached per build and per
what the requester may see.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from atlas import catalogue, extracts, view

__all__ = ["COMPARATOR_KINDS", "ENGLAND", "HEADLINE_TABLES", "RATIOS", "RULES", "WEIGHTED", "Subject", "aggregate",
           "area_lookup", "headline", "profile", "profile_csv_rows", "rule_of", "subject_for", "values_for"]

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
#: What a comparator is, in words.
COMPARATOR_KINDS = {"authority": "local authority", "region": "region", "nation": "nation"}
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


@dataclass(frozen=True)
class Subject:
    """What a profile is of: a name, its code (``place`` in the URL), kind, level, the codes of its areas
    (code order) and the districts they lie in."""

    code: str
    name: str
    kind: str  # area | authority | region | nation | combined_authority | partnership | country | saved
    level: str
    codes: tuple[str, ...]
    authorities: tuple[str, ...]
    #: A built-in place's own code (read through the store as a place); None for a set of codes.
    place: str | None = None
    #: Keep only the place's areas whose code starts so (England: ``E`` of every area of England and Wales).
    prefix: str | None = None
    extra: dict = field(default_factory=dict)


def rule_of(row: dict) -> str:
    """The aggregation rule of a catalogue row: sum, share, weighted, ratio, deciles, categories, or
    distribution (not aggregable)."""
    if row.get("id") in WEIGHTED:
        return "weighted"
    if row.get("id") in RATIOS:
        return "ratio"
    if row.get("kind") == extracts.CATEGORICAL:
        return "categories"
    unit = (row.get("unit") or "").lower()
    found = RULES.get(unit)
    if found == "share" and not row.get("denominator"):
        return "distribution"
    return found or "distribution"


def _col(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in frame.columns:
        return None
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64")


def _distribution(values: np.ndarray) -> dict | None:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None
    q = np.quantile(v, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {"n": int(v.size), "min": float(q[0]), "q1": float(q[1]), "median": float(q[2]), "q3": float(q[3]),
            "max": float(q[4])}


def aggregate(rows: list[dict], frame: pd.DataFrame) -> dict[str, dict]:
    """Every variable of ``rows`` (catalogue rows of one dataset) over the areas of ``frame`` (one row per
    area, one column per variable id), by its rule. Each result: rule, value (None where not aggregable
    or no area has a figure), numerator and denominator (a share's or a ratio's sums, a weighted mean's
    base), areas (with a figure), missing (without), distribution (deciles: counts per decile 1-10;
    categories: counts per code; not aggregable: lowest, quartiles, median, highest), aggregable, note."""
    n = len(frame)
    out: dict[str, dict] = {}
    for row in rows:
        vid = row["id"]
        rule = rule_of(row)
        res: dict[str, Any] = {"rule": rule, "value": None, "numerator": None, "denominator": None,
                               "areas": 0, "missing": n, "distribution": None, "aggregable": True, "note": None}
        if rule == "categories":
            cats = frame[vid] if vid in frame.columns else pd.Series([], dtype=object)
            cats = cats[cats.notna() & (cats.astype(str) != "")].astype(str)
            res.update(areas=int(len(cats)), missing=n - int(len(cats)), aggregable=False,
                       distribution={"counts": {str(k): int(c) for k, c in cats.value_counts().sort_index().items()}},
                       note="a classification: shown as how many areas fall in each class")
            out[vid] = res
            continue
        values = _col(frame, vid)
        if values is None:
            values = np.full(n, np.nan)
        have = np.isfinite(values)
        if rule == "sum":
            res.update(areas=int(have.sum()), missing=int(n - have.sum()),
                       value=float(values[have].sum()) if have.any() else None)
        elif rule == "share":
            den = _col(frame, row["denominator"])
            num = _col(frame, vid[:-4]) if vid.endswith("_pct") else None
            if den is None:
                res.update(aggregable=False, note="its denominator is not held for these areas")
            else:
                if num is None:  # each area's count recovered from its share and its denominator
                    num = values * den / 100.0
                ok = np.isfinite(num) & np.isfinite(den) & have
                d = float(den[ok].sum())
                res.update(areas=int(ok.sum()), missing=int(n - ok.sum()), numerator=float(num[ok].sum()),
                           denominator=d, value=(float(num[ok].sum()) / d * 100.0) if d > 0 else None)
        elif rule == "weighted":
            base = _col(frame, WEIGHTED[vid])
            if base is None:
                res.update(aggregable=False, note="its base is not held for these areas")
            else:
                ok = have & np.isfinite(base)
                b = float(base[ok].sum())
                res.update(areas=int(ok.sum()), missing=int(n - ok.sum()), denominator=b,
                           numerator=float((values[ok] * base[ok]).sum()),
                           value=float((values[ok] * base[ok]).sum()) / b if b > 0 else None,
                           note=f"weighted by {WEIGHTED[vid]}")
        elif rule == "ratio":
            top_id, bottom_id = RATIOS[vid]
            top, bottom = _col(frame, top_id), _col(frame, bottom_id)
            if top is None or bottom is None:
                res.update(aggregable=False, note="its parts are not held for these areas")
            else:
                ok = np.isfinite(top) & np.isfinite(bottom)
                b = float(bottom[ok].sum())
                res.update(areas=int(ok.sum()), missing=int(n - ok.sum()), numerator=float(top[ok].sum()),
                           denominator=b, value=float(top[ok].sum()) / b if b > 0 else None,
                           note=f"{top_id} summed over {bottom_id} summed")
        elif rule == "deciles":
            d = values[have]
            counts = {str(k): int((d == k).sum()) for k in range(1, 11)}
            res.update(areas=int(have.sum()), missing=int(n - have.sum()), aggregable=False,
                       distribution={"counts": counts},
                       note="deciles are shown as how many areas fall in each, never averaged")
        else:
            unit = (row.get("unit") or "").lower()
            why = _WHY_NOT.get(unit, "published for each area, with no base to weight it by")
            if "median" in str(row.get("label") or "").lower():
                why = "a median cannot be recovered from the areas' medians"
            res.update(areas=int(have.sum()), missing=int(n - have.sum()), aggregable=False,
                       distribution=_distribution(values), note=f"not aggregable: {why}")
        out[vid] = res
    return out


# -- subjects --------------------------------------------------------------------------------------------

_lookup_lock = threading.Lock()
_lookups: dict[tuple[str, str], pd.Series] = {}


def area_lookup(s: catalogue.Catalogue, level: str) -> pd.Series:
    """code -> district of every area at ``level`` in the store's build (cached per build)."""
    key = (s.build_id, level)
    found = _lookups.get(key)
    if found is None:
        index = s.area_index(level)
        found = pd.Series(index["authority"].to_numpy(dtype=object), index=index["code"].to_numpy(dtype=object))
        with _lookup_lock:
            if len(_lookups) > 16:
                _lookups.clear()
            _lookups[key] = found
    return found


#: England's code: not one of the store's places (Wales is, W92000004), so read from every area, kept by "E".
ENGLAND = "E92000001"


def _england(s: catalogue.Catalogue, level: str) -> Subject:
    levels = [lv for lv in s.levels if lv != extracts.NATIONAL_LEVEL]
    if level not in levels:
        raise extracts.NotFound("level", level, levels)
    codes, _ = s.area_names(extracts.ALL, level)
    lookup = area_lookup(s, level)
    mine = tuple(c for c in codes if c.startswith("E"))
    return Subject(code=ENGLAND, name="England", kind="nation", level=level, codes=mine,
                   authorities=tuple(sorted(set(lookup.reindex(list(mine)).dropna()))), place=extracts.ALL,
                   prefix="E")


def subject_for(s: catalogue.Catalogue, place: str, level: str | None = None,
                saved: Callable[[str], Subject | None] | None = None) -> Subject:
    """The subject named by ``place``: a built-in place (a district, region, Wales, combined authority,
    partnership area or ``all``; at ``level``, else its first small-area level), a single area's code
    (its own level), or a saved area (``saved(code)``). Raises extracts.NotFound naming what was wrong."""
    if saved is not None:
        found = saved(place)
        if found is not None:
            return found
    if place == ENGLAND:
        return _england(s, level or "lsoa11")
    try:
        info = s.authority(place)
    except extracts.NotFound:
        info = None
    if info is not None:
        levels = [d["level"] for d in info["levels"] if d["level"] != extracts.NATIONAL_LEVEL and d["areas"]]
        if level is None:
            if not levels:
                raise extracts.NotFound("level", "", [], f"{info['name']} ({place}) has no small areas")
            level = levels[0]
        elif level not in levels:
            raise extracts.NotFound("level", level, levels,
                                       f"{info['name']} ({place}) has no areas at level {level!r}; it has "
                                       f"{', '.join(levels) or 'none'}")
        codes, _ = s.area_names(place, level)
        lookup = area_lookup(s, level)
        authorities = tuple(sorted(set(lookup.reindex(codes).dropna())))
        kind = info.get("kind") or "authority"
        return Subject(code=place, name=str(info["name"]), kind=kind, level=level, codes=tuple(codes),
                       authorities=authorities, place=place)
    for lv in s.levels:
        if lv == extracts.NATIONAL_LEVEL or (level is not None and lv != level):
            continue
        lookup = area_lookup(s, lv)
        if place in lookup.index:
            authority = str(lookup[place])
            names = dict(zip(*s.area_names(authority, lv), strict=True))
            return Subject(code=place, name=names.get(place, place), kind="area", level=lv, codes=(place,),
                           authorities=(authority,))
    raise extracts.NotFound(
        "place", place, [], f"unknown place {place!r}: give a district, region, Wales (W92000004), combined "
        "authority or partnership code, 'all', a saved area's code, or the code of an LSOA, output area or ward"
        + (f" at level {level!r}" if level else ""))


# -- reading ---------------------------------------------------------------------------------------------

def _frames(s: catalogue.Catalogue, subject: Subject, only: frozenset[str] | None = None
            ) -> dict[str, tuple[pd.DataFrame, list[dict]]]:
    """dataset -> (one row per area of the subject, the catalogue rows with data there); only the datasets
    ``only`` names, when given."""
    out: dict[str, tuple[pd.DataFrame, list[dict]]] = {}
    if subject.place is not None:
        for dataset in s.datasets_at(subject.place, subject.level):
            if only is None or dataset in only:
                frame, rows = s.dataset_values(subject.place, subject.level, dataset)
                if subject.prefix is not None:
                    frame = frame[frame["code"].astype(str).str.startswith(subject.prefix)]
                out[dataset] = (frame, rows)
        return out
    wanted = pd.Index(subject.codes)
    lookup = area_lookup(s, subject.level)
    for authority in sorted(set(lookup.reindex(list(subject.codes)).dropna())):
        for dataset in s.datasets_at(authority, subject.level):
            if only is not None and dataset not in only:
                continue
            frame, rows = s.dataset_values(authority, subject.level, dataset)
            frame = frame[frame["code"].isin(wanted)]
            if dataset in out:
                old, old_rows = out[dataset]
                known = {r["id"] for r in old_rows}
                out[dataset] = (pd.concat([old, frame], ignore_index=True),
                                old_rows + [r for r in rows if r["id"] not in known])
            else:
                out[dataset] = (frame, rows)
    return out


def _aggregates(s: catalogue.Catalogue, subject: Subject) -> tuple[dict[str, dict], dict[str, dict]]:
    """(variable id -> aggregate, variable id -> catalogue row) for the subject."""
    figures: dict[str, dict] = {}
    rows_by_id: dict[str, dict] = {}
    for _dataset, (frame, rows) in _frames(s, subject).items():
        figures.update(aggregate(rows, frame))
        rows_by_id.update({r["id"]: r for r in rows})
    return figures, rows_by_id


def values_for(s: catalogue.Catalogue, subject: Subject, variables: tuple[str, ...]) -> np.ndarray:
    """The subject's aggregated figure of each of ``variables`` (NaN where not aggregable or missing)."""
    only = frozenset(s.variable(v)["dataset"] for v in variables)
    figures: dict[str, dict] = {}
    for _dataset, (frame, rows) in _frames(s, subject, only).items():
        figures.update(aggregate([r for r in rows if r["id"] in variables], frame))
    got = [figures.get(v, {}).get("value") for v in variables]
    return np.array([np.nan if x is None else x for x in got], dtype="float64")


_cache_lock = threading.Lock()
_cache: dict[tuple, tuple[dict[str, dict], int]] = {}


def _comparator_figures(s: catalogue.Catalogue, kind: str, code: str, level: str) -> tuple[dict[str, dict], int]:
    """A comparator's aggregates and area count, cached per build and what the requester may see."""
    key = (s.build_id, s.scope_key(), kind, code, level)
    found = _cache.get(key)
    if found is not None:
        return found
    subject = subject_for(s, code, level)
    figures, _ = _aggregates(s, subject)
    n = len(subject.codes)
    with _cache_lock:
        if len(_cache) > 256:
            _cache.clear()
        _cache[key] = (figures, n)
    return figures, n


def _subject_figures(s: catalogue.Catalogue, subject: Subject) -> tuple[dict[str, dict], dict[str, dict]]:
    """The subject's own aggregates, cached like the comparators' (its page, CSV and PDF ask in turn): keyed by
    the build, what the requester may see, and the digest of its areas' codes."""
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha256(" ".join(subject.codes).encode()).hexdigest()[:16]
    key = (s.build_id, s.scope_key(), "subject", subject.place or "", subject.prefix or "", subject.level, digest)
    found = _cache.get(key)
    if found is None:
        found = _aggregates(s, subject)
        with _cache_lock:
            if len(_cache) > 256:
                _cache.clear()
            _cache[key] = found  # type: ignore[assignment]
    return found  # type: ignore[return-value]


def _comparators(s: catalogue.Catalogue, subject: Subject) -> list[dict]:
    """The containing districts (for anything smaller than a district), their regions and nations: each
    only where every one of its districts has areas at the subject's level (a partial comparator would
    mislead)."""
    out: list[dict] = []
    rows = {a["code"]: a for a in s.authorities()}

    def complete(codes: list[str]) -> bool:
        return all(any(d["level"] == subject.level for d in rows[c]["levels"]) for c in codes if c in rows)

    if subject.kind in ("area", "saved", "partnership", "combined_authority"):
        for a in subject.authorities:
            if a in rows and a != subject.code:
                out.append({"kind": "authority", "code": a, "name": rows[a]["name"]})
    if subject.kind in ("country", "nation", "region"):
        regions = []
    else:
        regions = sorted({rows[a]["region"] for a in subject.authorities if a in rows and rows[a].get("region")})
    places = {p["name"]: p for p in s.larger_places() if p["kind"] == "region"}
    for name in regions:
        place = places.get(name)
        if place is not None and place["code"] != subject.code and complete(place["authorities"]):
            out.append({"kind": "region", "code": place["code"], "name": place["name"]})
    if subject.kind not in ("country", "nation"):
        nations = sorted({rows[a]["nation"] for a in subject.authorities if a in rows and rows[a].get("nation")})
        for nation in nations:
            members = [c for c, r in rows.items() if r.get("nation") == nation]
            if not complete(members):
                continue
            code = ENGLAND if nation == "England" else "W92000004"
            out.append({"kind": "nation", "code": code, "name": nation})
    return out


def _printed(row: dict, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "no data"
    return view.format_value(value, view.decimals_for(row), (row.get("unit") or "").lower())


def profile(s: catalogue.Catalogue, subject: Subject, comparators: bool = True) -> dict:
    """The profile of ``subject``: its figures grouped by topic, each with its rule, value (full precision)
    and printed value, sums, distribution, and the same for every comparator with the difference."""
    figures, rows = _subject_figures(s, subject)
    comps = _comparators(s, subject) if comparators else []
    comp_figures = []
    for c in comps:
        figs, n = _comparator_figures(s, c["kind"], c["code"], subject.level)
        c["areas"] = n
        comp_figures.append(figs)
    topics: dict[str, list[dict]] = {}
    for vid, fig in figures.items():
        row = rows[vid]
        item = {"id": vid, "label": row.get("label"), "unit": row.get("unit"), "table": row.get("table"),
                "vintage": row.get("vintage"), "denominator_variable": row.get("denominator"),
                **fig, "printed": _printed(row, fig["value"]), "comparators": []}
        for c, figs in zip(comps, comp_figures, strict=True):
            other = figs.get(vid)
            if other is None:
                continue
            entry = {"code": c["code"], "value": other["value"], "printed": _printed(row, other["value"]),
                     "distribution": other["distribution"], "areas": other["areas"]}
            if fig["value"] is not None and other["value"] is not None:
                entry["difference"] = fig["value"] - other["value"]
            item["comparators"].append(entry)
        topics.setdefault(str(row.get("topic") or "Other"), []).append(item)
    return {"place": subject.code, "name": subject.name, "kind": subject.kind, "level": subject.level,
            "areas": len(subject.codes), "codes": list(subject.codes), "authorities": list(subject.authorities),
            "comparators": comps, "build": s.build_id,
            "rules": {"sum": "counts summed", "share": "summed numerator / summed denominator x 100",
                      "weighted": "average weighted by its base", "ratio": "summed numerator / summed denominator",
                      "deciles": "areas counted in each decile", "categories": "areas counted in each class",
                      "distribution": "not aggregable: lowest, quartiles, median and highest across the areas"},
            "topics": [{"topic": t, "figures": topics[t]} for t in sorted(topics)]}


#: The tables whose figures a printed profile (the page and the PDF) shows; every figure is in the CSV and JSON.
HEADLINE_TABLES = ("KS101EW", "KS102EW", "KS201EW", "KS402EW", "KS404EW", "KS501EW", "KS601EW", "KS608EW",
                   "QS119EW", "TS001", "TS007A", "TS054")


def headline(figure: dict) -> bool:
    """Whether a figure of a profile is printed on its page and in its PDF: the shares, weighted averages and
    ratios of ``HEADLINE_TABLES``, their totals, and every decile distribution (the IMD and its domains)."""
    if figure["rule"] == "deciles":
        return True
    table = str(figure.get("table") or "").upper()
    if table not in HEADLINE_TABLES:
        return False
    return figure["rule"] in ("share", "weighted", "ratio") or (
        figure["rule"] == "sum" and str(figure.get("label") or "").lower().startswith("all "))


def profile_csv_rows(result: dict) -> tuple[list[str], list[list[Any]]]:
    """The profile as one CSV row per figure: the subject's value, its sums, and each comparator's value and
    difference (columns named by the comparators' codes). Distributions are written as JSON text."""
    import json  # noqa: PLC0415

    comps = result["comparators"]
    header = ["topic", "variable", "label", "unit", "rule", "value", "printed", "numerator", "denominator",
              "areas", "missing", "distribution", "note"]
    for c in comps:
        header += [f"{c['code']}_value", f"{c['code']}_difference"]
    out = []
    for group in result["topics"]:
        for f in group["figures"]:
            line = [group["topic"], f["id"], f["label"], f["unit"], f["rule"], f["value"], f["printed"],
                    f["numerator"], f["denominator"], f["areas"], f["missing"],
                    json.dumps(f["distribution"], separators=(",", ":")) if f["distribution"] else None, f["note"]]
            by = {e["code"]: e for e in f["comparators"]}
            for c in comps:
                e = by.get(c["code"], {})
                line += [e.get("value"), e.get("difference")]
            out.append(line)
    return header, out
