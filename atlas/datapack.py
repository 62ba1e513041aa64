"""Datapacks: one view's rows as GeoJSON, GeoPackage or GeoParquet, and an authority's whole open
datastore as a zip. Writers (bytes or a file out, no Flask), used by api.py, datastore.py and downloads.py.

Each is split as map images are (atlas/renderpool.py): what a file holds is read in the request's thread,
through the catalogue (DuckDB), and handed as plain, picklable data (frames, catalogue rows, the areas'
GeoJSON as bytes) to a process of the worker's pool, which writes the file with geopandas and GDAL: a web
worker never imports them (about 160 MB it would keep), and the files hold what they held when the worker
wrote them itself (GDAL's write time aside). The zip's values alone are read by the pool process, one
dataset at a time, straight from the build's Parquet files with pyarrow (as they always were, never through
DuckDB): Camden's 5,000 columns would otherwise cross the pipe.

The zip holds every variable at every level the authority has: values wide per level and dataset (one
row per area, one column per variable, as Parquet and CSV), the areas' geometry per level (GeoPackage, the
display geometry the map draws, WGS84), the variable definitions (``variables.csv``) and a README. It is
built once per (build, authority) into the cache folder, written aside and renamed into place, and one
dataset is held in memory at a time: Camden's ~4,600 variables at oa11 never sit in memory together.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from atlas import csvsafe, describe, renderpool, settings

if TYPE_CHECKING:
    import geopandas

    from atlas.catalogue import Catalogue

__all__ = ["CSVW_SUFFIX", "DEFINITION_FIELDS", "FORMAT_NAMES", "PACK_TIMEOUT", "PackData", "PackLevel", "build_zip",
           "cache_path", "dataset_csvw", "dataset_file", "ensure", "pack_data", "values_frame",
           "values_geojson", "values_gpkg", "values_parquet", "view_file", "write_zip"]

#: The catalogue fields a datapack's README and variables.csv list for every variable.
DEFINITION_FIELDS: tuple[str, ...] = ("id", "label", "unit", "denominator", "table", "cell", "vintage", "source",
                                      "licence", "kind", "method", "coverage", "cells", "categories")
ROW_FIELDS: tuple[str, ...] = ("code", "name", "full_name", "value", "rank", "rank_national")
#: W3C CSVW: a CSV's metadata is found at the CSV's own address with this appended.
CSVW_SUFFIX = ".csv-metadata.json"
#: The row fields of figures carried from other areas (atlas.cat.CARRIED_FIELDS), where a view has them.
CARRIED: tuple[str, ...] = ("carried", "carried_note", "parts", "low", "high")
CRS = "EPSG:4326"
#: Seconds a removed build's packs are kept after their folder was last written (see ``_prune_old_builds``).
PRUNE_AGE = 3600


#: What the pool's messages call a file of each geographic format ("the GeoPackage was not ready within 30 s").
FORMAT_NAMES = {"geojson": "GeoJSON file", "gpkg": "GeoPackage", "parquet": "GeoParquet file"}


# -- one view's rows ----------------------------------------------------------------------------------------

def view_file(values: pd.DataFrame, geojson: bytes, meta: dict, fmt: str, layer: str) -> bytes:
    """One view's rows (``Catalogue.values``) with each area's geometry (``geojson``: the place's
    ``area_geojson_bytes``) as geojson, gpkg (one layer, ``layer``) or parquet, written in the worker's pool.
    ``meta`` is the variable's catalogue row."""
    return renderpool.run(_view_file, values, geojson, dict(meta), fmt, layer, what=FORMAT_NAMES[fmt])


def _view_file(values: pd.DataFrame, geojson: bytes, meta: dict, fmt: str, layer: str) -> bytes:
    """``view_file`` in a pool process."""
    frame = values_frame(values, json.loads(geojson))
    if fmt == "geojson":
        return values_geojson(frame, meta)
    if fmt == "gpkg":
        return values_gpkg(frame, meta, layer)
    return values_parquet(frame, meta)


