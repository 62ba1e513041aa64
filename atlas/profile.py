"""An area's profile: every indicator for a set of small areas taken as a whole, aggregated by the rule its
unit allows, beside the containing authorities, their region and their nation.

The rules (counts summed; shares re-derived from summed counts over summed denominators; averages weighted by
their base; ratios of summed parts; deciles and classifications as distributions; everything else refused
as an aggregate and shown as its distribution) are atlas/aggregation.py's, re-exported here (``RULES``,
``WEIGHTED``, ``RATIOS``, ``rule_of``).

A profile's subject is any set of small areas of one level: a single area, a district, a place larger than
a district (a region, Wales, a combined authority, a partnership's area, ``all``), or a saved area (its
codes, resolved by atlas/areas.py). Its own areas are read per request through the catalogue's
``dataset_arrays`` (so published datasets appear exactly for those who may read them) and aggregated in one
pass; the comparators (districts, regions, Wales, England) are read from the pipeline's extract
(``catalogue.comparator_stats``), and so is the profile of a district, region or nation itself. Both are cached
per build and per what the requester may see.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from atlas import aggregation, catalogue, extracts, view
from atlas.aggregation import RATIOS, RULES, WEIGHTED, rule_of

T = TypeVar("T")

__all__ = ["COMPARATOR_KINDS", "ENGLAND", "HEADLINE_TABLES", "RATIOS", "RULES", "WEIGHTED", "Subject", "aggregate",
           "area_authorities", "headline", "profile", "profile_csv_rows", "rule_of", "subject_for", "values_for"]

#: What a comparator is, in words.
COMPARATOR_KINDS = {"authority": "local authority", "region": "region", "nation": "nation"}


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
    #: A built-in place's own code (read through the catalogue as a place); None for a set of codes.
    place: str | None = None
    #: Keep only the place's areas whose code starts so (England: ``E`` of every area of England and Wales).
    prefix: str | None = None
    extra: dict = field(default_factory=dict)


def _col(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in frame.columns:
        return None
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64")


def aggregate(rows: list[dict], frame: pd.DataFrame) -> dict[str, dict]:
    """Every variable of ``rows`` (catalogue rows of one dataset) over the areas of ``frame`` (one row per
    area, one column per variable id), by its rule (atlas/aggregation.py, one vectorised pass), in the order
    of ``rows``. Each result: rule, value (None where not aggregable or no area has a figure), numerator and
    denominator (a share's or a ratio's sums, a weighted mean's base), areas (with a figure), missing
    (without), distribution (deciles: counts per decile 1-10; categories: counts per code; not aggregable:
    lowest, quartiles, median, highest), aggregable, note. A built indicator (atlas/builder.py): its cells
    summed over its denominator's."""
    plain = [r for r in rows if not r.get("built")]
    found: dict[str, dict] = {}
    if plain:
        by_id = {r["id"]: r for r in plain}
        stats = aggregation.group_stats(plain, frame.reset_index(drop=True))
        found = {rec["variable"]: aggregation.figure(by_id[rec["variable"]], rec) for rec in stats.to_dict("records")}
    n = len(frame)
    for row in rows:
        if row.get("built"):
            found[row["id"]] = _built_share(row["built"], frame, {
                "rule": "share", "value": None, "numerator": None, "denominator": None, "areas": 0, "missing": n,
                "distribution": None, "aggregable": True, "note": None})
    return {r["id"]: found[r["id"]] for r in rows if r["id"] in found}


def _built_share(built: dict, frame: pd.DataFrame, res: dict[str, Any]) -> dict[str, Any]:
    """A built indicator over the areas: its numerator cells summed over its denominator cells summed x 100
    (the areas with every cell), never an average of the areas' shares."""
    n = len(frame)
    parts = []
    for side in ("numerator", "denominator"):
        cols = [_col(frame, c) for c in built[side]]
        parts.append(None if any(c is None for c in cols) else np.sum(cols, axis=0))
    num, den = parts
    if num is None or den is None:
        return {**res, "aggregable": False, "note": "its cells are not held for these areas"}
    ok = np.isfinite(num) & np.isfinite(den)
    d = float(den[ok].sum())
    return {**res, "areas": int(ok.sum()), "missing": int(n - ok.sum()), "numerator": float(num[ok].sum()),
            "denominator": d, "value": float(num[ok].sum()) / d * 100.0 if d > 0 else None}


# -- subjects --------------------------------------------------------------------------------------------

def area_authorities(s: catalogue.Catalogue, level: str, codes: Iterable[str]) -> dict[str, str]:
    """code -> district of those of ``codes`` the build holds at ``level`` (one query: a whole level's lookup,
    kept per process, held 11 MB at LSOA level as Python strings and their hash table)."""
    codes = list(codes)
    return s.extracts.area_authorities(level, codes) if codes else {}


#: England's code: not one of the catalogue's places (Wales is, W92000004), so read from every area, kept by "E".
ENGLAND = "E92000001"


def _england(s: catalogue.Catalogue, level: str) -> Subject:
    levels = [lv for lv in s.levels if lv != extracts.NATIONAL_LEVEL]
    if level not in levels:
        raise extracts.NotFound("level", level, levels)
    codes, _ = s.area_names(extracts.ALL, level)
    mine = tuple(c for c in codes if c.startswith("E"))
    return Subject(code=ENGLAND, name="England", kind="nation", level=level, codes=mine,
                   authorities=tuple(sorted(set(area_authorities(s, level, mine).values()))), place=extracts.ALL,
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
        authorities = tuple(sorted(set(area_authorities(s, level, codes).values())))
        kind = info.get("kind") or "authority"
        return Subject(code=place, name=str(info["name"]), kind=kind, level=level, codes=tuple(codes),
                       authorities=authorities, place=place)
    for lv in s.levels:
        if lv == extracts.NATIONAL_LEVEL or (level is not None and lv != level):
            continue
        authority = area_authorities(s, lv, [place]).get(place)
        if authority is not None:
            names = dict(zip(*s.area_names(authority, lv), strict=True))
            return Subject(code=place, name=names.get(place, place), kind="area", level=lv, codes=(place,),
                           authorities=(authority,))
    raise extracts.NotFound(
        "place", place, [], f"unknown place {place!r}: give a district, region, Wales (W92000004), combined "
        "authority or partnership code, 'all', a saved area's code, or the code of an LSOA, output area or ward"
        + (f" at level {level!r}" if level else ""))


# -- reading ---------------------------------------------------------------------------------------------

def _frame(codes: pd.Index, parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """One row per area of ``codes`` (in that order; NaN or None where a part holds no figure), from the
    catalogue's arrays of one dataset (``dataset_arrays``, one part per place read)."""
    columns: dict[str, np.ndarray] = {}
    for got in parts:
        pos = codes.get_indexer(np.asarray(got["code"], dtype=object))
        keep = pos >= 0
        for name, data in got.items():
            if name == "code":
                continue
            column = columns.get(name)
            if column is None:
                column = columns[name] = (np.full(len(codes), np.nan) if data.dtype.kind == "f"
                                          else np.full(len(codes), None, dtype=object))
            column[pos[keep]] = data[keep]
    return pd.DataFrame({"code": codes.to_numpy(dtype=object), **columns})


def _frames(s: catalogue.Catalogue, subject: Subject, only: frozenset[str] | None = None
            ) -> dict[str, tuple[pd.DataFrame, list[dict]]]:
    """dataset -> (one row per area of the subject, the catalogue rows with data there); only the datasets
    ``only`` names, when given. One query per dataset (per district for a set of codes that is not a place)."""
    out: dict[str, tuple[pd.DataFrame, list[dict]]] = {}
    if subject.place is not None:
        codes = pd.Index(subject.codes)
        for dataset in s.datasets_at(subject.place, subject.level):
            if only is None or dataset in only:
                got, rows = s.dataset_arrays(subject.place, subject.level, dataset)
                out[dataset] = (_frame(codes, [got]), rows)
        return out
    known = area_authorities(s, subject.level, set(subject.codes))
    codes = pd.Index([c for c in subject.codes if c in known])
    parts: dict[str, tuple[list[dict], list[dict]]] = {}
    for authority in sorted(set(known.values())):
        for dataset in s.datasets_at(authority, subject.level):
            if only is not None and dataset not in only:
                continue
            got, rows = s.dataset_arrays(authority, subject.level, dataset)
            found, known = parts.setdefault(dataset, ([], []))
            found.append(got)
            ids = {r["id"] for r in known}
            known.extend(r for r in rows if r["id"] not in ids)
    return {dataset: (_frame(codes, found), known) for dataset, (found, known) in parts.items()}


def _aggregates(s: catalogue.Catalogue, subject: Subject) -> tuple[dict[str, dict], dict[str, dict]]:
    """(variable id -> aggregate, variable id -> catalogue row) for the subject."""
    frames = _frames(s, subject)
    rows = [r for _frame, held in frames.values() for r in held]
    if not rows:
        return {}, {}
    # One pass over every dataset's columns side by side (every area in the same order; a variable's
    # denominator, base and parts are of its own dataset, and ids are unique across datasets).
    wide = pd.concat([frame.drop(columns="code") for frame, _rows in frames.values()], axis=1)
    return aggregate(rows, wide), {r["id"]: r for r in rows}


def values_for(s: catalogue.Catalogue, subject: Subject, variables: tuple[str, ...]) -> np.ndarray:
    """The subject's aggregated figure of each of ``variables`` (NaN where not aggregable or missing)."""
    wanted = {v: s.variable(v) for v in variables}
    only = frozenset(r["dataset"] for r in wanted.values())
    figures: dict[str, dict] = {}
    for dataset, (frame, rows) in _frames(s, subject, only).items():
        built = [r for r in wanted.values() if r.get("built") and r["dataset"] == dataset]
        figures.update(aggregate([r for r in rows if r["id"] in variables] + built, frame))
    got = [figures.get(v, {}).get("value") for v in variables]
    return np.array([np.nan if x is None else x for x in got], dtype="float64")


#: Bytes (roughly: each figure's dict and the containers directly in it) of the subjects' and comparators' figures
#: kept, least recently used dropped first. A district's figures are about 1 MB and a region's or a nation's
#: with them: kept up to 256 by count, they grew a worker by every place whose profile it had shown.
FIGURES_BYTES = 16 * 1024 * 1024


def _footprint(value: tuple) -> int:
    figures = value[0]
    size = sys.getsizeof(figures)
    for fig in figures.values():
        size += sys.getsizeof(fig) + sum(sys.getsizeof(v) for v in fig.values() if isinstance(v, (dict, list)))
    if isinstance(value[1], dict):  # a subject's catalogue rows: the catalogue's own, only their index is held
        size += sys.getsizeof(value[1])
    return size


_cache = extracts.Bounded(FIGURES_BYTES, _footprint)


def _precomputed(s: catalogue.Catalogue, code: str, level: str
                 ) -> tuple[dict[str, dict], dict[str, dict], int] | None:
    """(figures, catalogue rows, areas) of a district, region, Wales or England from the pipeline's extract
    (``catalogue.comparator_stats``): each built figure the requester's catalogue has data for there (as reading
    it would give), in the catalogue's order; a published dataset's figures aggregated here from its values.
    None where the build has no extract for it."""
    stats = s.comparator_stats(code, level)
    if stats is None or stats.empty:
        return None
    by_variable = {rec["variable"]: rec for rec in stats.to_dict("records")}
    figures: dict[str, dict] = {}
    rows_by_id: dict[str, dict] = {}
    visible = s.datasets_at(extracts.ALL if code == ENGLAND else code, level)
    for dataset, rows in visible.items():
        if any(r.get("published") or r.get("points") for r in rows):
            for _dataset, (frame, held) in _frames(s, subject_for(s, code, level), frozenset([dataset])).items():
                figures.update(aggregate(held, frame))
                rows_by_id.update({r["id"]: r for r in held})
            continue
        for row in rows:
            rec = by_variable.get(row["id"])
            if rec is not None:
                figures[row["id"]] = aggregation.figure(row, rec)
                rows_by_id[row["id"]] = row  # read only (``datasets_at``'s): never a copy of every row
    return figures, rows_by_id, int(stats["size"].iloc[0])


def _comparator_figures(s: catalogue.Catalogue, kind: str, code: str, level: str) -> tuple[dict[str, dict], int]:
    """A comparator's aggregates and area count, cached per build and what the requester may see."""
    key = (s.build_id, s.scope_key(), kind, code, level)

    def compute() -> tuple[dict[str, dict], int]:
        built = _precomputed(s, code, level)
        if built is None:  # a build without the extract: read and aggregate every dataset
            subject = subject_for(s, code, level)
            return _aggregates(s, subject)[0], len(subject.codes)
        return built[0], built[2]

    return _kept(s, key, compute)


def _subject_figures(s: catalogue.Catalogue, subject: Subject) -> tuple[dict[str, dict], dict[str, dict]]:
    """The subject's own aggregates, cached like the comparators' (its page, CSV and PDF ask in turn): keyed by
    the build, what the requester may see, and the digest of its areas' codes."""
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha256(" ".join(subject.codes).encode()).hexdigest()[:16]
    key = (s.build_id, s.scope_key(), "subject", subject.place or "", subject.prefix or "", subject.level, digest)

    def compute() -> tuple[dict[str, dict], dict[str, dict]]:
        built = None
        if subject.kind in ("authority", "region", "nation") and (subject.place == subject.code or (
                subject.code == ENGLAND and subject.prefix == "E")):
            built = _precomputed(s, subject.code, subject.level)  # a comparator's own profile: built already
        return built[:2] if built is not None else _aggregates(s, subject)

    return _kept(s, key, compute)


def _kept(s: catalogue.Catalogue, key: tuple, compute: Callable[[], T]) -> T:
    """``compute()`` kept in the figures' cache under ``key`` and the requester's scope. Figures of an older
    registry generation are dropped first: no request will ask for them again (each reads the newest), and
    left to the least recently used they filled the cache's bytes after every publish."""
    _cache.discard(lambda k: catalogue.is_stale(k[-1]))
    return _cache.get((*key, s.scope.ident), compute)


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
