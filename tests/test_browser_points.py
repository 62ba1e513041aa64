"""The point layer in headless Chromium: the AURN sites over the LAEI's modelled NO2 classed at the guideline and
limits, a site's card with its Plotly chart and lockdown comparison, and a council's published table of points
shown as points and as a choropleth of its count per LSOA. Few and focused, ending with no console errors; axe
checks the explorer with the point layer and a site card open (tests/test_browser_places.py's AXE_PAGES)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import start_duo, wait
from city_support import BASE, CAMDEN, PASSWORD, data_folder, environment

pytestmark = pytest.mark.browser

TOWER_HAMLETS = "E09000030"


def _areas(duo, timeout: float = 30) -> None:
    wait(duo, "window.atlas.drawn().length > 0", timeout)


def _sites(duo, timeout: float = 30) -> int:
    return wait(duo, "window.atlas.points && window.atlas.points.drawnCount() > 0 "
                     "&& window.atlas.points.drawnCount()", timeout)


def test_pts001_sites_over_modelled_no2_a_site_card_and_its_chart(duo) -> None:
    duo.wait_for_page(duo.server_url + f"/?authority={TOWER_HAMLETS}&level=lsoa21&variable=laei_no2_2019_mean"
                                       "&scheme=limits&points=aurn2020&measure=no2&day=2020-03-23")
    _areas(duo)
    assert _sites(duo) >= 1
    legend = duo.find_element("#legend").text
    assert "WHO 2021 guideline" in legend and "UK legal limit" in legend
    assert "Population-weighted mean for Tower Hamlets" in legend
    wait(duo, "document.getElementById('points-legend').innerText.indexOf('2020-03-23') >= 0", 20)
    # the date control moves the day, and the address follows
    duo.find_element("#day-next").click()
    wait(duo, "new URLSearchParams(location.search).get('day') === '2020-03-24'", 20)
    wait(duo, "document.getElementById('points-legend').innerText.indexOf('2020-03-24') >= 0", 20)
    # a site's card: what it is, the lockdown comparison, and a chart drawn by Plotly only now
    duo.wait_for_page(duo.server_url + f"/?authority={TOWER_HAMLETS}&level=lsoa21&variable=laei_no2_2019_mean"
                                       "&points=aurn2020&measure=no2&day=2020-03-23&site=TH2")
    _areas(duo)
    wait(duo, "!document.getElementById('site-card').hidden && "
              "!!document.querySelector('#site-card .js-plotly-plot .main-svg')", 30)
    card = duo.find_element("#site-card").text
    assert "Tower Hamlets Roadside" in card and "lockdown" in card.lower()
    lines = duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#site-card .annotation-text')).map(e => e.textContent)")
    assert any("WHO 2021" in t for t in lines) and any("UK legal limit" in t for t in lines)
    # closing it takes site= off the address
    duo.find_element("#site-card .card-close").click()
    wait(duo, "!new URLSearchParams(location.search).has('site')", 20)
    assert duo.get_logs() == []


@pytest.fixture()
def published_duo(data_dir: Path, dash_thread_server, tmp_path: Path, raw_dir: Path) -> Iterator:
    """The app on a data folder of its own holding one public table of points in Camden (published by API)."""
    import shapely

    folder = data_folder(data_dir, tmp_path / "data")
    with environment(folder, None):
        import app as app_module
        from atlas import accounts, catalogue

        s = catalogue.of_request()
        accounts.seed_authorities(s.authorities())
        accounts.add_user("editor@camden.gov.uk", org=CAMDEN, role="editor", password=PASSWORD)
        token = accounts.add_token("editor@camden.gov.uk")
        doc = json.loads((raw_dir / "boundaries/lsoa11_by_lad/E09000007.json").read_text(encoding="utf-8"))
        rows = ["id,lon,lat,decibels"]
        for i, f in enumerate(doc["features"][:30]):
            p = shapely.geometry.shape(f["geometry"]).buffer(-0.0004).representative_point()
            rows.append(f"n{i},{p.x:.6f},{p.y:.6f},{40 + i}")
        meta = {"title": "Noise complaints", "lon_column": "lon", "lat_column": "lat", "id_column": "id",
                "columns": [{"name": "decibels", "label": "Loudness", "unit": "dB"}], "licence": "OGL",
                "source": "Camden noise team", "as_of": "2024-06-30", "access": {"level": "public"}}
        got = app_module.server.test_client().post(
            "/api/datasets", base_url=BASE, headers={"Authorization": f"Bearer {token}"},
            content_type="multipart/form-data",
            data={"file": (io.BytesIO("\n".join(rows).encode()), "noise.csv"), "metadata": json.dumps(meta)})
        assert got.status_code == 201, got.get_data(as_text=True)[:300]
        serving = start_duo(dash_thread_server, tmp_path)  # held: closing it stops the server
        duo = next(serving)
        duo.published = f"ds{got.get_json()['id']}"
        yield duo
        serving.close()


def test_pts002_a_published_table_of_points_as_points_and_as_a_choropleth(published_duo) -> None:
    duo, key = published_duo, published_duo.published
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable={key}_count&points={key}")
    _areas(duo)
    assert _sites(duo) >= 1
    legend = duo.find_element("#legend").text
    assert "Noise complaints: number of points" in legend
    wait(duo, "document.getElementById('points-legend').innerText.indexOf('as of 2024-06-30') >= 0", 20)
    counts = duo.driver.execute_script("return window.atlas.drawn().length")
    assert counts == 133  # every Camden LSOA drawn, most with no complaint (0)
    assert duo.get_logs() == []


def test_pts003_an_embed_draws_published_points_and_the_monitoring_sites(published_duo) -> None:
    duo, key = published_duo, published_duo.published
    duo.wait_for_page(duo.server_url + f"/embed?authority={CAMDEN}&level=lsoa11&variable=ks102ew0002_pct"
                                       f"&points={key}&controls=points")
    _areas(duo)
    assert _sites(duo) >= 1
    # the same clustered layer as the explorer's, its legend inside the embed's legend box
    wait(duo, "document.querySelector('#embed-legend #points-legend') && "
              "!document.getElementById('points-legend').hidden && "
              "document.getElementById('points-legend').innerText.indexOf('as of 2024-06-30') >= 0", 20)
    assert "Published by Camden" in duo.find_element("#points-legend").text
    assert duo.find_element("#points").is_displayed()  # controls=points: readers may switch
    assert not duo.find_element("#variable").is_displayed()
    assert duo.driver.execute_script("return document.cookie") == ""
    # the build's monitoring sites, by day, in an embed with no controls
    duo.wait_for_page(duo.server_url + f"/embed?authority={TOWER_HAMLETS}&level=lsoa21&variable=laei_no2_2019_mean"
                                       "&points=aurn2020&measure=no2&day=2020-03-23")
    _areas(duo)
    assert _sites(duo) >= 1
    wait(duo, "document.getElementById('points-legend').innerText.indexOf('2020-03-23') >= 0", 20)
    assert not duo.find_element("#points").is_displayed()
    assert duo.get_logs() == []
