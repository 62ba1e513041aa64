"""Areas like mine: the areas of England and Wales most similar to one area (or a saved area taken as a whole)
on a set of indicators, standardised (scikit-learn's ``StandardScaler``: each indicator as z-scores over
every area of the level) and compared by Euclidean distance with scikit-learn's ``NearestNeighbors``.

``DEFAULTS`` is the documented default set at LSOA 2011 (Census 2011, comparable across England and Wales;
the IMD and the WIMD rank different nations on different scales, so the census's own household deprivation
measure stands for deprivation). Any other set is named with ``variables=``: numeric variables with figures
for the whole of England and Wales (or a nation) at the level. Areas missing any indicator are left out.

For each area found, the indicators that make it alike (the smallest differences in standard deviations)
and those that set it apart (the largest) are named with both areas' figures.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from atlas import catalogue, extracts, view

if TYPE_CHECKING:
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler

__all__ = ["DEFAULTS", "MAX_N", "MAX_VARIABLES", "Model", "model", "similar"]

#: The default indicators, by level: age, tenure, qualifications, occupation, deprivation.
DEFAULTS: dict[str, tuple[str, ...]] = {
    "lsoa11": (
        "ks102ew_age_0_15_pct",  # aged 0 to 15, % of residents
        "ks102ew_age_65_plus_pct",  # aged 65 and over
        "ks402ew_owned_pct",  # owner occupied, % of households
        "ks402ew_social_rented_pct",  # social rented
        "ks402ew_private_rented_pct",  # private rented
        "ks501ew0002_pct",  # no qualifications, % of residents 16+
        "ks501ew0007_pct",  # level 4 qualifications and above
        "ks608ew_soc1_3_pct",  # managers, professionals, associate professionals, % of those in work
        "ks608ew_soc8_9_pct",  # process, plant and elementary occupations
        "qs119ew_deprived_2plus_pct",  # households deprived in two or more dimensions
    ),
}
MAX_N = 100
MAX_VARIABLES = 30
#: How many indicators are named as making areas alike, and as setting them apart.
EXPLAIN = 3


@dataclass(frozen=True)
class Model:
    """Every area of a level with all the indicators: codes, names, districts, raw values, z-scores, the
    fitted scaler and neighbours index."""

    level: str
    variables: tuple[str, ...]
    rows: tuple[dict, ...]
    codes: np.ndarray
    names: np.ndarray
    raw: np.ndarray
    z: np.ndarray
    scaler: StandardScaler
    index: NearestNeighbors
    position: dict[str, int]


_lock = threading.Lock()
_models: dict[tuple, Model] = {}


def _check(s: catalogue.Catalogue, level: str, variables: tuple[str, ...]) -> list[dict]:
    if level not in s.levels or level == extracts.NATIONAL_LEVEL:
        raise extracts.NotFound("level", level, [lv for lv in s.levels if lv != extracts.NATIONAL_LEVEL])
    if not variables:
        raise extracts.NotFound("variables", "", [], f"no default indicators at level {level!r} (defaults exist "
                                   f"for {', '.join(DEFAULTS)}): name them with ?variables=a,b,c")
    if len(variables) > MAX_VARIABLES or len(set(variables)) != len(variables):
        raise extracts.NotFound("variables", ",".join(variables)[:60], [],
                                   f"give 1 to {MAX_VARIABLES} different variables")
    rows = []
    for v in variables:
        row = s.variable(v)  # NotFound for an unknown one, or one the requester may not see
        if row.get("kind") == extracts.CATEGORICAL or level not in (row.get("national_levels") or []):
            raise extracts.NotFound(
                "variable", v, [], f"variable {v!r} cannot be compared across England and Wales at level "
                f"{level!r}: it needs numbers for every area (a national variable at that level)")
        rows.append(row)
    return rows


def model(s: catalogue.Catalogue, level: str, variables: tuple[str, ...]) -> Model:
    """The standardised table and neighbours index of ``level`` on ``variables`` (cached per build and what
    the requester may see). Raises NotFound for a level or variable that cannot be used."""
    rows = _check(s, level, variables)
    key = (s.build_id, s.scope_key(), level, variables)
    found = _models.get(key)
    if found is not None:
        return found
    frames = [s.values(extracts.ALL, level, v) for v in variables]
    codes = frames[0]["code"].to_numpy(dtype=object)
    raw = np.column_stack([f["value"].to_numpy(dtype="float64") for f in frames])
    keep = np.isfinite(raw).all(axis=1)
    codes, raw = codes[keep], raw[keep]
    names = frames[0]["full_name"].to_numpy(dtype=object)[keep]
    # scikit-learn on the first model a worker makes, not at start: it costs a process about 160 MB.
    from sklearn.neighbors import NearestNeighbors  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    scaler = StandardScaler().fit(raw)
    z = scaler.transform(raw)
    index = NearestNeighbors(algorithm="auto").fit(z)
    found = Model(level=level, variables=variables, rows=tuple(rows), codes=codes, names=names, raw=raw, z=z,
                  scaler=scaler, index=index, position={c: i for i, c in enumerate(codes)})
    with _lock:
        if len(_models) > 16:
            _models.clear()
        _models[key] = found
    return found


def _printed(row: dict, value: float) -> str:
    return view.format_value(value, view.decimals_for(row), (row.get("unit") or "").lower())


def similar(s: catalogue.Catalogue, level: str, target: np.ndarray | None, code: str, n: int,
            variables: tuple[str, ...] | None = None, exclude: frozenset[str] = frozenset()) -> dict:
    """The ``n`` areas at ``level`` nearest to ``code`` (an area of the level, whose own figures are used)
    or to ``target`` (a saved area's aggregated figures, in the order of ``variables``), leaving out
    ``exclude`` (a saved area's own areas) and the area itself. Raises NotFound naming what was wrong."""
    variables = tuple(variables or DEFAULTS.get(level, ()))
    m = model(s, level, variables)
    if target is None:
        at = m.position.get(code)
        if at is None:
            raise extracts.NotFound("area", code, [], f"{code!r} is not an area at level {level!r} with every "
                                       f"indicator ({', '.join(variables)})")
        vector_raw = m.raw[at]
        exclude = exclude | {code}
    else:
        vector_raw = np.asarray(target, dtype="float64")
        missing = [v for v, x in zip(variables, vector_raw, strict=True) if not np.isfinite(x)]
        if missing:
            raise extracts.NotFound("area", code, [], f"{code!r} has no figure for {', '.join(missing)}")
    vector = m.scaler.transform(vector_raw.reshape(1, -1))
    k = min(len(m.codes), n + len(exclude))
    distances, found = m.index.kneighbors(vector, n_neighbors=k)
    out = []
    for d, i in zip(distances[0], found[0], strict=True):
        if m.codes[i] in exclude:
            continue
        dz = m.z[i] - vector[0]
        order = np.argsort(np.abs(dz), kind="stable")

        def named(js: np.ndarray, i: int = i, dz: np.ndarray = dz) -> list[dict]:
            return [{"variable": variables[j], "label": m.rows[j].get("label"), "value": float(m.raw[i, j]),
                     "printed": _printed(m.rows[j], float(m.raw[i, j])),
                     "mine": float(vector_raw[j]), "mine_printed": _printed(m.rows[j], float(vector_raw[j])),
                     "sd_difference": float(dz[j])} for j in js]

        out.append({"code": str(m.codes[i]), "name": str(m.names[i]), "distance": float(d),
                    "alike": named(order[:EXPLAIN]), "different": named(order[::-1][:EXPLAIN])})
        if len(out) == n:
            break
    return {"level": level, "code": code, "n": len(out), "areas_compared": len(m.codes),
            "method": "indicators standardised over every area of the level (z-scores), Euclidean distance, "
                      "scikit-learn NearestNeighbors",
            "indicators": [{"variable": v, "label": r.get("label"), "unit": r.get("unit"), "value": float(x),
                            "printed": _printed(r, float(x)), "mean": float(mu), "sd": float(sd)}
                           for v, r, x, mu, sd in zip(variables, m.rows, vector_raw, m.scaler.mean_,
                                                     m.scaler.scale_, strict=True)],
            "similar": out}
