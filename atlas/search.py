"""Find a place by name, code or postcode: ``search(reader, text)``, the one search behind the Area box and
``GET /api/search?q=``.

The index is the build's ``search.parquet`` (pipeline/places.py): districts, regions, Wales, combined
authorities, England and Wales itself, every December 2022 ward, the LSOAs and OAs held here, and the
postcodes of the collection's two postcode lookups (Trafford and the WC area). Matching, best first:

1. a code or a postcode typed whole ("E01009203", "m15 4ab", "M154AB");
2. a name typed whole, case and accents and punctuation aside ("edgbaston", "St Marys" for "St Mary's");
3. the start of a name, or of every word of it ("birm", "north edg"); a postcode's start ("M15 4");
4. a name within a longer one ("heath" in "Sparkbrook and Balsall Heath East");
5. close spellings (rapidfuzz's WRatio over the names, at least 85 of 100: "Edgbastn", "Birmingam").

Results of equal match are ordered by kind (England and Wales, regions, combined authorities, districts,
wards, postcodes, LSOAs, OAs), then by name; at most ``per_kind`` of any kind except on an exact code.
Each result says what it is, where it is, and which view opens it (``authority``, ``level``, ``area``).
"""

from __future__ import annotations

import math
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from rapidfuzz import fuzz, process

if TYPE_CHECKING:
    from atlas.extracts import Extracts

__all__ = ["KIND_WORDS", "MAX_LIMIT", "MAX_QUERY", "POSTCODE_NOTE", "looks_like_postcode", "normalise", "search"]

MAX_QUERY = 100
MAX_LIMIT = 50
FUZZY_CUTOFF = 85
KIND_ORDER = ("country", "region", "nation", "combined_authority", "authority", "ward", "postcode", "lsoa", "oa")
KIND_WORDS = {"country": "England and Wales", "region": "region", "nation": "nation",
              "combined_authority": "combined authority", "authority": "local authority district",
              "ward": "electoral ward (December 2022)", "postcode": "postcode", "lsoa": "LSOA", "oa": "output area"}
POSTCODE_NOTE = ("Postcodes are looked up only where this atlas holds a postcode directory: Trafford (ONS "
                 "Postcode Directory, May 2022) and the WC postcode area of central London (National Statistics "
                 "Postcode Lookup, November 2021). Other postcodes are not covered: search for the area's name, "
                 "ward or district instead, or use 'Near me'.")
LEVEL_YEARS = {"lsoa11": "2011", "oa11": "2011", "lsoa21": "2021", "oa21": "2021"}
_POSTCODE_START = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?( ?[0-9][A-Z]{0,2})?$")


