"""Places larger than a district, friendly area names, and the search index (build time only).

- **Places** (``places.parquet``): each English region (ONS LAD -> region lookup, April 2021), Wales
  (``W92000004``: the Welsh districts) and each combined authority of December 2022 (the ``CAUTHCD`` every
  December 2022 ward carries, named by the index beside the ward files). A place is the set of its districts;
  the build stops if a district's wards name two combined authorities, or if the wards' region codes
  disagree with the region lookup.
- **Friendly names** (areas' ``ward`` and ``label`` columns): an LSOA of 2011 is named with its ward from
  the ONS LSOA (2011) -> Ward (2019) lookup ("Birmingham 043C, in Nechells ward"); an Output Area with its
  LSOA (the national OA -> LSOA lookup of the MLID frame, or Trafford's 2021 statistical lookup) and that
  LSOA's ward; an LSOA of 2021 with the December 2022 wards that hold at least a quarter of its published
  polygon (most first: "Birmingham 079H, in Edgbaston ward"), so the 2021 areas carry the wards of their own
  time (ONS publishes no LSOA 2021 -> ward lookup here); a ward with its district.
- **The search index** (``search.parquet``): districts (with their Welsh names), places, every December 2022
  ward, the LSOAs and OAs that have polygons here, the gazetteer's towns, villages, hamlets and suburbs (OS
  Open Names, English and Welsh names: pipeline/postcodes.py placed them in the atlas's areas) and every
  postcode district (outward code) with its box: each with the district and level it opens and its bounding
  box. Postcodes themselves are not here: ``postcodes.parquet`` holds them, looked up on disk by the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from pipeline import readers
from pipeline.readers import RawFiles, SourceError

__all__ = ["F_CA_NAMES", "LABEL_BANDS", "LABEL_KINDS", "WALES", "area_labels", "label_points", "read_lsoa_wards",
           "read_places", "search_index"]

F_LSOA_WARD = "lookups/Lower_Layer_Super_Output_Area_(2011)_to_Ward_(2019)_Lookup_in_England_and_Wales.csv"
F_REGION = "lookups/Local_Authority_District_to_Region_(April_2021)_Lookup_in_England.csv"
WARDS_DIR = "national/elections/wd22_by_lad"
F_CA_NAMES = f"{WARDS_DIR}/README_drkane_boundaries.md"
F_LOOKUP21 = "boundaries/gm_2021_trafforddatalab/lookups/2021/statistical_lookup.csv"
WALES = "W92000004"
#: What a search result says it is, in the order results of equal match are listed.
KINDS = ("country", "region", "nation", "combined_authority", "authority", "place", "ward", "postcode_district",
         "lsoa", "oa")
#: ``type`` is a place's kind of settlement (city, town, suburb, village, hamlet, settlement); ``other_name``
#: the other language's name of a place or district (Welsh or English), ``where`` the gazetteer's district
#: and county ("Richmondshire, North Yorkshire"); ``lsoa`` the 2011 LSOA a place's point lies in.
SEARCH_COLUMNS = ["kind", "code", "name", "label", "other_name", "type", "where", "authority", "authority_name",
                  "level", "lsoa", "lsoa_name", "lsoa21", "oa11", "oa21", "ward", "ward_code", "lon", "lat", "west",
                  "south", "east", "north"]


# -- places ------------------------------------------------------------------------------------------------

def _combined_authority_names(raw: RawFiles) -> dict[str, str]:
    """``- Greater Manchester (E47000001): ...`` lines under the index's "Combined Authority" heading."""
    text = raw(F_CA_NAMES).read_text(encoding="utf-8")
    section = re.search(r"^## Combined Authority\s*$(.*?)(?=^## )", text, re.M | re.S)
    if not section:
        raise SourceError(F_CA_NAMES, "has no '## Combined Authority' section")
    names = dict((code, name.strip()) for name, code in
                 re.findall(r"^- (.+?) \((E47\d{6})\):", section.group(1), re.M))
    if not names:
        raise SourceError(F_CA_NAMES, "names no combined authority (lines '- Name (E47...): ...')")
    return names


