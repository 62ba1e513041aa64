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
- **Names** (``search.parquet``: about 110,000 short rows): England and Wales, regions, Wales, combined
  authorities, districts (in English and Welsh), the gazetteer's cities, towns, suburbs, villages and hamlets
  (OS Open Names 2021, English and Welsh names), December 2022 wards, postcode districts, and the LSOAs and
  OAs held, by name or code. It stays on disk too: the first worker of a host that searches a build writes
  the index with its matching columns (names normalised, where they are, codes as typed) beside the built
  datapacks, and every search is one DuckDB query on that file; a worker holds none of it.

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

import contextlib
import fcntl
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rapidfuzz import fuzz, process

from atlas import settings

if TYPE_CHECKING:
    from atlas.extracts import Extracts

log = logging.getLogger(__name__)

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

def _normalised(values: pd.Series) -> pd.Series:
    """``normalise`` over a column at once (the same steps, in pandas' string methods)."""
    text = values.fillna("").astype(str).str.normalize("NFKD").str.replace(r"[\u0300-\u036f]", "", regex=True)
    text = text.str.lower().str.replace(r"['’‘`]", "", regex=True).str.replace("&", " and ", regex=False)
    return text.str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip()


#: The matching columns a derived index adds to the build's search.parquet; a new version is written under a
#: new name when they change.
DERIVED_VERSION = 1
_DERIVED = pa.schema([("norm", pa.string()), ("context", pa.string()), ("key", pa.string()),
                      ("kind_rank", pa.int32()), ("length", pa.int32())])
_lock = threading.Lock()


def _kind_ranks(kind: pd.Series, place_type: pd.Series, level: pd.Series) -> list[int]:
    """The order results of equal match are listed in: by kind, a place by its type, an area by its level."""
    order = {k: n for n, k in enumerate(KIND_ORDER)}
    types = {t: n for n, t in enumerate(PLACE_ORDER)}
    levels = {lv: n for n, lv in enumerate(("lad", "lsoa11", "oa11", "lsoa21", "oa21", "ward22"))}
    return [order.get(k, len(order)) * 100 + types.get(t, 9) * 10 + levels.get(lv, 9)
            for k, t, lv in zip(kind, place_type, level, strict=True)]


def _matching_columns(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A slice of the index with its matching columns: the name normalised (``norm``), the same with where it
    is (``context``: " name where", for words that say where), the code as typed whole (``key``), the kind's
    rank and the name's length."""
    table = batch.to_pandas()
    none = pd.Series(None, index=table.index, dtype=object)
    names = _normalised(table["name"])
    where = _normalised(table.get("where", none).fillna("") + " " + table["authority_name"].fillna(""))
    columns = {
        "norm": names.tolist(),
        "context": (" " + names + " " + where).tolist(),
        "key": table["code"].astype(str).str.replace(" ", "").str.upper().tolist(),
        "kind_rank": _kind_ranks(table["kind"], table.get("type", none), table["level"]),
        "length": names.str.len().tolist(),
    }
    arrays = [*batch.columns, *(pa.array(columns[f.name], type=f.type) for f in _DERIVED)]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema([*batch.schema, *_DERIVED]))


