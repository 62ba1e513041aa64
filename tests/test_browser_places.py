"""Places in headless Chromium: the keyboard flow (typing in a list selects what was typed, focus visible, every
control named, no hidden focusable element, the title says the view), the phone layout at 390x844 (map first,
controls behind a button, legend folded, tap for hover, compare stacked, nothing scrolls sideways) and axe-core
(from npm, js/node_modules) on every page listed in ``AXE_PAGES``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import query, wait
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "js" / "node_modules" / "axe-core" / "axe.min.js"
CAMDEN = "E09000007"
BIRMINGHAM = "E08000025"
PHONE = (390, 844)

# Pages axe-core checks: (name, path and query). Add a page here and it is checked like the others.
AXE_PAGES: list[tuple[str, str]] = [
    ("explorer", f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct"),
    ("explorer-region", "/?authority=E12000007&level=lad&variable=ks102ew0014_pct"),
    ("compare", f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct&view=compare"
                "&variable_b=ks102ew0015_pct"),
    ("embed", f"/embed?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct"),
]


def _keys(duo, *keys: str) -> None:
    ActionChains(duo.driver).send_keys(*keys).perform()


def _drawn(duo) -> list:
    return wait(duo, "window.atlas.drawn().length > 0 && window.atlas.drawn()", 20)


def test_pla001_typing_in_the_area_list_selects_what_was_typed(duo) -> None:
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lad&variable=ks102ew0014_pct")
    _drawn(duo)
    trigger = duo.find_element(f"#{'authority'}")
    duo.driver.execute_script("arguments[0].focus()", trigger)
    _keys(duo, Keys.ENTER)
    # The list opened with its search box focused: the letters typed go there.
    wait(duo, "document.activeElement && document.activeElement.matches('input.dash-dropdown-search')")
    _keys(duo, "Birmingham")
    wait(duo, "Array.from(document.querySelectorAll('.dash-dropdown-option'))"
              ".some(function (o) { return /^Birmingham/.test(o.textContent.trim()); })")
    _keys(duo, Keys.ENTER)
    wait(duo, f"new URLSearchParams(location.search).get('authority') === {BIRMINGHAM!r}", 20)
    assert query(duo)["authority"] == BIRMINGHAM
    # The page title says the view.
    wait(duo, "document.title.indexOf('Birmingham') >= 0", 20)
    assert duo.driver.title.startswith("Age 65 to 74")


def test_pla002_a_list_without_search_box_types_ahead(duo) -> None:
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct&k=5")
    _drawn(duo)
    duo.driver.execute_script("arguments[0].focus()", duo.find_element("#k"))
    _keys(duo, Keys.ENTER)
    wait(duo, "document.querySelector('.dash-dropdown-content [role=option]')")
    _keys(duo, "8")
    wait(duo, "document.activeElement && document.activeElement.closest('[role=option]') &&"
              " document.activeElement.closest('[role=option]').textContent.trim() === '8'")
    _keys(duo, Keys.ENTER)
    wait(duo, "new URLSearchParams(location.search).get('k') === '8'", 20)
    duo.wait_for_contains_text("#legend", "8 classes")
