"""`feedbot check`: every configuration file checked, without starting anything."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import typer
import yaml

from commands.common import err
from feedbot.locales import DEFAULT, LANGUAGES, NAMES
from feedbot.rasa_env import bot_language
from feedbot.settings import PROJECT_ROOT, Settings, SettingsError
from feedbot.validation import load_yaml


def _settings() -> str:
    settings = Settings.from_env()
    layout = "SQLite" if settings.on_sqlite else "PostgreSQL"
    mail = "e-mail on" if settings.smtp_url else "no e-mail (SMTP_URL unset)"
    sms = "SMS on" if settings.twilio_account_sid else "SMS off (TWILIO_* unset)"
    return f"{layout}, {sms}, {mail}"


def _touchpoints(path: Path) -> str:
    from feedbot.touchpoints import load_survey_config

    config = load_survey_config(path)
    untranslated = {
        NAMES[lang]: len(config.untranslated(lang)) for lang in LANGUAGES if lang != DEFAULT
    }
    said_in_english = "".join(
        f", {count} text(s) without {name} (said in English)"
        for name, count in untranslated.items()
        if count
    )
    return (
        f"{len(config.touchpoints)} touchpoints, {len(config.locations) or 'any'} locations, "
        f"{len(config.owners)} owners{said_in_english}"
    )


def _themes(path: Path) -> str:
    from feedbot.understanding.themes import ThemeTagger, load_taxonomy

    taxonomy = load_taxonomy(path)
    for language in LANGUAGES:  # builds the matchers: a pattern spaCy refuses fails here
        ThemeTagger(taxonomy, source=str(path), language=language)
    return f"{len(taxonomy.themes)} themes, in {', '.join(LANGUAGES)}"


def _language_domain(language: str) -> str:
    """Another language's responses: a YAML file with each of domain.yml's."""
    own = bot_language(language)
    _rasa_file(own.own_dir / "domain.yml")
    missing = own.untranslated_responses()
    if missing:
        return f"{len(missing)} response(s) said in English: {', '.join(missing)}"
    return "every response of domain.yml"


def _rasa_file(path: Path) -> str:
    """Rasa's own files: YAML with no key twice (`make test-rasa` runs
    `rasa data validate` for the rest)."""
    raw = load_yaml(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError("expected a mapping at the top")
    return f"{len(raw)} top-level keys"


def check() -> None:
    """Check the settings (environment variables), touchpoints.yml (with its
    owners and translations), themes.yml (its matchers built, in every
    language), and Rasa's domain.yml, config.yml, credentials.yml and each
    other language's responses, without starting anything. Prints one
    line per file; exits 2 if any has a mistake."""
    defaults = Settings()  # the files' paths even when a setting is wrong
    touchpoints = Path(os.environ.get("FEEDBOT_TOUCHPOINTS") or defaults.touchpoints_file)
    themes = Path(os.environ.get("FEEDBOT_THEMES") or defaults.themes_file)
    checks: list[tuple[str, Callable[[], str]]] = [
        ("settings", _settings),
        (str(touchpoints), lambda: _touchpoints(touchpoints)),
        (str(themes), lambda: _themes(themes)),
    ]
    for name in ("domain.yml", "config.yml", "credentials.yml"):
        path = PROJECT_ROOT / name
        checks.append((str(path), lambda path=path: _rasa_file(path)))
    for language in LANGUAGES:
        if language != DEFAULT:
            path = bot_language(language).own_dir / "domain.yml"
            checks.append((str(path), lambda language=language: _language_domain(language)))
    failed = 0
    for label, run in checks:
        try:
            found = run()
        except (SettingsError, ValueError, OSError, yaml.YAMLError) as exc:
            failed += 1
            message = str(exc) if str(exc).startswith(label) else f"{label}: {exc}"
            err.print(f"[red]✗[/red] {message}", markup=True, highlight=False)
            continue
        err.print(f"[green]✓[/green] {label}: {found}", highlight=False)
    if failed:
        err.print(f"{failed} problem(s): nothing was started.")
        raise typer.Exit(2)
    err.print("Every file is fine.")
