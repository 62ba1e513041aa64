"""The explorer in headless Chromium (Debian's chromium and chromedriver), driven like a user would.

Few and focused: the national view, opening an authority, switching variable/scheme/classes/palette and
seeing the legend and the polygons' colours change, hover text, table and map selection in sync, the URL
round trip with back/forward, bad URL parameters, and a console without errors. Tiles are off.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import choose, chrome_options, free_port, interior_point, query, wait
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

pytestmark = pytest.mark.browser

CAMDEN = "E09000007"
#: The search lists the share computed here beside the published one (issue 17 §10), saying how they differ.
AGE_65_74 = ("Age 65 to 74 (% of all usual residents) (KS102EW): percentage, computed here as KS102EW0014 "
             "(Age 65 to 74) / KS102EW0001 (all usual residents) x 100")

def _query(duo) -> dict[str, str]:
    return query(duo)


def _wait(duo, script: str, timeout: float = 10):
    return wait(duo, script, timeout)


def _drawn(duo, n: int | None = None) -> list[dict]:
    if n is None:
        return _wait(duo, "window.atlas.drawn().length > 0 && window.atlas.drawn()")
    return _wait(duo, f"window.atlas.drawn().length === {n} && window.atlas.drawn()")


def _fills(duo, n: int) -> dict[str, str]:
    return {d["code"]: d["fill"] for d in _drawn(duo, n)}


def _legend(duo) -> str:
    return duo.find_element("#legend").text


def _map_point(duo, code: str) -> tuple[int, int]:
    """Container pixel of a point inside the area ``code`` (its polygon's pole, not its bbox centre)."""
    return interior_point(duo, f"window.atlas.layerOf({code!r})", min_px=80, max_zoom=14)


def _at(duo, code: str) -> ActionChains:
    box = duo.find_element("#map")
    # The whole map in view first: Selenium would scroll it under the pointer between measuring and clicking.
    duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    x, y = _map_point(duo, code)
    # Selenium 4.2 offsets from the top left corner of the element (4.3 onwards: from its centre).
    return ActionChains(duo.driver).move_to_element_with_offset(box, x, y)


def test_exp001_national_view_then_an_authority(duo) -> None:
    duo.wait_for_text_to_equal("#view-title",
                               "Mean age (Census 2011): England and Wales, local authority districts (2021)")
    fills = _fills(duo, 374)
    duo.wait_for_contains_text("#legend", "No data")
    assert "43 areas" in _legend(duo)  # Scotland and Northern Ireland: no 2011 census of England and Wales
    assert len(set(fills.values())) == 6  # five classes and the "no data" fill
    assert "Click a district" in duo.find_element("#view-help").text

    # clicking a district opens its small-area map, on today's deprivation index (the overview's mean age was
    # only its default), on the LSOAs of 2021 it is published for
    _at(duo, CAMDEN).click().perform()
    duo.wait_for_text_to_equal("#view-title", "Index of Multiple Deprivation (IMD) decile, IoD 2025 (1 is the most "
                                              "deprived 10%): Camden, lower layer super output areas (2021)")
    _fills(duo, 130)
    assert _query(duo)["authority"] == CAMDEN and _query(duo)["level"] == "lsoa21"
    assert duo.find_element("#level-row").is_displayed()
    assert "130 areas" in duo.find_element("#level-row").text
    choose(duo, "level", "Lower layer super output areas (2011): 133 areas")
    _fills(duo, 133)
    duo.wait_for_contains_text("#legend", "carried from the 2021 LSOAs")  # 8 merged into 4: flagged
    choose(duo, "variable", "Mean age (KS102EW)", search="mean age")
    duo.wait_for_text_to_equal("#view-title", "Mean age: Camden, lower layer super output areas (2011)")
    choose(duo, "level", "Output areas (2011): 749 areas")
    _fills(duo, 749)
    assert _query(duo)["level"] == "oa11"
    # The explorer's own page never loads plotly.js (only the compare view's scatter plot does).
    assert duo.driver.execute_script(
        "return !window.Plotly && !performance.getEntriesByType('resource').some(function (r) {"
        " return /plotly/i.test(r.name); })")
    assert duo.get_logs() == []


def test_exp002_switches_change_legend_and_colours(duo) -> None:
    duo.wait_for_page(f"{duo.server_url}/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0018")
    duo.wait_for_text_to_equal("#view-title", "Mean age: Camden, lower layer super output areas (2011)")
    before = _fills(duo, 133)
    legend = _legend(duo)

    choose(duo, "variable", AGE_65_74, search="65 to 74 %")
    duo.wait_for_contains_text("#legend", "Age 65 to 74")
    after = _fills(duo, 133)
    assert after != before and _legend(duo) != legend
    assert _query(duo)["variable"] == "ks102ew0014_pct"

    choose(duo, "k", "7")
    duo.wait_for_contains_text("#legend", "7 classes")
    assert len(set(_fills(duo, 133).values())) == 7
    choose(duo, "scheme", "Equal interval")
    duo.wait_for_contains_text("#legend", "Equal interval")
    choose(duo, "palette", "Reds (sequential, colour-blind safe)", search="Reds")
    _wait(duo, "window.atlas.drawn().some(function (d) { return d.fill === '#99000d'; })")  # Reds' darkest of 7
    assert set(_fills(duo, 133).values()) <= {"#fee5d9", "#fcbba1", "#fc9272", "#fb6a4a", "#ef3b2c", "#cb181d",
                                             "#99000d"}
    swatches = duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#legend .legend-row .swatch'))"
        ".map(function (s) { return getComputedStyle(s).backgroundColor; })")
    assert swatches[-1] == "rgb(153, 0, 13)"
    duo.find_element("#reverse input").click()
    _wait(duo, "new URLSearchParams(location.search).get('reverse') === '1'")
    _wait(duo, "getComputedStyle(document.querySelector('#legend .legend-row .swatch')).backgroundColor"
               " === 'rgb(153, 0, 13)'")
    duo.driver.execute_script("window.dash_clientside.set_props('opacity', {value: 0.45});")
    _wait(duo, "window.atlas.drawn().every(function (d) { return d.opacity === 0.45; })")
    _wait(duo, "new URLSearchParams(location.search).get('opacity') === '0.45'")
    assert duo.get_logs() == []


