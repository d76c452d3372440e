"""`feedbot check`: every configuration file checked without starting, and
a key written twice in the operator's YAML refused with both lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedbot.settings import PROJECT_ROOT
from feedbot.touchpoints import TouchpointConfigError, load_survey_config
from feedbot.understanding.themes import TaxonomyError, load_taxonomy
from tests.test_export_cli import feedbot

DUPLICATE_THEME = """themes:
  staff:
    phrases: [staff]
  price:
    phrases: [price]
  staff:
    phrases: [waiter]
"""


def test_a_theme_listed_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "themes.yml"
    path.write_text(DUPLICATE_THEME)
    with pytest.raises(TaxonomyError) as caught:
        load_taxonomy(path)
    assert str(caught.value) == f"{path}: 'staff' is listed twice (lines 2 and 6); keep one"


def test_a_key_written_twice_in_the_touchpoint_file_is_refused(tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "touchpoints.yml").read_text()
    path = tmp_path / "touchpoints.yml"
    path.write_text(text + "\ndefault_touchpoint: delivery\n")
    with pytest.raises(TouchpointConfigError, match="'default_touchpoint' is listed twice"):
        load_survey_config(path)


def test_check_passes_the_shipped_files(tmp_path: Path) -> None:
    result = feedbot("check", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert result.returncode == 0, result.stderr
    for name in ("settings", "touchpoints.yml", "themes.yml", "domain.yml", "config.yml"):
        assert f"✓ {name}" in result.stderr or f"{name}:" in result.stderr
    assert "9 themes" in result.stderr and "Every file is fine." in result.stderr
    assert not (tmp_path / "x.db").exists()  # nothing was started or made


def test_check_names_every_problem_and_fails(tmp_path: Path) -> None:
    themes = tmp_path / "themes.yml"
    themes.write_text(DUPLICATE_THEME)
    touchpoints = tmp_path / "touchpoints.yml"
    touchpoints.write_text("default_touchpoint: nowhere\ntouchpoints: []\n")
    result = feedbot(
        "check",
        env={
            "FEEDBOT_THEMES": str(themes),
            "FEEDBOT_TOUCHPOINTS": str(touchpoints),
            "FEEDBOT_CLAIM_SECONDS": "5",
        },
    )
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "✗ settings: FEEDBOT_CLAIM_SECONDS (5) must be longer" in message
    assert f"✗ {themes}: 'staff' is listed twice (lines 2 and 6)" in message
    assert f"✗ {touchpoints}: touchpoints: List should have at least 1 item" in message
    assert "3 problem(s): nothing was started." in message


def test_the_sms_docs_list_every_status_the_api_answers() -> None:
    from bot.surveys_api import STATUS_OF

    text = (PROJECT_ROOT / "docs" / "sms.md").read_text()
    for status in ("sent", *STATUS_OF.values()):
        assert f'"{status}"' in text, f"docs/sms.md does not list the status {status!r}"
    if "## Measured" in text:
        assert "Not yet: the SMS benchmarks" not in text
