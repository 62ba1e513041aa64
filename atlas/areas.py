"""Saved areas: a person's own area, made of small areas of one level across any boundary, kept in the
datastore's database (``saved_area``) and opened as a place by its code ``A<id>``.

How the areas are chosen (``select``):

- ``codes``: the areas named (every code must be an area of the level: the unknown ones are listed);
- ``polygon``: a GeoJSON Polygon or MultiPolygon (WGS84): the areas whose **representative point** lies
  inside it (point-in-polygon on the published polygons, with a shapely STRtree);
- ``radius``: a centre (lat, lon) and a radius in metres: the areas whose representative point is within
  that great-circle distance.

The issue asks for population-weighted centroids; the shared publisher files hold none (only postcode
centroids for Trafford and the WC area), so each area's point is the one shapely's ``point_on_surface``
finds inside its published polygon: always inside the area, as a population-weighted centroid is.

Access is the datastore's: ``private`` (the owner), ``organisation``, ``partnership`` or ``public``, decided
by ``access.allowed`` (actions ``area.save``, ``area.read``, ``area.delete``). An area someone may not read
does not exist for them (404, as an unknown code).
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import shapely.geometry
import sqlalchemy as sa

from atlas import access, audit, catalogue, db, extracts

__all__ = ["ACCESS", "CODE", "MAX_AREAS", "MAX_RADIUS", "BadArea", "Saved", "create", "delete", "get", "points",
           "drawn", "place_centre", "population", "select", "subject", "visible"]

ACCESS = ("private", "organisation", "partnership", "public")
CODE = re.compile(r"A[1-9][0-9]{0,9}")
#: Most areas a saved area may hold (a larger one is a region or a district: open that).
MAX_AREAS = 5000
#: Largest radius, in metres.
MAX_RADIUS = 50_000
#: Most vertices a drawn polygon may have.
MAX_VERTICES = 20_000
EARTH_RADIUS = 6_371_008.8  # mean radius (IUGG), metres


class BadArea(ValueError):
    """A request to make an area that cannot be met: ``field`` names the part of the request at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Saved:
    code: str
    name: str
    level: str
    codes: tuple[str, ...]
    owner_id: int
    access: str
    org_id: int | None
    partnership_id: int | None
    how: str
    definition: Any
    created: str

    @property
    def ref(self) -> access.SavedArea:
        return access.SavedArea(self.owner_id, self.access, self.org_id, self.partnership_id)

    def as_json(self) -> dict:
        return {"code": self.code, "name": self.name, "level": self.level, "areas": len(self.codes),
                "codes": list(self.codes), "access": self.access, "organisation": self.org_id,
                "partnership": self.partnership_id, "how": self.how, "definition": self.definition,
                "created": self.created}


# -- selecting areas -------------------------------------------------------------------------------------

_lock = threading.Lock()
_points: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, shapely.STRtree]] = {}


def points(s: catalogue.Catalogue, level: str) -> tuple[np.ndarray, np.ndarray, shapely.STRtree]:
    """Codes, representative points (shapely, WGS84) and their STRtree of every area at ``level`` (cached
    per build). Raises NotFound for an unknown level."""
    key = (s.build_id, level)
    found = _points.get(key)
    if found is None:
        codes, _names, _labels, _authorities, geoms = s.area_shapes(level)
        pts = shapely.point_on_surface(geoms)
        found = (codes, pts, shapely.STRtree(pts))
        with _lock:
            if len(_points) > 8:
                _points.clear()
            _points[key] = found
    return found


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadArea(field, f"{field} must be a number")
    return float(value)


def _polygon(given: Any) -> shapely.Geometry:
    if isinstance(given, dict) and given.get("type") == "Feature":
        given = given.get("geometry")
    if not isinstance(given, dict) or given.get("type") not in ("Polygon", "MultiPolygon"):
        raise BadArea("polygon", "polygon must be a GeoJSON Polygon or MultiPolygon (WGS84 longitude, latitude)")
    try:
        shape = shapely.geometry.shape(given)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, shapely.errors.GEOSException) as exc:
        raise BadArea("polygon", f"polygon is not a valid GeoJSON polygon: {str(exc)[:120]}") from None
    if shapely.get_num_coordinates(shape) > MAX_VERTICES:
        raise BadArea("polygon", f"polygon has more than {MAX_VERTICES:,} vertices")
    coords = shapely.get_coordinates(shape)
    if coords.size == 0 or not np.isfinite(coords).all() or (np.abs(coords[:, 0]) > 180).any() \
            or (np.abs(coords[:, 1]) > 90).any():
        raise BadArea("polygon", "polygon's coordinates must be longitude (-180 to 180), latitude (-90 to 90)")
    if not shape.is_valid:
        shape = shapely.make_valid(shape)  # a self-crossing lasso: its parts, as drawn
    if shape.is_empty or shape.area == 0:
        raise BadArea("polygon", "polygon encloses no area")
    return shape