def test_exp003_hover_select_and_table_in_sync(duo) -> None:
    duo.wait_for_page(f"{duo.server_url}/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0018")
    fills = _fills(duo, 133)
    code = sorted(fills)[40]
    _at(duo, code).perform()
    tip = _wait(duo, "document.querySelector('.atlas-tip') && document.querySelector('.atlas-tip').innerText")
    assert code in tip and "Mean age:" in tip and "years" in tip
    assert "of 133 areas in Camden" in tip and "across England and Wales" in tip and "Class " in tip

    _at(duo, code).click().perform()
    duo.wait_for_element(f"tr.selected[data-code='{code}']")  # the table jumps to the selected area's page
    duo.wait_for_contains_text("#view-help", f"({code}), ")  # and the selection is said in words
    assert _wait(duo, f"window.atlas.layerOf({code!r}).options.weight") == 3.5

    # And from the table, by keyboard: focus another area's button and press Enter.
    other = duo.find_element("tr:not(.selected) button.select")
    other_code = other.find_element(By.XPATH, "./ancestor::tr").get_attribute("data-code")
    other.send_keys(Keys.ENTER)
    duo.wait_for_element(f"tr.selected[data-code='{other_code}']")
    _wait(duo, f"window.atlas.layerOf({other_code!r}).options.weight === 3.5")
    assert _wait(duo, f"window.atlas.layerOf({code!r}).options.weight") < 3.5

    # Sorting by value, descending, from the keyboard.
    value_sort = duo.find_element("button.sort[data-atlas-sort^='value']")
    value_sort.send_keys(Keys.ENTER)
    _wait(duo, "document.querySelector('th[aria-sort=ascending]')")
    duo.find_element("button.sort[data-atlas-sort^='value']").send_keys(Keys.ENTER)
    _wait(duo, "document.querySelector('th[aria-sort=descending]')")
    first = duo.find_element("tbody tr td.num").text
    assert first.endswith("years")
    assert duo.get_logs() == []


def test_exp004_url_round_trip_and_history(duo) -> None:
    search = f"?authority={CAMDEN}&level=oa11&variable=ks102ew0014_pct&scheme=fisher_jenks&k=4&palette=PuRd"
    duo.wait_for_page(duo.server_url + "/" + search)
    _fills(duo, 749)
    duo.wait_for_contains_text("#legend", "4 classes")
    assert duo.find_element("#scheme").text.startswith("Natural breaks")
    first = _fills(duo, 749)

    choose(duo, "k", "6")
    _wait(duo, "new URLSearchParams(location.search).get('k') === '6'")
    duo.wait_for_contains_text("#legend", "6 classes")
    copied = duo.driver.current_url
    duo.driver.back()
    duo.wait_for_contains_text("#legend", "4 classes")
    assert _fills(duo, 749) == first
    assert duo.find_element("#k").text.strip() == "4"
    duo.driver.forward()
    duo.wait_for_contains_text("#legend", "6 classes")

    # A copied link reopens the same view.
    duo.wait_for_page(copied)
    duo.wait_for_contains_text("#legend", "6 classes")
    assert _query(duo)["palette"] == "PuRd" and _query(duo)["k"] == "6"
    assert duo.get_logs() == []