def values_frame(values: pd.DataFrame, collection: dict) -> geopandas.GeoDataFrame:
    """The API's rows (code, name, full_name, value, rank, rank_national) with each area's geometry, in code
    order.

    ``values`` is ``Store.values``; ``collection`` is ``Store.area_geojson`` of the same place. Joined by
    code rather than position, so a disagreement is an error rather than a quietly misplaced value.
    """
    import geopandas  # noqa: PLC0415 - only for a download with geometry (about 100 MB a process)

    geo = geopandas.GeoDataFrame.from_features(collection["features"], crs=CRS)
    geo = geo.set_index("code")
    missing = set(values["code"]) - set(geo.index)
    if missing:
        raise ValueError(f"{len(missing)} areas have values but no geometry, e.g. {sorted(missing)[:3]}")
    frame = values[list(ROW_FIELDS)].copy()
    frame["code"] = frame["code"].astype(str)
    frame["name"] = frame["name"].astype(str)
    frame["full_name"] = frame["full_name"].astype(str)
    if "category" in values.columns:
        # A categorical variable: the value is the category code (text), its label beside it.
        frame["value"] = values["category"].astype(object).where(values["category"].notna(), None)
        frame.insert(4, "label", values["label"].astype(object).where(values["label"].notna(), None))
    frame["rank"] = frame["rank"].astype("Int64")
    frame["rank_national"] = frame["rank_national"].astype("Int64")
    if "estimated" in values.columns:
        frame["estimated"] = values["estimated"].astype(bool).to_numpy()
    for field in CARRIED:
        # Figures carried from other areas: status, note, parts, and a split area's range.
        if field in values.columns:
            frame[field] = (values[field].astype("float64").to_numpy() if field in ("low", "high", "parts") else
                            pd.array(values[field].astype(object).where(values[field].notna(), None).tolist(),
                                     dtype="string"))
    return geopandas.GeoDataFrame(frame, geometry=geo.loc[frame["code"], "geometry"].to_numpy(), crs=CRS)


def _row_fields(frame: Any) -> list[str]:
    """The row columns of a values frame, in order: ROW_FIELDS with ``label`` (categories) and
    ``estimated`` (re-based figures) where the frame has them."""
    fields = list(ROW_FIELDS)
    if "label" in frame.columns:
        fields.insert(4, "label")
    if "estimated" in frame.columns:
        fields.append("estimated")
    fields += [f for f in CARRIED if f in frame.columns]
    return fields


def _json_number(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, (np.integer, int)):
        return int(value)
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def values_geojson(frame: geopandas.GeoDataFrame, meta: dict) -> bytes:
    """A FeatureCollection with the rows as properties, and the variable's id, label, unit, source and
    licence as foreign members (RFC 7946 §6.1), so the licence travels with the file."""
    import shapely.geometry  # noqa: PLC0415

    features = []
    fields = _row_fields(frame)
    for row, geom in zip(frame[fields].itertuples(index=False), frame.geometry, strict=True):
        props = {"code": row.code, "name": row.name, "full_name": row.full_name,
                 "value": row.value if isinstance(row.value, str) or row.value is None else _json_number(row.value)}
        if "label" in fields:
            props["label"] = row.label
        props.update({"rank": _json_number(row.rank), "rank_national": _json_number(row.rank_national)})
        if "estimated" in fields:
            props["estimated"] = bool(row.estimated)
        for field in CARRIED:
            if field in fields:
                got = getattr(row, field)
                props[field] = (None if got is None or got is pd.NA else got) if field in ("carried", "carried_note") \
                    else _json_number(got)
        features.append({"type": "Feature", "properties": props,
                         "geometry": shapely.geometry.mapping(geom)})
    body = {"type": "FeatureCollection", "variable": _about(meta), "features": features}
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _about(meta: dict) -> dict:
    """The variable as a download describes it: definition, notes, the cells a derived figure sums, its printed
    precision and the rounding rule, and a title for each of the file's columns."""
    out = {k: meta.get(k) for k in ("id", "label", "unit", "denominator", "vintage", "source", "licence",
                                    "kind", "method", "coverage", "cells", "note", "decimals")}
    if meta.get("categories"):
        out["categories"] = [{"code": c["code"], "label": c["label"]} for c in meta["categories"]]
    out["description"] = describe.variable_description(meta)
    out["columns"] = {c["name"]: c["title"] for c in describe.row_columns(
        ["code", "name", "full_name", "value", "label", "rank", "rank_national", "estimated"], meta)}
    return out


def values_parquet(frame: geopandas.GeoDataFrame, meta: dict) -> bytes:
    """GeoParquet (geopandas' writer: WKB geometry, ``geo`` metadata) with the variable's definition in
    the file's key-value metadata under ``atlas``."""
    first = io.BytesIO()
    # geopandas writes the GeoParquet `geo` metadata; the table is read back to add the definition to it.
    frame.to_parquet(first, index=False, compression="zstd")
    table = pq.read_table(io.BytesIO(first.getvalue()))
    out = io.BytesIO()
    metadata = dict(table.schema.metadata or {})
    metadata[b"atlas"] = json.dumps(_about(meta), ensure_ascii=False).encode()
    pq.write_table(table.replace_schema_metadata(metadata), out, compression="zstd")
    return out.getvalue()