def select(s: catalogue.Catalogue, level: str, *, codes: Any = None, polygon: Any = None, centre: Any = None,
           radius: Any = None) -> tuple[list[str], str, Any]:
    """(the codes chosen, in code order; how: codes | polygon | radius; the definition as given, cleaned).
    Exactly one of codes, polygon, or centre with radius. Raises BadArea or extracts.NotFound (level)."""
    if level not in s.levels or level == extracts.NATIONAL_LEVEL:
        raise extracts.NotFound("level", str(level), [lv for lv in s.levels if lv != extracts.NATIONAL_LEVEL])
    given = [k for k, v in (("codes", codes), ("polygon", polygon), ("centre", centre)) if v is not None]
    if len(given) != 1:
        raise BadArea("codes", "give exactly one of codes, polygon, or centre with radius")
    all_codes, pts, tree = points(s, level)
    if codes is not None:
        if isinstance(codes, str):
            codes = re.split(r"[\s,;]+", codes.strip())
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise BadArea("codes", "codes must be a list of area codes (or text of codes separated by spaces or "
                                   "commas)")
        wanted = sorted({c.strip().upper() for c in codes if c.strip()})
        known = set(all_codes.tolist())
        unknown = [c for c in wanted if c not in known]
        if unknown:
            raise BadArea("codes", f"{len(unknown)} code{'s are' if len(unknown) > 1 else ' is'} not "
                                   f"{'areas' if len(unknown) > 1 else 'an area'} at level {level}: "
                                   + ", ".join(c[:20] for c in unknown[:10]) + (" ..." if len(unknown) > 10 else ""))
        chosen, how, definition = wanted, "codes", None
    elif polygon is not None:
        shape = _polygon(polygon)
        found = tree.query(shape, predicate="contains")
        chosen = sorted(str(c) for c in all_codes[found])
        how, definition = "polygon", shapely.geometry.mapping(shape)
    else:
        if not isinstance(centre, dict):
            raise BadArea("centre", "centre must be {\"lat\": ..., \"lon\": ...}")
        lat, lon = _number(centre.get("lat"), "centre.lat"), _number(centre.get("lon"), "centre.lon")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise BadArea("centre", "centre's lat must be from -90 to 90 and lon from -180 to 180")
        metres = _number(radius, "radius") if radius is not None else None
        if metres is None or not 0 < metres <= MAX_RADIUS:
            raise BadArea("radius", f"radius must be a distance in metres above 0 and at most {MAX_RADIUS:,}")
        # A box around the circle first (the STRtree), then the great-circle distance to each point in it.
        dlat = math.degrees(metres / EARTH_RADIUS)
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        near = tree.query(shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat))
        xy = shapely.get_coordinates(pts[near])
        distance = _haversine(lat, lon, xy[:, 1], xy[:, 0])
        chosen = sorted(str(c) for c in all_codes[near][distance <= metres])
        how, definition = "radius", {"centre": {"lat": lat, "lon": lon}, "radius": metres}
    if not chosen:
        raise BadArea(given[0], f"no area at level {level} lies there (an area is in when its representative "
                                "point is)")
    if len(chosen) > MAX_AREAS:
        raise BadArea(given[0], f"{len(chosen):,} areas: a saved area holds at most {MAX_AREAS:,} (open a district "
                                "or region for more)")
    return chosen, how, definition