def test_exp005_bad_url_parameters(duo) -> None:
    duo.wait_for_page(duo.server_url + "/?authority=NOPE&variable=zzz&k=42&scheme=sorcery&palette=%3Cb%3E&x=1")
    duo.wait_for_contains_text("#message", "no local authority or place with code 'NOPE'")
    message = duo.find_element("#message").text
    for words in ("no variable 'zzz'", "from 3 to 9", "classification scheme 'sorcery'", "palette '<b>'",
                  "unknown address parameter 'x'"):
        assert words in message
    assert len(set(_fills(duo, 374).values())) == 6  # a whole national map, not a blank one
    _at(duo, "S12000006").click().perform()  # Dumfries and Galloway: Scotland, no small-area data here
    duo.wait_for_contains_text("#message", "Dumfries and Galloway has no small-area data")
    # The address says what the map shows: the refused values were replaced (the message says which).
    assert _query(duo).get("authority") == "all"
    duo.wait_for_page(duo.server_url + "/?authority=S12000005")
    duo.wait_for_contains_text("#message", "Clackmannanshire (Scotland) has no small-area data")
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&scheme=custom&breaks=30,abc")
    duo.wait_for_contains_text("#message", "'abc' is not a number")
    assert duo.find_element("#breaks").get_attribute("value") == "30,abc"
    box = duo.find_element("#breaks")
    box.clear()
    box.send_keys("35, 40, 45", Keys.ENTER)
    duo.wait_for_contains_text("#legend", "45")
    _wait(duo, "document.getElementById('message').innerText === ''")
    assert _query(duo)["breaks"] == "35, 40, 45"
    assert duo.get_logs() == []


def test_exp007_a_categorical_map_by_category(duo) -> None:
    """Liverpool's Output Area Classification (supergroups): each area in its category's colour, the legend
    listing the categories with their counts and no histogram, the classification controls hidden (with a
    line saying why), the hover card naming the category, and back to a numeric variable, the controls."""
    duo.wait_for_page(f"{duo.server_url}/?authority=E08000012&level=oa11&variable=oac11_supergroup&k=7")
    expected = duo.driver.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "fetch('/api/view.json?authority=E08000012&level=oa11&variable=oac11_supergroup&k=7')"
        ".then(function (r) { return r.json(); }).then(done);")
    colours = {c["class"]: c["colour"] for c in expected["classes"]}
    fills = _fills(duo, 1584)
    assert fills == {a["code"]: colours.get(a["class"], "#ffffff") for a in expected["areas"]}
    legend = _legend(duo)
    for c in expected["classes"]:
        assert c["label"] in legend and f"{c['count']:,} areas" in legend
    assert not duo.driver.find_elements(By.CSS_SELECTOR, "#legend .histogram")
    for row in ("scheme-row", "k-row", "palette-row", "reverse", "breaks-row", "scope-row"):
        assert not duo.find_element(f"#{row}").is_displayed(), row
    assert "Drawn by category" in duo.find_element("#category-note").text
    duo.wait_for_contains_text("#message", "k does not apply to a categorical variable")
    assert _query(duo)["k"] == "7"  # the address keeps working, as given

    area = next(a for a in expected["areas"] if a["class"] >= 0)
    _at(duo, area["code"]).perform()
    tip = _wait(duo, "document.querySelector('.atlas-tip') && document.querySelector('.atlas-tip').innerText")
    assert area["code"] in tip and area["text"] in tip and "Rank" not in tip  # e.g. "Cosmopolitans (2)"

    duo.driver.execute_script("window.dash_clientside.set_props('variable', {value: 'ks201ew_mixed_pct'});")
    _wait(duo, "new URLSearchParams(location.search).get('variable') === 'ks201ew_mixed_pct'")
    _wait(duo, "document.getElementById('scheme-row').offsetParent !== null")
    assert duo.find_element("#k-row").is_displayed() and not duo.find_element("#category-note").is_displayed()
    duo.wait_for_element("#legend .histogram")
    assert duo.get_logs() == []


