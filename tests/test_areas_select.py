"""Choosing a saved area's areas (atlas/areas.py) under hostile input: whatever a request or the drawing control
sends, the answer is the areas chosen or a BadArea (a 400 naming the field), never another exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas import areas, catalogue, extracts

numbers = st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=True, allow_infinity=True)
scalars = numbers | st.text(max_size=30) | st.sampled_from(["E01000001", "E01002704", "Polygon", "Point"])
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
    st.sampled_from(["type", "coordinates", "geometry", "features", "properties", "_mRadius", "lat", "lon"])
    | st.text(max_size=8), inner, max_size=5), max_leaves=20)
rings = st.lists(st.tuples(st.floats(-200, 200), st.floats(-100, 100)), min_size=0, max_size=8).map(
    lambda pts: {"type": "Polygon", "coordinates": [[list(p) for p in pts]]})


@pytest.fixture(scope="module")
def the_store(data_dir: Path) -> Any:
    import os

    old = os.environ.get("ATLAS_DATA_DIR")
    os.environ["ATLAS_DATA_DIR"] = str(data_dir)
    try:
        yield catalogue.of_request()
    finally:
        if old is None:
            os.environ.pop("ATLAS_DATA_DIR", None)
        else:
            os.environ["ATLAS_DATA_DIR"] = old


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(codes=values, polygon=values | rings, centre=values, radius=values, which=st.integers(0, 3))
def test_select_answers_areas_or_a_bad_area(the_store: Any, codes: Any, polygon: Any, centre: Any, radius: Any,
                                            which: int) -> None:
    kwargs = [{"codes": codes}, {"polygon": polygon}, {"centre": centre, "radius": radius},
              {"codes": codes, "polygon": polygon}][which]
    try:
        chosen, how, _ = areas.select(the_store, "lsoa11", **kwargs)
    except areas.BadArea as exc:
        assert exc.field in ("codes", "polygon", "centre", "centre.lat", "centre.lon", "radius") and str(exc)
        return
    assert 0 < len(chosen) <= areas.MAX_AREAS and chosen == sorted(chosen) and how in ("codes", "polygon", "radius")


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(collection=values)
def test_shapes_from_the_drawing_control_never_raise_anything_else(the_store: Any, collection: Any) -> None:
    try:
        chosen = areas.drawn(the_store, "lsoa11", collection)
    except areas.BadArea:
        return
    assert chosen == sorted(set(chosen))


def test_an_unknown_level_is_named(the_store: Any) -> None:
    with pytest.raises(extracts.NotFound, match="level"):
        areas.select(the_store, "lsoa99", codes=["E01000001"])