def _write_index(reader: Extracts, path: Path) -> None:
    """Write the build's index with its matching columns to ``path``, a slice at a time, under a temporary name
    renamed into place when whole: a worker reading it never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    writer = None
    try:
        for batch in reader.search_batches():
            batch = _matching_columns(batch)
            if writer is None:
                writer = pq.ParquetWriter(temporary, batch.schema, compression="zstd")
            writer.write_batch(batch)
        if writer is None:  # a build made before the index existed: no rows, but the columns searched
            columns = [("row", pa.int64()), *((c, pa.string()) for c in ("kind", "code", "name", "label",
                                                                         "authority", "authority_name", "level"))]
            pq.write_table(pa.schema([*columns, *_DERIVED]).empty_table(), temporary)
        else:
            writer.close()
        os.chmod(temporary, 0o644)  # mkstemp's 0600: any worker of the host reads it
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    # Indexes of builds this data folder no longer has go, once a day old: the cache folder may be shared with
    # another data folder whose builds are not listed here, and its workers derive theirs again if need be.
    for old in path.parent.glob("*.parquet"):
        build = old.name.rsplit("-v", 1)[0]
        with contextlib.suppress(OSError):
            if not (reader.data_dir / "builds" / build).exists() and time.time() - old.stat().st_mtime > 86_400:
                old.unlink()


def _index_path(reader: Extracts) -> Path:
    return settings.load().cache_dir / "search" / f"{reader.build_id}-v{DERIVED_VERSION}.parquet"


#: Seconds the child deriving a build's index may take (about 5-15 s for the 110,000 names here).
DERIVE_TIMEOUT = 600


def _index(reader: Extracts) -> str:
    """The build's names index with its matching columns (a Parquet file searched through DuckDB per request,
    never held in a worker): derived once per build and host from the build's search.parquet when a worker
    first searches, into ATLAS_CACHE_DIR (beside the built datapacks), and read by every worker.

    Derived by a child process (``python -m atlas.search DATA_DIR BUILD_DIR PATH``): the derivation's pandas
    strings left the worker that did it 50-60 MB larger for good (bench/bench_memory.py). One derivation per
    host at a time (a lock file), so workers asking together wait for the one file. If the child fails, the
    worker derives it itself, and says why in the log: search never fails for want of the child."""
    path = _index_path(reader)
    if not path.exists():
        with _lock:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path.parent / ".derive.lock", "a") as held:
                    fcntl.flock(held, fcntl.LOCK_EX)  # released when closed, or when this process ends
                    if not path.exists():
                        _derive_in_child(reader, path)
    return str(path)


def _derive_in_child(reader: Extracts, path: Path) -> None:
    command = [sys.executable, "-m", "atlas.search", str(reader.data_dir), str(reader.build_dir), str(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DERIVE_TIMEOUT, check=False)  # noqa: S603
        failed = None if done.returncode == 0 and path.exists() else (done.stderr or "").strip()[-2000:]
    except (OSError, subprocess.SubprocessError) as exc:
        failed = str(exc)
    if failed is not None:
        log.warning("the child deriving the search index %s failed (%s); deriving it in this worker", path,
                    failed or "no message")
        _write_index(reader, path)


def main(argv: list[str] | None = None) -> None:
    """``python -m atlas.search DATA_DIR BUILD_DIR PATH``: derive that build's names index into PATH."""
    from atlas.extracts import Extracts  # noqa: PLC0415 - only the child opens a reader of its own

    data_dir, build_dir, path = (argv or sys.argv[1:])[:3]
    _write_index(Extracts(Path(build_dir), Path(data_dir)), Path(path))


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


#: How each way of matching scores (a name's start also by how much of the name was typed), best first: a row
#: that matches in several ways is scored by the first.
_MATCHES = ("code", "name", "name starts", "words start", "words and where", "within name")
_SCORES = (100.0, 98.0, 90.0, 85.0, 84.0, 80.0)


def _names(reader: Extracts, path: str, query: str, q: str, postcode_like: bool
           ) -> list[tuple[int, str, str, str]]:
    """Every row of the index at ``path`` that matches ``q`` (normalised), best first: (row, kind, code, how it
    matched). Results of equal score go by kind, then shorter names, then code; then by the first way they
    matched and their row."""
    compact = re.sub(r"[^A-Za-z0-9]", "", query).upper()
    words = q.split()
    found = reader.search_matches(path, compact, q, words, starts=len(q) >= 2,
                                  by_words=len(q) >= 3 and " " in q, within=len(q) >= 4)
    scored = []
    for row, kind, code, length, kind_rank, stage in found:
        score = _SCORES[stage] - (min(length - len(q), 20) * 0.1 if stage == 2 else 0.0)
        scored.append(((-score, kind_rank, length, code, stage, row), (row, kind, code, _MATCHES[stage])))
    if not scored and len(q) >= 4 and not postcode_like:
        # A close spelling of a whole name (ratio, not WRatio: a part of the words typed is not a match). A
        # ratio of FUZZY_CUTOFF or more needs the shorter name to be at least 0.74 of the longer: only names of
        # such lengths are read (a little wider), in the order of their first row.
        names = reader.search_names(path, int(len(q) * 0.7), math.ceil(len(q) / 0.7) + 1)
        close = process.extract(q, names, scorer=fuzz.ratio, limit=30, score_cutoff=FUZZY_CUTOFF)
        scores = {name: 60.0 + (score - FUZZY_CUTOFF) * 0.5 for name, score, _ in close}
        order = {name: n for n, (name, _, _) in enumerate(close)}
        for row, kind, code, length, kind_rank, name in reader.search_named(path, list(scores)):
            scored.append(((-scores[name], kind_rank, length, code, order[name], row),
                           (row, kind, code, "close spelling")))
    scored.sort(key=lambda item: item[0])
    return [hit for _, hit in scored]


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
    path = _index(reader)
    ranked = _names(reader, path, query, q, postcodes is not None)
    exact_code = {row for row, _, _, match in ranked if match == "code"}
    per: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    chosen: list[tuple[int, str]] = []
    for row, kind, code, match in ranked:
        key = (kind, code)
        if key in seen:
            continue  # a place found by its Welsh and its English name
        if row not in exact_code and per.get(kind, 0) >= per_kind:
            continue
        seen.add(key)
        per[kind] = per.get(kind, 0) + 1
        chosen.append((row, match))
        if len(chosen) >= limit:
            break
    rows = reader.search_rows(path, [row for row, _ in chosen])
    results = [_result(rows[row], match) for row, match in chosen]
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


if __name__ == "__main__":
    main()
