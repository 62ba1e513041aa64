"""Find a place by name, code or postcode: ``search(reader, text)``, the one search behind the search box and
``GET /api/search?q=``.

Two indexes, both built by the pipeline:

- **Postcodes** (``postcodes.parquet``, pipeline/postcodes.py): every postcode of Great Britain (OS Code-Point
  Open, October 2025) and the WC area's terminated ones (NSPL, November 2021), each with its point and the
  areas it lies in. It stays on disk: the extracts reader looks one postcode up (one row group read).
  A postcode typed whole, in any spacing and case ("b152tt", "B15  2TT") is found or answered: a Scottish
  one "in Scotland, not covered", a terminated one with its date, a Northern Irish, Channel Islands or Isle
  of Man one as not covered, one that is not in the directory as such. A postcode's start ("M15 4",
  "B15") offers its postcode district and its first postcodes.
- **Names** (``search.parquet``, in memory: about 80,000 short rows): England and Wales, regions, Wales,
  combined authorities, districts (in English and Welsh), the gazetteer's cities, towns, suburbs, villages
  and hamlets (OS Open Names 2021, English and Welsh names), December 2022 wards, postcode districts, and
  the LSOAs and OAs held, by name or code.

Matching a name, best first:

1. a code typed whole ("E01009203", "W05001274");
2. a name typed whole, case, accents and punctuation aside ("hay-on-wye", "St Marys" for "St Mary's");
3. the start of a name ("birm"), or of every word of it ("north edg"), or of words of the name and of where
   it is ("newchurch powys");
4. a name within a longer one ("heath" in "Sparkbrook and Balsall Heath East");
5. only when nothing above matched: close spellings of a whole name (rapidfuzz's ratio, at least 85 of 100:
   "Edgbastn", "Birmingam"). Never a part of the words typed: "Hebden Bridge" does not offer "Bridge".

Results of equal match are ordered by kind: England and Wales, regions, Wales, combined authorities,
districts, the gazetteer's places (city, town, suburb, village, hamlet, other settlement), wards, postcode
districts, LSOAs, OAs; then shorter names first. So a town called what was typed comes before a ward of
that name, and a whole-word match of anything before a close spelling of anything. At most ``per_kind`` of
one kind, but for a code typed whole.

The gazetteer lacks OS Open Names' 116 densest tiles (most of London, Birmingham, Manchester, Leeds and
Bradford, Cardiff, Newcastle...): where a name finds no place, the answer says so (``note``) and offers
the wards and districts that match instead.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

if TYPE_CHECKING:
    from atlas.extracts import Extracts

__all__ = ["KIND_WORDS", "MAX_LIMIT", "MAX_QUERY", "PLACE_ZOOM", "looks_like_postcode",
           "normalise", "postcode_parts", "search"]

MAX_QUERY = 100
MAX_LIMIT = 50
FUZZY_CUTOFF = 85
KIND_ORDER = ("country", "region", "nation", "combined_authority", "authority", "place", "ward",
              "postcode_district", "postcode", "lsoa", "oa")
PLACE_ORDER = ("city", "town", "suburb", "village", "hamlet", "settlement")
KIND_WORDS = {"country": "England and Wales", "region": "region", "nation": "nation",
              "combined_authority": "combined authority", "authority": "local authority district",
              "place": "place", "ward": "electoral ward (December 2022)", "postcode_district": "postcode district",
              "postcode": "postcode", "lsoa": "LSOA", "oa": "output area"}
#: The zoom a chosen place is shown at (the map flies to its point and pins it), by the gazetteer's type. A
#: postcode has none: the map flies to the whole area it lies in (its LSOA fills the screen, pin inside).
PLACE_ZOOM = {"city": 12, "town": 13, "suburb": 14, "village": 14, "hamlet": 15, "settlement": 15}
LEVEL_YEARS = {"lsoa11": "2011", "oa11": "2011", "lsoa21": "2021", "oa21": "2021"}
CODEPOINT = "OS Code-Point Open 2025.4 (October 2025)"
NSPL = "ONS National Statistics Postcode Lookup, November 2021 (WC postcode area)"
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
NOT_GB = {"BT": "Northern Ireland", "GY": "Guernsey", "JE": "Jersey", "IM": "the Isle of Man"}
_OUTWARD = r"[A-Z]{1,2}[0-9][A-Z0-9]?"
_UNIT = re.compile(rf"^({_OUTWARD})([0-9][A-Z]{{2}})$")
_START = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?( ?[0-9][A-Z]{0,2})?$")


def normalise(text: str) -> str:
    """Lower case, accents and apostrophes dropped, '&' as 'and', other punctuation as spaces."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"['’‘`]", "", text).replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def looks_like_postcode(text: str) -> bool:
    """"M15", "M15 4", "M15 4AB", "wc1a1aa": the start of a UK postcode."""
    compact = re.sub(r"\s+", " ", str(text).strip().upper())
    return bool(_START.match(compact)) and any(ch.isdigit() for ch in compact)


def postcode_parts(text: str) -> tuple[str, str] | None:
    """A whole postcode in any spacing and case -> (outward, inward): "b152tt" -> ("B15", "2TT"); None when
    the text is not one."""
    match = _UNIT.match(re.sub(r"\s+", "", str(text).upper()))
    return (match.group(1), match.group(2)) if match else None


def _seven(outward: str, inward: str = "") -> str:
    """The 7-character form the index is sorted by: "M1" + "1AE" -> "M1  1AE"."""
    return f"{outward:<4}{inward}"


def _month(yyyymm: str | None) -> str | None:
    if not yyyymm or not re.fullmatch(r"\d{4}-\d\d", yyyymm):
        return None
    return f"{MONTHS[int(yyyymm[5:]) - 1]} {yyyymm[:4]}"


# -- the names ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Index:
    """The names' index: columns, not a dict per row (80,000 rows: a dict each cost 160 MB a worker)."""

    table: pd.DataFrame  # search.parquet as read
    names: np.ndarray  # normalised name per row (object)
    lengths: np.ndarray  # their lengths
    codes: np.ndarray  # each row's code, as text
    by_code: dict[str, list[int]]  # upper-case code without spaces -> rows
    unique: list[str]  # distinct normalised names, for close spellings
    by_name: dict[str, list[int]]
    kind_rank: np.ndarray
    padded: np.ndarray  # b" " + normalised name (bytes: the names are ASCII once normalised, a quarter the size)
    context: np.ndarray  # b" " + normalised name and where it is ("newchurch powys"), for words that say where

    def row(self, i: int) -> dict:
        return {k: (None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else
                    (v.item() if isinstance(v, np.generic) else v)) for k, v in self.table.iloc[i].items()}


def _normalised(values: pd.Series) -> pd.Series:
    """``normalise`` over a column at once (the same steps, in pandas' string methods)."""
    text = values.fillna("").astype(str).str.normalize("NFKD").str.replace(r"[\u0300-\u036f]", "", regex=True)
    text = text.str.lower().str.replace(r"['’‘`]", "", regex=True).str.replace("&", " and ", regex=False)
    return text.str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip()


def _build(table: pd.DataFrame) -> _Index:
    table = table.reset_index(drop=True)  # kept as read (Arrow strings): a Python object per cell cost 100 MB
    names = _normalised(table["name"]).to_numpy(dtype=object)
    where = _normalised(table.get("where", pd.Series(None, index=table.index)).fillna("") + " "
                        + table["authority_name"].fillna("")).to_numpy(dtype=object)
    codes = table["code"].astype(str).to_numpy(dtype=object)
    by_code: dict[str, list[int]] = {}
    for i, code in enumerate(codes):
        by_code.setdefault(code.replace(" ", "").upper(), []).append(i)
    by_name: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        by_name.setdefault(name, []).append(i)
    order = {k: n for n, k in enumerate(KIND_ORDER)}
    types = {t: n for n, t in enumerate(PLACE_ORDER)}
    levels = {lv: n for n, lv in enumerate(("lad", "lsoa11", "oa11", "lsoa21", "oa21", "ward22"))}
    kind_type = table.get("type", pd.Series(None, index=table.index))
    rank = [order.get(k, len(order)) * 100 + types.get(t, 9) * 10 + levels.get(lv, 9)
            for k, t, lv in zip(table["kind"], kind_type, table["level"], strict=True)]
    padded = np.array([(" " + n).encode("ascii", "ignore") for n in names])
    context = np.array([(" " + n + " " + w).encode("ascii", "ignore") for n, w in zip(names, where, strict=True)])
    return _Index(table=table, names=names, lengths=np.array([len(n) for n in names]), codes=codes,
                  by_code=by_code, unique=list(by_name), by_name=by_name, kind_rank=np.array(rank), padded=padded,
                  context=context)


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


def _areas(row: dict, level11: str = "lsoa11") -> dict[str, str]:
    """The areas a place's or postcode's point lies in, by level (those known)."""
    out = {level11: row.get("lsoa") or row.get("lsoa11"), "lsoa21": row.get("lsoa21"), "oa11": row.get("oa11"),
           "oa21": row.get("oa21"), "ward22": row.get("ward_code") or row.get("ward22")}
    return {k: v for k, v in out.items() if v}


def _result(row: dict, match: str) -> dict:
    box = [row.get(k) for k in ("west", "south", "east", "north")]
    kind = row["kind"]
    out = {
        "kind": kind, "what": KIND_WORDS.get(kind, kind), "code": row["code"], "name": row["name"],
        "label": row.get("label") or row["name"], "authority": row["authority"],
        "authority_name": row.get("authority_name"), "level": row["level"], "area": None,
        "bbox": box if all(v is not None for v in box) else None, "match": match,
    }
    if kind in ("lsoa", "oa", "ward"):
        out["area"] = row["code"]
    if kind in ("lsoa", "oa"):
        out["what"] += f" ({LEVEL_YEARS.get(row['level'], row['level'])})"
        if row.get("ward"):
            out["ward"] = row["ward"]
    if kind in ("country", "region", "nation", "combined_authority", "authority"):
        out["where"] = "England and Wales"
        if row.get("other_name"):
            out["other_name"] = row["other_name"]
    elif kind == "place":
        # "village in Richmondshire, North Yorkshire": the gazetteer's own district and county.
        out["what"] = row.get("type") or "place"
        out["where"] = row.get("where") or row.get("authority_name")
        out["other_name"] = row.get("other_name")
        out["level"] = "lsoa21" if row.get("lsoa21") else row["level"]  # as a postcode: today's LSOAs
        out["area"] = row.get("lsoa21") or row.get("lsoa")
        out["areas"] = _areas(row)
        out["point"] = [row["lon"], row["lat"]]
        out["zoom"] = PLACE_ZOOM.get(row.get("type") or "", 15)
        out["ward"] = {"code": row.get("ward_code"), "name": row.get("ward")} if row.get("ward_code") else None
    elif kind == "postcode_district":
        out["where"] = row.get("where") or row.get("authority_name")
    else:
        out["where"] = row.get("authority_name") or row["authority"]
    return out


def _names(index: _Index, query: str, q: str, postcode_like: bool) -> dict[int, tuple[float, str]]:
    """Every row that matches ``q`` (normalised), with its score and how it matched."""
    scores: dict[int, tuple[float, str]] = {}

    def hit(i: int, score: float, match: str) -> None:
        if score > scores.get(i, (-1.0, ""))[0]:
            scores[i] = (score, match)

    compact = re.sub(r"[^A-Za-z0-9]", "", query).upper()
    for i in index.by_code.get(compact, []):
        hit(i, 100.0, "code")
    for i in index.by_name.get(q, []):
        hit(i, 98.0, "name")
    if len(q) >= 2:
        # numpy's string functions loop in C over the ~80,000 names: a few ms where a Python loop took 150.
        b = q.encode("ascii", "ignore")
        for i in np.flatnonzero(np.char.startswith(index.padded, b" " + b)):
            hit(int(i), 90.0 - min(int(index.lengths[i]) - len(q), 20) * 0.1, "name starts")
        if len(q) >= 3 and " " in q:
            every = np.ones(len(index.names), dtype=bool)
            for word in b.split():
                every &= np.char.find(index.padded, b" " + word) >= 0
            for i in np.flatnonzero(every):
                hit(int(i), 85.0, "words start")
            # Words that say where: "newchurch powys", "richmond north yorkshire", "high street camden".
            every = np.ones(len(index.names), dtype=bool)
            for word in b.split():
                every &= np.char.find(index.context, b" " + word) >= 0
            for i in np.flatnonzero(every):
                hit(int(i), 84.0, "words and where")
        if len(q) >= 4:
            for i in np.flatnonzero(np.char.find(index.padded, b) >= 0):
                hit(int(i), 80.0, "within name")
    if not scores and len(q) >= 4 and not postcode_like:
        # A close spelling of a whole name (ratio, not WRatio: a part of the words typed is not a match).
        for name, score, _ in process.extract(q, index.unique, scorer=fuzz.ratio, limit=30,
                                              score_cutoff=FUZZY_CUTOFF):
            for i in index.by_name[name]:
                hit(i, 60.0 + (score - FUZZY_CUTOFF) * 0.5, "close spelling")
    return scores


# -- postcodes ---------------------------------------------------------------------------------------------

def _postcode_result(row: dict) -> dict:
    """A row of postcodes.parquet as a search result."""
    display = f"{row['pc7'][:4].rstrip()} {row['pc7'][4:]}"
    ward = {"code": row.get("ward22"), "name": row.get("ward22_name")} if row.get("ward22") else None
    terminated = row.get("status") == "terminated"
    when = _month(row.get("terminated"))
    what = "postcode" if not terminated else (f"terminated postcode (ended {when})" if when else
                                              "terminated postcode (ended after November 2021)")
    out = {
        "kind": "postcode", "what": what, "code": display, "name": display, "label": display,
        "authority": row.get("authority"), "authority_name": row.get("authority_name"),
        # Opened on its LSOA of 2021, the level today's indices and Census 2021 are published for (every
        # district has it); the LSOA of 2011 is in ``areas`` (and kept when the map shows 2011's).
        "level": "lsoa21" if row.get("lsoa21") else "lsoa11", "area": row.get("lsoa21") or row.get("lsoa11"),
        "areas": _areas(row), "point": [row["lon"], row["lat"]], "zoom": None,
        "bbox": None, "match": "postcode", "status": row.get("status"), "terminated": row.get("terminated"),
        "source": CODEPOINT if not terminated else NSPL,
        "lsoa": {"code": row.get("lsoa11"), "name": row.get("lsoa11_name")},
        "lsoa21": {"code": row.get("lsoa21"), "name": row.get("lsoa21_name")} if row.get("lsoa21") else None,
        "oa": ({"code": row.get("oa11") or row.get("oa21"), "level": "oa11" if row.get("oa11") else "oa21"}
               if row.get("oa11") or row.get("oa21") else None),
        "ward": ward,
        "where": ", ".join(p for p in ((ward or {}).get("name") and f"{ward['name']} ward",
                                       row.get("authority_name")) if p),
    }
    if not out["oa"]:
        out["oa_note"] = ("Output Areas are held for Liverpool, Manchester, Trafford, Camden, Tower Hamlets, "
                          "Lichfield and Cardiff (2011) and Trafford (2021) only.")
    if row.get("district_now") and row["district_now"] != row.get("authority"):
        # A district reorganised since 2021 (North Yorkshire, Somerset, Cumberland...): the atlas's areas and
        # figures are by the districts of 2021, and the postcode's council today is named beside it.
        out["district_now"] = {"code": row["district_now"], "name": row.get("district_now_name")}
    near = [f"{level}: {row[f'{level}_m']:.0f} m" for level in ("lsoa11", "lsoa21", "ward22")
            if row.get(f"{level}_m") is not None]
    if near:
        out["placed"] = ("The postcode's point lies just outside the generalised boundaries (on a shore or a "
                         "river bank); it is given the nearest area (" + ", ".join(near) + ").")
    return out


def _postcode_note(reader: Extracts, outward: str, inward: str, row: dict | None) -> str | None:
    """What to say of a whole postcode that gives no result (or a terminated one)."""
    display = f"{outward} {inward}"
    area = re.match(r"^[A-Z]{1,2}", outward).group(0)
    if row is not None:
        if row.get("country") == "S92000003":
            where = f" ({row['district_now_name']})" if row.get("district_now_name") else ""
            return (f"{display} is in Scotland{where}, not covered: this atlas maps the neighbourhoods of England "
                    "and Wales.")
        if row.get("lon") is None:
            return (f"{display} is a live postcode but {CODEPOINT} gives it no position, so it cannot be placed "
                    "on the map.")
        if row.get("status") == "terminated":
            when = _month(row.get("terminated"))
            return (f"{display} is a terminated postcode (it ended {'in ' + when if when else 'after November 2021'}"
                    "); it is shown where it was.")
        if row.get("authority") is None:
            return f"{display} lies outside England and Wales' areas: not covered."
        return None
    if area in NOT_GB:
        return f"{display} is a postcode of {NOT_GB[area]}: not covered (this atlas maps England and Wales)."
    areas = reader.search_notes().get("postcode_areas") or {}
    if areas and area not in areas:
        return f"{display} is not a postcode: there is no postcode area {area}."
    if areas.get(area) == ["Scotland"]:
        return (f"{display} is not in {CODEPOINT}; {area} is a Scottish postcode area, not covered by this atlas "
                "in any case.")
    return (f"{display} is not in {CODEPOINT} (every live postcode of Great Britain), nor a terminated postcode "
            "of the directories held (only the WC area's terminated postcodes are kept): check it.")


def _postcodes(reader: Extracts, query: str, out: dict, limit: int) -> list[dict] | None:
    """Results for a postcode or a postcode's start, or None when ``query`` is neither."""
    parts = postcode_parts(query)
    if parts:
        row = reader.postcode(_seven(*parts))
        note = _postcode_note(reader, *parts, row)
        out["note"] = note
        if row is not None and row.get("authority") is not None and row.get("lon") is not None:
            return [_postcode_result(row)]
        return []
    if not looks_like_postcode(query):
        return None
    compact = re.sub(r"\s+", " ", query.strip().upper())
    outward, _, inward = compact.partition(" ")
    starts = []
    if inward:
        starts.append(_seven(outward, inward))
    else:
        # "B15" is a whole outward code (its postcodes) or the start of a longer one ("B152" is B15 2...).
        for cut in range(len(outward), 1, -1):
            head, tail = outward[:cut], outward[cut:]
            if re.fullmatch(_OUTWARD, head) and (not tail or re.fullmatch(r"[0-9][A-Z]{0,1}", tail)):
                starts.append(_seven(head, tail) if tail else _seven(head))
    found: list[dict] = []
    for start in starts:
        for row in reader.postcodes_from(start, limit):
            if row.get("authority") is not None and row.get("lon") is not None and len(found) < limit:
                found.append(_postcode_result(row))
    return found


def search(reader: Extracts, text: Any, limit: int = 10, per_kind: int = 5) -> dict:
    """Results for ``text`` (see the module's docstring): ``{"query", "results", "note"}``. ``note`` says what
    the atlas cannot answer (a Scottish or unknown postcode, a name the gazetteer may lack). Never raises on
    user input."""
    query = str(text or "")[:MAX_QUERY].strip()
    limit = max(1, min(int(limit), MAX_LIMIT))
    out: dict[str, Any] = {"query": query, "results": [], "note": None}
    q = normalise(query)
    if not q:
        return out
    postcodes = _postcodes(reader, query, out, limit)
    if postcodes is not None and postcode_parts(query):
        out["results"] = postcodes
        return out
    index = _index(reader)
    scores = _names(index, query, q, postcodes is not None)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], index.kind_rank[kv[0]], index.lengths[kv[0]],
                                                   index.codes[kv[0]]))
    exact_code = set(index.by_code.get(re.sub(r"[^A-Za-z0-9]", "", query).upper(), []))
    per: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    results = []
    kinds = index.table["kind"].to_numpy()
    for i, (_score, match) in ranked:
        key = (kinds[i], index.codes[i])
        if key in seen:
            continue  # a place found by its Welsh and its English name
        if i not in exact_code and per.get(key[0], 0) >= per_kind:
            continue
        seen.add(key)
        per[key[0]] = per.get(key[0], 0) + 1
        results.append(_result(index.row(i), match))
        if len(results) >= limit:
            break
    if postcodes:
        # A postcode's start: its district first, then its first postcodes, then any name that matched.
        districts = [r for r in results if r["kind"] == "postcode_district"]
        others = [r for r in results if r["kind"] != "postcode_district"]
        results = (districts + postcodes + others)[:limit]
    out["results"] = results
    whole = results and results[0]["match"] in ("code", "name") and results[0]["kind"] in (
        "country", "region", "nation", "combined_authority", "authority")
    if postcodes is None and len(q) >= 3 and not whole and not any(r["kind"] == "place" for r in results) \
            and not any(r["match"] == "code" for r in results):
        out["note"] = _gazetteer_note(reader, query, results)
    elif postcodes is not None and not results:
        out["note"] = f"No postcode starts {query.strip().upper()!r}."
    return out


#: England's and Wales's core cities, named in the gazetteer's note where its gap covers them.
CORE_CITIES = ("E08000025", "E06000023", "W06000015", "E08000035", "E08000012", "E08000003", "E08000021",
               "E06000018", "E08000019")


def _gazetteer_note(reader: Extracts, query: str, results: list[dict]) -> str:
    """Said when a name finds no town, village or suburb: the gazetteer's gap, and what is offered instead."""
    notes = reader.search_notes()
    half = [d for d in notes.get("districts", []) if d.get("share", 0) >= 0.5]
    london = sum(1 for d in half if d["code"].startswith("E09"))
    cities = [re.sub(r", City of$", "", d["name"]) for code in CORE_CITIES for d in half if d["code"] == code]
    among = ([f"{london} London boroughs"] if london else []) + cities
    instead = "The wards and districts that match are listed instead." if results else \
        "Try a ward, a district or a postcode."
    return (f"No town, village or suburb called “{query.strip()[:60]}” in the place names held: they lack OS Open "
            f"Names' {notes.get('absent_tiles', 116)} densest 20 km squares, half or more of {len(half)} districts"
            + (f" (among them {', '.join(among[:-1])} and {among[-1]})" if len(among) > 1 else "")
            + f". {instead}")
