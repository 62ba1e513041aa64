"""Areas like mine (issue 22): scikit-learn's nearest neighbours over standardised indicators, checked against
a brute-force computation over every LSOA of England and Wales, the target's figures against the raw census
file, and the API's answers to good and bad requests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from atlas import catalogue, extracts, similar

KS102 = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
TARGET = "E01002704"  # Islington 023D


def _brute_force(level: str, variables: tuple[str, ...], vector: np.ndarray | None, code: str | None,
                 exclude: set[str], n: int) -> list[tuple[str, float]]:
    s = catalogue.of_request()
    frames = [s.values(extracts.ALL, level, v) for v in variables]
    codes = frames[0]["code"].to_numpy(dtype=object)
    raw = np.column_stack([f["value"].to_numpy(dtype="float64") for f in frames])
    keep = np.isfinite(raw).all(axis=1)
    codes, raw = codes[keep], raw[keep]
    mean, sd = raw.mean(axis=0), raw.std(axis=0)  # population standard deviation, as StandardScaler
    z = (raw - mean) / sd
    target = z[list(codes).index(code)] if vector is None else (vector - mean) / sd
    d = np.sqrt(((z - target) ** 2).sum(axis=1))
    order = np.argsort(d, kind="stable")
    out = [(str(codes[i]), float(d[i])) for i in order if codes[i] not in exclude and codes[i] != code]
    return out[:n]


def test_the_nearest_areas_are_those_of_a_brute_force_search(atlas_env: Path) -> None:
    s = catalogue.of_request()
    got = similar.similar(s, "lsoa11", None, TARGET, 12)
    expected = _brute_force("lsoa11", similar.DEFAULTS["lsoa11"], None, TARGET, set(), 12)
    assert [a["code"] for a in got["similar"]] == [c for c, _ in expected]
    assert [a["distance"] for a in got["similar"]] == pytest.approx([d for _, d in expected], rel=1e-9)
    assert got["areas_compared"] > 34_000 and TARGET not in [a["code"] for a in got["similar"]]
    # what makes them alike and what sets them apart: the smallest and largest differences, in order
    first = got["similar"][0]
    alike = [abs(x["sd_difference"]) for x in first["alike"]]
    apart = [abs(x["sd_difference"]) for x in first["different"]]
    assert alike == sorted(alike) and apart == sorted(apart, reverse=True) and max(alike) <= min(apart)


def test_the_targets_figures_are_the_census_tables(atlas_env: Path, raw_dir: Path) -> None:
    with open(raw_dir / KS102, newline="", encoding="utf-8") as handle:
        row = next(r for r in csv.DictReader(handle) if r["geography code"] == TARGET)
    total = int(row["Age: All usual residents; measures: Value"])
    old = sum(int(row[f"Age: Age {band}; measures: Value"]) for band in
              ("65 to 74", "75 to 84", "85 to 89", "90 and over"))
    got = similar.similar(catalogue.of_request(), "lsoa11", None, TARGET, 1)
    by = {i["variable"]: i for i in got["indicators"]}
    assert by["ks102ew_age_65_plus_pct"]["value"] == pytest.approx(old / total * 100, rel=1e-9)


def test_a_chosen_set_of_indicators_and_a_target_vector(atlas_env: Path) -> None:
    s = catalogue.of_request()
    chosen = ("ks102ew_age_65_plus_pct", "ks402ew_owned_pct")
    vector = np.array([30.0, 80.0])
    got = similar.similar(s, "lsoa11", vector, "X1", 5, chosen, exclude=frozenset({"E01000001"}))
    expected = _brute_force("lsoa11", chosen, vector, None, {"E01000001"}, 5)
    assert [a["code"] for a in got["similar"]] == [c for c, _ in expected]


def test_the_api(atlas_env: Path) -> None:
    import app

    client = app.server.test_client()
    got = client.get(f"/api/similar/lsoa11/{TARGET}.json?n=3")
    assert got.status_code == 200
    body = got.get_json()
    assert body["n"] == 3 and len(body["indicators"]) == len(similar.DEFAULTS["lsoa11"])
    chosen = client.get(f"/api/similar/lsoa11/{TARGET}.json?variables=ks402ew_owned_pct,ks501ew0007_pct")
    assert [i["variable"] for i in chosen.get_json()["indicators"]] == ["ks402ew_owned_pct", "ks501ew0007_pct"]
    for query, status, said in (
            ("?n=0", 400, "n must be"), ("?n=abc", 400, "n must be"), ("?n=101", 400, "n must be"),
            ("?k=3", 400, "unknown parameter"), ("?variables=", 400, "empty"),
            ("?variables=nope", 404, "unknown variable"), ("?variables=ruc11", 404, "cannot be compared")):
        answer = client.get(f"/api/similar/lsoa11/{TARGET}.json{query}")
        assert answer.status_code == status and said in answer.get_json()["error"], (query, answer.get_json())
    assert client.get("/api/similar/lsoa11/E0199999X.json").status_code == 404
    assert client.get("/api/similar/oa99/E0199999X.json").status_code == 404
    no_defaults = client.get("/api/similar/oa11/E00004120.json")
    assert no_defaults.status_code == 404 and "variables" in no_defaults.get_json()["error"]