def normalise(text: str) -> str:
    """Lower case, accents and apostrophes dropped, '&' as 'and', other punctuation as spaces."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"['’‘`]", "", text).replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def looks_like_postcode(text: str) -> bool:
    """"M15", "M15 4", "M15 4AB", "wc1a1aa": the start of a UK postcode."""
    compact = re.sub(r"\s+", " ", str(text).strip().upper())
    return bool(_POSTCODE_START.match(compact)) and any(ch.isdigit() for ch in compact)


@dataclass(frozen=True)
class _Index:
    rows: list[dict]
    names: list[str]  # normalised name per row
    words: list[tuple[str, ...]]
    codes: dict[str, list[int]]  # upper-case code without spaces -> rows
    postcodes: list[tuple[str, int]]  # (compact postcode, row), sorted
    unique: list[str]  # distinct normalised names, for fuzzy matching
    by_name: dict[str, list[int]]
    kind_rank: np.ndarray
    padded: np.ndarray  # " " + normalised name, as a fixed-width numpy string array


def _build(table: Any) -> _Index:
    rows = []
    for r in table.to_dict("records"):
        rows.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()})
    names = [normalise(r["name"]) for r in rows]
    codes: dict[str, list[int]] = {}
    postcodes = []
    by_name: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        key = str(r["code"]).replace(" ", "").upper()
        codes.setdefault(key, []).append(i)
        if r["kind"] == "postcode":
            postcodes.append((key, i))
        by_name.setdefault(names[i], []).append(i)
    order = {k: n for n, k in enumerate(KIND_ORDER)}
    levels = {lv: n for n, lv in enumerate(("lad", "lsoa11", "oa11", "lsoa21", "oa21", "ward22"))}
    rank = [order.get(r["kind"], len(order)) * 10 + levels.get(r["level"], 9) for r in rows]
    return _Index(rows=rows, names=names, words=[tuple(n.split()) for n in names], codes=codes,
                  postcodes=sorted(postcodes), unique=list(by_name), by_name=by_name,
                  kind_rank=np.array(rank), padded=np.array([" " + n for n in names]))


_indexes: dict[tuple[int, str], _Index] = {}
_lock = threading.Lock()


def _index(reader: Extracts) -> _Index:
    key = (os.getpid(), reader.build_id)
    index = _indexes.get(key)
    if index is None:
        with _lock:
            index = _indexes.get(key)
            if index is None:
                _indexes.clear()  # one build per process: drop the previous build's index
                index = _indexes[key] = _build(reader.search_table())
    return index


def _result(row: dict, match: str) -> dict:
    box = [row.get(k) for k in ("west", "south", "east", "north")]
    out = {
        "kind": row["kind"], "what": KIND_WORDS.get(row["kind"], row["kind"]), "code": row["code"],
        "name": row["name"], "label": row.get("label") or row["name"], "authority": row["authority"],
        "authority_name": row.get("authority_name"), "level": row["level"],
        "area": None, "bbox": box if all(v is not None for v in box) else None, "match": match,
    }
    if row["kind"] in ("lsoa", "oa", "ward"):
        out["area"] = row["code"]
    if row["kind"] in ("lsoa", "oa"):
        out["what"] += f" ({LEVEL_YEARS.get(row['level'], row['level'])})"
        if row.get("ward"):
            out["ward"] = row["ward"]
    if row["kind"] == "postcode":
        out["area"] = row["lsoa"]
        out["lsoa"] = {"code": row["lsoa"], "name": row.get("lsoa_name")}
        out["ward"] = {"code": row.get("ward_code"), "name": row.get("ward") or None}
        out["point"] = [row["lon"], row["lat"]]
    if row["kind"] in ("country", "region", "nation", "combined_authority", "authority"):
        out["where"] = "England and Wales"
    else:
        out["where"] = row.get("authority_name") or row["authority"]
    return out


def search(reader: Extracts, text: Any, limit: int = 10, per_kind: int = 5) -> dict:
    """Results for ``text`` (see the module's docstring): ``{"query", "results", "note"}``. ``note`` says
    when a postcode was looked for that the atlas does not cover. Never raises on user input."""
    query = str(text or "")[:MAX_QUERY].strip()
    limit = max(1, min(int(limit), MAX_LIMIT))
    out: dict[str, Any] = {"query": query, "results": [], "note": None}
    q = normalise(query)
    if not q:
        return out
    index = _index(reader)
    scores: dict[int, tuple[float, str]] = {}

    def hit(i: int, score: float, match: str) -> None:
        if score > scores.get(i, (-1.0, ""))[0]:
            scores[i] = (score, match)

    compact = re.sub(r"[^A-Za-z0-9]", "", query).upper()
    exact_code = index.codes.get(compact, [])
    for i in exact_code:
        hit(i, 100.0, "code")
    postcode_like = looks_like_postcode(query)
    if postcode_like and len(compact) >= 2:
        import bisect  # noqa: PLC0415 - only for postcode prefixes

        start = bisect.bisect_left(index.postcodes, (compact, -1))
        for key, i in index.postcodes[start:start + 200]:
            if not key.startswith(compact):
                break
            hit(i, 95.0 - (len(key) - len(compact)), "postcode")
    q_words = q.split()
    for i in index.by_name.get(q, []):
        hit(i, 98.0, "name")
    if len(q) >= 2:
        # numpy's string functions loop in C over the ~70,000 names: a few ms where a Python loop took 150.
        starts = np.flatnonzero(np.char.startswith(index.padded, " " + q))
        for i in starts:
            hit(int(i), 90.0 - min(len(index.names[i]) - len(q), 20) * 0.1, "name starts")
        if len(q) >= 3:
            every = np.ones(len(index.names), dtype=bool)
            for word in q_words:
                every &= np.char.find(index.padded, " " + word) >= 0
            for i in np.flatnonzero(every):
                hit(int(i), 85.0, "words start")
        if len(q) >= 4:
            for i in np.flatnonzero(np.char.find(index.padded, q) >= 0):
                hit(int(i), 80.0, "within name")
    if not scores and len(q) >= 4 and not postcode_like:
        for name, score, _ in process.extract(q, index.unique, scorer=fuzz.WRatio, limit=30,
                                              score_cutoff=FUZZY_CUTOFF):
            for i in index.by_name[name]:
                hit(i, 60.0 + (score - FUZZY_CUTOFF) * 0.5, "close spelling")
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], index.kind_rank[kv[0]],
                                                   len(index.names[kv[0]]), index.rows[kv[0]]["code"]))
    per: dict[str, int] = {}
    for i, (_score, match) in ranked:
        row = index.rows[i]
        if i not in exact_code:
            if per.get(row["kind"], 0) >= per_kind:
                continue
        per[row["kind"]] = per.get(row["kind"], 0) + 1
        out["results"].append(_result(row, match))
        if len(out["results"]) >= limit:
            break
    if postcode_like and not any(r["kind"] == "postcode" for r in out["results"]):
        out["note"] = POSTCODE_NOTE
    return out
