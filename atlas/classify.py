"""Classify a variable's values into map classes: pure functions over mapclassify.

mapclassify itself runs where atlas/classifyd.py says: in this host's classification process under gunicorn,
else in this process (``classifyd.bins``); every rule below runs here either way.

A classification is a list of upper bounds (`breaks`). Class i holds the values v with
breaks[i-1] < v <= breaks[i]; the lowest class has no lower bound (it holds everything up to breaks[0],
so it includes the minimum, as in mapclassify). `class_index` is that rule, and assets/classify.js is
the same rule for the browser: change one, change the other (tests/test_classify.py runs both).

When a scheme cannot give the classes asked for (few distinct values, tied values, a scheme whose
number of classes is set by the data), `Classification.k` is the number actually given and `note`
says why in words a legend can show.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from atlas import classifyd

__all__ = [
    "K_MAX",
    "K_MIN",
    "SCHEMES",
    "GIVEN_BREAKS",
    "Classification",
    "ClassifyError",
    "class_index",
    "classify",
    "parse_breaks",
]

K_MIN, K_MAX = 3, 9

SCHEMES: dict[str, str] = {
    "quantiles": "Quantiles",
    "equal_interval": "Equal interval",
    "fisher_jenks": "Natural breaks (Fisher-Jenks)",
    "std_mean": "Standard deviation",
    "head_tail": "Head/tail breaks",
    "custom": "Custom breaks",
    # Breaks at the thresholds a figure is judged against (the catalogue's ``thresholds``: an air pollutant's WHO
    # guideline, interim targets and the UK's legal limit), passed in as ``custom_breaks`` (atlas/air.py).
    "limits": "Guideline and limits",
}
#: Schemes whose breaks are given rather than computed: the typed custom breaks, and a variable's thresholds.
GIVEN_BREAKS = frozenset({"custom", "limits"})

# Above this many values Fisher-Jenks runs on a sample: its cost grows with n squared (about 70 ms for
# 3,000 values and 9 classes here), while breaks from 1,000 values (FisherJenksSampled's own cap) are
# close to the full optimum.
FISHER_JENKS_FULL_MAX = 3000
FISHER_JENKS_SAMPLE = 1000
FISHER_JENKS_SEED = 20110327  # census day 2011: any fixed seed makes the sample, hence the breaks, repeatable

MAX_BREAKS_TEXT = 500
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class ClassifyError(ValueError):
    """Bad input to a classification; the message says what was wrong and what is valid."""


@dataclass(frozen=True)
class Classification:
    """The breaks of one classification and how `values` fall into them (plain JSON-ready types)."""

    scheme: str
    k_requested: int  # for `custom`, the typed breaks set the classes, so this equals k
    k: int  # classes actually given: len(breaks) == len(counts) == k
    breaks: list[float]  # upper bounds, strictly increasing
    counts: list[int]  # number of (non-missing) values in each class
    # Lower end of the lowest class in the legend: the smallest value classified or used for the breaks.
    # Above breaks[0] only when custom breaks start below every value (the lowest class is then empty).
    minimum: float
    note: str | None  # why k differs from k_requested, or how the scheme sets k; None when nothing to say
    missing: int = 0  # values that were missing (None, NaN, infinite) and so in no class

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------------
# Input


def _as_floats(values: Any) -> np.ndarray:
    """A float64 copy of `values` with NaN for missing; numbers only (strings are refused, not parsed)."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged or otherwise not a flat sequence
        raise ClassifyError(f"values must be a flat sequence of numbers: {exc}") from None
    if arr.ndim == 0:
        raise ClassifyError("values must be a sequence of numbers, not a single value")
    if arr.ndim != 1:
        raise ClassifyError(f"values must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64)
    if arr.dtype.kind == "O":
        na = _pandas_na()
        out = np.empty(arr.shape[0], dtype=np.float64)
        for i, v in enumerate(arr):
            if v is None or v is na:
                out[i] = np.nan
            elif isinstance(v, numbers.Real) and not isinstance(v, bool):
                out[i] = float(v)
            else:
                raise ClassifyError(f"values must be numbers or missing (None/NaN); got {v!r}")
        return out
    if arr.size == 0:
        return np.empty(0, dtype=np.float64)
    if arr.dtype.kind in "US":
        raise ClassifyError(f"values must be numbers or missing (None/NaN), not text such as {arr[0]!r}")
    raise ClassifyError(f"values must be numbers or missing (None/NaN); got {arr.dtype} values")


def _pandas_na() -> object:
    # pandas' NA is neither None nor a float; look it up lazily so classify does not need pandas.
    try:
        import pandas

        return pandas.NA
    except ImportError:  # pragma: no cover - pandas is a dependency of the app
        return object()


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ClassifyError(f"k (number of classes) must be a whole number from {K_MIN} to {K_MAX}, got {k!r}")
    if not K_MIN <= int(k) <= K_MAX:
        raise ClassifyError(f"k (number of classes) must be from {K_MIN} to {K_MAX}, got {int(k)}")
    return int(k)


def _check_breaks(breaks: Any, what: str = "breaks") -> np.ndarray:
    """Breaks as a float64 array: at least one, finite, strictly increasing."""
    try:
        b = np.asarray(breaks, dtype=np.float64)
    except (TypeError, ValueError):
        raise ClassifyError(f"{what} must be numbers, got {breaks!r}") from None
    if b.ndim != 1 or b.size == 0:
        raise ClassifyError(f"{what} must be a non-empty list of numbers, got {breaks!r}")
    if not np.isfinite(b).all():
        raise ClassifyError(f"{what} must be finite numbers, got {breaks!r}")
    bad = np.flatnonzero(np.diff(b) <= 0)
    if bad.size:
        i = int(bad[0])
        raise ClassifyError(f"{what} must increase: {_fmt(b[i + 1])} follows {_fmt(b[i])}")
    return b


def parse_breaks(text: str) -> list[float]:
    """Custom breaks typed by a user: "10, 20,30" -> [10.0, 20.0, 30.0].

    Numbers are separated by commas (so "1,000" is two breaks, 1 and 0: write 1000); each is an upper
    class bound. From 1 to K_MAX numbers, strictly increasing. Anything else raises ClassifyError saying
    what was wrong.
    """
    if not isinstance(text, str):
        raise ClassifyError(f"custom breaks must be text such as '10, 20, 30', got {text!r}")
    if len(text) > MAX_BREAKS_TEXT:
        raise ClassifyError(f"custom breaks are too long ({len(text)} characters; at most {MAX_BREAKS_TEXT})")
    if not text.strip():
        raise ClassifyError("no custom breaks given: type increasing numbers separated by commas, e.g. 10, 20, 30")
    items = [item.strip() for item in text.split(",")]
    out: list[float] = []
    for position, item in enumerate(items, start=1):
        if not item:
            raise ClassifyError(
                f"custom break {position} of {len(items)} is empty in {text!r}: "
                "type numbers separated by single commas, e.g. 10, 20, 30"
            )
        if not _NUMBER.fullmatch(item):
            raise ClassifyError(f"custom break {item!r} is not a number (in {text!r}); e.g. 10, 20.5, 1e3")
        value = float(item)
        if not math.isfinite(value):
            raise ClassifyError(f"custom break {item!r} is too large")
        out.append(value)
    if len(out) > K_MAX:
        raise ClassifyError(f"{len(out)} custom breaks given; at most {K_MAX} (one per class)")
    _check_breaks(out, "custom breaks")
    return out


# --------------------------------------------------------------------------------------------------
# The rule shared with the browser


def class_index(values: Any, breaks: Sequence[float]) -> np.ndarray:
    """Class of each value (int8), -1 for missing (None, NaN, infinite).

    Class i holds breaks[i-1] < v <= breaks[i]. The lowest class takes every value up to breaks[0] and
    the top class every value above breaks[-2]; a value above breaks[-1] can only come from breaks made
    elsewhere (classify always covers its values) and joins the top class, as values below the first
    break join the lowest. assets/classify.js (window.atlas.classIndex) is the same rule.
    """
    y = _as_floats(values)
    b = _check_breaks(breaks)
    if b.size > np.iinfo(np.int8).max:
        raise ClassifyError(f"too many breaks ({b.size}) for int8 class indices")
    # searchsorted(side="left") counts the breaks strictly below v, which is the class under this rule.
    idx = np.searchsorted(b, y, side="left")
    np.minimum(idx, b.size - 1, out=idx)
    idx[~np.isfinite(y)] = -1
    return idx.astype(np.int8)


# --------------------------------------------------------------------------------------------------
# Schemes: each takes the finite basis values (sorted), k and the custom breaks (used by `custom` only),
# and returns raw upper bounds (classify() merges ties) and a note, or None.

SchemeFn = Callable[[np.ndarray, int, Any], tuple[np.ndarray, str | None]]


def _quantiles(y: np.ndarray, k: int, _custom: Any = None) -> tuple[np.ndarray, str | None]:
    bins = np.unique(classifyd.bins("Quantiles", y, k=k))
    # With heavy ties an interpolated quantile can fall between two data values and bound a class that
    # no value is in ([0, 0, 0, 1, 1], k=5 gives 0, 0.4, 1): drop such bounds, merging the empty class
    # into the one above, which holds exactly the same values.
    occupied = np.bincount(class_index(y, bins), minlength=bins.size) > 0
    return bins[occupied], None


def _equal_interval(y: np.ndarray, k: int, _custom: Any = None) -> tuple[np.ndarray, str | None]:
    if not (float(y.max()) - float(y.min())) / k > 0:  # a range too narrow to divide (subnormal): mapclassify
        return np.unique(y), None  # asks numpy for an enormous array; each distinct value is its own class
    return classifyd.bins("EqualInterval", y, k=k), None


def _fisher_jenks(y: np.ndarray, k: int, _custom: Any = None) -> tuple[np.ndarray, str | None]:
    distinct = np.unique(y)
    if distinct.size <= k:
        # Each distinct value in a class of its own is the optimal partition (mapclassify refuses it).
        return distinct, None
    if y.size <= FISHER_JENKS_FULL_MAX:
        return classifyd.bins("FisherJenks", y, k=k), None
    # FisherJenksSampled draws its sample from numpy's global random state, so repeatable breaks would
    # mean seeding state shared by every thread of the worker. Same method, private generator: a sample
    # of FISHER_JENKS_SAMPLE values (without replacement) that always holds the minimum and maximum.
    rng = np.random.default_rng(FISHER_JENKS_SEED)
    sample = y[rng.choice(y.size, FISHER_JENKS_SAMPLE, replace=False)]
    sample[0], sample[-1] = y[0], y[-1]  # y is sorted
    k_sample = min(k, np.unique(sample).size)
    note = (
        f"Natural breaks were computed from a fixed sample of {FISHER_JENKS_SAMPLE:,} of the "
        f"{y.size:,} values, which keeps them quick and repeatable."
    )
    return classifyd.bins("FisherJenks", sample, k=k_sample), note


def _std_multiples(k: int) -> list[float]:
    """Whole multiples of the standard deviation giving k classes: mapclassify's default for k=5.

    Odd k: a middle class from -1 to +1 sd (k=3: [-1, 1]; k=5: [-2, -1, 1, 2]). Even k: the mean is a
    break (k=4: [-1, 0, 1]; k=6: [-2, -1, 0, 1, 2]).
    """
    half = (k - 1) // 2
    if k % 2:
        return [float(m) for m in range(-half, half + 1) if m != 0]
    return [float(m) for m in range(-half, half + 1)]


def _std_mean(y: np.ndarray, k: int, _custom: Any = None) -> tuple[np.ndarray, str | None]:
    breaks = classifyd.bins("StdMean", y, multiples=_std_multiples(k))
    lo, hi = y[0], y[-1]
    # Bounds outside the data would be classes nobody is in, with ranges of impossible values (a negative
    # share, say): keep the bounds inside the data and close the top class on the maximum.
    bins = [b for b in breaks if lo <= b < hi] + [hi]
    mean, sd = float(y.mean()), float(y.std(ddof=1))
    note = (
        f"Standard deviation classes break at whole multiples of the standard deviation ({_fmt(sd)}) "
        f"either side of the mean ({_fmt(mean)}), so the spread of the data sets how many classes there are"
    )
    return np.asarray(bins), note


def _head_tail(y: np.ndarray, k: int, _custom: Any = None) -> tuple[np.ndarray, str | None]:
    # When a head's mean rounds to its maximum (values one float apart), mapclassify recurses on an empty
    # head and appends NaN, with a RuntimeWarning: drop it; the last finite mean is then the maximum.
    bins = classifyd.bins("HeadTailBreaks", y)
    bins = bins[np.isfinite(bins)]
    if bins[-1] < y[-1]:
        bins = np.append(bins, y[-1])
    # And the mean of identical values can round one float above them: no mean exceeds the maximum.
    bins = np.unique(np.minimum(bins, y[-1]))
    # Or one float below them ([0, x, x, x]: the head's mean is x less an ulp), which would leave a class with
    # nobody in it: a break with no value above the one before it is dropped (the next class takes its range).
    keep, below = [], -np.inf
    for b in bins:
        if np.any((y > below) & (y <= b)):
            keep.append(b)
            below = b
    bins = np.asarray(keep)
    found = len(bins)
    note = (
        "Head/tail breaks splits at the mean, then again among the values above it, "
        "so the data sets how many classes there are"
    )
    if found > k:
        # Stop the recursion at k classes: the top classes (the far tail) merge into one up to the max.
        bins = np.append(bins[: k - 1], y[-1])
        note += f"; it found {found}, so the top {found - k + 1} were merged to give the {k} asked"
    return bins, note


def _custom(
    basis: np.ndarray, _k: int | None, custom_breaks: str | Sequence[float] | None
) -> tuple[np.ndarray, str | None]:
    if custom_breaks is None:
        raise ClassifyError("the custom scheme needs breaks: increasing numbers separated by commas, e.g. 10, 20, 30")
    if isinstance(custom_breaks, str):
        typed = parse_breaks(custom_breaks)
    else:
        typed = [float(b) for b in _check_breaks(custom_breaks, "custom breaks")]
        if len(typed) > K_MAX:
            raise ClassifyError(f"{len(typed)} custom breaks given; at most {K_MAX} (one per class)")
    # UserDefined adds a class from the last typed break up to the maximum when the data goes above it.
    bins = classifyd.bins("UserDefined", basis, bins=typed)
    note = None
    if len(bins) > len(typed):
        note = (
            f"The values go above the last break ({_fmt(typed[-1])}), so a top class up to the "
            f"maximum ({_fmt(bins[-1])}) was added."
        )
    return bins, note


def _limits(
    basis: np.ndarray, k: int | None, thresholds: Sequence[float] | None
) -> tuple[np.ndarray, str | None]:
    if not thresholds:
        raise ClassifyError("the classes at the guideline and limits need the variable's thresholds; it has none")
    return _custom(basis, k, thresholds)


# The one dispatch table: same keys as SCHEMES (a test holds them together).
_SCHEMES: dict[str, SchemeFn] = {
    "quantiles": _quantiles,
    "equal_interval": _equal_interval,
    "fisher_jenks": _fisher_jenks,
    "std_mean": _std_mean,
    "head_tail": _head_tail,
    "custom": _custom,
    "limits": _limits,
}


def _fmt(x: float) -> str:
    return f"{float(x):,.6g}"


def _finite(values: Any) -> tuple[np.ndarray, int]:
    y = _as_floats(values)
    ok = np.isfinite(y)
    return y[ok], int(y.size - ok.sum())


def classify(
    values: Any,
    scheme: str,
    k: int | None,
    custom_breaks: str | Sequence[float] | None = None,
    reference: Any = None,
) -> Classification:
    """Classify `values` with `scheme` into (at most) k classes.

    values: numbers with None/NaN for missing (ignored, counted in `missing`).
    scheme: a key of SCHEMES. k: K_MIN..K_MAX (not used by `custom`, whose breaks set the classes).
    custom_breaks: for `custom`, text for parse_breaks or a list of increasing numbers.
    reference: when given, the breaks are computed from these values (e.g. every area with national
    coverage) while counts are of `values`.
    """
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ClassifyError(f"unknown classification scheme {scheme!r}; valid schemes: {', '.join(SCHEMES)}")
    if scheme not in GIVEN_BREAKS:
        k = _check_k(k)

    y, missing = _finite(values)
    if y.size == 0:
        total = y.size + missing
        raise ClassifyError(
            f"nothing to classify: all {total} values are missing" if total else "nothing to classify: no values"
        )
    if reference is None:
        basis = np.sort(y)
    else:
        basis, _ = _finite(reference)
        if basis.size == 0:
            raise ClassifyError("no reference values to compute breaks from: all are missing")
        basis = np.sort(basis)

    notes: list[str] = []
    distinct = int(np.unique(basis).size)
    if distinct == 1 and scheme not in GIVEN_BREAKS:  # no scheme can split one value; some would raise
        bins, note = basis[:1], None
        every = "every value" if reference is None else "every reference value"
        notes.append(f"{k} classes asked, 1 given: {every} is {_fmt(basis[0])}.")
    else:
        try:
            bins, note = _SCHEMES[scheme](basis, k, custom_breaks)
        except ClassifyError:
            raise
        except (ValueError, ArithmeticError) as exc:  # e.g. a range too small for float arithmetic
            raise ClassifyError(f"{SCHEMES[scheme]} cannot classify these values: {exc}") from exc
    # Custom breaks set the classes themselves: nothing was asked for that they did not give.
    k_requested = len(bins) if scheme in GIVEN_BREAKS else k
    bins = np.unique(np.asarray(bins, dtype=np.float64))  # sorted, tied breaks merged

    top = float(y.max())
    if top > bins[-1]:
        # Every scheme closes its top class on the maximum of the values it was given, so this happens
        # only when the breaks come from `reference` values that stop below the values classified here.
        bins[-1] = top
        notes.append(
            f"The top class was widened to {_fmt(top)}, above every reference value, to hold the highest value here."
        )
    if bins.size > K_MAX:
        raise ClassifyError(
            f"custom breaks give {bins.size} classes once the top class up to the maximum is added; at most {K_MAX}"
        )

    given = int(bins.size)
    if note:
        if scheme in ("std_mean", "head_tail") and given < k_requested:
            note += f": {k_requested} asked, {given} given."
        elif not note.endswith("."):
            note += "."
        notes.insert(0, note)
    if given < k_requested and distinct > 1 and scheme not in ("std_mean", "head_tail"):
        if given == distinct:
            notes.append(f"{k_requested} classes asked, {given} given: only {distinct} distinct values.")
        else:
            notes.append(
                f"{k_requested} classes asked, {given} given: many areas share the same values, "
                "so some breaks fell together and were merged."
            )

    idx = class_index(y, bins)
    counts = np.bincount(idx, minlength=given)
    return Classification(
        scheme=scheme,
        k_requested=int(k_requested),
        k=given,
        breaks=[float(b) for b in bins],
        counts=[int(c) for c in counts],
        minimum=float(min(basis[0], y.min())),
        note=" ".join(notes) or None,
        missing=missing,
    )