def _haversine(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    p1, p2 = math.radians(lat), np.radians(lats)
    dp, dl = p2 - p1, np.radians(lons - lon)
    a = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


# -- the records -----------------------------------------------------------------------------------------

def _saved(row: db.SavedArea) -> Saved:
    return Saved(code=f"A{row.id}", name=row.name, level=row.level, codes=tuple(row.codes.split()),
                 owner_id=row.owner_id, access=row.access, org_id=row.org_id, partnership_id=row.partnership_id,
                 how=row.how, definition=json.loads(row.definition) if row.definition else None,
                 created=row.created.isoformat(timespec="seconds") + "Z")


def create(actor: access.Actor, name: Any, level: str, chosen: list[str], how: str, definition: Any,
           access_level: Any = "private", org_id: Any = None, partnership_id: Any = None,
           url: str | None = None) -> Saved:
    """Save an area for ``actor`` (action ``area.save``). Raises BadArea, or PermissionError when the
    actor may not share it so."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise BadArea("name", "name must be text of 1 to 200 characters")
    if access_level not in ACCESS:
        raise BadArea("access", f"access must be one of {', '.join(ACCESS)}")
    for field, value in (("organisation", org_id), ("partnership", partnership_id)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise BadArea(field, f"{field} must be an id (a whole number)")
    if access_level == "organisation" and org_id is None:
        raise BadArea("organisation", "access organisation needs the organisation's id")
    if access_level == "partnership" and partnership_id is None:
        raise BadArea("partnership", "access partnership needs the partnership's id")
    ref = access.SavedArea(actor.user_id, access_level, org_id if access_level == "organisation" else None,
                           partnership_id if access_level == "partnership" else None)
    ok, why = access.explain(actor, "area.save", ref)
    if not ok:
        raise PermissionError(why)
    with db.session(url) as s:
        row = db.SavedArea(owner_id=actor.user_id, name=name.strip(), level=level, codes=" ".join(chosen), how=how,
                           definition=json.dumps(definition, separators=(",", ":")) if definition is not None else "",
                           access=access_level, org_id=ref.org_id, partnership_id=ref.partnership_id)
        s.add(row)
        s.flush()
        audit.record(s, "area.save", actor=actor, org_id=ref.org_id,
                     detail=f"A{row.id} {row.name[:80]} ({len(chosen)} areas, {access_level})")
        return _saved(row)


def _row(s: Any, code: str) -> db.SavedArea | None:
    if not isinstance(code, str) or not CODE.fullmatch(code):
        return None
    return s.get(db.SavedArea, int(code[1:]))


def get(actor: access.Actor, code: str, url: str | None = None) -> Saved | None:
    """The saved area ``code`` if ``actor`` may read it (``area.read``), else None (as if it did not exist)."""
    if not isinstance(code, str) or not CODE.fullmatch(code):
        return None
    if url is None and not db.exists(db.database_url()):
        return None
    with db.session(url) as s:
        row = _row(s, code)
        if row is None:
            return None
        found = _saved(row)
    return found if access.allowed(actor, "area.read", found.ref) else None


def delete(actor: access.Actor, code: str, url: str | None = None) -> bool:
    """Delete ``code`` (``area.delete``): True when deleted; False when there is none ``actor`` may read (a
    404); raises PermissionError when they may read it but not delete it."""
    with db.session(url) as s:
        row = _row(s, code)
        if row is None:
            return False
        found = _saved(row)
        if not access.allowed(actor, "area.read", found.ref):
            return False
        ok, why = access.explain(actor, "area.delete", found.ref)
        if not ok:
            raise PermissionError(why)
        audit.record(s, "area.delete", actor=actor, org_id=found.org_id, detail=f"{code} {found.name[:80]}")
        s.delete(row)
    return True


def subject(s: catalogue.Catalogue, code: str, actor: access.Actor) -> Any:
    """A saved area ``actor`` may open as a profile's subject (atlas.profile.Subject), else None."""
    from atlas import profile  # noqa: PLC0415 - profile reads the catalogue; areas is imported by the web layer

    if not isinstance(code, str) or not CODE.fullmatch(code):
        return None
    try:
        found = get(actor, code)
    except db.Unavailable:
        return None
    if found is None:
        return None
    known = profile.area_authorities(s, found.level, found.codes)
    held = [c for c in found.codes if c in known]
    # Read as a place (place=its code): the store opens it for this actor and filters by its codes in one
    # query per dataset, rather than one per district.
    return profile.Subject(code=found.code, name=found.name, kind="saved", level=found.level, codes=tuple(held),
                           authorities=tuple(sorted(set(known.values()))), place=found.code)


#: The residents count of each level, for the running population of a selection (Census 2011 / 2021).
POPULATION = {"lsoa11": "ks102ew0001", "oa11": "ks102ew0001", "lsoa21": "ts001_total"}


def population(s: catalogue.Catalogue, level: str, codes: list[str]) -> float | None:
    """Usual residents of ``codes`` together (the census count of ``POPULATION``), None where not held."""
    variable = POPULATION.get(level)
    if variable is None or not codes:
        return None
    from atlas import profile  # noqa: PLC0415

    known = profile.area_authorities(s, level, codes)
    held = [c for c in codes if c in known]
    subject = profile.Subject(code="selection", name="selection", kind="saved", level=level, codes=tuple(held),
                              authorities=tuple(sorted(set(known.values()))))
    value = profile.values_for(s, subject, (variable,))[0]
    return None if not np.isfinite(value) else float(value)


def drawn(s: catalogue.Catalogue, level: str, collection: Any) -> list[str]:
    """The areas inside every shape drawn on a map (dash-leaflet's EditControl ``geojson``: polygons and
    rectangles, and circles as a point with ``_mRadius`` in metres), together, in code order. A shape that
    holds no area adds none. Raises BadArea for a shape that is not one."""
    features = collection.get("features") if isinstance(collection, dict) else None
    if not isinstance(features, list):
        return []
    found: set[str] = set()
    for feature in features:
        if not isinstance(feature, dict):
            continue
        geometry, props = feature.get("geometry"), feature.get("properties")
        if not isinstance(geometry, dict):
            continue
        props = props if isinstance(props, dict) else {}
        try:
            if geometry.get("type") == "Point" and "_mRadius" in props:
                point = geometry.get("coordinates")
                if not isinstance(point, list) or len(point) < 2:
                    raise BadArea("centre", "a circle's centre must be [longitude, latitude]")
                codes, _, _ = select(s, level, centre={"lat": point[1], "lon": point[0]}, radius=props["_mRadius"])
            elif geometry.get("type") in ("Polygon", "MultiPolygon"):
                codes, _, _ = select(s, level, polygon=geometry)
            else:
                continue
        except BadArea as exc:
            if "no area" in str(exc):
                continue
            raise
        found.update(codes)
    return sorted(found)


def place_centre(s: catalogue.Catalogue, text: str) -> tuple[float, float, str] | None:
    """The centre (lat, lon) and label of the first place ``text`` finds (atlas/search.py), else None."""
    from atlas import search  # noqa: PLC0415

    for result in search.search(s.extracts, text, limit=1)["results"]:
        box = result.get("bbox")
        if box and len(box) == 4:
            return (box[1] + box[3]) / 2, (box[0] + box[2]) / 2, str(result.get("label") or result.get("name"))
    return None


def visible(actor: access.Actor, url: str | None = None, limit: int = 200) -> list[Saved]:
    """The saved areas ``actor`` may open: their own and those shared with them (newest first)."""
    if not actor.signed_in or (url is None and not db.exists(db.database_url())):
        return []
    with db.session(url) as s:
        q = sa.select(db.SavedArea).where(sa.or_(
            db.SavedArea.owner_id == actor.user_id,
            sa.and_(db.SavedArea.access == "organisation", db.SavedArea.org_id.in_(list(actor.orgs) or [-1])),
            sa.and_(db.SavedArea.access == "partnership",
                    db.SavedArea.partnership_id.in_(list(actor.partnerships) or [-1])),
        )).order_by(db.SavedArea.id.desc()).limit(limit)
        rows = [_saved(r) for r in s.execute(q).scalars()]
    return [r for r in rows if access.allowed(actor, "area.read", r.ref)]


def _for_store(code: str) -> tuple[str, str, tuple[str, ...]] | None:
    try:
        found = get(access.current(), code)
    except db.Unavailable:
        return None
    return None if found is None else (found.name, found.level, found.codes)


def _listing() -> list[str]:
    try:
        return [a.code for a in visible(access.current())]
    except db.Unavailable:
        return []


# A saved area is a place like any other: the store opens ``A<id>`` as an ``authority`` for those who may.
catalogue.register_saved(_for_store, _listing)