def values_gpkg(frame: geopandas.GeoDataFrame, meta: dict, layer: str) -> bytes:
    """A GeoPackage (written to a temporary file: SQLite needs one) with one layer ``layer`` and the
    variable's definition in the layer's metadata (the gpkg_metadata tables GDAL writes)."""
    with tempfile.TemporaryDirectory(prefix="atlas-gpkg-") as tmp:
        path = Path(tmp) / "values.gpkg"
        about = {k: "; ".join(f"{c['code']}={c['label']}" for c in v) if k == "categories" else v
                 for k, v in _about(meta).items()}
        about.pop("columns", None)
        _write_gpkg(frame, path, layer, {k.upper(): str(v) for k, v in about.items() if v})
        describe.label_gpkg_columns(path, layer, describe.row_columns(_row_fields(frame), meta))
        return path.read_bytes()


def _write_gpkg(frame: geopandas.GeoDataFrame, path: Path, layer: str, metadata: dict[str, str] | None = None
                ) -> None:
    import pyogrio  # noqa: PLC0415

    pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG", layer_metadata=metadata or None,
                            promote_to_multi=True)


# -- the whole-authority zip --------------------------------------------------------------------------------

def cache_path(cat: Catalogue, authority: str) -> Path:
    """Where the zip of ``authority`` for the catalogue's build lives (built or not)."""
    return settings.load().cache_dir / "datapacks" / cat.build_id / f"{authority}.zip"


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One builder per pack: a lock per process (threads) and a file lock across gunicorn's workers."""
    with _locks_guard:
        lock = _locks.setdefault(str(path), threading.Lock())
    with lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(cat: Catalogue, authority: str) -> Path:
    """The path of the authority's datapack for the catalogue's build, building it first if need be.

    Raises cat.NotFound for an unknown authority (or one with no small areas)."""
    from atlas.extracts import NotFound  # noqa: PLC0415 - for its error only

    with_areas = [a["code"] for a in cat.authorities() if a.get("levels")]
    if authority not in with_areas:
        try:
            info = cat.authority(authority)
            members = info.get("authorities") or ([] if authority != "all" else with_areas)
            if info.get("partnership"):  # the open datapack is per authority: each member has its own
                message = (f"{info['name']} ({authority}) is a partnership's area: the open datapacks are per "
                           f"authority, one each for {', '.join(info['members'])}")
            elif members:
                # A place larger than a district: a datapack is a district's; the place's values are one URL away.
                message = (f"datapacks are made per district: {info['name']} ({authority}) has "
                           f"{len(members)} districts, each with its own (/datapack/<district>.zip), and every "
                           f"variable of the place is at /api/values/{authority}/<level>/<variable>.csv")
            else:
                message = (f"{info['name']} ({authority}) has no small-area data, so no datapack; "
                           f"{len(with_areas)} authorities have one")
        except NotFound:
            message = f"unknown authority {authority!r}; {len(with_areas)} authorities have a datapack"
        raise NotFound("authority", authority, with_areas, message)
    path = cache_path(cat, authority)
    if path.exists():
        return path
    with _exclusive(path):
        if not path.exists():  # another worker may have built it while this one waited
            _prune_old_builds(cat, path.parent.parent)
            fd, tmp = tempfile.mkstemp(prefix=f".{authority}-", suffix=".zip.part", dir=path.parent)
            os.close(fd)
            try:
                build_zip(cat, authority, Path(tmp))
                os.replace(tmp, path)  # atomic: a reader sees the whole zip or none
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    return path


def _prune_old_builds(cat: Catalogue, root: Path) -> None:
    """Drop the packs of builds the pipeline has since removed (it keeps the newest few), once nothing has been
    written there for ``PRUNE_AGE`` seconds: a cache folder may be shared by data folders with other builds
    (several apps on one machine, tests' worlds), whose packs under way must not vanish before their rename."""
    builds = Path(cat.data_dir) / "builds"
    now = time.time()
    for folder in root.iterdir() if root.exists() else ():
        if (folder.is_dir() and folder.name != cat.build_id and not (builds / folder.name).exists()
                and now - folder.stat().st_mtime > PRUNE_AGE):
            shutil.rmtree(folder, ignore_errors=True)


