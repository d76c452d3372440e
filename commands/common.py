"""What every `feedbot` sub-command shares: the error console, and settings
checked with the operator's files."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from feedbot.settings import Settings, SettingsError
from feedbot.touchpoints import TouchpointConfigError, load_survey_config

# Messages are not wrapped at the terminal's width: paths and hints stay whole.
err = Console(stderr=True, soft_wrap=True)


def error(message: object) -> None:
    """An error line; the message is printed as it is (no rich markup in it)."""
    err.print(f"[red]error:[/red] {escape(str(message))}")


def _settings() -> Settings:
    from feedbot.understanding.themes import TaxonomyError, load_taxonomy

    try:
        settings = Settings.from_env()
        load_survey_config(settings.touchpoints_file)
        load_taxonomy(settings.themes_file)
    except (SettingsError, TouchpointConfigError, TaxonomyError) as exc:
        error(exc)
        raise typer.Exit(2) from None
    return settings