def read_places(raw: RawFiles, lads: pd.DataFrame) -> pd.DataFrame:
    """Regions, Wales and combined authorities: code, name, kind, authorities (sorted district codes).

    ``lads`` has the December 2021 districts' ``LAD21CD`` and ``LAD21NM``."""
    known = set(lads["LAD21CD"])
    region = readers.read_csv(raw(F_REGION), F_REGION, encoding="utf-8-sig")
    readers.require_columns(region, ["LAD21CD", "RGN21CD", "RGN21NM"], F_REGION)
    rows = []
    for (code, name), group in region.groupby(["RGN21CD", "RGN21NM"]):
        rows.append({"code": code, "name": name, "kind": "region", "authorities": sorted(group["LAD21CD"])})
    welsh = sorted(c for c in known if c.startswith("W06"))
    rows.append({"code": WALES, "name": "Wales", "kind": "nation", "authorities": welsh})

    frames = []
    for path in raw.glob(WARDS_DIR, "*.geojson"):
        try:
            frame = pyogrio.read_dataframe(path, read_geometry=False, columns=["LAD22CD", "CAUTHCD", "RGNCD"])
        except Exception as exc:  # noqa: BLE001 - a corrupt file is named, never a traceback
            raise SourceError(raw.rel(path), f"cannot be read: {exc}") from None
        readers.require_columns(frame, ["LAD22CD", "CAUTHCD", "RGNCD"], raw.rel(path))
        frames.append(frame)
    wards = pd.concat(frames, ignore_index=True)
    label = f"{WARDS_DIR}/*.geojson"
    wards = wards.astype(object).where(wards.notna(), None)
    per_lad = wards.groupby("LAD22CD").agg(ca=("CAUTHCD", lambda s: sorted({v for v in s if v})),
                                           rgn=("RGNCD", lambda s: sorted({v for v in s if v})))
    two = per_lad[per_lad["ca"].map(len) > 1]
    if len(two):
        raise SourceError(label, f"districts whose wards name two combined authorities: {list(two.index[:3])}")
    lookup_rgn = region.set_index("LAD21CD")["RGN21CD"]
    disagree = [lad for lad, rgns in per_lad["rgn"].items()
                if rgns and (len(rgns) > 1 or lookup_rgn.get(lad) != rgns[0])]
    if disagree:
        raise SourceError(label, f"wards' region codes disagree with {F_REGION} for {disagree[:3]}")
    names = _combined_authority_names(raw)
    members: dict[str, list[str]] = {}
    for lad, cas in per_lad["ca"].items():
        if cas:
            members.setdefault(cas[0], []).append(lad)
    unnamed = sorted(set(members) - set(names))
    if unnamed:
        raise SourceError(F_CA_NAMES, f"does not name the combined authorities {unnamed}")
    for code in sorted(members):
        rows.append({"code": code, "name": names[code], "kind": "combined_authority",
                     "authorities": sorted(members[code])})
    out = pd.DataFrame(rows)
    stray = sorted({a for group in out["authorities"] for a in group} - known)
    if stray:
        raise SourceError(F_REGION, f"districts {stray[:3]} are not December 2021 districts")
    return out.sort_values("code", ignore_index=True)


# -- friendly names --------------------------------------------------------------------------------------

def read_lsoa_wards(raw: RawFiles) -> pd.DataFrame:
    """LSOA 2011 code -> ``ward_code``, ``ward`` (December 2019 wards, ONS best-fit lookup)."""
    frame = readers.read_csv(raw(F_LSOA_WARD), F_LSOA_WARD, encoding="utf-8-sig")
    readers.require_columns(frame, ["LSOA11CD", "WD19CD", "WD19NM"], F_LSOA_WARD)
    if frame["LSOA11CD"].duplicated().any():
        raise SourceError(F_LSOA_WARD, "an LSOA is listed twice")
    empty = frame["WD19NM"].str.strip() == ""
    if empty.any():
        raise SourceError(F_LSOA_WARD, f"{int(empty.sum())} LSOAs have no ward name")
    return pd.DataFrame({"ward_code": frame["WD19CD"].to_numpy(), "ward": frame["WD19NM"].str.strip().to_numpy()},
                        index=pd.Index(frame["LSOA11CD"], name="code"))