def _wide(path: str, authority: str, ids: list[str], codes: pd.Index, names: Any, rows: dict[str, dict]
          ) -> pd.DataFrame:
    """One dataset's variables (``rows``: their catalogue rows) for the authority's areas: one row per area (in
    code order, every area even without values), one float column per variable. The file (``path``) and
    columns are the catalogue's; the authority filter is pushed into the Parquet read."""
    from atlas.extracts import (  # noqa: PLC0415 - names only
        CARRIED_HIGH,
        CARRIED_LOW,
        CARRIED_NOTE,
        CARRIED_PARTS,
        CARRIED_STATUS,
    )

    held = set(pq.read_schema(path).names)
    carried = [c for c in (CARRIED_STATUS, CARRIED_NOTE, CARRIED_PARTS) if c in held]
    ranges = [f"{i}{suffix}" for i in ids for suffix in (CARRIED_LOW, CARRIED_HIGH) if f"{i}{suffix}" in held]
    table = pq.read_table(path, columns=["code", *ids, *carried, *ranges], filters=[("authority", "==", authority)])
    got = table.to_pandas().set_index("code").reindex(codes)
    frame = pd.DataFrame({"code": codes.to_numpy(), "name": np.asarray(names, dtype=object)})
    if any(r.get("kind") == "categorical" for r in rows.values()):
        # A dataset of categorical variables (never mixed with numeric ones): each code column as text,
        # followed by its labels (``<id>_label``).
        columns: dict[str, Any] = {}
        for i in ids:
            labels = {c["code"]: c["label"] for c in rows[i].get("categories") or []}
            text = got[i].astype(object).where(got[i].notna(), None).tolist()
            columns[i] = pd.array(text, dtype="string")
            columns[f"{i}_label"] = pd.array([None if c is None else labels.get(c, c) for c in text], dtype="string")
        values = pd.DataFrame(columns, index=frame.index)
    else:
        values = got[ids].astype("float64")
        values.index = frame.index
    if carried:
        # Figures carried from other areas (deprivation 2025 on 2011 LSOAs, File 10 on 2021 districts): what each
        # area's figures are, and a split area's range per variable (``<id>_low``, ``<id>_high``).
        extra = {"carried": got[CARRIED_STATUS], "carried_note": got[CARRIED_NOTE]}
        if CARRIED_PARTS in carried:
            extra["parts"] = got[CARRIED_PARTS].astype("float64")
        for column in ranges:
            word = "low" if column.endswith(CARRIED_LOW) else "high"
            extra[f"{column[:-len(CARRIED_LOW)]}_{word}"] = got[column].astype("float64")
        more = pd.DataFrame({k: (v.astype(object).where(v.notna(), None).tolist() if k.startswith("carried")
                                 else v.to_numpy()) for k, v in extra.items()}, index=frame.index)
        for k in ("carried", "carried_note"):
            more[k] = pd.array(more[k], dtype="string")
        values = pd.concat([values, more], axis=1)
    return pd.concat([frame, values], axis=1)


def _csv_bytes(table: pa.Table) -> bytes:
    # Arrow writes each double in its shortest round-trip form ("35", "0.1"), and 150 times faster than
    # pandas' float_format, which formatted value by value (21 of Camden's 35 seconds).
    # Text columns (code, name) go through csvsafe.cell so no cell is read as a formula; numbers stay numbers.
    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            safe = [csvsafe.cell(v) for v in table.column(i).to_pylist()]
            table = table.set_column(i, field, pa.array(safe, type=field.type))
    out = io.BytesIO()
    pa_csv.write_csv(table, out, pa_csv.WriteOptions(quoting_style="needed"))
    return out.getvalue()


@dataclass(frozen=True)
class PackLevel:
    """What a datapack holds at one level, as read by the worker: plain data for the process that writes it."""

    level: str
    rows: list[dict]  # the open variables with data here (catalogue rows)
    codes: list[str]  # the areas, in code order, and their names
    names: list[str]
    #: (dataset, its variable ids, its values Parquet file), by dataset.
    datasets: list[tuple[str, list[str], str]]
    geojson: bytes  # the areas' display geometry (``area_geojson_bytes``)
    rebasing: pd.DataFrame | None  # the LSOA 2011 -> 2021 lookup, where the pack carries it
    rebasing_counts: dict


@dataclass(frozen=True)
class PackData:
    """Everything an authority's datapack holds but the values themselves (read from the Parquet files by the
    process that writes the zip, one dataset at a time): built by ``pack_data`` in the worker."""

    authority: str
    info: dict
    build_id: str
    created: str
    levels: list[PackLevel]
    #: Open point datasets with sites in the authority: (dataset, its sites, their readings).
    points: list[tuple[dict, pd.DataFrame, pd.DataFrame]]


