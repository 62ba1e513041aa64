"""The datastore pages' view of the data: datasets (the build's tables and councils' published datasets alike),
described for the datastore pages, their search and facets, and the DCAT documents.

Everything here is read through the request's catalogue (atlas/catalogue.py), so a requester sees exactly
the datasets ``access.allowed`` lets them see: a published dataset they may not see is not in any list, count,
facet or document.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from atlas import access, registry
from atlas.viewstate import level_label

if TYPE_CHECKING:
    from atlas.catalogue import Catalogue

__all__ = ["DatasetInfo", "FACETS", "MONITORING_PUBLISHERS", "authority_counts", "datasets", "facet_counts",
           "licence_url", "monitoring_publisher", "publisher_of", "search", "slug"]

FACETS = ("topic", "publisher", "level", "licence", "access", "updated")
_URL = re.compile(r"https?://[^\s)]+")


def slug(name: str) -> str:
    """"Kingston upon Hull, City of" -> "kingston-upon-hull-city-of" (the datastore's address of a place)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def licence_url(text: str) -> str | None:
    match = _URL.search(text or "")
    return match.group(0) if match else None


def licence_name(text: str) -> str:
    return re.sub(r"\s*\(https?://[^)]*\)", "", text or "").strip() or "licence not recorded"


#: Publishers whose names hold a comma, so a source line cannot simply be cut at the first one.
PUBLISHERS = ("Ministry of Housing, Communities and Local Government",)


#: The publishers of the build's monitoring sites, by the start of their source line (see the data's SOURCES.md):
#: (start, the publisher's name, its site).
MONITORING_PUBLISHERS: tuple[tuple[str, str, str], ...] = (
    ("Defra", "Department for Environment, Food and Rural Affairs (Defra), UK-AIR", "https://uk-air.defra.gov.uk/"),
    ("Environmental Research Group", "London Air Quality Network (London Air): Environmental Research Group, "
     "Imperial College London (formerly King's College London)", "https://www.londonair.org.uk/"),
)


def monitoring_publisher(source: str) -> tuple[str, str]:
    """The publisher of a build's monitoring dataset from its source line: (name, site; "" when not known)."""
    for start, name, url in MONITORING_PUBLISHERS:
        if (source or "").startswith(start):
            return name, url
    return publisher_of(source), ""


def publisher_of(source: str) -> str:
    """The publisher named first in a source line ("Office for National Statistics, 2011 Census ..."), in full
    ("Ministry of Housing, Communities and Local Government", not "Ministry of Housing")."""
    text = (source or "").strip()
    for name in PUBLISHERS:
        if text.startswith(name):
            return name
    return text.split(",", 1)[0].split(".", 1)[0].strip() or "not recorded"


@dataclass
class DatasetInfo:
    key: str
    title: str
    topic: str
    description: str
    source: str
    licence: str
    publisher: str
    levels: list[str]
    coverage: str
    vintage: str
    variables: int
    access: str = "public"
    updated: str = ""
    published: bool = False
    as_of: str = ""
    stale: bool = False
    version: int | None = None
    dataset_id: int | None = None
    status: str = ""
    first_variable: str = ""
    authorities: list[str] = field(default_factory=list)
    #: A point dataset (a published table of points, or the build's monitoring sites: ``monitoring``).
    points: bool = False
    monitoring: bool = False
    publisher_url: str = ""

    @property
    def licence_name(self) -> str:
        return licence_name(self.licence)

    @property
    def licence_url(self) -> str | None:
        return licence_url(self.licence)

    @property
    def updated_year(self) -> str:
        return self.updated[:4]

    def facet(self, name: str) -> list[str]:
        if name == "level":
            return list(self.levels)
        if name == "licence":
            return [self.licence_name]
        if name == "updated":
            return [self.updated_year] if self.updated_year else []
        return [str(getattr(self, name) or "")]


def _build_created(cat: Catalogue) -> str:
    return str(cat.build.get("created", ""))[:10]


def datasets(cat: Catalogue, authority: str | None = None) -> list[DatasetInfo]:
    """Every dataset the requester may see (with data for ``authority`` when given), by topic and title."""
    return [DatasetInfo(**{**d.__dict__}) for d in cat.memo("datasets", authority,
                                                            compute=lambda: _datasets(cat, authority))]


def _datasets(cat: Catalogue, authority: str | None) -> tuple[DatasetInfo, ...]:
    # Kept per what the requester may see (the catalogue's scope): shared by requesters who see the same only.
    rows = cat.variables(authority=authority) if authority else cat.variables()
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["dataset"], []).append(row)
    built = _build_created(cat)
    out = []
    for key, members in groups.items():
        first = members[0]
        levels = sorted({lv for r in members for lv in (r.get("levels") or [])},
                        key=lambda lv: ("lsoa11", "oa11", "lsoa21", "oa21", "ward22", "lad").index(lv)
                        if lv in ("lsoa11", "oa11", "lsoa21", "oa21", "ward22", "lad") else 9)
        if first.get("published"):
            pub = cat.published(key)
            if pub is None:
                continue
            out.append(DatasetInfo(
                key=key, title=pub.title, topic=pub.topic, description=pub.description, source=pub.source,
                licence=pub.licence, publisher=pub.org_name, levels=list(pub.levels),
                coverage=f"published by {pub.org_name}",
                vintage=pub.as_of, variables=len(members), access=pub.rule.access, updated=pub.updated[:10],
                published=True, as_of=pub.as_of, stale=pub.stale(), version=pub.version, dataset_id=pub.id,
                status=pub.status(), first_variable=first["id"], authorities=list(pub.authorities),
                points=pub.points))
            continue
        title = first.get("table_title") or first.get("table") or key
        if first.get("table") and first.get("table") not in title:
            title = f"{first['table']}: {title}"
        out.append(DatasetInfo(
            key=key, title=title, topic=first.get("topic") or "Other",
            description=first.get("description") or "", source=first.get("source") or "",
            licence=first.get("licence") or "", publisher=publisher_of(first.get("source") or ""),
            levels=levels, coverage=first.get("coverage") or "", vintage=str(first.get("vintage") or ""),
            variables=len(members), updated=built, first_variable=first["id"]))
    out.extend(_monitoring(cat, built, authority))
    out.sort(key=lambda d: (d.topic, d.title.lower()))
    return tuple(out)