@pytest.fixture()
def gunicorn_url(atlas_env: Path, tmp_path: Path) -> Iterator[str]:
    """The app under gunicorn as deployed: two workers (warmed at start-up), a cache shared on disk."""
    import os
    import subprocess
    import sys
    import urllib.request

    port = free_port()
    env = {**os.environ, "ATLAS_CACHE_TYPE": "FileSystemCache", "ATLAS_CACHE_DIR": str(tmp_path / "cache"),
           "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port} --workers 2 --access-logfile /dev/null"}
    root = Path(__file__).resolve().parent.parent
    log_file = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:server"], cwd=root,
                            env=env, stdout=subprocess.DEVNULL, stderr=log_file)
    try:
        end = time.monotonic() + 60
        while True:
            log = (tmp_path / "gunicorn.log").read_text()
            if log.count("warmed") >= 2:  # serve only once both workers are warm (gunicorn.conf.py)
                break
            if proc.poll() is not None or time.monotonic() > end:
                raise AssertionError(f"gunicorn did not start:\n{log}")
            time.sleep(0.2)
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/api").status == 200
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log_file.close()


def test_exp006_two_browsers_two_workers_no_leaks(gunicorn_url: str, tmp_path: Path) -> None:
    from selenium import webdriver

    def browser():
        options = chrome_options()
        options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
        return webdriver.Chrome(options=options)

    class Duo:  # just what the helpers above use
        def __init__(self, driver) -> None:
            self.driver = driver

        def find_element(self, selector: str):
            return self.driver.find_element(By.CSS_SELECTOR, selector)

    one, two = browser(), browser()
    try:
        a, b = Duo(one), Duo(two)
        one.get(gunicorn_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0018&palette=Reds")
        two.get(gunicorn_url + "/?authority=E08000025&variable=imd2019_imd_rank&k=7")
        _fills(a, 133)
        _fills(b, 639)
        # Each browser switches; neither sees the other's choices.
        one.execute_script("window.dash_clientside.set_props('k', {value: 4});")
        two.execute_script("window.dash_clientside.set_props('palette', {value: 'Greens'});")
        _wait(a, "document.getElementById('legend').innerText.indexOf('4 classes') >= 0")
        _wait(b, "new URLSearchParams(location.search).get('palette') === 'Greens'")
        assert len(set(_fills(a, 133).values())) == 4
        assert set(_fills(a, 133).values()) <= {"#fee5d9", "#fcae91", "#fb6a4a", "#cb181d"}  # Reds, 4
        assert _query(a)["authority"] == CAMDEN and _query(a)["k"] == "4"
        assert _query(b)["authority"] == "E08000025" and _query(b)["k"] == "7"
        _wait(b, "window.atlas.drawn().every(function (d) { return ['#edf8e9', '#c7e9c0', '#a1d99b', "
                 "'#74c476', '#41ab5d', '#238b45', '#005a32'].indexOf(d.fill) >= 0; })")
        assert "Birmingham" in b.find_element("#view-title").text
        assert one.get_log("browser") == [] and two.get_log("browser") == []
    finally:
        one.quit()
        two.quit()


def _not_here_lines(duo) -> list[str]:
    """The Table list's "Not here" lines, read from its options in Dash's layout (the open menu draws only
    the options in sight)."""
    return duo.driver.execute_script("""var st = window.store.getState();
        var node = st.layout; st.paths.strs['variable-group'].forEach(function (k) { node = node[k]; });
        return node.props.options.map(function (o) { return o.label; })
            .filter(function (t) { return typeof t === 'string' && t.indexOf('Not here') === 0; });""")


def test_exp008_not_here_unfolds_through_its_gate(duo) -> None:
    """The Table list's "Not here" line, chosen, lists what exists elsewhere and why, and the Table shown stays
    the variable's: its server callback is asked only then (``gaps_ask``), never by a first load."""
    duo.wait_for_page(f"{duo.server_url}/?authority={CAMDEN}&level=oa11&variable=ks102ew0002_pct")
    _drawn(duo, 749)
    folded = _not_here_lines(duo)
    assert len(folded) == 1 and "choose to list them" in folded[0]
    group = duo.driver.execute_script("return document.querySelector('#variable-group').textContent")
    duo.driver.execute_script("window.dash_clientside.set_props('variable-group', {value: 'gaps:show'});")
    end = time.monotonic() + 15
    lines = folded
    while time.monotonic() < end and lines == folded:
        time.sleep(0.2)
        lines = _not_here_lines(duo)
    assert len(lines) > 1 and all("choose to list them" not in line for line in lines)
    assert duo.driver.execute_script("return document.querySelector('#variable-group').textContent") == group
    assert duo.get_logs() == []
