"""The operator's files as the end-to-end tests use them."""

from __future__ import annotations

from pathlib import Path

import yaml

from feedbot.settings import PROJECT_ROOT


def touchpoints_for_tests(workdir: Path) -> Path:
    """touchpoints.yml with no quiet hours (results must not depend on the
    hour CI runs at: quiet hours are tested with an injected clock) and store
    visits never sampled."""
    touchpoints = yaml.safe_load((PROJECT_ROOT / "touchpoints.yml").read_text())
    touchpoints["contact_rules"]["quiet_hours"] = None
    for touchpoint in touchpoints["touchpoints"]:
        if touchpoint["id"] == "store_visit":
            touchpoint["sample_percent"] = 0
    path = workdir / "touchpoints.yml"
    path.write_text(yaml.safe_dump(touchpoints))
    return path
