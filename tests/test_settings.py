"""The settings table: validated at start-up, and documented in the README exactly as defined."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atlas import settings

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_settings() -> dict[str, tuple[str, str]]:
    text = README.read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(ATLAS_\w+)` \| (.*?) \| (.*?) \|$", section, flags=re.M)
    return {name: (default, help_) for name, default, help_ in rows}


def test_readme_documents_every_setting_with_its_default() -> None:
    documented = _readme_settings()
    assert list(documented) == [s.name for s in settings.SETTINGS]
    for setting in settings.SETTINGS:
        default, help_ = documented[setting.name]
        assert default == (f"`{setting.default}`" if setting.default else "(empty)"), setting.name
        # the README's help is the code's help, give or take Markdown backticks
        assert help_.replace("`", "") == setting.help.replace("`", ""), setting.name


def test_defaults_load() -> None:
    conf = settings.load({})
    assert conf.data_dir.is_absolute() and conf.cache_type == "SimpleCache" and conf.tiles_url == ""
    assert conf.embed_origins == ("*",)


@pytest.mark.parametrize(("name", "value", "words"), [
    ("ATLAS_CACHE_TYPE", "Memcache", "SimpleCache"),
    ("ATLAS_CACHE_TIMEOUT", "-5", "positive"),
    ("ATLAS_CACHE_TIMEOUT", "soon", "invalid literal"),
    ("ATLAS_TILES_URL", "ftp://tiles/{z}/{x}/{y}.png", "http"),
    ("ATLAS_EMBED_ORIGINS", "www.example.gov.uk", "origin"),
    ("ATLAS_LOG_LEVEL", "LOUD", "DEBUG"),
])
def test_bad_values_name_the_variable(name: str, value: str, words: str) -> None:
    with pytest.raises(settings.SettingsError) as error:
        settings.load({name: value})
    assert name in str(error.value) and words in str(error.value) and value in str(error.value)


def test_unknown_setting_is_rejected_with_the_valid_names() -> None:
    with pytest.raises(settings.SettingsError) as error:
        settings.load({"ATLAS_DATADIR": "/tmp"})
    assert "ATLAS_DATADIR" in str(error.value) and "ATLAS_DATA_DIR" in str(error.value)
