"""``python -m pipeline build``: publisher files in ATLAS_RAW_DIR -> extracts in ATLAS_DATA_DIR.

The build writes a new folder ``builds/<id>/`` beside the one in use and, only once every step has
succeeded, swaps the ``current`` symlink to it (an atomic rename), so a failed build never leaves a
half-written set: the previous good extracts stay in use. Re-running with unchanged inputs (same raw
file contents, same pipeline code) returns at once.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

# Swapping, pruning and the build lock are shared with the app hosts that fetch builds from object storage.
from atlas import storage
from atlas.builds import LOCK_FILE, BuildBusy, build_lock, clear_leftovers, prune, swap
from atlas.builds import publish as publish_build
from pipeline import air, deprivation2025, elections, geometry, national, places, postcodes, profiles, readers, tiles
from pipeline import datasets as ds
from pipeline.datasets import CATALOGUE_COLUMNS, Dataset, pct
from pipeline.readers import RawFiles, SourceError

__all__ = ["build", "main", "BuildBusy", "BuildReport", "LEVELS", "INPUT_FOLDERS", "KEEP_BUILDS", "LOCK_FILE"]

log = logging.getLogger("atlas.pipeline")

LEVELS = {"lsoa11": "LSOA 2011", "oa11": "OA 2011", "lsoa21": "LSOA 2021", "oa21": "OA 2021",
          "ward22": "Ward December 2022", "lad": "LAD December 2021"}
VINTAGE = {"lsoa11": "2011", "oa11": "2011", "lsoa21": "2021", "oa21": "2021", "ward22": "2022", "lad": "2021"}
SMALL_LEVELS = ("lsoa11", "oa11", "lsoa21", "oa21", "ward22")
DRKANE_LSOA21 = "later/boundaries/lsoa21_all_by_lad_drkane"
# What the build reads (folders or single files), as in the fetch manifest (make_sources.FOLDERS).
INPUT_FOLDERS = ("boundaries", "lookups", "deprivation", "census2011", "census2021", "national",
                 "later/lookups/Exact_LSOA11_to_LSOA21_to_LAD22_EW.csv", DRKANE_LSOA21, "later/deprivation_2025",
                 postcodes.CODEPOINT_DIR, postcodes.F_NSPL_WC, postcodes.NAMES_DIR, air.AIR)
KEEP_BUILDS = 3  # the default of ATLAS_KEEP_BUILDS
CACHE_DIR = ".cache"  # parsed inputs kept between builds (see RawFiles.cache)
ROW_GROUP = 2048

F_LAD = "boundaries/lad/Local_Authority_Districts_(December_2021)_UK_BUC.geojson"
F_LSOA_LOOKUP = "lookups/Lower_Layer_Super_Output_Area_(2011)_to_Ward_(2019)_Lookup_in_England_and_Wales.csv"
F_REGION = "lookups/Local_Authority_District_to_Region_(April_2021)_Lookup_in_England.csv"
F_KS102 = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
F_GLA = "boundaries/london_lsoa11_gla/LSOA_2011_London_gen_MHW.shp"
F_OA21 = "boundaries/gm_2021_trafforddatalab/oa/2021/trafford_oa_generalised.geojson"
F_LOOKUP21 = "boundaries/gm_2021_trafforddatalab/lookups/2021/statistical_lookup.csv"

BOUNDARY_SOURCE = ("Boundaries: Office for National Statistics (Open Geography Portal); contains OS data "
                   "© Crown copyright and database right. GeoJSON by UK-GeoJSON (Martin Chorley), GLA "
                   "London Datastore, Trafford Data Lab.")

# First digit of a 2011 Census table number -> topic (ONS numbers its KS/QS tables by theme).
CENSUS_TOPICS = {"1": "Population", "2": "Identity", "3": "Health", "4": "Housing", "5": "Education",
                 "6": "Work", "7": "Travel", "8": "Work"}
C21_TOPICS = {"population": "Population", "ethnicity": "Identity", "education": "Education",
              "health_disability_unpaid_care": "Health", "housing": "Housing",
              "labour_market_travel_to_work": "Work"}


@dataclass
class BuildReport:
    id: str
    path: Path
    seconds: float
    skipped: bool = False
    steps: dict[str, float] = field(default_factory=dict)
    counts: dict[str, object] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# entry points

def main(conf, force: bool = False, publish: bool = False) -> int:
    """Build; with ``publish``, upload the finished build (also an unchanged one) to object storage and move
    its ``current`` pointer there (atlas/builds.py), from where every app host fetches it."""
    try:
        report = build(conf.raw_dir, conf.data_dir, force=force, keep=conf.keep_builds)
    except BuildBusy as exc:
        print(f"build not started: {exc}", file=sys.stderr)
        return 1
    except SourceError as exc:
        print(f"build failed: {exc}\nThe extracts in use were not changed.", file=sys.stderr)
        return 1
    if report.skipped:
        print(f"extracts are up to date ({report.id}); checked in {report.seconds:.1f} s "
              "(use --force to rebuild)")
    else:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in report.steps.items())
        print(f"built {report.id} in {report.seconds:.1f} s ({steps})\n{json.dumps(report.counts, indent=1)}")
    if publish:
        try:
            pointer = publish_build(report.path)
        except (ValueError, storage.Unavailable) as exc:
            print(f"not published: {exc}", file=sys.stderr)
            return 1
        print(f"published build {pointer['id']} to {storage.get().url}; app hosts switch to it on their next check")
    return 0


def build(raw_dir: Path, data_dir: Path, force: bool = False, keep: int = KEEP_BUILDS) -> BuildReport:
    """Build every extract; raises SourceError (naming the file) and leaves ``current`` untouched on failure.

    Only one build runs per data folder at a time (an exclusive lock on ``.build.lock``; a second one
    raises BuildBusy). Holding it, the build first clears what killed builds left behind (staging folders,
    half-made symlinks), and after a successful build keeps the newest ``keep`` builds: older ones are
    removed unless a running process still reads them (see ``atlas.builds.prune``). An unchanged re-run does the
    clearing and pruning too, so it is the cheap way to tidy a data folder.
    """
    started = time.perf_counter()
    if keep < 1:
        raise ValueError(f"keep must be at least 1, not {keep}")
    data_dir = Path(data_dir)
    raw = RawFiles(Path(raw_dir), cache=data_dir / CACHE_DIR)
    builds = data_dir / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    with build_lock(data_dir):
        clear_leftovers(data_dir)
        inputs = _fingerprint(raw)
        current = data_dir / "current"
        previous = _read_json(current / "build.json")
        if not force and previous and previous.get("fingerprint") == inputs["fingerprint"]:
            prune(builds, keep, current.resolve())
            return BuildReport(previous["id"], current.resolve(), time.perf_counter() - started, skipped=True)

        build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + inputs["fingerprint"][:8]
        staging = builds / f".staging-{build_id}-{os.getpid()}"
        report = BuildReport(build_id, builds / build_id, 0.0)
        try:
            staging.mkdir()
            log.info("staging %s", staging)
            _build_into(raw, staging, report, inputs["files"])
            report.seconds = time.perf_counter() - started
            manifest = {"id": build_id, "created": datetime.now(UTC).isoformat(timespec="seconds"),
                        "seconds": round(report.seconds, 1),
                        "steps": {k: round(v, 1) for k, v in report.steps.items()},
                        "counts": report.counts, "fingerprint": inputs["fingerprint"], "inputs": inputs["files"]}
            (staging / "build.json").write_text(json.dumps(manifest, indent=1))
            staging.rename(report.path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        swap(current, report.path)
        prune(builds, keep, report.path)
        _prune_cache(raw)
    log.info("built %s in %.1f s", build_id, report.seconds)
    return report


# --------------------------------------------------------------------------------------------------
# the steps

@contextmanager
def _step(report: BuildReport, name: str) -> Iterator[None]:
    t = time.perf_counter()
    yield
    report.steps[name] = report.steps.get(name, 0.0) + time.perf_counter() - t
    log.info("%s: %.1f s", name, report.steps[name])


def _build_into(raw: RawFiles, out: Path, report: BuildReport, files: dict[str, str]) -> None:
    # Tables first: they are quick, so a malformed table stops the build before the slow geometry work.
    with _step(report, "tables"):
        lookup = _read_lsoa_lookup(raw)
        lsoa11 = lookup.index
        ks102 = readers.read_ks102ew_bulk(raw(F_KS102), F_KS102)
        _require_same(ks102["code"], lsoa11, F_KS102, "the LSOA 2011 lookup")
        english = lsoa11[lsoa11.str.startswith("E")].to_series()
        imd, imd_meta = readers.read_imd2019(raw, english, f"the English LSOAs of {F_LSOA_LOOKUP}")
        welsh = lsoa11[lsoa11.str.startswith("W")].to_series()
        wimd, wimd_meta = readers.read_wimd2019(raw, welsh, f"the Welsh LSOAs of {F_LSOA_LOOKUP}")
        lads = _read_lads(raw)
        tables2011 = national.census2011_datasets(raw, lsoa11)
        household_deprivation = national.household_deprivation_dataset(raw, lsoa11)
        rebase = national.read_exact_lookup(raw, lsoa11, set(lads["LAD21CD"]))
        tables2021 = national.read_census2021(raw, rebase.group21.index)
        imd_score, imd_check = national.imd_score_dataset(raw, pd.Index(english))
        small_tables = [national.ruc_datasets(raw, lsoa11), imd_score,
                        national.imd_indicators_dataset(raw, pd.Index(english)),
                        national.population_dataset(raw, lsoa11), national.voa_dataset(raw, lsoa11)]
        dep25 = deprivation2025.read(raw, rebase.group21.index)
        report.counts["imd2019_score_derived"] = imd_check
        report.counts["lsoa11_to_lsoa21"] = rebase.counts
        lsoa_wards = places.read_lsoa_wards(raw)
        place_rows = places.read_places(raw, lads)
        oa21_lsoa21 = places.read_oa21_lsoa21(raw)
        points = air.read_points(raw)

    # Read once, only if a cached step below needs the published polygons (the display areas, or the
    # points placed in them), then dropped.
    boundaries = functools.cache(lambda: _read_boundaries(raw, lookup, lads, rebase))
    areas, lad_display, gla = _areas(raw, boundaries, lads, files, report)
    with _step(report, "postcodes"):
        placed = _postcodes(raw, boundaries, lads, files, report)
    boundaries.cache_clear()
    lsoa, oa11, wards = areas["lsoa11"], areas["oa11"], areas["ward22"]
    lsoa21 = areas["lsoa21"]

    with _step(report, "census packs"):
        cdrc = readers.read_cdrc_pack(raw, {"oa11": "oa11", "lsoa11": "lsoa11"})
        c21 = readers.read_census2021_long(raw, {"lsoa21": "lsoa", "oa21": "oa"})
        ethnicity, oa_lsoa = national.ethnicity_dataset(raw, lsoa11, oa11.index)
        _check_oa_authorities(oa11, oa_lsoa, lsoa)
        oac = national.oac_datasets(raw, pd.Index(oa_lsoa.index), oa11.index)
        results = [elections.read_results(raw, year, wards) for year in (2022, 2021)]
        report.counts["elections"] = {str(r.year): r.report.as_dict() for r in results}
        labels = places.area_labels(areas, lsoa_wards, oa_lsoa, oa21_lsoa21, lads["LAD21NM"])

    with _step(report, "indicators"):
        weights = _rebase_weights(ks102, tables2011)
        at21, at11, rebased = national.census2021_datasets(tables2021, lsoa21.index, rebase, weights)
        frames2011 = {d.name: d.frames["lsoa11"] for d in [*tables2011, household_deprivation]}
        frames2011["ks102ew"] = ks102.rename(columns=str.lower)
        items = [
            _ks102_dataset(ks102, lsoa),
            *tables2011,
            ethnicity,
            household_deprivation,
            _deprivation_dataset("imd2019", imd, imd_meta, "England"),
            _deprivation_dataset("wimd2019", wimd, wimd_meta, "Wales"),
            *small_tables,
            _gla_dataset(gla),
            *at21,
            *at11,
            *national.change_datasets(frames2011, tables2021, rebased),
            *deprivation2025.datasets(dep25, rebase, imd, rebase.lad22),
            oac,
            *elections.election_datasets(results),
            *_cdrc_datasets(cdrc, areas),
            *_c21_datasets(c21, areas),
            *air.laei_datasets(raw, air.london_codes(areas)),
        ]
        items = _merge_same_name(items)
        national.add_summaries({d.name: d for d in items}, national.SUMMARIES, national.UNIVERSES_2011)

    with _step(report, "write"):
        out.mkdir(parents=True, exist_ok=True)
        area_frames = _area_frames(areas, lad_display, labels)
        for level, frame in area_frames.items():
            (out / "areas").mkdir(exist_ok=True)
            frame.to_parquet(out / "areas" / f"{level}.parquet", index=False, row_group_size=ROW_GROUP,
                             compression="zstd")
        authority_of = pd.concat([f[["code", "authority"]].assign(level=level)
                                  for level, f in area_frames.items()], ignore_index=True)
        catalogue, coverage = _write_values(out, items, authority_of)
    with _step(report, "tiles"):
        report.counts["tiles"] = _tiles(raw, out, area_frames, files)
    with _step(report, "write"):
        _write_lookup(out, rebase, area_frames["lsoa11"])
        authorities = _authorities(lads, area_frames, raw)
        place_table = _places(place_rows, authorities)
        search = places.search_index(area_frames, place_table, authorities, placed.settlements, placed.districts)
        _link(placed.index, out / "postcodes.parquet")
        (out / "search_notes.json").write_text(json.dumps(placed.notes))
        (out / "labels").mkdir()
        gap_boxes = [t["box"] for t in placed.notes.get("tiles", [])]
        for band, names in places.label_points(lads, area_frames["ward22"], placed.settlements, gap_boxes).items():
            (out / "labels" / f"{band}.json").write_text(json.dumps(names, separators=(",", ":"), ensure_ascii=False))
        _write_table(out / "places.parquet", place_table)
        _write_table(out / "search.parquet", search)
        _write_table(out / "catalogue.parquet", catalogue)
        _write_table(out / "coverage.parquet", coverage)
        _write_table(out / "authorities.parquet", authorities)
    with _step(report, "profiles"):
        report.counts["profiles"] = profiles.write(out, catalogue, place_table, SMALL_LEVELS)
    with _step(report, "write"):
        report.counts["points"] = air.write_points(out, points, lads, area_frames, _write_table)
        report.counts.update({
            "areas": {level: int(len(f)) for level, f in area_frames.items()},
            "authorities": int(len(authorities)),
            "authorities_with_small_areas": int((authorities["n_lsoa11"] > 0).sum()),
            "places": {k: int(v) for k, v in place_table["kind"].value_counts().items()},
            "search": {k: int(v) for k, v in search["kind"].value_counts().items()},
            "variables": int(len(catalogue)),
            "variables_by_kind": {k: int(v) for k, v in catalogue["kind"].value_counts().items()},
            "datasets": int(catalogue["dataset"].nunique()),
            "bytes": sum(p.stat().st_size for p in out.rglob("*.parquet")),
        })


# --------------------------------------------------------------------------------------------------
# areas: boundaries read, repaired and simplified for display (or reused from the cache)

#: Raw files whose contents decide the display areas (boundaries, and the lookups that assign authorities).
AREA_INPUTS = ("boundaries/", F_LSOA_LOOKUP, "national/elections/wd22_by_lad/", "later/boundaries/",
               "later/lookups/Exact_LSOA11_to_LSOA21_to_LAD22_EW.csv")
AREA_LEVELS = ("lsoa11", "oa11", "lsoa21", "oa21", "ward22")
GLA_COLUMNS_READ = ["LSOA11CD", "LSOA11NM", "LAD11CD", "USUALRES", "HHOLDRES", "COMESTRES", "POPDEN", "HHOLDS",
                    "AVHHOLDSZ"]


def _area_code() -> list:
    """Everything whose code decides the display areas: their cache key hashes its source."""
    return [_read_boundaries, _display_areas, _read_lsoa11, _read_oa11, _read_2021, _successors, _require_same,
            elections.read_wards, readers.read_geojson, readers.read_shapefile, geometry]


def _areas_key(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for path, sha in sorted(files.items()):
        if path.startswith(AREA_INPUTS):
            digest.update(f"{path}\0{sha}\n".encode())
    for code in _area_code():
        digest.update(inspect.getsource(code).encode())
    return digest.hexdigest()[:32]


def _areas(raw: RawFiles, boundaries: Callable[[], tuple], lads: gpd.GeoDataFrame, files: dict[str, str],
           report: BuildReport) -> tuple[dict, gpd.GeoDataFrame, pd.DataFrame]:
    """The display areas of every level, the districts' display geometry, and the GLA's LSOA attributes.

    Reading and simplifying boundaries is a third of a build: the result is kept in the cache, keyed by the
    SHA-256 of every file it depends on and the source of the code that makes it, so a build caused by a
    change elsewhere (a census table, an election result) reuses it. A boundary file or that code changing
    makes a new key."""
    key = f"areas-{_areas_key(files)}"
    folder = raw.cache / key if raw.cache is not None else None
    if folder is not None:
        raw.used.add(key)
        if (folder / "done").exists():
            with _step(report, "areas (cached)"):
                areas = {level: gpd.read_parquet(folder / f"{level}.parquet").set_index("code", drop=False)
                         for level in AREA_LEVELS}
                lad_display = gpd.read_parquet(folder / "lad.parquet").set_index("LAD21CD", drop=False)
                lad_display = lads.set_geometry(lad_display.geometry.reindex(lads.index).to_numpy())
                gla = pd.read_parquet(folder / "gla.parquet").set_index("LSOA11CD")
                report.counts["repaired_polygons"] = json.loads((folder / "repaired.json").read_text())
                report.counts["areas_cache"] = "reused"
            return areas, lad_display, gla
    with _step(report, "boundaries"):
        lsoa, gla, london, oa11, lsoa21, oa21, wards = boundaries()
    with _step(report, "geometry"):
        areas, lad_display, repaired = _display_areas(lsoa, gla, london, oa11, lsoa21, oa21, wards, lads)
    report.counts["repaired_polygons"] = repaired
    gla_attributes = pd.DataFrame(gla.drop(columns="geometry"))
    if folder is not None:
        part = folder.with_name(f".{key}.{os.getpid()}")
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        for level in AREA_LEVELS:
            keep = [c for c in ("code", "name", "authority", "lad19", "publisher") if c in areas[level].columns]
            gpd.GeoDataFrame(areas[level][keep].reset_index(drop=True), geometry=areas[level].geometry.to_numpy(),
                             crs=4326).to_parquet(part / f"{level}.parquet", index=False)
        gpd.GeoDataFrame({"LAD21CD": lad_display["LAD21CD"].to_numpy()}, geometry=lad_display.geometry.to_numpy(),
                         crs=4326).to_parquet(part / "lad.parquet", index=False)
        gla_attributes.reset_index().to_parquet(part / "gla.parquet", index=False)
        (part / "repaired.json").write_text(json.dumps(repaired))
        (part / "done").write_text(key)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(part, folder)
        report.counts["areas_cache"] = "made"
    return areas, lad_display, gla_attributes


# --------------------------------------------------------------------------------------------------
# postcodes and the gazetteer: points placed in the published polygons (or reused from the cache)

#: Raw files whose contents decide where the postcodes and settlements lie.
POSTCODE_INPUTS = (*AREA_INPUTS, postcodes.CODEPOINT_DIR, postcodes.F_NSPL_WC, postcodes.NAMES_DIR)
POSTCODE_ROW_GROUP = 16384  # a look-up reads one row group of postcodes.parquet (sorted by postcode): 3-10 ms


@dataclass
class Placed:
    """What the postcode step made (pipeline/postcodes.py): the paths of its files in the cache (or the
    build), the postcode districts and the settlements (for the search index), and what the search says of
    its gaps (the gazetteer's absent tiles, the postcode areas and their countries: search_notes.json)."""

    index: Path
    districts: pd.DataFrame
    settlements: pd.DataFrame
    notes: dict


def _postcodes_key(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for path, sha in sorted(files.items()):
        if path.startswith(POSTCODE_INPUTS):
            digest.update(f"{path}\0{sha}\n".encode())
    for code in [*_area_code(), _postcodes, _place_all, postcodes]:
        digest.update(inspect.getsource(code).encode())
    return digest.hexdigest()[:32]


def _postcodes(raw: RawFiles, boundaries: Callable[[], tuple], lads: gpd.GeoDataFrame, files: dict[str, str],
               report: BuildReport) -> Placed:
    """postcodes.parquet and the gazetteer's settlements, placed in the published polygons of every level.
    About 40 s from cold (reading the polygons is most of it), so, like the display areas, the result is
    kept in the cache, keyed by its inputs' SHA-256 and the code that makes it."""
    key = f"postcodes-{_postcodes_key(files)}"
    folder = raw.cache / key if raw.cache is not None else None
    if folder is not None:
        raw.used.add(key)
    if folder is None or not (folder / "done").exists():
        part = (folder.with_name(f".{key}.{os.getpid()}") if folder is not None
                else Path(tempfile.mkdtemp(prefix="atlas-postcodes-")))
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        counts = _place_all(raw, boundaries, lads, part)
        (part / "report.json").write_text(json.dumps(counts))
        (part / "done").write_text(key)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(part, folder)
        else:
            folder = part
        report.counts["postcodes_cache"] = "made"
    else:
        report.counts["postcodes_cache"] = "reused"
    report.counts["postcodes"] = json.loads((folder / "report.json").read_text())
    return Placed(index=folder / "postcodes.parquet", districts=pd.read_parquet(folder / "districts.parquet"),
                  settlements=pd.read_parquet(folder / "settlements.parquet"),
                  notes=json.loads((folder / "notes.json").read_text()))


def _place_all(raw: RawFiles, boundaries: Callable[[], tuple], lads: gpd.GeoDataFrame, part: Path) -> dict:
    """The postcode step's work (see ``_postcodes``): writes postcodes.parquet, districts.parquet,
    settlements.parquet and notes.json into ``part``; returns its counts."""
    codepoint = postcodes.read_codepoint(raw)
    nspl = postcodes.read_nspl_wc(raw)
    settlements = postcodes.read_settlements(raw)
    missing = postcodes.read_missing_tiles(raw)
    current = {**dict(zip(lads["LAD21CD"], lads["LAD21NM"], strict=True)), **postcodes.authority_names(raw)}
    lsoa, gla, london, oa11, lsoa21, oa21, wards = boundaries()
    lsoa11 = lsoa.copy()
    lsoa11.loc[london, "geometry"] = gla.geometry.reindex(london).to_numpy()  # as on the map
    polygons = {"lsoa11": lsoa11, "lsoa21": lsoa21, "oa11": oa11, "oa21": oa21, "ward22": wards}
    polygons = {level: frame.set_geometry(geometry.repair(frame.geometry)[0].to_numpy())
                for level, frame in polygons.items()}
    names = dict(zip(lads["LAD21CD"], lads["LAD21NM"], strict=True))
    index = postcodes.postcode_index(codepoint, nspl, polygons, names, current)
    # Sorted by postcode, so a look-up's filter skips every row group but one; the point's integers and the
    # sorted postcodes stored as deltas (15 MB, against 62 MB as floats and plain text).
    encodings = {"lon_e6": "DELTA_BINARY_PACKED", "lat_e6": "DELTA_BINARY_PACKED", "pc7": "DELTA_BYTE_ARRAY"}
    pq.write_table(pa.Table.from_pandas(index, preserve_index=False), part / "postcodes.parquet",
                   row_group_size=POSTCODE_ROW_GROUP, compression="zstd", column_encoding=encodings,
                   use_dictionary=[c for c in index.columns if c not in encodings])
    districts = postcodes.postcode_districts(index)
    districts.to_parquet(part / "districts.parquet", index=False)
    places_index = postcodes.settlement_index(settlements, polygons, names)
    places_index.to_parquet(part / "settlements.parquet", index=False)
    notes = {**postcodes.gazetteer_gaps(missing, lads[lads["LAD21CD"].str[0].isin(["E", "W"])], names),
             "postcode_areas": postcodes.postcode_areas(index)}
    (part / "notes.json").write_text(json.dumps(notes))
    ew = index["country"] != "S92000003"
    live = index["status"] == "live"
    return {
        "rows": int(len(index)), "live_england_wales": int((ew & live).sum()),
        "live_scotland": int((~ew).sum()), "terminated": int((index["status"] == "terminated").sum()),
        "no_position": int((index["lon_e6"].isna() & ew).sum()),
        **{f"in_{level}": int(index[level].notna().sum()) for level in postcodes.LEVELS},
        **{f"nearest_{level}": int(index[f"{level}_m"].notna().sum()) for level in ("lsoa11", "lsoa21", "ward22")},
        "nearest_oa": int(index["oa_m"].notna().sum()),
        "districts_reorganised": int((ew & index["district_now"].notna()
                                      & (index["district_now"] != index["authority"])).sum()),
        "postcode_districts": int(len(districts)), "settlements": int(len(places_index)),
        "settlements_unplaced": int(places_index["authority"].isna().sum()), "gazetteer_missing_tiles": len(missing),
    }


def _read_boundaries(raw: RawFiles, lookup: pd.DataFrame, lads: gpd.GeoDataFrame, rebase: national.Rebase
                     ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.Index, gpd.GeoDataFrame, gpd.GeoDataFrame,
                                gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """LSOA 2011 (with their 2019 district), the GLA's London LSOAs, London's codes, OA 2011, LSOA and OA
    2021, and the wards: read and checked, not yet repaired or simplified."""
    lsoa = _read_lsoa11(raw, lookup, lads)
    gla = readers.read_shapefile(raw(F_GLA), GLA_COLUMNS_READ, F_GLA)
    readers.require_codes(gla["LSOA11CD"], F_GLA, "E")
    london = lsoa.index[lsoa["lad19"].str.startswith("E09")]
    _require_same(gla["LSOA11CD"], london, F_GLA, "the London LSOAs of the lookup")
    oa11 = _read_oa11(raw, lads)
    lsoa21, oa21 = _read_2021(raw, lads, rebase)
    wards = elections.read_wards(raw, set(lads["LAD21CD"]))
    return lsoa, gla.set_index("LSOA11CD"), london, oa11, lsoa21, oa21, wards


def _display_areas(lsoa: gpd.GeoDataFrame, gla: gpd.GeoDataFrame, london: pd.Index, oa11: gpd.GeoDataFrame,
                   lsoa21: gpd.GeoDataFrame, oa21: gpd.GeoDataFrame, wards: gpd.GeoDataFrame,
                   lads: gpd.GeoDataFrame) -> tuple[dict, gpd.GeoDataFrame, dict]:
    # London's LSOAs come from the GLA's file (clipped to mean high water, so the Thames shows);
    # the rest of England and Wales from UK-GeoJSON. Each publisher's set is simplified as its own
    # coverage, because the two do not share vertices along London's edge.
    lsoa_geom = lsoa.geometry.copy()
    lsoa_geom.loc[london] = gla.geometry.reindex(london).to_numpy()
    repaired = {}
    lsoa_geom, repaired["lsoa11"] = geometry.repair(lsoa_geom)
    in_london = lsoa_geom.index.isin(london)
    parts = [geometry.simplify_coverage(lsoa_geom[~in_london], geometry.TOLERANCE_M["lsoa11"]),
             geometry.simplify_coverage(lsoa_geom[in_london], geometry.TOLERANCE_M["lsoa11"])]
    lsoa = lsoa.set_geometry(pd.concat(parts).reindex(lsoa.index))
    areas = {"lsoa11": lsoa, "oa11": oa11, "lsoa21": lsoa21, "oa21": oa21, "ward22": wards}
    for level in ("oa11", "lsoa21", "oa21", "ward22"):
        fixed, repaired[level] = geometry.repair(areas[level].geometry)
        # Each publisher's set is its own coverage (LSOA 2021: Trafford Data Lab's Greater Manchester
        # and drkane's files of five other authorities).
        sets = areas[level]["publisher"] if "publisher" in areas[level] else pd.Series("", index=fixed.index)
        simplified = pd.concat([geometry.simplify_coverage(fixed[sets == key], geometry.TOLERANCE_M[level])
                                for key in sets.unique()]).reindex(fixed.index)
        areas[level] = areas[level].set_geometry(simplified)
    fixed, repaired["lad"] = geometry.repair(lads.geometry)
    lad_display = lads.set_geometry(geometry.simplify_coverage(fixed, geometry.TOLERANCE_M["lad"]))
    return areas, lad_display, repaired


def _tiles(raw: RawFiles, out: Path, area_frames: dict[str, gpd.GeoDataFrame], files: dict[str, str]) -> dict:
    """tiles/<level>.pmtiles for every small-area level (pipeline/tiles.py). Like the display areas they are
    kept in the cache, keyed by what decides them (the areas' key and the tile code), so a build caused by
    a change elsewhere does not run tippecanoe again (about a minute for the LSOAs on two cores)."""
    levels = {lv: f[["code", "geometry"]] for lv, f in area_frames.items() if lv in SMALL_LEVELS and len(f)}
    digest = hashlib.sha256((_areas_key(files) + inspect.getsource(tiles)).encode()).hexdigest()[:32]
    key = f"tiles-{digest}"
    folder = raw.cache / key if raw.cache is not None else None
    if folder is not None:
        raw.used.add(key)
    if folder is None or not (folder / "done").exists():
        part = (folder.with_name(f".{key}.{os.getpid()}") if folder is not None
                else out / "tiles.part")
        shutil.rmtree(part, ignore_errors=True)
        report = tiles.build_tiles(levels, part)
        (part / "report.json").write_text(json.dumps(report))
        (part / "done").write_text(key)
        if folder is None:
            part.rename(out / "tiles")
            return report
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(part, folder)
    (out / "tiles").mkdir(exist_ok=True)
    for level in levels:
        _link(folder / f"{level}.pmtiles", out / "tiles" / f"{level}.pmtiles")
    return json.loads((folder / "report.json").read_text())


def _link(source: Path, target: Path) -> None:
    """The cache and the build share the file (a hard link), or it is copied."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _rebase_weights(ks102: pd.DataFrame, tables2011: list[Dataset]) -> pd.DataFrame:
    """The 2011 counts whose shares apportion a 2021 figure among 2011 LSOAs merged in 2021."""
    weights = ks102.set_index("code")[["KS102EW0001", "KS102EW0002"]].rename(columns=str.lower)
    for dataset in tables2011:
        frame = dataset.frames["lsoa11"].set_index("code")
        total = f"{dataset.name}0001"
        if total in frame:
            weights[total] = frame[total].reindex(weights.index)
    weights["age_5_plus"] = weights["ks102ew0001"] - weights["ks102ew0002"]
    return weights


def _check_oa_authorities(oa11: gpd.GeoDataFrame, oa_lsoa: pd.Series, lsoa: gpd.GeoDataFrame) -> None:
    """Each Output Area with a polygon lies in an LSOA of the same authority (national OA -> LSOA lookup)."""
    theirs = lsoa["authority"].reindex(oa_lsoa.reindex(oa11.index).to_numpy()).to_numpy()
    differ = oa11["authority"].to_numpy() != theirs
    if differ.any():
        raise SourceError(national.F_ETHNIC_OA, f"{int(differ.sum())} Output Areas lie in an LSOA of another "
                                                f"authority than their polygon's, e.g. {list(oa11.index[differ][:3])}")


def _write_lookup(out: Path, rebase: national.Rebase, lsoa: gpd.GeoDataFrame) -> None:
    """lookups/lsoa11_lsoa21.parquet: per 2011 LSOA, how it changed in 2021 and whether its re-based 2021
    figures are estimates, with the 2021 LSOAs it maps to."""
    frame = rebase.lookup.assign(authority=rebase.lookup["code"].map(lsoa.set_index("code")["authority"]))
    if frame["authority"].isna().any():
        raise SourceError(national.F_EXACT, "LSOAs of 2011 without an authority")
    frame = frame[["code", "authority", "change", "estimated", "lsoa21"]].sort_values(["authority", "code"])
    (out / "lookups").mkdir(exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False,
                                 schema=pa.schema([("code", pa.string()), ("authority", pa.string()),
                                                   ("change", pa.string()), ("estimated", pa.bool_()),
                                                   ("lsoa21", pa.list_(pa.string()))]))
    pq.write_table(table, out / "lookups" / "lsoa11_lsoa21.parquet", row_group_size=ROW_GROUP, compression="zstd")


# --------------------------------------------------------------------------------------------------
# boundaries and lookups

def _read_lsoa_lookup(raw: RawFiles) -> pd.DataFrame:
    frame = readers.read_csv(raw(F_LSOA_LOOKUP), F_LSOA_LOOKUP, encoding="utf-8-sig")
    readers.require_columns(frame, ["LSOA11CD", "LSOA11NM", "LAD19CD", "LAD19NM"], F_LSOA_LOOKUP)
    readers.require_codes(frame["LSOA11CD"], F_LSOA_LOOKUP, "EW")
    return frame.set_index("LSOA11CD")[["LSOA11NM", "LAD19CD", "LAD19NM"]]


def _read_lads(raw: RawFiles) -> gpd.GeoDataFrame:
    lads = readers.read_geojson(raw(F_LAD), ["LAD21CD", "LAD21NM", "LAD21NMW"], F_LAD)
    readers.require_codes(lads["LAD21CD"], F_LAD, "EWSN")
    region = readers.read_csv(raw(F_REGION), F_REGION, encoding="utf-8-sig")
    readers.require_columns(region, ["LAD21CD", "RGN21NM"], F_REGION)
    unknown = sorted(set(region["LAD21CD"]) - set(lads["LAD21CD"]))
    if unknown:
        raise SourceError(F_REGION, f"lists districts missing from {F_LAD}: {unknown[:5]}")
    nation = lads["LAD21CD"].str[0].map({"E": "England", "W": "Wales", "S": "Scotland", "N": "Northern Ireland"})
    lads = lads.assign(nation=nation, region=lads["LAD21CD"].map(dict(zip(region["LAD21CD"], region["RGN21NM"],
                                                                          strict=True))))
    lads["region"] = lads["region"].fillna(lads["nation"])
    return lads.set_index("LAD21CD", drop=False)


def _successors(codes: pd.Series, points: gpd.GeoSeries, lads: gpd.GeoDataFrame, label: str) -> pd.Series:
    """Map older district codes to their December 2021 district.

    Codes still current map to themselves. A district that has since merged (Buckinghamshire in 2020,
    North and West Northamptonshire in 2021...) maps to the 2021 district holding its areas, found by
    where its areas' points fall: a merger moves whole districts, so every area of one old district must
    land in one successor; anything less stops the build.
    """
    current = set(lads["LAD21CD"])
    gone = sorted(set(codes) - current)
    mapping = {c: c for c in set(codes) & current}
    if gone:
        mask = codes.isin(gone)
        pts = gpd.GeoDataFrame({"old": codes[mask].to_numpy()}, geometry=points[mask].to_numpy(), crs=4326)
        districts = lads[["LAD21CD", "geometry"]].reset_index(drop=True).to_crs(27700)
        joined = gpd.sjoin_nearest(pts.to_crs(27700), districts, how="left")
        for old, group in joined.groupby("old"):
            shares = group["LAD21CD"].value_counts(normalize=True)
            if shares.iloc[0] < 0.95:
                raise SourceError(label, f"areas of district {old} fall in several 2021 districts "
                                         f"({dict(shares.head(3).round(3))}); cannot find its successor")
            mapping[old] = shares.index[0]
    return codes.map(mapping)


def _read_lsoa11(raw: RawFiles, lookup: pd.DataFrame, lads: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frames = []
    for path in raw.glob("boundaries/lsoa11_by_lad", "*.json"):
        frame = readers.read_geojson(path, ["LSOA11CD", "LSOA11NM"], raw.rel(path))
        readers.require_codes(frame["LSOA11CD"], raw.rel(path), "EW")
        frames.append(frame[["LSOA11CD", "LSOA11NM", "geometry"]])
    lsoa = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)
    readers.require_codes(lsoa["LSOA11CD"], "boundaries/lsoa11_by_lad/*.json", "EW")
    _require_same(lsoa["LSOA11CD"], lookup.index, "boundaries/lsoa11_by_lad/*.json", F_LSOA_LOOKUP)
    lsoa = lsoa.set_index("LSOA11CD", drop=False).join(lookup.drop(columns="LSOA11NM"))
    points = lsoa.geometry.representative_point()
    lsoa["authority"] = _successors(lsoa["LAD19CD"], points, lads, F_LSOA_LOOKUP)
    return gpd.GeoDataFrame({"code": lsoa["LSOA11CD"], "name": lsoa["LSOA11NM"], "authority": lsoa["authority"],
                             "lad19": lsoa["LAD19CD"]}, geometry=lsoa.geometry, crs=4326)


def _read_oa11(raw: RawFiles, lads: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frames = []
    for path in raw.glob("boundaries/oa11_by_lad", "*.json"):
        frame = readers.read_geojson(path, ["OA11CD", "LAD11CD"], raw.rel(path))
        readers.require_codes(frame["OA11CD"], raw.rel(path), "EW")
        if set(frame["LAD11CD"]) != {path.stem}:
            raise SourceError(raw.rel(path), f"holds areas of {sorted(set(frame['LAD11CD']))}, not {path.stem}")
        frames.append(frame)
    oa = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)
    readers.require_codes(oa["OA11CD"], "boundaries/oa11_by_lad/*.json", "EW")
    authority = _successors(oa["LAD11CD"], oa.geometry.representative_point(), lads, "boundaries/oa11_by_lad")
    # Output Areas have no names of their own: the code is the name people search for.
    return gpd.GeoDataFrame({"code": oa["OA11CD"], "name": oa["OA11CD"], "authority": authority},
                            geometry=oa.geometry, crs=4326).set_index("code", drop=False)


def _read_2021(raw: RawFiles, lads: gpd.GeoDataFrame, rebase: national.Rebase
               ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Every LSOA of 2021 (drkane's per-authority files of ONS's December 2021 generalised boundaries, one
    coverage), each once, with its district from the ONS exact-fit lookup; and Trafford's OA 2021 polygons.

    The files follow the districts of 2024, and three pairs hold the same LSOAs under an old and a new
    district code (Sheffield, Barnsley, Somerset West and Taunton / Somerset): a code found in two files must
    be the same feature in both (ONS GlobalID, and the polygon to within 1e-7 degrees), and is kept once. So
    an LSOA's district is never the file's: it is the lookup's ``LAD22CD`` (a December 2021 district)."""
    lad22 = rebase.lad22
    frames = []
    for path in raw.glob(DRKANE_LSOA21, "*.geojson"):
        label = raw.rel(path)
        frame = readers.read_geojson(path, ["LSOA21CD", "LSOA21NM", "GlobalID"], label)
        readers.require_codes(frame["LSOA21CD"], label, "EW")
        frames.append(gpd.GeoDataFrame({"code": frame["LSOA21CD"], "name": frame["LSOA21NM"],
                                        "global_id": frame["GlobalID"], "file": label},
                                       geometry=frame.geometry, crs=4326))
    every = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)
    twice = every[every["code"].duplicated(keep=False)]
    if len(twice):
        first = twice.drop_duplicates("code", keep="first").set_index("code")
        again = twice.drop_duplicates("code", keep="last").set_index("code").reindex(first.index)
        same = (first["global_id"] == again["global_id"]).to_numpy() & shapely.equals_exact(
            first.geometry.to_numpy(), again.geometry.to_numpy(), tolerance=1e-7)
        if not same.all():
            bad = first.index[~same]
            raise SourceError(first.loc[bad[0], "file"], f"{len(bad)} LSOAs of 2021 are also in "
                                                         f"{again.loc[bad[0], 'file']} with another polygon, e.g. "
                                                         f"{list(bad[:3])}")
    lsoa = every.drop_duplicates("code", keep="first").reset_index(drop=True)
    _require_same(lsoa["code"], lad22.index, f"{DRKANE_LSOA21}/*.geojson", f"the LSOAs of 2021 in {national.F_EXACT}")
    lsoa = gpd.GeoDataFrame({"code": lsoa["code"], "name": lsoa["name"], "publisher": "drkane",
                             "authority": lsoa["code"].map(lad22).to_numpy()}, geometry=lsoa.geometry, crs=4326)
    unknown = sorted(set(lsoa["authority"]) - set(lads["LAD21CD"]))
    if unknown:
        raise SourceError(national.F_EXACT, f"districts {unknown} are not December 2021 districts")
    lookup = readers.read_csv(raw(F_LOOKUP21), F_LOOKUP21)
    readers.require_columns(lookup, ["oa21cd", "lsoa21cd", "lad22cd"], F_LOOKUP21)
    oa = readers.read_geojson(raw(F_OA21), ["area_code", "la_code"], F_OA21)
    readers.require_codes(oa["area_code"], F_OA21, "E")
    oa_lad = lookup.set_index("oa21cd")["lad22cd"]
    missing = sorted(set(oa["area_code"]) - set(oa_lad.index))
    if missing:
        raise SourceError(F_OA21, f"{len(missing)} areas are not in {F_LOOKUP21}, e.g. {missing[:3]}")
    unknown = sorted(set(oa_lad.reindex(oa["area_code"])) - set(lads["LAD21CD"]))
    if unknown:
        raise SourceError(F_LOOKUP21, f"districts {unknown} are not December 2021 districts")
    oa_out = gpd.GeoDataFrame({"code": oa["area_code"], "name": oa["area_code"],
                               "authority": oa_lad.reindex(oa["area_code"]).to_numpy()},
                              geometry=oa.geometry, crs=4326).set_index("code", drop=False)
    return lsoa.set_index("code", drop=False), oa_out


def _require_same(codes: pd.Series | pd.Index, expected: pd.Index, label: str, other: str) -> None:
    got, want = set(codes), set(expected)
    if got != want:
        extra, missing = sorted(got - want), sorted(want - got)
        raise SourceError(label, f"codes do not join with {other}: {len(extra)} not in it (e.g. {extra[:3]}), "
                                 f"{len(missing)} of it missing here (e.g. {missing[:3]})")


# --------------------------------------------------------------------------------------------------
# indicators

def _ks102_dataset(ks102: pd.DataFrame, lsoa: gpd.GeoDataFrame) -> Dataset:
    cells = readers.KS102EW_CELLS
    frame = ks102.rename(columns={c: c.lower() for c, _, _ in cells})
    variables = []
    total = "ks102ew0001"
    for cell, text, unit in cells:
        ident = cell.lower()
        label = {"All usual residents": "All usual residents", "Mean Age": "Mean age",
                 "Median Age": "Median age"}.get(text, f"{text} (people)")
        note = {"ks102ew0018": "The district figure (national overview) is the resident-weighted mean of the "
                               "LSOA means, derived here.",
                "ks102ew0019": "Not given by district: a median cannot be derived from medians."}.get(ident, "")
        variables.append(ds.variable(ident, label, "Population", "KS102EW", "Age structure",
                                     f"Age: {text}; measures: Value", unit, "ks102ew", "Census 2011",
                                     cells=f"{cell} ({text})", note=note, coverage="England and Wales"))
        if unit == "count" and ident != total:
            frame[f"{ident}_pct"] = pct(frame, ident, total)
            variables.append(ds.variable(f"{ident}_pct", f"{text} (% of all usual residents)", "Population",
                                         "KS102EW", "Age structure", f"Age: {text}; measures: Value",
                                         "percentage", "ks102ew", "Census 2011", denominator=total,
                                         description=f"Derived here: {text} / All usual residents x 100",
                                         cells=f"{cell} ({text}) / KS102EW0001 (all usual residents) x 100",
                                         coverage="England and Wales"))
    # Authority level for the national overview: counts summed from LSOAs to December 2021 districts.
    # The mean age of a district is the resident-weighted mean of its LSOA means (exact up to the
    # publisher's rounding to 0.1); a median cannot be built from medians, so it is left out.
    counts = [c.lower() for c, _, unit in cells if unit == "count"]
    by_lad = frame.assign(authority=frame["code"].map(lsoa["authority"]))
    lad = by_lad.groupby("authority")[counts].sum()
    weighted = (by_lad["ks102ew0018"] * by_lad[total]).groupby(by_lad["authority"]).sum()
    lad["ks102ew0018"] = (weighted / lad[total]).round(2)
    for column in counts[1:]:
        lad[f"{column}_pct"] = pct(lad, column, total)
    lad = lad.reset_index().rename(columns={"authority": "code"})
    for variable in variables:
        if variable["id"] == "ks102ew0018":
            variable["description"] = ("At district level: the resident-weighted mean of the LSOA means "
                                       "(derived here).")
        if variable["id"] == "ks102ew0019":
            variable["description"] = "Not available by district: a median cannot be derived from medians."
    return Dataset("ks102ew", {"lsoa11": frame, "lad": lad}, variables, ("lsoa11", "lad"), "England and Wales")


#: The catalogue's title of each deprivation dataset (its variables come from several publisher files, each
#: named in the variable's ``cells``; a file name is not a title).
DEPRIVATION_TITLES = {
    "imd2019": "English Indices of Deprivation 2019: index and domain ranks, deciles and population denominators",
    "wimd2019": "Welsh Index of Multiple Deprivation 2019: index and domain ranks and scores",
}


def _deprivation_dataset(name: str, frame: pd.DataFrame, meta: dict, nation: str) -> Dataset:
    variables = []
    index_name = "IoD2019" if name == "imd2019" else "WIMD 2019"
    edition = "IoD 2019" if name == "imd2019" else "WIMD 2019"
    for ident, (label, file, column, unit) in meta.items():
        # Every label names its edition (the 2025 editions sit beside these) and which way its numbers run.
        label = label.replace("Welsh Index of Multiple Deprivation 2019", "Welsh Index of Multiple Deprivation")
        if unit in ("rank", "decile"):
            polarity = "higher is better"  # rank 1 / decile 1 = most deprived
            note = f"1 = most deprived in {nation}; ranked within {nation} only."
            label = f"{label}, {edition} (" + ("1 is most deprived)" if unit == "rank" else
                                               "1 is the most deprived 10%)")
        elif unit == "score":
            polarity = "lower is better"
            note = "Higher score = more deprived."
            if rank_of(ident) in meta:
                # The publisher ranked its unrounded scores; the score is published to 1 decimal, which ties
                # and re-orders areas, so the rank shown is the publisher's (catalogue ``rank_variable``).
                note += (f" Ranks are the publisher's own ({rank_of(ident)}): the score is published rounded "
                         "to 1 decimal place, so areas with the same printed score still have different ranks.")
            label = f"{label}, {edition} (higher is more deprived)"
        else:
            polarity, note = None, "Population denominator used by the indices."
            label = f"{label}, {edition}"
        variables.append(ds.variable(ident, label, "Deprivation", index_name,
                                     DEPRIVATION_TITLES.get(name, f"{index_name}: ranks and scores"), column, unit,
                                     name, index_name, polarity=polarity, description=note, note=note,
                                     cells=f"{column.strip()} ({Path(file).name})",
                                     decimals=1 if unit == "score" else None, coverage=nation,
                                     rank_variable=rank_of(ident) if unit == "score" and rank_of(ident) in meta
                                     else ""))
    return Dataset(name, {"lsoa11": frame}, variables, ("lsoa11",), nation)


def rank_of(ident: str) -> str:
    """The id of the publisher's rank beside a score: ``wimd2019_income_score`` -> ``wimd2019_income_rank``."""
    return ident.rsplit("_", 1)[0] + "_rank"


GLA_COLUMNS = [("USUALRES", "Usual residents", "count"), ("HHOLDRES", "Household residents", "count"),
               ("COMESTRES", "Communal establishment residents", "count"),
               ("POPDEN", "Population density (people per hectare)", "per hectare"),
               ("HHOLDS", "Households", "count"), ("AVHHOLDSZ", "Average household size", "people")]


def _gla_dataset(gla: gpd.GeoDataFrame) -> Dataset:
    frame = pd.DataFrame({"code": gla.index.to_numpy()})
    variables = []
    for column, label, unit in GLA_COLUMNS:
        frame[f"gla2011_{column.lower()}"] = pd.to_numeric(gla[column]).astype("float64").to_numpy()
        variables.append(ds.variable(f"gla2011_{column.lower()}", label, "Population", "GLA LSOA 2011",
                                     "Statistical GIS Boundary Files for London", column, unit, "gla2011",
                                     "Census 2011"))
    frame["gla2011_hholdres_pct"] = pct(frame, "gla2011_hholdres", "gla2011_usualres")
    frame["gla2011_comestres_pct"] = pct(frame, "gla2011_comestres", "gla2011_usualres")
    for column, label in (("HHOLDRES", "Household residents"), ("COMESTRES", "Communal establishment residents")):
        variables.append(ds.variable(f"gla2011_{column.lower()}_pct", f"{label} (% of usual residents)",
                                     "Population", "GLA LSOA 2011", "Statistical GIS Boundary Files for London",
                                     column, "percentage", "gla2011", "Census 2011", denominator="gla2011_usualres",
                                     description=f"Derived here: {column} / USUALRES x 100",
                                     cells=f"{column} / USUALRES x 100"))
    return Dataset("gla2011", {"lsoa11": frame}, variables, (), "London")


CDRC_UNITS = {"Count": "count", "Percentage": "percentage", "Ratio": "ratio", "Sum": "sum", "Average": "average",
              "Years": "years"}


def _cdrc_datasets(tables: list[readers.CdrcTable], areas: dict) -> list[Dataset]:
    out = []
    for table in tables:
        name = table.table.lower()
        frames = {}
        for level, frame in table.levels.items():
            relative = f"{readers.CDRC_DIR}/tables/{table.table}_{level}.csv"
            expected = areas[level].index[areas[level]["authority"] == "E09000007"]
            _require_same(frame["code"], expected, relative, f"Camden's {LEVELS[level]} boundaries")
            frames[level] = frame.rename(columns={c: c.lower() for c in frame.columns if c != "code"})
        # Tables also published nationally (KS102EW, KS402EW...) are merged with the national ones later;
        # where both give an area, they must agree (_merge_same_name).
        cells = list(table.cells.items())
        first_cell, (first_unit, first_text) = cells[0]
        has_total = first_unit == "Count" and first_text.startswith("All")
        topic = CENSUS_TOPICS.get(re.sub(r"\D", "", table.table)[:1], "Population")
        if table.table.startswith("CT"):
            topic = "Identity"
        universe = first_text.split(":", 1)[-1].strip().lower() if has_total else ""
        variables = []
        present = set().union(*(set(f.columns) for f in frames.values())) if frames else set()
        derived: dict[str, dict[str, pd.Series]] = {level: {} for level in frames}
        for cell, (unit, text) in cells:
            ident = cell.lower()
            if ident not in present:
                continue
            suffix = {"Percentage": " (%, as published)"}.get(unit, "")
            variables.append(ds.variable(ident, f"{text}{suffix}", topic, table.table, table.title, cell,
                                         CDRC_UNITS.get(unit, unit.lower()), "cdrc", "Census 2011",
                                         cells=f"{cell} ({text})", coverage="Camden"))
            if has_total and unit == "Count" and cell != first_cell:
                for level, frame in frames.items():
                    if ident in frame:
                        derived[level][f"{ident}_pct"] = pct(frame, ident, first_cell.lower())
                variables.append(ds.variable(
                    f"{ident}_pct", f"{text} (% of {first_text.replace('All categories: ', 'all: ')})", topic,
                    table.table, table.title, cell, "percentage", "cdrc", "Census 2011",
                    denominator=first_cell.lower(),
                    description=f"Derived here: {cell} / {first_cell} ({universe}) x 100",
                    cells=f"{cell} / {first_cell} x 100", coverage="Camden"))
        frames = {level: pd.concat([frame, pd.DataFrame(derived[level], index=frame.index)], axis=1)
                  for level, frame in frames.items()}
        if frames:
            out.append(Dataset(name, frames, variables, (), "Camden"))
    return out


def _merge_same_name(items: list[Dataset]) -> list[Dataset]:
    """One dataset per name. The same ONS cells from several sources (Camden's CDRC pack and the national
    Nomis tables; MLID's ethnic groups) become one dataset: frames of one level are joined on the area
    code, and where two sources give the same cell for the same area they must agree exactly. The first
    source's catalogue row wins; the attribution names both."""
    merged: dict[str, Dataset] = {}
    first_frames_levels: dict[str, list[str]] = {}  # the first source's own levels, before others join
    for dataset in items:
        first = merged.get(dataset.name)
        if first is None:
            merged[dataset.name] = dataset
            first_frames_levels[dataset.name] = list(dataset.frames)
            continue
        for level, frame in dataset.frames.items():
            if level in first.frames:
                first.frames[level] = _join_frames(first.frames[level], frame, f"{dataset.name} ({level})")
            else:
                first.frames[level] = frame
        theirs = {v["id"]: v for v in dataset.variables}
        levels = " and ".join(LEVELS[level] for level in dataset.frames)
        first_levels = first_frames_levels[dataset.name]
        for variable in first.variables:
            other = theirs.pop(variable["id"], None)
            if other and other["source"] != variable["source"]:
                # Same variable, another publisher: the catalogue's source names both; ``sources`` says which
                # gives which levels and places, so a view credits its own (Leeds is not credited to a pack
                # of Camden's).
                parts = json.loads(variable["sources"]) if variable.get("sources") else [
                    {"source": variable["source"], "levels": first_levels, "coverage": first.coverage}]
                parts.append({"source": other["source"], "levels": list(dataset.frames),
                              "coverage": dataset.coverage})
                variable["sources"] = json.dumps(parts, ensure_ascii=False)
                variable["source"] = f"{variable['source']} {levels} ({dataset.coverage}): {other['source']}"
        first.variables.extend(theirs.values())
    return list(merged.values())


def _join_frames(a: pd.DataFrame, b: pd.DataFrame, label: str) -> pd.DataFrame:
    left, right = a.set_index("code"), b.set_index("code")
    both = left.index.intersection(right.index)
    for column in left.columns.intersection(right.columns):
        x, y = left.loc[both, column], right.loc[both, column]
        differ = ~((x == y) | (x.isna() & y.isna()))
        if differ.any():
            raise SourceError(label, f"two sources disagree on {column} for {int(differ.sum())} areas, e.g. "
                                     f"{list(both[differ.to_numpy()][:3])}")
    index = left.index.union(right.index)
    out = left.reindex(index)
    for column in right.columns:
        extra = right[column].reindex(index)
        out[column] = out[column].fillna(extra) if column in out.columns else extra
    return out.reset_index().rename(columns={"index": "code"})


def _slug(text: str) -> str:
    """A readable id part; long category names keep their start plus a short hash, so ids stay unique."""
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if len(slug) > 48:
        slug = f"{slug[:40].rstrip('_')}_{hashlib.sha1(text.encode()).hexdigest()[:6]}"
    return slug


def _c21_datasets(topics: list[readers.Census2021Topic], areas: dict) -> list[Dataset]:
    out = []
    for topic in topics:
        frames = {}
        columns = {c: f"{topic.dataset}_{_slug(c)}" for c in topic.categories}
        if len(set(columns.values())) != len(columns):
            raise SourceError(list(topic.files.values())[0], "two categories have the same name once simplified")
        total_category = next((c for c in topic.categories if c.lower().startswith("all ")), None)
        for level, wide in topic.levels.items():
            expected = areas[level].index[areas[level]["authority"] == "E08000009"]
            _require_same(wide["code"], expected, topic.files[level], f"Trafford's {LEVELS[level]} boundaries")
            frame = wide.rename(columns=columns)
            if topic.unit == "count" and len(topic.categories) > 1:
                # Nomis topic summaries list every category of their universe, so the categories sum to
                # the total (people or households); the sex table carries its own "All persons" total.
                parts = [columns[c] for c in topic.categories if c != total_category]
                frame["_total"] = frame[columns[total_category]] if total_category else frame[parts].sum(axis=1)
                for column in parts:
                    frame[f"{column}_pct"] = pct(frame, column, "_total")
                frame = frame.drop(columns="_total")
            frames[level] = frame
        folder = topic.topic.rsplit("/", 1)[-1]
        theme = C21_TOPICS.get(folder, "Population")
        universe = topic.universe.lower()
        variables = []
        for category in topic.categories:
            ident = columns[category]
            unit = "per km2" if topic.unit == "per km2" else "count"
            label = category if unit != "count" else f"{category} ({universe})"
            variables.append(ds.variable(ident, label, theme, topic.title, topic.indicator[:200],
                                         category, unit, "c21", "Census 2021", cells=category))
            if f"{ident}_pct" in next(iter(frames.values())):
                denominator = (f"all {universe}" if not total_category else total_category.lower())
                variables.append(ds.variable(
                    f"{ident}_pct", f"{category} (% of {denominator})", theme, topic.title,
                    topic.indicator[:200], category, "percentage", "c21", "Census 2021",
                    denominator=columns[total_category] if total_category else None,
                    description=("Derived here: category / " +
                                 (total_category if total_category else f"sum of all categories ({universe})") +
                                 " x 100"),
                    cells=f"{category} / " + (total_category or f"sum of all categories ({universe})") + " x 100"))
        out.append(Dataset(topic.dataset, frames, variables, (), "Trafford"))
    return out


# --------------------------------------------------------------------------------------------------
# writing

def _area_frames(areas: dict, lads: gpd.GeoDataFrame, labels: dict[str, pd.DataFrame]
                 ) -> dict[str, gpd.GeoDataFrame]:
    """Every level's areas as written: ``ward`` and ``label`` are the friendly names (pipeline/places.py)."""
    names = lads["LAD21NM"]
    out = {}
    for level, frame in areas.items():
        named = labels[level].set_index("code").reindex(frame["code"])
        if named["label"].isna().any():
            raise SourceError(level, f"{int(named['label'].isna().sum())} areas have no label")
        g = gpd.GeoDataFrame({"code": frame["code"].to_numpy(), "name": frame["name"].to_numpy(),
                              "authority": frame["authority"].to_numpy(),
                              "authority_name": names.reindex(frame["authority"]).to_numpy(),
                              "level": level, "vintage": VINTAGE[level], "ward": named["ward"].to_numpy(),
                              "label": named["label"].to_numpy()},
                             geometry=frame.geometry.to_numpy(), crs=4326)
        out[level] = g.sort_values(["authority", "code"], ignore_index=True)
    out["lad"] = gpd.GeoDataFrame({"code": lads["LAD21CD"].to_numpy(), "name": names.to_numpy(),
                                   "authority": lads["LAD21CD"].to_numpy(), "authority_name": names.to_numpy(),
                                   "level": "lad", "vintage": VINTAGE["lad"], "ward": "",
                                   "label": names.to_numpy()},
                                  geometry=lads.geometry.to_numpy(), crs=4326
                                  ).sort_values(["authority", "code"], ignore_index=True)
    return out


def _write_values(out: Path, items: list[Dataset], authority_of: pd.DataFrame
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    catalogue, coverage, seen = [], [], set()
    owners = {level: group.set_index("code")["authority"] for level, group in authority_of.groupby("level")}
    for dataset in items:
        kinds = {v["kind"] for v in dataset.variables}
        if len(kinds) > 1:
            raise SourceError(dataset.name, "a dataset holds numeric and categorical variables: split it")
        categorical = kinds == {"categorical"}
        described = {v["id"] for v in dataset.variables}
        levels_of: dict[str, list[str]] = {}
        authorities_of: dict[str, set[str]] = {}
        for level, frame in dataset.frames.items():
            owner = owners[level]
            missing = sorted(pd.Index(frame["code"]).difference(owner.index))
            if missing:
                raise SourceError(dataset.name, f"{len(missing)} {level} codes have no boundary, e.g. {missing[:3]}")
            if frame["code"].duplicated().any():
                twice = list(frame.loc[frame["code"].duplicated(), "code"][:3])
                raise SourceError(dataset.name, f"{level} codes repeat, e.g. {twice}")
            frame = frame.copy()  # one block per dtype: frames grown column by column are fragmented
            frame["authority"] = frame["code"].map(owner).to_numpy()
            # Figures carried from other areas (pipeline/deprivation2025.py) bring their status and note per
            # area, and for split areas each variable's range: reserved columns, read by the store.
            carried = _carried_columns(frame.columns, described)
            columns = ["code", "authority"] + [c for c in frame.columns if c not in ("code", "authority")]
            orphans = [c for c in columns[2:] if c not in described and c not in carried]
            if orphans:
                raise SourceError(dataset.name, f"columns without a catalogue row: {orphans[:5]}")
            frame = frame[columns].sort_values(["authority", "code"], ignore_index=True)
            values = [c for c in columns[2:] if c not in carried]
            texts = [c for c in carried if c in (deprivation2025.CARRIED_STATUS, deprivation2025.CARRIED_NOTE)]
            for column in texts:
                frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
            # categorical values are text codes (VARCHAR); numeric ones doubles
            if categorical:
                for column in values:
                    frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
            else:
                numeric = [c for c in columns[2:] if c not in texts]
                frame[numeric] = frame[numeric].astype("float64")
            (out / "values" / level).mkdir(parents=True, exist_ok=True)
            _write_table(out / "values" / level / f"{dataset.name}.parquet", frame)
            for authority, count in frame.groupby("authority").size().items():
                coverage.append({"dataset": dataset.name, "level": level, "authority": authority, "areas": int(count)})
            # which authorities have a value of each column (one grouped pass, not a scan per column); a split
            # area without a single figure still has one, as a range
            has = frame[values].notna()
            for column in values:
                if f"{column}{deprivation2025.LOW}" in carried:
                    has[column] |= frame[f"{column}{deprivation2025.LOW}"].notna()
            present = has.groupby(frame["authority"].to_numpy()).any()
            for column in values:
                where = present.index[present[column].to_numpy()]
                if len(where):
                    levels_of.setdefault(column, []).append(level)
                    authorities_of.setdefault(column, set()).update(where)
        for variable in dataset.variables:
            if variable["id"] not in levels_of:
                continue  # e.g. the median age, which exists only where the publisher gave it
            if variable["id"] in seen:
                raise SourceError(dataset.name, f"variable id {variable['id']} is defined twice")
            seen.add(variable["id"])
            levels = sorted(levels_of[variable["id"]], key=list(LEVELS).index)
            national_levels = [lv for lv in dataset.national_levels if lv in levels]
            catalogue.append({**variable, "dataset": dataset.name, "levels": levels,
                              "authorities": sorted(authorities_of[variable["id"]]),
                              "national": bool(national_levels), "national_levels": national_levels,
                              "coverage": variable.get("coverage") or dataset.coverage})
    frame = pd.DataFrame(catalogue)[CATALOGUE_COLUMNS]
    frame["decimals"] = frame["decimals"].astype("int32")
    frame["centre"] = frame["centre"].astype("float64")
    return frame, pd.DataFrame(coverage)


def _carried_columns(columns: pd.Index, described: set[str]) -> list[str]:
    """The reserved columns of carried figures among ``columns``: status, note, parts and the ranges of described
    variables (``<id>__lo``, ``<id>__hi``)."""
    d = deprivation2025
    return [c for c in columns if c in (d.CARRIED_STATUS, d.CARRIED_NOTE, d.CARRIED_PARTS)
            or (c.endswith((d.LOW, d.HIGH)) and c[:-len(d.LOW)] in described)]


def _authorities(lads: gpd.GeoDataFrame, areas: dict[str, gpd.GeoDataFrame], raw: RawFiles) -> pd.DataFrame:
    bounds = lads.geometry.bounds
    frame = pd.DataFrame({"code": lads["LAD21CD"].to_numpy(), "name": lads["LAD21NM"].to_numpy(),
                          "name_welsh": lads["LAD21NMW"].replace("", None).to_numpy(),
                          "nation": lads["nation"].to_numpy(), "region": lads["region"].to_numpy()})
    for level in SMALL_LEVELS:
        counts = areas[level].groupby("authority").size()
        frame[f"n_{level}"] = frame["code"].map(counts).fillna(0).astype("int32")
    frame["levels"] = [[lv for lv in SMALL_LEVELS if row[f"n_{lv}"] > 0] for _, row in frame.iterrows()]
    frame["bbox"] = [[round(v, 5) for v in row] for row in bounds[["minx", "miny", "maxx", "maxy"]].to_numpy()]
    return frame.sort_values("code", ignore_index=True)


def _places(rows: pd.DataFrame, authorities: pd.DataFrame) -> pd.DataFrame:
    """places.parquet: each region, Wales and each combined authority with its districts, its areas per
    level (the sum of its districts') and its bounding box."""
    by_code = authorities.set_index("code")
    frame = rows.copy()
    for level in SMALL_LEVELS:
        frame[f"n_{level}"] = [int(by_code[f"n_{level}"].reindex(m).sum()) for m in frame["authorities"]]
    frame["levels"] = [[lv for lv in SMALL_LEVELS if row[f"n_{lv}"] > 0] for _, row in frame.iterrows()]
    boxes = [[b for b in by_code["bbox"].reindex(m)] for m in frame["authorities"]]
    frame["bbox"] = [[min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs), max(b[3] for b in bs)]
                     for bs in boxes]
    return frame


def _write_table(path: Path, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, row_group_size=ROW_GROUP, compression="zstd")


# --------------------------------------------------------------------------------------------------
# fingerprint, swap, prune

def _fingerprint(raw: RawFiles) -> dict:
    files = {}
    for folder in INPUT_FOLDERS:
        root = raw(folder)
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            if path.name == "SOURCES.md":
                continue  # the collection's documentation, not read by the build
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            files[raw.rel(path)] = digest.hexdigest()
    code = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        code.update(path.read_bytes())
    code.update(Path(profiles.aggregation.__file__).read_bytes())  # the profiles' rules (pipeline/profiles.py)
    total = hashlib.sha256(json.dumps(files, sort_keys=True).encode() + code.digest())
    return {"files": files, "fingerprint": total.hexdigest()}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _prune_cache(raw: RawFiles) -> None:
    """Drop cached parses that this build did not use (their file changed, or the reader did)."""
    if raw.cache is None or not raw.cache.exists():
        return
    for path in raw.cache.iterdir():
        if path.name not in raw.used:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


