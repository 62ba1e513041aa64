"""The one function that decides what a view shows (atlas/view.py) and its JSON twin, /api/view.json.

The property the map must never break: every area's printed value lies inside its class's printed label,
labels of neighbouring classes never overlap, and the ranks are the data API's. Checked over many views
(every scheme, 3 to 9 classes, local and national breaks, counts, percentages, ages, the IMD's deciles and
ranks, the WIMD's scores, custom breaks below, inside and above the data) in seven places, by reading the
printed labels back as numbers, not by trusting the function's own bounds.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas import catalogue, classify, mapview
from atlas import view as atlas_view
from atlas import viewstate as state

HARTLEPOOL = "E06000001"
PLACES = [  # (authority, level, variables with data there)
    ("E09000007", "lsoa11", ["ks102ew0018", "ks102ew0002", "ks102ew0014_pct", "imd2019_imd_decile",
                             "imd2019_imd_rank", "gla2011_popden"]),
    ("E09000007", "oa11", ["ks102ew0014_pct", "qs119ew0002_pct", "ks101ew0001"]),
    ("E08000025", "lsoa11", ["ks102ew0008_pct", "ks102ew0001", "imd2019_imd_decile", "imd2019_income_rank",
                             "chg_tenure_owned_pp", "chg_tenure_social_rented_rel"]),
    # Changes 2011 -> 2021 (centred on 0: a break at 0 whenever values fall on both sides of it).
    ("E08000035", "lsoa11", ["chg_tenure_owned_pp", "chg_accommodation_flats_pp", "chg_heating_none_rel",
                             "chg_residents_rel"]),
    (HARTLEPOOL, "lsoa11", ["imd2019_imd_decile", "ks102ew0018", "ks102ew0017_pct"]),
    ("W06000015", "lsoa11", ["wimd2019_wimd_score", "wimd2019_wimd_rank", "ks102ew0010_pct"]),
    ("E09000001", "lsoa11", ["ks102ew0018", "ks102ew0005"]),
    ("E07000194", "lsoa11", ["imd2019_imd_decile", "ks102ew0016_pct"]),
    ("all", "lad", ["ks102ew0018", "ks102ew0014_pct", "ks102ew0001"]),
]
NUMBER = re.compile(r"\u2212?\d[\d,]*(?:\.\d+)?")


@pytest.fixture(scope="module")
def s(data_dir: Path) -> catalogue.Catalogue:
    return catalogue.build(data_dir=data_dir)


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("\u2212", "-"))


def _bounds(label: str) -> tuple[float | None, float | None]:
    """A printed class label read back as numbers: "1 – 2", "7", "10.1% – 20.0%", "up to 5"."""
    numbers = [_number(n) for n in NUMBER.findall(label)]
    if label.startswith("up to"):
        return None, numbers[0]
    if label.startswith("none"):  # custom breaks closer than the printed precision: a class nothing can be in
        return None, None
    return (numbers[0], numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])


def _check_view(shown: atlas_view.View) -> None:
    classes = shown.classes
    assert classes, "a view always has classes when any area has a value"
    read = [_bounds(c.label) for c in classes]
    for i, (lower, upper) in enumerate(read):
        if upper is None:
            assert classes[i].count == 0 and shown.scheme == "custom"
            continue
        assert upper == pytest.approx(classes[i].upper, abs=1e-9), classes[i].label
        if i and lower is not None and read[i - 1][1] is not None:
            assert lower > read[i - 1][1], f"labels overlap: {classes[i - 1].label} | {classes[i].label}"
        if shown.decimals == 0 and shown.scheme != "custom":
            assert all(float(n).is_integer() for n in (lower, upper) if n is not None), classes[i].label
    counts = [0] * len(classes)
    for value, text, cls in zip(shown.areas.values, shown.areas.text, shown.areas.classes, strict=True):
        if value is None:
            assert cls == -1 and text == "no data"
            continue
        printed = _number(NUMBER.findall(text)[0])
        assert printed == pytest.approx(value, abs=1e-9)  # the printed value is the value classified
        lower, upper = read[cls]
        assert upper is not None, f"{text} in the empty class {classes[cls].label!r}"
        assert (lower is None or printed >= lower - 1e-9) and printed <= upper + 1e-9, \
            f"{text} printed in class {classes[cls].label!r}"
        counts[cls] += 1
    assert counts == [c.count for c in classes]
    assert sum(counts) + shown.missing == len(shown.areas.codes)
    centre = shown.variable.get("centre")
    if centre is not None and shown.scheme != "custom":
        # Falls and rises never share a class: every class's printed values lie on one side of the centre.
        sides: dict[int, set[bool]] = {}
        for value, cls in zip(shown.areas.values, shown.areas.classes, strict=True):
            if value is not None:
                sides.setdefault(cls, set()).add(value > centre)
        assert all(len(side) == 1 for side in sides.values()), [c.label for c in classes]


@st.composite
def views(draw) -> state.ViewState:
    authority, level, variables = draw(st.sampled_from(PLACES))
    variable = draw(st.sampled_from(variables))
    scheme = draw(st.sampled_from(list(classify.SCHEMES)))
    breaks = ""
    if scheme == "custom":
        points = draw(st.lists(st.floats(min_value=-50, max_value=40_000, allow_nan=False).map(lambda x: round(x, 2)),
                               min_size=1, max_size=6, unique=True))
        breaks = ", ".join(f"{b:g}" for b in sorted(points))
    return state.ViewState(authority=authority, level=level, variable=variable, scheme=scheme,
                           k=draw(st.integers(3, 9)), breaks=breaks,
                           scope=draw(st.sampled_from(["local", "national"])))


@settings(max_examples=160, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wanted=views())
def test_every_printed_value_lies_inside_its_printed_class(s: catalogue.Catalogue, wanted: state.ViewState) -> None:
    raw, _ = state.parse_query(state.to_query(wanted))
    resolved = state.resolve(raw, s, lambda a, lv: mapview.available_variables(s, a, lv))
    _check_view(atlas_view.build(s, resolved.state))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wanted=views())
def test_the_twin_gives_the_data_apis_ranks(atlas_env: Path, wanted: state.ViewState) -> None:
    import app as app_module

    client = app_module.server.test_client()
    s = catalogue.build()
    resolved = state.resolve(state.parse_query(state.to_query(wanted))[0], s,
                             lambda a, lv: mapview.available_variables(s, a, lv)).state
    twin = client.get("/api/view.json" + state.to_query(resolved))
    assert twin.status_code == 200, twin.data[:300]
    body = twin.get_json()
    values = client.get(f"/api/values/{resolved.authority}/{resolved.level}/{resolved.variable}.json").get_json()
    assert [a["code"] for a in body["areas"]] == [r["code"] for r in values["rows"]]
    assert [a["rank"] for a in body["areas"]] == [r["rank"] for r in values["rows"]]
    assert [a["rank_national"] for a in body["areas"]] == [r["rank_national"] for r in values["rows"]]
    details = client.get("/api/view.json" + state.to_query(resolved) + "&fields=details").get_json()
    assert details["rank"] == (None if not body["ranked"] else [a["rank"] for a in body["areas"]])
    assert details["text"] == [a["text"] for a in body["areas"]]


def _imd(raw_dir: Path) -> dict[str, tuple[int, int]]:
    path = raw_dir / "deprivation/imd2019_england/csv_from_xlsx/File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv"
    with open(path, newline="", encoding="utf-8") as f:
        return {r["LSOA code (2011)"]: (int(r["Index of Multiple Deprivation (IMD) Rank"]),
                                        int(r["Index of Multiple Deprivation (IMD) Decile"]))
                for r in csv.DictReader(f)}


def test_hartlepool_deciles_in_four_quantiles(s: catalogue.Catalogue, raw_dir: Path) -> None:
    """The case that misled: IMD deciles with k=4 gave breaks [1, 2, 6.75, 10], printed "2 – 7" and
    "7 – 10" with decile 7 in the higher class. Now the breaks are deciles some area has."""
    shown = atlas_view.build(s, state.ViewState(authority=HARTLEPOOL, level="lsoa11", variable="imd2019_imd_decile",
                                                scheme="quantiles", k=4))
    imd = _imd(raw_dir)
    deciles = [imd[c][1] for c in shown.areas.codes]
    assert [c.label for c in shown.classes] == ["1", "2", "3 – 6", "7 – 10"]
    assert [c.count for c in shown.classes] == [sum(d == 1 for d in deciles), sum(d == 2 for d in deciles),
                                                sum(3 <= d <= 6 for d in deciles), sum(d >= 7 for d in deciles)]
    # A publisher's decile is shown as published, never ranked again.
    assert shown.ranked is False and all(r is None for r in shown.areas.rank)
    assert "not ranked again" in shown.rank_note and "32,844 areas of England" in shown.rank_note
    _check_view(shown)


def test_integer_labels_do_not_overlap_and_percentages_have_one_decimal(s: catalogue.Catalogue) -> None:
    counts = atlas_view.build(s, state.ViewState(authority="E08000025", level="lsoa11", variable="ks102ew0001",
                                                 scheme="equal_interval", k=5))
    assert counts.decimals == 0
    for before, after in zip(counts.classes, counts.classes[1:], strict=False):
        assert after.lower == before.upper + 1  # "1,001 – 1,500", "1,501 – 2,000"
    shares = atlas_view.build(s, state.ViewState(authority="E08000025", level="lsoa11", variable="ks102ew0008_pct"))
    assert shares.decimals == 1 and all(re.fullmatch(r"\d+\.\d%", t) for t in shares.areas.text)
    assert all(re.fullmatch(r"\d+\.\d% \u2013 \d+\.\d%", c.label) for c in shares.classes)


def test_custom_breaks_below_and_above_the_data_are_labelled_alike(s: catalogue.Catalogue) -> None:
    shown = atlas_view.build(s, state.ViewState(authority="E09000007", level="lsoa11", variable="ks102ew0018",
                                                scheme="custom", breaks="10, 30, 90, 95"))
    labels = [c.label for c in shown.classes]
    assert labels[0] == "up to 10.0" and shown.classes[0].count == 0  # below every value: empty, said so
    assert labels[-1] == "90.1 – 95.0" and shown.classes[-1].count == 0  # above every value
    assert labels[1].startswith("10.1 – ") and shown.classes[1].count + shown.classes[2].count == 133
    _check_view(shown)


def test_the_twin_refuses_what_the_map_would_change(atlas_env: Path) -> None:
    import app as app_module

    client = app_module.server.test_client()
    ok = client.get("/api/view.json?authority=E09000007&level=lsoa11&variable=ks102ew0018")
    assert ok.status_code == 200 and ok.headers["ETag"]
    assert client.get("/api/view.json?authority=E09000007&level=lsoa11&variable=ks102ew0018",
                      headers={"If-None-Match": ok.headers["ETag"]}).status_code == 304
    for query, status, parameter in [
        ("authority=NOPE", 404, "authority"),
        ("authority=E09000007&variable=nonsense", 404, "variable"),
        ("authority=E09000007&scheme=sorcery", 400, "scheme"),
        ("authority=E09000007&k=12", 400, "k"),
        ("authority=E09000007&k=5&k=6", 400, "k"),
        ("authority=E09000007&colour=red", 400, "colour"),
        ("authority=E09000007&fields=everything", 400, "fields"),
        ("authority=E09000007&scheme=custom&breaks=1,,2", 400, "breaks"),
    ]:
        response = client.get("/api/view.json?" + query)
        assert response.status_code == status, (query, response.data[:200])
        body = response.get_json()
        assert body["parameter"] == parameter and body["error"] and "Traceback" not in body["error"]
