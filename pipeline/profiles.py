"""The profiles' comparators, computed once per build: every figure of every authority, region and nation
(England, Wales) at every small-area level, aggregated by its rule (atlas/aggregation.py, the same
computation a profile runs on its own areas per request), written to ``profiles/<level>.parquet``.

A profile compares its place with the containing authorities, their region and their nation; computed on
first use these took 30-120 s (England reads every dataset of 32,844 LSOAs). Read here from the files just
written, so the figures are those the store would read; one row per (place, variable), sorted by place so a
read of one place's rows touches a few row groups.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from atlas import aggregation

log = logging.getLogger(__name__)

#: England's code: every area whose code starts with "E" (Wales is a place of places.parquet, W92000004).
ENGLAND = "E92000001"
#: Rows per row group of the extract: a place's figures at LSOA 2011 are about 5,600 rows.
ROW_GROUP = 8192


def _groups(areas: pd.DataFrame, places: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(row positions into ``areas``, the group each copy belongs to): every area once for its authority,
    once for its region or nation (places.parquet's members), and once for England if its code says so."""
    at = [np.arange(len(areas))]
    groups = [areas["authority"].to_numpy(dtype=object)]
    member = areas["authority"].to_numpy(dtype=object)
    for code, authorities in zip(places["code"], places["authorities"], strict=True):
        where = np.flatnonzero(np.isin(member, list(authorities)))
        at.append(where)
        groups.append(np.full(len(where), code, dtype=object))
    english = np.flatnonzero(areas["code"].astype(str).str.startswith("E").to_numpy())
    at.append(english)
    groups.append(np.full(len(english), ENGLAND, dtype=object))
    return np.concatenate(at), np.concatenate(groups)


def write(out: Path, catalogue: pd.DataFrame, places: pd.DataFrame, levels: tuple[str, ...]) -> dict[str, int]:
    """Write ``out/profiles/<level>.parquet`` for each of ``levels`` from the build's values, areas and
    catalogue; returns the rows written per level."""
    comparators = places[places["kind"].isin(["region", "nation"])]
    rows_of: dict[tuple[str, str], list[dict]] = {}
    for record in catalogue.to_dict("records"):
        row = {k: (None if not isinstance(v, (list, np.ndarray)) and pd.isna(v) else v) for k, v in record.items()}
        for level in row["levels"]:
            rows_of.setdefault((row["dataset"], str(level)), []).append(row)
    written: dict[str, int] = {}
    (out / "profiles").mkdir(exist_ok=True)
    for level in levels:
        area_file = out / "areas" / f"{level}.parquet"
        if not area_file.exists():
            continue
        areas = pd.read_parquet(area_file, columns=["code", "authority"]).sort_values("code", ignore_index=True)
        at, groups = _groups(areas, comparators)
        parts = []
        for path in sorted((out / "values" / level).glob("*.parquet")):
            rows = rows_of.get((path.stem, level))
            if not rows:
                continue
            held = set(pq.read_schema(path).names)
            columns = sorted({c for r in rows for c in aggregation.inputs(r) if c in held})
            values = pd.read_parquet(path, columns=["code", *columns])
            frame = areas[["code"]].merge(values, on="code", how="left").iloc[at].reset_index(drop=True)
            parts.append(aggregation.group_stats(rows, frame, groups))
        if not parts:
            continue
        table = pd.concat(parts, ignore_index=True).rename(columns={"group": "place"})
        table = table.sort_values(["place", "variable"], ignore_index=True)
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), out / "profiles" / f"{level}.parquet",
                       row_group_size=ROW_GROUP, compression="zstd")
        written[level] = int(len(table))
        log.info("profiles %s: %d figures of %d places", level, len(table), table["place"].nunique())
    return written