def _in_wards(names: Iterable[str]) -> str:
    """"in Nechells ward", "in Aston and Nechells wards" (most areas first, as given)."""
    unique = list(dict.fromkeys(n for n in names if n))
    if not unique:
        return ""
    if len(unique) == 1:
        return f"in {unique[0]} ward"
    return "in " + ", ".join(unique[:-1]) + f" and {unique[-1]} wards"


#: A ward is named in an area's label when it holds at least this share of the area's polygon.
WARD_SHARE = 0.25


def wards_by_overlap(small: gpd.GeoDataFrame, wards: gpd.GeoDataFrame) -> pd.Series:
    """Area code -> "in X ward" / "in X and Y wards": the wards holding at least ``WARD_SHARE`` of each area's
    polygon, the largest share first (an area wholly in one ward names that ward; one straddling two names
    both). Areas no ward touches are left out."""
    area_geoms = small.geometry.to_numpy()
    ward_geoms = wards.geometry.to_numpy()
    tree = shapely.STRtree(ward_geoms)
    at, wi = tree.query(area_geoms, predicate="intersects")
    # Shares of each area's own area, in degrees: a ratio within one small area, so the projection cancels.
    share = shapely.area(shapely.intersection(area_geoms[at], ward_geoms[wi])) / shapely.area(area_geoms[at])
    pairs = pd.DataFrame({"at": at, "ward": wards["name"].to_numpy()[wi], "share": share})
    pairs = pairs.groupby(["at", "ward"], as_index=False)["share"].sum()  # a ward in several parts
    top = pairs.groupby("at")["share"].transform("max")
    keep = pairs[(pairs["share"] >= WARD_SHARE) | (pairs["share"] == top)]
    keep = keep.sort_values(["at", "share", "ward"], ascending=[True, False, True])
    words = keep.groupby("at")["ward"].agg(_in_wards)
    return pd.Series(words.to_numpy(), index=small["code"].to_numpy()[words.index.to_numpy()])


def area_labels(areas: dict[str, gpd.GeoDataFrame], lsoa_wards: pd.DataFrame, oa_lsoa: pd.Series,
                oa21_lsoa21: pd.Series, authority_names: pd.Series) -> dict[str, pd.DataFrame]:
    """Per level, ``ward`` (the ward words, "" where none is known) and ``label`` for every area.

    ``areas`` maps each level to a frame with ``code``, ``name``, ``authority`` and the published polygons;
    ``oa_lsoa`` is the OA 2011 -> LSOA 2011 lookup, ``oa21_lsoa21`` Trafford's OA 2021 -> LSOA 2021 lookup."""
    out: dict[str, pd.DataFrame] = {}
    lsoa = areas["lsoa11"].set_index("code")
    ward_of_11 = lsoa_wards["ward"]
    missing = lsoa.index.difference(ward_of_11.index)
    if len(missing):
        raise SourceError(F_LSOA_WARD, f"{len(missing)} LSOAs have no ward, e.g. {list(missing[:3])}")
    words = "in " + ward_of_11.reindex(lsoa.index) + " ward"
    out["lsoa11"] = pd.DataFrame({"code": lsoa.index, "ward": words.to_numpy(),
                                  "label": (lsoa["name"] + ", " + words).to_numpy()})

    ward_of_21 = wards_by_overlap(areas["lsoa21"], areas["ward22"])
    l21 = areas["lsoa21"].set_index("code")
    w21 = ward_of_21.reindex(l21.index).fillna("")
    out["lsoa21"] = pd.DataFrame({"code": l21.index, "ward": w21.to_numpy(),
                                  "label": np.where(w21 != "", l21["name"] + ", " + w21, l21["name"])})

    def output_areas(frame: pd.DataFrame, parent: pd.Series, parents: pd.DataFrame) -> pd.DataFrame:
        frame = frame.set_index("code")
        up = parent.reindex(frame.index)
        name = up.map(parents["name"]).fillna("")
        ward = up.map(parents["ward"]).fillna("")
        label = frame.index.to_series().to_numpy().astype(object)
        label = np.where(name != "", label + " (" + name + ")", label)
        label = np.where(ward != "", label + ", " + ward, label)
        return pd.DataFrame({"code": frame.index, "ward": ward.to_numpy(), "label": label})

    parents11 = pd.DataFrame({"name": lsoa["name"], "ward": words.to_numpy()}, index=lsoa.index)
    out["oa11"] = output_areas(areas["oa11"], oa_lsoa, parents11)
    parents21 = pd.DataFrame({"name": l21["name"], "ward": w21.to_numpy()}, index=l21.index)
    out["oa21"] = output_areas(areas["oa21"], oa21_lsoa21, parents21)

    wards = areas["ward22"].set_index("code")
    district = wards["authority"].map(authority_names).fillna("")
    out["ward22"] = pd.DataFrame({"code": wards.index, "ward": "",
                                  "label": np.where(district != "", wards["name"] + ", " + district,
                                                    wards["name"])})
    for frame in out.values():
        frame["ward"] = frame["ward"].astype(str)
        frame["label"] = frame["label"].astype(str)
    return out


