"""axe-core (the accessibility engine browsers' dev tools use, bundled by
axe-playwright-python) run on a page as it is: a test asserts no violation
of any impact, with a screenshot in test-output/ when there are some."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.conftest import SCREENSHOTS

_AXE = Axe()


def violations(page: Page) -> list[str]:
    """One line per violation: rule, impact, and the elements it found."""
    found = _AXE.run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in found
    ]


def assert_accessible(page: Page, name: str) -> None:
    """No axe-core violation on the page as shown now."""
    found = violations(page)
    if found:
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"a11y-{name}.png"), full_page=True)
    assert found == [], f"{name}: " + "\n".join(found)
