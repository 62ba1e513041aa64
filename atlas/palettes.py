"""ColorBrewer palettes for the map: ColorBrewer's names and exact colours, from palettable.

Only sequential and diverging schemes for the map's classes, which are ordered and which qualitative
schemes cannot show; ``qualitative`` gives the colours of categories (atlas.view.category_colours).
"""

from __future__ import annotations

import numbers
from typing import Any

from atlas import optional


def _colorbrewer() -> tuple[dict, Any]:
    """palettable's ColorBrewer maps and ``get_map``. palettable's package imports matplotlib's pyplot when it
    can, for plotting helpers the atlas never calls (50 MB in every worker): it is imported with matplotlib
    marked absent (atlas/optional.py). Done when this module is imported, with the app, before any thread
    could import matplotlib."""
    with optional.absent("matplotlib"):
        from palettable.colorbrewer import COLOR_MAPS, get_map  # noqa: PLC0415
    return COLOR_MAPS, get_map


COLOR_MAPS, get_map = _colorbrewer()

__all__ = [
    "DEFAULT_PALETTE",
    "PALETTES",
    "qualitative",
    "colourblind_safe",
    "colours",
    "max_classes",
    "palette_options",
]

_KINDS = ("sequential", "diverging")

PALETTES: dict[str, str] = {
    name: kind for kind in _KINDS for name in sorted(COLOR_MAPS[kind.capitalize()], key=str.lower)
}

# ColorBrewer's own judgement (colorbrewer_schemes.js, property `blind`: 1 safe, 2 maybe, 0 not) marks
# every sequential scheme safe at every number of classes, and these diverging ones. RdGy is only
# "maybe"; RdYlGn and Spectral are "maybe" up to 5 classes and not safe beyond.
_SAFE_DIVERGING = frozenset({"BrBG", "PiYG", "PRGn", "PuOr", "RdBu", "RdYlBu"})

DEFAULT_PALETTE = "YlGnBu"

_BY_LOWER = {name.lower(): name for name in PALETTES}


def _name(name: str) -> str:
    """The ColorBrewer spelling of `name` (matched without regard to case, as URLs get retyped)."""
    found = _BY_LOWER.get(name.lower()) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"unknown palette {name!r}; valid palettes: {', '.join(PALETTES)}")
    return found


def max_classes(name: str) -> int:
    """Most classes ColorBrewer defines for the palette: 9 for sequential, 11 for diverging."""
    name = _name(name)
    return max(int(n) for n in COLOR_MAPS[PALETTES[name].capitalize()][name])


def colourblind_safe(name: str) -> bool:
    """Whether ColorBrewer marks the palette safe for colour-blind readers at every number of classes."""
    name = _name(name)
    return PALETTES[name] == "sequential" or name in _SAFE_DIVERGING


def colours(name: str, k: int, reverse: bool = False) -> list[str]:
    """ColorBrewer's k colours of palette `name` as lower-case hex ("#ffffcc"), light to dark
    (sequential) or first hue to second (diverging); reversed when `reverse`.

    ColorBrewer defines 3 to max_classes(name) colours. A classification can give fewer classes than
    asked (few distinct values), so k of 1 or 2 is also accepted and drawn from the 3-colour scheme:
    its two ends for 2, its middle for 1.
    """
    name = _name(name)
    top = max_classes(name)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= top:
        raise ValueError(f"palette {name} has from 1 to {top} colours (ColorBrewer defines 3 to {top}), got {k!r}")
    hexes = [h.lower() for h in get_map(name, PALETTES[name], max(int(k), 3)).hex_colors]
    if k == 2:
        hexes = [hexes[0], hexes[2]]
    elif k == 1:
        hexes = [hexes[1]]
    return hexes[::-1] if reverse else hexes


def qualitative(name: str, k: int) -> list[str]:
    """The first k colours of ColorBrewer's qualitative scheme ``name`` (Set2, Set3, Paired...), lower-case
    hex: for categories, which have no order. Not offered as a palette of the map's classes."""
    maps = COLOR_MAPS["Qualitative"]
    if name not in maps:
        raise ValueError(f"unknown qualitative palette {name!r}; valid: {', '.join(sorted(maps))}")
    top = max(int(n) for n in maps[name])
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= top:
        raise ValueError(f"qualitative palette {name} has from 1 to {top} colours, got {k!r}")
    return [h.lower() for h in get_map(name, "qualitative", max(int(k), 3)).hex_colors][:k]


def palette_options() -> list[dict[str, Any]]:
    """Every palette for the UI's dropdown: name, kind, colour-blind safety and most classes.

    Sequential first, then diverging, each in ColorBrewer's names' alphabetical order.
    """
    return [
        {
            "name": name,
            "kind": kind,
            "colourblind_safe": colourblind_safe(name),
            "max_classes": max_classes(name),
        }
        for name, kind in PALETTES.items()
    ]
