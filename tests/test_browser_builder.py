"""The indicator builder in the browser (issue 22 part 4): open the form under the map's controls, choose a
table, tick a cell, name it and map it with the keyboard; the map, its title, its legend and the address then
show the built indicator, a copied link reopens it, and axe finds nothing serious in the form; no console
errors."""

from __future__ import annotations

import pytest
from browser_support import axe_serious, choose, query, wait
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

pytestmark = pytest.mark.browser

CAMDEN = "E09000007"
CODE = "b~ks105ew~2~~Older people living alone"


def test_bld001_build_and_map_an_indicator(duo) -> None:
    duo.wait_for_page(f"{duo.server_url}/?authority={CAMDEN}&level=oa11&variable=ks102ew0018")
    duo.wait_for_contains_text("#view-title", "Mean age: Camden")
    summary = duo.find_element("#builder-panel summary")
    duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.send_keys(Keys.ENTER)  # a <summary> opens from the keyboard
    wait(duo, "document.getElementById('builder-panel').open")
    choose(duo, "builder-table", "KS105EW Household composition (ks105ew)", "KS105")
    duo.wait_for_contains_text("#builder-total", "All categories: Household composition")
    box = wait(duo, "document.querySelector(\"#builder-numerator input[value='2']\")")
    assert box.find_element(By.XPATH, "./ancestor::label").text == "2. One person household: Aged 65 and over"
    duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.send_keys(Keys.SPACE)  # ticked from the keyboard
    wait(duo, "document.querySelector(\"#builder-numerator input[value='2']\").checked")
    name = duo.find_element("#builder-name")
    name.send_keys("Older people living alone")
    button = duo.find_element("#builder-map")
    button.send_keys(Keys.ENTER)
    duo.wait_for_contains_text("#view-title", "Older people living alone: Camden", timeout=15)
    duo.wait_for_contains_text("#builder-status", "Mapped Older people living alone")
    assert query(duo)["variable"] == CODE
    duo.wait_for_contains_text("#legend", "%")
    assert "One person household: Aged 65 and over" in duo.find_element("#legend").text
    assert axe_serious(duo, "#builder-panel") == []
    # A copied link reopens it, the form showing its definition.
    duo.wait_for_page(duo.driver.current_url)
    duo.wait_for_contains_text("#view-title", "Older people living alone: Camden")
    wait(duo, "document.getElementById('builder-name').value === 'Older people living alone'")
    ticked = duo.driver.find_elements(By.CSS_SELECTOR, "#builder-numerator input:checked")
    assert len(ticked) == 1
    assert duo.get_logs() == []