#: Seconds a request waits for its authority's datapack to be written (Camden's, the largest: 4-5 s on an idle
#: machine). Longer than an image's: a pack is written once per build and authority and then served from disk.
PACK_TIMEOUT = 600


def build_zip(cat: Catalogue, authority: str, target: Path) -> dict:
    """Write the authority's datapack to ``target``; returns a summary (levels, datasets, variables).

    The pack is the build's open data only, whoever asks: it is built as nobody (anonymous) and leaves out
    every published dataset, so restricted data is never in it, and one pack per build serves everyone.
    Councils' published datasets have their own downloads on their datastore pages. What it holds is read
    here (``pack_data``); the zip is written in the worker's pool (``write_zip``, atlas/renderpool.py), whose
    processes import geopandas and GDAL so that a web worker never does."""
    data = pack_data(cat.anonymous(), authority)
    return renderpool.run(write_zip, data, str(target), what="datapack", timeout=PACK_TIMEOUT)


def pack_data(cat: Catalogue, authority: str) -> PackData:
    """What ``write_zip`` needs to write the authority's datapack, read through the catalogue (``cat``: the
    anonymous one, see ``build_zip``)."""
    info = cat.authority(authority)
    levels = []
    for level in [d["level"] for d in info.get("levels") or []]:
        rows = [r for r in cat.variables(authority=authority, level=level) if not r.get("published")]
        if not rows:
            continue
        # The areas' codes and names only: a variable's values would read its national ranks (at output areas,
        # every one of 181,408) into the worker for nothing.
        codes, names = cat.area_short_names(authority, level)
        by_dataset: dict[str, list[str]] = {}
        for row in rows:
            by_dataset.setdefault(row["dataset"], []).append(row["id"])
        datasets = [(dataset, ids, str(Path(cat.build_dir) / "values" / level / f"{dataset}.parquet"))
                    for dataset, ids in sorted(by_dataset.items())]
        rebasing = cat.rebasing_rows(authority) if level == "lsoa11" else None
        packed = rebasing is not None and any(r.get("method") in ("apportioned", "change") for r in rows)
        levels.append(PackLevel(
            level, rows, codes, names, datasets, cat.area_geojson_bytes(authority, level),
            rebasing if packed else None, (cat.rebasing(authority) or {}) if packed else {}))
    points = []
    for meta in cat.point_datasets():
        if meta.get("published"):
            continue  # council-published points are downloaded by those who may see them, never packed
        sites = cat.point_sites(meta["id"], authority)
        if sites.empty:
            continue
        readings = pd.concat([cat.point_series(meta["id"], code).assign(site=code) for code in sites["site"]],
                             ignore_index=True)[["site", "measure", "time", "value", "band"]]
        points.append((dict(meta), sites, readings))
    created = str(getattr(cat, "build", {}).get("created", "")) or "not recorded"
    return PackData(authority, dict(info), cat.build_id, created, levels, points)