def read_oa21_lsoa21(raw: RawFiles) -> pd.Series:
    """Trafford Data Lab's 2021 statistical lookup: OA 2021 -> LSOA 2021 (Greater Manchester)."""
    frame = readers.read_csv(raw(F_LOOKUP21), F_LOOKUP21)
    readers.require_columns(frame, ["oa21cd", "lsoa21cd"], F_LOOKUP21)
    return pd.Series(frame["lsoa21cd"].to_numpy(), index=frame["oa21cd"].to_numpy())


# -- the search index ------------------------------------------------------------------------------------

def _bounds(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    b = frame.geometry.bounds.round(5)
    return pd.DataFrame({"west": b["minx"].to_numpy(), "south": b["miny"].to_numpy(),
                         "east": b["maxx"].to_numpy(), "north": b["maxy"].to_numpy()}, index=frame.index)


def search_index(area_frames: dict[str, gpd.GeoDataFrame], places: pd.DataFrame, authorities: pd.DataFrame,
                 settlements: pd.DataFrame, districts: pd.DataFrame) -> pd.DataFrame:
    """One row per searchable thing (see the module's docstring); columns ``SEARCH_COLUMNS``.

    ``area_frames`` are the written areas (with ``label``, ``ward`` and ``authority_name``), ``authorities``
    the written districts (``code``, ``name``, ``name_welsh``, ``levels``, ``bbox``), ``settlements`` the
    gazetteer placed in the areas (pipeline/postcodes.settlement_index) and ``districts`` the postcode
    districts (pipeline/postcodes.postcode_districts). A place with a Welsh and an English name has a row for
    each, with the same code."""
    rows: list[pd.DataFrame] = []
    names = authorities.set_index("code")["name"]
    kinds = {"lsoa11": "lsoa", "lsoa21": "lsoa", "oa11": "oa", "oa21": "oa", "ward22": "ward"}
    for level, kind in kinds.items():
        f = area_frames[level]
        box = _bounds(f)
        rows.append(pd.DataFrame({
            "kind": kind, "code": f["code"].to_numpy(), "name": f["name"].to_numpy(), "label": f["label"].to_numpy(),
            "authority": f["authority"].to_numpy(), "authority_name": f["authority_name"].to_numpy(),
            "level": level, "lsoa": None, "lsoa_name": None,
            "ward": f["ward"].to_numpy() if kind != "ward" else f["name"].to_numpy(),
            "ward_code": None if kind != "ward" else f["code"].to_numpy(), "lon": np.nan, "lat": np.nan,
            **{k: box[k].to_numpy() for k in ("west", "south", "east", "north")}}))

    def whole(code: str, name: str, kind: str, members: list[str], label: str, level: str,
              other: str | None = None) -> dict:
        boxes = np.array([b for b in authorities.set_index("code")["bbox"].reindex(members) if b is not None])
        return {"kind": kind, "code": code, "name": name, "label": label, "other_name": other, "authority": code,
                "authority_name": name, "level": level, "lsoa": None, "lsoa_name": None, "ward": "",
                "ward_code": None, "lon": np.nan, "lat": np.nan,
                "west": boxes[:, 0].min(), "south": boxes[:, 1].min(), "east": boxes[:, 2].max(),
                "north": boxes[:, 3].max()}

    small = authorities[authorities["levels"].map(len) > 0]
    extra = []
    for _, r in small.iterrows():
        label = f"{r['name']} ({r['region']})" if r["region"] != r["name"] else r["name"]
        extra.append(whole(r["code"], r["name"], "authority", [r["code"]], label, r["levels"][0]))
        welsh = r.get("name_welsh")
        if isinstance(welsh, str) and welsh.strip() and welsh.strip() != r["name"]:
            # "Caerdydd" finds Cardiff: the Welsh name is a row of its own, naming the English one.
            extra.append(whole(r["code"], welsh.strip(), "authority", [r["code"]], f"{welsh.strip()} ({r['name']})",
                               r["levels"][0], other=r["name"]))
    words = {"region": "region of England", "nation": "nation", "combined_authority": "combined authority"}
    extra += [whole(r["code"], r["name"], r["kind"], list(r["authorities"]),
                    f"{r['name']} ({words[r['kind']]}, {len(r['authorities'])} districts)", "lsoa11")
              for _, r in places.iterrows()]
    extra.append(whole("all", "England and Wales", "country", list(small["code"]),
                       "England and Wales (every district)", "lad"))
    rows.append(pd.DataFrame(extra))

    lsoa_names = area_frames["lsoa11"].set_index("code")["name"]
    placed = settlements[settlements["authority"].notna()]
    for name_col, other_col in (("name", "other_name"), ("other_name", "name")):
        part = placed[placed[name_col].notna()]
        other = part[other_col].astype(object).where(part[other_col].notna(), None)
        label = np.where(other.notna(), part[name_col] + " (" + other.fillna("") + ")", part[name_col])
        rows.append(pd.DataFrame({
            "kind": "place", "code": part["code"].to_numpy(), "name": part[name_col].to_numpy(), "label": label,
            "other_name": other.to_numpy(), "type": part["type"].to_numpy(), "where": part["where"].to_numpy(),
            "authority": part["authority"].to_numpy(), "authority_name": part["authority_name"].to_numpy(),
            "level": "lsoa11", "lsoa": part["lsoa11"].to_numpy(),
            "lsoa_name": lsoa_names.reindex(part["lsoa11"]).to_numpy(), "lsoa21": part["lsoa21"].to_numpy(),
            "oa11": part["oa11"].to_numpy(), "oa21": part["oa21"].to_numpy(), "ward": part["ward22_name"].to_numpy(),
            "ward_code": part["ward22"].to_numpy(), "lon": part["lon"].to_numpy(), "lat": part["lat"].to_numpy(),
            **{k: part[k].to_numpy() for k in ("west", "south", "east", "north")}}))
    rows.append(pd.DataFrame({
        "kind": "postcode_district", "code": districts["outward"].to_numpy(), "name": districts["outward"].to_numpy(),
        "label": districts["outward"].to_numpy(), "type": None,
        "where": np.where(districts["authorities"] > 1, districts["authority_name"] + " and "
                          + (districts["authorities"] - 1).astype(str) + " more", districts["authority_name"]),
        "authority": districts["authority"].to_numpy(), "authority_name": districts["authority_name"].to_numpy(),
        "level": "lsoa11", "lsoa": None, "lsoa_name": None, "ward": "", "ward_code": None,
        "lon": ((districts["west"] + districts["east"]) / 2).to_numpy(),
        "lat": ((districts["south"] + districts["north"]) / 2).to_numpy(),
        **{k: districts[k].to_numpy() for k in ("west", "south", "east", "north")}}))
    out = pd.concat(rows, ignore_index=True)
    for column in SEARCH_COLUMNS:
        if column not in out:
            out[column] = None
    out = out[SEARCH_COLUMNS]
    out["authority_name"] = out["authority_name"].fillna(out["authority"].map(names))
    for column in ("lsoa", "lsoa_name", "lsoa21", "oa11", "oa21", "ward_code", "other_name", "type", "where"):
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    order = {k: i for i, k in enumerate(KINDS)}
    out["_k"] = out["kind"].map(order)
    return out.sort_values(["_k", "code", "level", "name"], ignore_index=True).drop(columns="_k")


# -- the reference layer's names ---------------------------------------------------------------------------

#: Each name's kind on the map, its code in labels/*.json, the zoom it shows from (and to: districts give way
#: to towns and wards close up), in the order they claim space (earlier wins a collision).
LABEL_KINDS = (("authority", "a", 6, 11), ("city", "c", 7, 18), ("town", "t", 9, 18), ("suburb", "s", 12, 18),
               ("village", "v", 11, 18), ("ward", "w", 13, 18), ("hamlet", "h", 13, 18),
               ("settlement", "o", 14, 18))
#: Where the gazetteer has no places (its absent tiles), wards are named from this zoom instead.
WARD_ZOOM_IN_GAPS = 11
#: labels/<band>.json: the main band (districts, cities, towns) is read with the first map; the local band
#: (suburbs, villages, wards, hamlets) once the map is zoomed to 11 or closer.
LABEL_BANDS = {"main": ("a", "c", "t"), "local": ("s", "v", "w", "h", "o")}


def label_points(lads: gpd.GeoDataFrame, wards: gpd.GeoDataFrame, settlements: pd.DataFrame,
                 gap_boxes: list[list[float]]) -> dict[str, dict]:
    """The names the reference layer places on the map, per band: ``{"kinds": {code: [from, to]}, "rows":
    [[name, kind, lon, lat, from_zoom], ...]}``. Districts at the ONS label point of each (``LONG``/``LAT``
    of the December 2021 boundaries), wards at a point inside each (shapely's point on surface), the
    gazetteer's places at their point. ``gap_boxes`` are the gazetteer's absent tiles (west, south, east,
    north in WGS84): a ward there is named from ``WARD_ZOOM_IN_GAPS``, where no town or village would be."""
    kinds = {code: (start, end) for _kind, code, start, end in LABEL_KINDS}
    codes = {kind: code for kind, code, _s, _e in LABEL_KINDS}
    rows: list[list] = []
    ew = lads[lads["LAD21CD"].str[0].isin(["E", "W"])]
    for name, lon, lat in zip(ew["LAD21NM"], pd.to_numeric(ew["LONG"]), pd.to_numeric(ew["LAT"]), strict=True):
        rows.append([re.sub(r", City of$", "", str(name)), "a", round(float(lon), 5), round(float(lat), 5),
                     kinds["a"][0]])
    inside = shapely.point_on_surface(np.asarray(wards.geometry.values))
    x, y = shapely.get_x(inside), shapely.get_y(inside)
    boxes = np.array(gap_boxes, dtype="float64").reshape(-1, 4)
    in_gap = ((x[:, None] >= boxes[:, 0]) & (x[:, None] < boxes[:, 2]) & (y[:, None] >= boxes[:, 1])
              & (y[:, None] < boxes[:, 3])).any(axis=1) if len(boxes) else np.zeros(len(x), dtype=bool)
    for name, lon, lat, gap in zip(wards["name"], x, y, in_gap, strict=True):
        rows.append([str(name), "w", round(float(lon), 5), round(float(lat), 5),
                     WARD_ZOOM_IN_GAPS if gap else kinds["w"][0]])
    placed = settlements[settlements["authority"].notna()]
    for name, kind, lon, lat in zip(placed["name"], placed["type"], placed["lon"], placed["lat"], strict=True):
        code = codes[kind]
        rows.append([str(name), code, round(float(lon), 5), round(float(lat), 5), kinds[code][0]])
    out = {}
    for band, members in LABEL_BANDS.items():
        out[band] = {"kinds": {c: list(kinds[c]) for c in members},
                     "rows": [r for r in rows if r[1] in members]}
    return out
