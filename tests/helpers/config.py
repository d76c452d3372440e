"""The operator's files as the end-to-end tests use them."""

from __future__ import annotations

from pathlib import Path

import yaml

from feedbot.settings import PROJECT_ROOT

# Owners of the session's stack (tests/test_closing_the_loop.py): each has a
# location of their own, so other tests' answers never reach them, and no
# digest (the stack runs on the real clock: a Monday would send one).
TEST_OWNERS = [
    {
        "name": "Alerted",
        "email": "alerts.owner@example.com",
        "locations": ["owner-alerts"],
        "digest": "none",
    },
    {
        "name": "Mail down",
        "email": "outage.owner@example.com",
        "locations": ["owner-outage"],
        "digest": "none",
    },
]


def touchpoints_for_tests(workdir: Path, with_owners: bool = False) -> Path:
    """touchpoints.yml with no quiet hours (results must not depend on the
    hour CI runs at: quiet hours are tested with an injected clock) and store
    visits never sampled; ``with_owners``: and TEST_OWNERS."""
    touchpoints = yaml.safe_load((PROJECT_ROOT / "touchpoints.yml").read_text())
    if with_owners:
        touchpoints["owners"] = TEST_OWNERS
    touchpoints["contact_rules"]["quiet_hours"] = None
    for touchpoint in touchpoints["touchpoints"]:
        if touchpoint["id"] == "store_visit":
            touchpoint["sample_percent"] = 0
    path = workdir / "touchpoints.yml"
    path.write_text(yaml.safe_dump(touchpoints))
    return path