def write_zip(data: PackData, target: str) -> dict:
    """Write the datapack ``data`` describes to ``target`` (in a pool process: geopandas writes the areas'
    GeoPackage); returns its summary."""
    import geopandas  # noqa: PLC0415 - in the pool's processes only (about 100 MB a process)

    authority, info, built = data.authority, data.info, datetime.now(UTC).replace(microsecond=0).isoformat()
    summary: dict[str, Any] = {"authority": authority, "levels": {}, "variables": 0}
    definitions: dict[str, dict] = {}
    resources: list[dict] = []  # datapackage.json's, one per CSV
    files: list[tuple[str, str]] = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for lv in data.levels:
            level, rows = lv.level, lv.rows
            codes = pd.Index(lv.codes)
            names = np.asarray(lv.names, dtype=object)
            for row in rows:
                definitions.setdefault(row["id"], row)
            for dataset, ids, path in lv.datasets:
                frame = _wide(path, authority, ids, codes, names, {i: definitions[i] for i in ids})
                base = f"{level}/values_{dataset}"
                table = pa.Table.from_pandas(frame, preserve_index=False)
                parquet = io.BytesIO()
                pq.write_table(table, parquet, compression="zstd")
                # Parquet is compressed already: stored, not deflated again.
                zf.writestr(zipfile.ZipInfo(f"{base}.parquet", _date(built)), parquet.getvalue(),
                            compress_type=zipfile.ZIP_STORED)
                zf.writestr(zipfile.ZipInfo(f"{base}.csv", _date(built)), _csv_bytes(table),
                            compress_type=zipfile.ZIP_DEFLATED)
                columns = _wide_columns(list(frame.columns), {i: definitions[i] for i in ids})
                title = f"{info['name']}, {level}: dataset {dataset}"
                text = (f"{len(ids):,} variables of dataset {dataset} for the {len(codes):,} areas of "
                        f"{info['name']} at {level}, one row per area, one column per variable.")
                zf.writestr(zipfile.ZipInfo(f"{base}.csv-metadata.json", _date(built)), _dumps(
                    describe.csvw_table(f"values_{dataset}.csv", title, text, columns)),
                    compress_type=zipfile.ZIP_DEFLATED)
                resources.append(describe.resource(f"{base}.csv", title, text, columns))
                files.append((f"{base}.parquet / .csv", f"{len(ids):,} variables of dataset `{dataset}`, "
                                                      f"{len(codes):,} areas"))
                del frame, table, parquet
            areas = geopandas.GeoDataFrame.from_features(json.loads(lv.geojson)["features"], crs=CRS)
            with tempfile.TemporaryDirectory(prefix="atlas-pack-") as tmp:
                gpkg = Path(tmp) / "areas.gpkg"
                _write_gpkg(areas[["code", "name", "geometry"]], gpkg, f"{authority}_{level}")
                zf.write(gpkg, f"{level}/areas.gpkg", compress_type=zipfile.ZIP_DEFLATED)
            files.append((f"{level}/areas.gpkg", f"{len(areas):,} areas (layer `{authority}_{level}`), WGS84"))
            rebasing = lv.rebasing
            if rebasing is not None:
                table = pa.Table.from_pandas(rebasing, preserve_index=False)
                zf.writestr(zipfile.ZipInfo(f"{level}/lsoa11_lsoa21.csv", _date(built)), _csv_bytes(table),
                            compress_type=zipfile.ZIP_DEFLATED)
                resources.append(describe.resource(
                    f"{level}/lsoa11_lsoa21.csv", "2011 LSOAs and the 2021 LSOAs they became",
                    "How each 2011 LSOA maps to 2021 ones (ONS exact-fit lookup).",
                    [describe.column(c, kind="boolean" if c == "estimated" else "string")
                     for c in rebasing.columns], primary_key=None))
                files.append((f"{level}/lsoa11_lsoa21.csv",
                              "how each 2011 LSOA maps to 2021 ones (`change`: unchanged, split, merged, complex; "
                              "`lsoa21`); `estimated` = true where the re-based Census 2021 figures (and the "
                              f"changes 2011 -> 2021) are estimates: {lv.rebasing_counts.get('estimated', 0):,} of "
                              f"{len(rebasing):,} here"))
            summary["levels"][level] = {"areas": len(codes), "datasets": len(lv.datasets), "variables": len(rows)}
        summary["points"] = _pack_points(data.points, info, zf, built, resources, files)
        summary["variables"] = len(definitions)
        zf.writestr(zipfile.ZipInfo("variables.csv", _date(built)), _definitions_csv(definitions.values()),
                    compress_type=zipfile.ZIP_DEFLATED)
        resources.append(describe.resource("variables.csv", "Variable definitions",
                                           "Every variable in this pack: its definition, source and licence.",
                                           [describe.column(f) for f in DEFINITION_FIELDS], primary_key="id"))
        zf.writestr(zipfile.ZipInfo("datapackage.json", _date(built)), _dumps(describe.datapackage(
            f"neighbourhood-atlas-{authority}", f"{info['name']} ({authority}): Neighbourhood Atlas datapack",
            f"Every open variable the atlas holds for {info['name']}, at every level it has.", resources, built)),
            compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(zipfile.ZipInfo("README.md", _date(built)),
                    _readme(data, summary, definitions.values(), files, built).encode(),
                    compress_type=zipfile.ZIP_DEFLATED)
    return summary


def _pack_points(points: list[tuple[dict, pd.DataFrame, pd.DataFrame]], info: dict, zf: zipfile.ZipFile,
                 built: str, resources: list[dict], files: list[tuple[str, str]]) -> dict[str, int]:
    """The build's open point datasets (monitoring sites) with sites in the authority: ``points/<id>.geojson``
    (the sites) and ``points/<id>_readings.csv`` (every reading of those sites). Sites per dataset."""
    out: dict[str, int] = {}
    for meta, sites, readings in points:
        features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(r.lon), float(r.lat)]},
                     "properties": {"site": r.site, "name": r.name, "type": r.type, "network": r.network}}
                    for r in sites.itertuples()]
        zf.writestr(zipfile.ZipInfo(f"points/{meta['id']}.geojson", _date(built)), _dumps(
            {"type": "FeatureCollection", "name": meta["id"], "title": meta["title"], "as_of": meta.get("as_of"),
             "source": meta.get("source"), "licence": meta.get("licence"), "features": features}),
            compress_type=zipfile.ZIP_DEFLATED)
        table = pa.Table.from_pandas(readings, preserve_index=False)
        name = f"points/{meta['id']}_readings.csv"
        zf.writestr(zipfile.ZipInfo(name, _date(built)), _csv_bytes(table), compress_type=zipfile.ZIP_DEFLATED)
        units = ", ".join(f"{m['id']}: {m.get('unit')}" for m in meta.get("measures") or [])
        title = f"{meta['title']}: readings of the sites in {info['name']}"
        text = f"One row per site, measure and time ({units}). Source: {meta.get('source')}"
        columns = [describe.column(c, kind="number" if c == "value" else "string") for c in readings.columns]
        zf.writestr(zipfile.ZipInfo(f"{name[:-4]}.csv-metadata.json", _date(built)), _dumps(
            describe.csvw_table(name.rsplit("/", 1)[1], title, text, columns)), compress_type=zipfile.ZIP_DEFLATED)
        resources.append(describe.resource(name, title, text, columns, primary_key=None))
        files.append((f"points/{meta['id']}.geojson, {name}", f"{len(sites):,} monitoring sites of "
                      f"`{meta['id']}` and their {len(readings):,} readings"))
        out[meta["id"]] = int(len(sites))
    return out