def _monitoring(cat: Catalogue, built: str, authority: str | None) -> list[DatasetInfo]:
    """The build's monitoring sites (atlas/points.py's open point datasets: the AURN, the LAQN), those with sites
    in ``authority`` when given. They have no area levels: they are points, downloaded as GeoJSON."""
    out = []
    for row in cat.point_datasets():
        if not row.get("monitoring"):
            continue
        where = sorted({a for a in cat.point_sites(row["id"], authority)["authority"] if isinstance(a, str)})
        if authority is not None and not where:
            continue
        name, url = monitoring_publisher(row.get("source") or "")
        out.append(DatasetInfo(
            key=row["id"], title=row["title"], topic="Air quality", description=row.get("description") or "",
            source=row.get("source") or "", licence=row.get("licence") or "", publisher=name, levels=[],
            coverage=f"{row.get('sites') or 0:,} monitoring sites", vintage=f"{row.get('start')} to {row.get('end')}"
            if row.get("start") != row.get("end") else str(row.get("as_of") or ""),
            variables=len(row.get("measures") or []), updated=built, as_of=str(row.get("as_of") or "")[:10],
            authorities=where, points=True, monitoring=True, publisher_url=url))
    return out


def search(items: list[DatasetInfo], q: str = "", facets: dict[str, str] | None = None) -> list[DatasetInfo]:
    """Datasets matching every word of ``q`` (title, description, topic, publisher, key) and every facet."""
    words = [w for w in (q or "").lower().split() if w][:10]
    out = []
    for d in items:
        hay = " ".join([d.key, d.title, d.description, d.topic, d.publisher, d.source]).lower()
        if words and not all(w in hay for w in words):
            continue
        if facets and any(value and value not in d.facet(name) for name, value in facets.items()):
            continue
        out.append(d)
    return out


def facet_counts(items: list[DatasetInfo]) -> dict[str, list[tuple[str, int]]]:
    out = {}
    for name in FACETS:
        counter: Counter[str] = Counter()
        for d in items:
            counter.update(set(d.facet(name)))
        out[name] = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return out


def authority_counts(cat: Catalogue) -> dict[str, tuple[int, int]]:
    """Datasets and variables with data for each authority, as the requester sees them."""
    return dict(cat.memo("authority_counts", compute=lambda: _authority_counts(cat)))


def _authority_counts(cat: Catalogue) -> tuple[tuple[str, tuple[int, int]], ...]:
    variables: Counter[str] = Counter()
    sets: dict[str, set[str]] = {}
    for row in cat.variables():
        if row.get("kind") == "categorical":
            continue
        authorities = row.get("authorities") or []
        variables.update(authorities)
        for a in authorities:
            sets.setdefault(a, set()).add(row["dataset"])
    return tuple((a, (len(sets.get(a, ())), variables[a])) for a in variables)


def level_names(levels: list[str]) -> str:
    return ", ".join(level_label(lv) for lv in levels)


def visible_published(actor: access.Actor) -> list[registry.Published]:
    return registry.snapshot().visible(actor)
