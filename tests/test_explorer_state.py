"""URL state of the explorer: parse, resolve (with fallbacks and messages), and back to a query string."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas import catalogue
from atlas import mapview as view
from atlas import viewstate as state


@pytest.fixture()
def s(atlas_env: Path) -> catalogue.Catalogue:
    return catalogue.build()


def _resolve(s: catalogue.Catalogue, search: str) -> state.Resolved:
    raw, messages = state.parse_query(search)
    return state.resolve(raw, s, lambda a, lv: view.available_variables(s, a, lv), messages)


def test_empty_url_is_the_national_view(s: catalogue.Catalogue) -> None:
    r = _resolve(s, "")
    assert r.messages == ()
    assert (r.state.authority, r.state.level) == ("all", "lad")
    assert r.state.variable in view.available_variables(s, "all", "lad")
    assert r.state.variable == "ks102ew0018"  # mean age: every district of England and Wales has it


def test_full_url_round_trips_without_messages(s: catalogue.Catalogue) -> None:
    search = ("?authority=E09000007&level=oa11&variable=ks102ew0014_pct&scheme=fisher_jenks&k=7&scope=local"
              "&palette=RdBu&reverse=1&opacity=0.55")
    r = _resolve(s, search)
    assert r.messages == ()
    assert r.state == state.ViewState("E09000007", "oa11", "ks102ew0014_pct", "fisher_jenks", 7, "", "local",
                                      "RdBu", True, 0.55)
    again = _resolve(s, state.to_query(r.state))
    assert again.state == r.state and again.messages == ()


def test_custom_breaks_round_trip(s: catalogue.Catalogue) -> None:
    r = _resolve(s, "?authority=E09000007&level=lsoa11&variable=ks102ew0018&scheme=custom&breaks=30,+35,40")
    assert r.messages == ()
    assert (r.state.scheme, r.state.breaks) == ("custom", "30, 35,40")
    assert state.effective_scheme(r.state) == "custom"
    assert _resolve(s, state.to_query(r.state)).state == r.state


@pytest.mark.parametrize(("search", "field", "expected", "words"), [
    ("?authority=E99999999", "authority", "all", "no local authority"),
    ("?authority=S12000005", "authority", "all", "no small-area data"),
    ("?authority=e09000007", "authority", "E09000007", None),
    ("?authority=E09000007&level=oa21", "level", "lsoa11", "no areas at level"),
    ("?authority=all&level=msoa11", "level", "lad", "no areas at level 'msoa11'"),
    ("?authority=E12000007&level=oa21", "level", "lsoa11", "London has no areas at level"),
    ("?authority=E07000194&level=ward22", "level", "lsoa11", "boundaries but no data"),  # no election in 2021-22
    ("?variable=nonsense", "variable", "ks102ew0018", "no variable 'nonsense'"),
    ("?authority=E09000007&variable=imd2019_imd_decile&level=oa11", "variable", "ks102ew0018", "has no data"),
    ("?scheme=magic", "scheme", "quantiles", "Unknown classification scheme"),
    ("?k=12", "k", 5, "from 3 to 9"),
    ("?k=2", "k", 5, "from 3 to 9"),
    ("?k=five", "k", 5, "from 3 to 9"),
    ("?palette=rainbow", "palette", "YlGnBu", "Unknown ColorBrewer palette"),
    ("?palette=ylgnbu", "palette", "YlGnBu", None),
    ("?reverse=maybe", "reverse", False, "reverse must be"),
    ("?opacity=7", "opacity", 0.8, "Opacity"),
    ("?opacity=nan", "opacity", 0.8, "Opacity"),
    ("?scope=galactic", "scope", "local", "Unknown scope"),
    ("?authority=E09000007&level=oa11&variable=ks102ew0018&scope=national", "scope", "local",
     "does not cover a whole nation"),
    ("?authority=E09000007&level=lsoa11&variable=ks102ew0018&scope=national", "scope", "national", None),
])
def test_bad_values_fall_back_with_a_message(s: catalogue.Catalogue, search: str, field: str, expected: object,
                                             words: str | None) -> None:
    r = _resolve(s, search)
    assert getattr(r.state, field) == expected
    if words is None:
        assert r.messages == ()
    else:
        assert any(words in m for m in r.messages), r.messages


@pytest.mark.parametrize("search", [
    "?%%%&&==", "?authority=%00%01&k=%ff", "?" + "x" * 5000, "?authority=" + "A" * 500, "garbage",
    "?authority=E09000007&authority=E08000012", "?k=&variable=&scheme=", "?foo=bar&baz", None, "?\u2603=\u2603",
])
def test_garbage_never_raises_and_gives_a_valid_view(s: catalogue.Catalogue, search: str | None) -> None:
    r = _resolve(s, search)
    assert r.state.authority in ("all", "E08000012")
    assert r.state.variable
    assert all(isinstance(m, str) and m for m in r.messages)


def test_unknown_keys_are_named(s: catalogue.Catalogue) -> None:
    r = _resolve(s, "?foo=1&variable=ks102ew0018")
    assert any("'foo'" in m for m in r.messages)


def test_bad_custom_breaks_keep_the_text_and_show_quantiles(s: catalogue.Catalogue) -> None:
    r = _resolve(s, "?authority=E09000007&scheme=custom&breaks=10,abc")
    assert r.state.scheme == "custom" and r.state.breaks == "10,abc"
    assert state.effective_scheme(r.state) == "quantiles"
    assert any("'abc' is not a number" in m for m in r.messages)
    r = _resolve(s, "?authority=E09000007&scheme=custom&breaks=30,20")
    assert state.effective_scheme(r.state) == "quantiles"
    assert any("must increase" in m for m in r.messages)


def test_to_query_drops_breaks_unless_custom() -> None:
    q = state.to_query(state.ViewState(breaks="1,2"))
    assert "breaks" not in q
    assert q.startswith("?authority=all&level=lad&")


def test_any_query_string_gives_a_valid_view(s: catalogue.Catalogue) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    key = st.sampled_from([*state.KEYS, "x", "", "k[]", "%00"])
    value = st.one_of(st.text(max_size=40), st.sampled_from(
        ["E09000007", "all", "oa11", "lad", "custom", "1,2,3", "9", "national", "RdBu", "0.5", "-1", "nan"]))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(key, value), max_size=8))
    def check(pairs: list[tuple[str, str]]) -> None:
        from urllib.parse import urlencode

        r = _resolve(s, "?" + urlencode(pairs))
        st_ = r.state
        assert st_.variable in view.available_variables(s, st_.authority, st_.level)
        assert 3 <= st_.k <= 9 and 0.1 <= st_.opacity <= 1
        assert _resolve(s, state.to_query(st_)).state == st_  # the normalised view round-trips

    check()