def _dumps(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, indent=1).encode()


def _wide_columns(names: list[str], rows: dict[str, dict]) -> list[dict]:
    """The columns of a wide values CSV (code, name, then one per variable, and a categorical variable's
    ``<id>_label``), described from the catalogue."""
    out = []
    for name in names:
        if name in rows:
            out.append(describe.column(name, rows[name]))
        elif name.endswith("_label") and name[:-6] in rows:
            row = rows[name[:-6]]
            out.append({"name": name, "title": f"{row.get('label') or row['id']} (category label)",
                        "type": "string", "description": f"The label of the category code in {row['id']}."})
        else:
            out.append(describe.column(name))
    return out


def _date(iso: str) -> tuple[int, int, int, int, int, int]:
    d = datetime.fromisoformat(iso)
    return (d.year, d.month, d.day, d.hour, d.minute, d.second)


def _definition(row: dict, key: str) -> Any:
    """A definition field as written: categories as "code=label; ..." (their order is the publisher's)."""
    value = row.get(key)
    if key == "categories":
        return "; ".join(f"{c['code']}={c['label']}" for c in value or [])
    return "" if value is None else value


def _definitions_csv(rows: Any) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csvsafe.row(DEFINITION_FIELDS))
    for row in sorted(rows, key=lambda r: r["id"]):
        writer.writerow(csvsafe.row(_definition(row, k) for k in DEFINITION_FIELDS))
    return out.getvalue().encode()


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _readme(data: PackData, summary: dict, definitions: Any, files: list[tuple[str, str]], built: str) -> str:
    info, created = data.info, data.created
    lines = [
        f"# {info['name']} ({info['code']}): Neighbourhood Atlas datapack",
        "",
        f"Every variable the atlas holds for {info['name']}, at every level it has, with the areas' "
        "geometry. Values are one row per area and one column per variable (named by the variable id "
        "below); an empty cell is a missing value.",
        "",
        f"- Build: `{data.build_id}` (extracts built {created}); pack written {built}.",
        f"- Authority: {info['name']}, {info.get('region') or info.get('nation') or ''} ({info['code']}).",
        "- Geometry: display-simplified boundaries in WGS84 (EPSG:4326), coordinates to 5 decimals, as the "
        "map draws them; join to the values by `code`.",
        "- Boundaries: Office for National Statistics, Open Government Licence v3.0; contains OS data "
        "© Crown copyright and database right.",
        "",
        "## Levels",
        "",
        "| level | areas | datasets | variables |",
        "| --- | --- | --- | --- |",
    ]
    for level, d in summary["levels"].items():
        lines.append(f"| {level} | {d['areas']:,} | {d['datasets']} | {d['variables']:,} |")
    lines += ["", "## Files", "", "| file | contents |", "| --- | --- |",
              "| README.md | this file |", "| variables.csv | the definitions below, as CSV |",
              "| datapackage.json | a Frictionless Data Package: every CSV's fields, titles, types, sources, "
              "licences |",
              "| */*.csv-metadata.json | W3C CSV on the Web metadata beside each values CSV |"]
    lines += [f"| {name} | {what} |" for name, what in files]
    lines += ["", f"## Variables ({summary['variables']:,})", "",
              "| " + " | ".join(DEFINITION_FIELDS) + " |", "|" + " --- |" * len(DEFINITION_FIELDS)]
    for row in sorted(definitions, key=lambda r: r["id"]):
        lines.append("| " + " | ".join(_cell(_definition(row, k)) for k in DEFINITION_FIELDS) + " |")
    return "\n".join(lines) + "\n"


