"""Each theme's label for people, from themes.yml ("wait_time": "Wait
time"): pages, e-mails and the agent's card show labels; APIs and exports
keep the ids."""

from __future__ import annotations

from pathlib import Path

import yaml


def theme_labels(themes_file: Path) -> dict[str, str]:
    """Each theme of themes.yml and its label for people ("wait_time":
    "Wait time"), read without loading spaCy (the app tags nothing
    itself; the file is checked in full by the commands at start)."""
    try:
        raw = yaml.safe_load(themes_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    themes = raw.get("themes") if isinstance(raw, dict) else None
    if not isinstance(themes, dict):
        return {}
    return {
        str(theme): str(spec.get("label") or theme) if isinstance(spec, dict) else str(theme)
        for theme, spec in themes.items()
    }
