"""palettes.py: ColorBrewer's published colours, names, kinds, colour-blind flags and bad input."""

from __future__ import annotations

import re

import pytest

from atlas.palettes import DEFAULT_PALETTE, PALETTES, colourblind_safe, colours, max_classes, palette_options

# As published on colorbrewer2.org (Cynthia Brewer, Mark Harrower and The Pennsylvania State University).
COLORBREWER = {
    ("YlGnBu", 5): "#ffffcc #a1dab4 #41b6c4 #2c7fb8 #253494",
    ("YlGnBu", 9): "#ffffd9 #edf8b1 #c7e9b4 #7fcdbb #41b6c4 #1d91c0 #225ea8 #253494 #081d58",
    ("OrRd", 3): "#fee8c8 #fdbb84 #e34a33",
    ("PuBuGn", 9): "#fff7fb #ece2f0 #d0d1e6 #a6bddb #67a9cf #3690c0 #02818a #016c59 #014636",
    ("RdYlBu", 5): "#d7191c #fdae61 #ffffbf #abd9e9 #2c7bb6",
    ("BrBG", 11): "#543005 #8c510a #bf812d #dfc27d #f6e8c3 #f5f5f5 #c7eae5 #80cdc1 #35978f #01665e #003c30",
}


@pytest.mark.parametrize(("name", "k"), list(COLORBREWER))
def test_colours_are_colorbrewers(name, k):
    assert colours(name, k) == COLORBREWER[name, k].split()


def test_reverse():
    assert colours("YlGnBu", 5, reverse=True) == COLORBREWER["YlGnBu", 5].split()[::-1]


def test_names_and_kinds():
    sequential = {n for n, kind in PALETTES.items() if kind == "sequential"}
    diverging = {n for n, kind in PALETTES.items() if kind == "diverging"}
    assert {"YlGnBu", "OrRd", "PuBuGn", "Blues", "Greys", "YlOrRd"} <= sequential and len(sequential) == 18
    assert diverging == {"BrBG", "PiYG", "PRGn", "PuOr", "RdBu", "RdGy", "RdYlBu", "RdYlGn", "Spectral"}
    assert not {"Set1", "Paired", "Accent"} & set(PALETTES)  # qualitative schemes cannot show order


def test_every_palette_every_k():
    for name, kind in PALETTES.items():
        top = max_classes(name)
        assert top == (9 if kind == "sequential" else 11)
        for k in range(1, top + 1):
            got = colours(name, k)
            assert len(got) == len(set(got)) == k
            assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in got)
        # Fewer than 3 classes come from ColorBrewer's 3-colour scheme.
        three = colours(name, 3)
        assert colours(name, 2) == [three[0], three[2]] and colours(name, 1) == [three[1]]


def test_default_is_colourblind_safe():
    assert DEFAULT_PALETTE == "YlGnBu" and colourblind_safe(DEFAULT_PALETTE)


def test_colourblind_flags_follow_colorbrewer():
    assert all(colourblind_safe(n) for n, kind in PALETTES.items() if kind == "sequential")
    assert {n for n in PALETTES if not colourblind_safe(n)} == {"RdGy", "RdYlGn", "Spectral"}


def test_palette_options_for_the_dropdown():
    options = palette_options()
    assert [o["name"] for o in options] == list(PALETTES)
    assert options[0]["kind"] == "sequential" and options[-1]["kind"] == "diverging"
    by_name = {o["name"]: o for o in options}
    assert by_name["YlGnBu"] == {"name": "YlGnBu", "kind": "sequential", "colourblind_safe": True, "max_classes": 9}
    assert by_name["Spectral"] == {
        "name": "Spectral",
        "kind": "diverging",
        "colourblind_safe": False,
        "max_classes": 11,
    }


def test_names_match_without_regard_to_case():
    assert colours("ylgnbu", 5) == colours("YlGnBu", 5)
    assert colourblind_safe("brbg")


@pytest.mark.parametrize("name", ["Viridis", "", "YlGnBu5", None, "Set1"])
def test_unknown_palette_lists_valid_names(name):
    with pytest.raises(ValueError) as err:
        colours(name, 5)
    message = str(err.value)
    assert "unknown palette" in message and all(n in message for n in PALETTES)


@pytest.mark.parametrize(("name", "k"), [("YlGnBu", 10), ("BrBG", 12), ("YlGnBu", 0), ("YlGnBu", "5"), ("OrRd", True)])
def test_k_out_of_range(name, k):
    with pytest.raises(ValueError, match=rf"palette {name} has from 1 to {max_classes(name)} colours"):
        colours(name, k)