# -- one dataset of one place, wide (the datastore's downloads) ----------------------------------------------

def dataset_file(frame: pd.DataFrame, meta: dict, fmt: str, geojson: bytes | None, layer: str) -> bytes:
    """A dataset for one place (``Catalogue.dataset_values``: code, name, full_name, one column per variable) as
    csv, geojson, gpkg or parquet; the geographic formats carry each area's geometry (``geojson``: the place's
    ``area_geojson_bytes``) and the variables' definitions, source and licence (GeoJSON foreign member,
    GeoPackage/Parquet metadata), and are written in the worker's pool (``renderpool.run``)."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(csvsafe.row(frame.columns))
        for row in frame.itertuples(index=False):
            writer.writerow(csvsafe.row("" if (isinstance(v, float) and not np.isfinite(v)) or v is None
                                        else _json_number(v) if not isinstance(v, str) else v for v in row))
        return out.getvalue().encode()
    assert geojson is not None
    return renderpool.run(_dataset_geo_file, frame, meta, fmt, geojson, layer, what=FORMAT_NAMES[fmt])


def _dataset_geo_file(frame: pd.DataFrame, meta: dict, fmt: str, geojson: bytes, layer: str) -> bytes:
    """``dataset_file`` in a geographic format (in a pool process)."""
    import geopandas  # noqa: PLC0415 - in the pool's processes only (about 100 MB a process)

    geo = geopandas.GeoDataFrame.from_features(json.loads(geojson)["features"], crs=CRS).set_index("code")
    frame = frame[frame["code"].isin(geo.index)].reset_index(drop=True)
    gdf = geopandas.GeoDataFrame(frame, geometry=geo.loc[frame["code"], "geometry"].to_numpy(), crs=CRS)
    if fmt == "geojson":
        import shapely.geometry  # noqa: PLC0415

        features = [{"type": "Feature", "properties": {k: (_json_number(v) if not isinstance(v, str) else v)
                                                       for k, v in zip(frame.columns, row, strict=True)},
                     "geometry": shapely.geometry.mapping(geom)}
                    for row, geom in zip(frame.itertuples(index=False), gdf.geometry, strict=True)]
        columns = _wide_columns(list(frame.columns), {r["id"]: r for r in meta.get("variables") or []})
        body = {"type": "FeatureCollection", "dataset": {**meta, "columns": {c["name"]: c["title"] for c in columns}},
                "features": features}
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    if fmt == "parquet":
        sink = io.BytesIO()
        gdf.to_parquet(sink, index=False)  # GeoParquet (geopandas writes the "geo" metadata)
        table = pq.read_table(io.BytesIO(sink.getvalue()))
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               b"atlas": json.dumps(meta, ensure_ascii=False).encode()})
        out = io.BytesIO()
        pq.write_table(table, out)
        return out.getvalue()
    with tempfile.TemporaryDirectory(prefix="atlas-ds-") as tmp:
        path = Path(tmp) / "data.gpkg"
        _write_gpkg(gdf, path, layer, {"atlas_dataset": json.dumps(meta, ensure_ascii=False)})
        describe.label_gpkg_columns(path, layer, _wide_columns(list(frame.columns), {
            r["id"]: r for r in meta.get("variables") or []}))
        return path.read_bytes()


def dataset_csvw(frame: pd.DataFrame, rows: list[dict], url: str, title: str) -> bytes:
    """W3C CSVW metadata for ``dataset_file``'s CSV of ``frame`` (code, name, full_name, one column per
    variable in ``rows``), at ``url``."""
    columns = _wide_columns(list(frame.columns), {r["id"]: r for r in rows})
    text = f"One row per area, one column per variable ({len(rows)} variables)."
    return _dumps(describe.csvw_table(url, title, text, columns))
