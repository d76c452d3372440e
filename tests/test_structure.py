"""The shape DESIGN.md asks for, checked: `feedbot/` is the core and never
imports the channels (`bot/`), analytics or the command line; the command
line and the process runner (`commands/`) sit on top and nothing imports
them; test harness code stays out of the product."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from feedbot.settings import PROJECT_ROOT

PRODUCT = ("feedbot", "bot", "actions", "analytics", "commands")


def imports_of(package: str) -> dict[str, set[str]]:
    """Every top-level package each module of ``package`` imports."""
    found = {}
    for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(PROJECT_ROOT))] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("feedbot", {"bot", "analytics", "actions", "commands", "tests", "bench"}),
        ("actions", {"bot", "analytics", "commands", "tests", "bench"}),
        ("analytics", {"bot", "actions", "commands", "tests", "bench"}),
        ("bot", {"actions", "commands", "tests", "bench"}),
        ("commands", {"tests", "bench"}),
    ],
)
def test_packages_import_only_what_is_below_them(package: str, forbidden: set[str]) -> None:
    wrong = {m: sorted(names & forbidden) for m, names in imports_of(package).items()}
    assert {m: n for m, n in wrong.items() if n} == {}


def test_rasa_patches_import_only_rasa_and_the_standard_library() -> None:
    """feedbot_rasa runs in Rasa's own environment (Python 3.10), beside Rasa
    and what Rasa depends on (its SQL tracker store's SQLAlchemy 1.4 too, and
    the numpy and scipy of its classifiers' features)."""
    allowed = set(sys.stdlib_module_names) | {
        "rasa",
        "jsonschema",
        "aiohttp",
        "sqlalchemy",
        "numpy",
        "scipy",
        "feedbot_rasa",
    }
    for module, names in imports_of("feedbot_rasa").items():
        assert names <= allowed, (module, names - allowed)


def test_no_temporary_stack_in_the_product() -> None:
    for package in PRODUCT:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            assert "def temporary_stack" not in path.read_text(), path


def test_there_is_one_composition_root() -> None:
    assert not (PROJECT_ROOT / "feedbot" / "cli.py").exists()
    assert not (PROJECT_ROOT / "feedbot" / "runner.py").exists()
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text()
    assert 'feedbot = "commands.cli:main"' in pyproject
    assert Path(PROJECT_ROOT / "commands" / "cli.py").exists()


# A channel's own modules may name it; the rest of the app goes through the
# port (bot.channels).
CHANNEL_MODULES = ("bot/channels/", "bot/sms/", "bot/web_chat.py", "bot/pages.py")


def test_no_module_outside_a_channel_tests_a_channels_name() -> None:
    """In the app, the actions and the core (the store included): only a
    channel's own modules compare a survey's channel with a channel's name."""
    naming = set()
    paths = [p for top in ("bot", "actions", "feedbot") for p in (PROJECT_ROOT / top).rglob("*.py")]
    for path in sorted(paths):
        where = str(path.relative_to(PROJECT_ROOT))
        if where.startswith(CHANNEL_MODULES):
            continue
        for node in ast.walk(ast.parse(path.read_text(), where)):
            if isinstance(node, ast.Compare):
                names = [
                    n.value if isinstance(n, ast.Constant) else getattr(n, "attr", None)
                    for n in [node.left, *node.comparators]
                ]
                if {"sms", "web", "SMS", "WEB"} & set(names):
                    naming.add(where)
    assert naming == set()
