"""The two set-up commands' promises that can be checked without a fresh machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from feedbot import rasa_env
from feedbot.settings import PROJECT_ROOT


@pytest.mark.parametrize(
    ("variable", "target", "advice"),
    [
        ("PYTHON310", "RASA_VENV", "pyenv install 3.10"),
        ("PYTHON311", "VENV", "pyenv install 3.11"),
    ],
)
def test_a_missing_python_is_named_with_what_to_install(
    tmp_path: Path, variable: str, target: str, advice: str
) -> None:
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["make", "--no-print-directory", f"{variable}=", f"{target}={venv}", f"{venv}/.installed"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert advice in result.stdout + result.stderr
    assert not venv.exists()


@pytest.mark.parametrize(("version", "target"), [("3.10", "RASA_VENV"), ("3.11", "VENV")])
def test_the_makefile_finds_both_pythons(tmp_path: Path, version: str, target: str) -> None:
    venv = tmp_path / "venv"
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", f"{target}={venv}", f"{venv}/.installed"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    (create,) = [line for line in dry_run.splitlines() if line.endswith(f"-m venv {venv}")]
    python = create.split()[0]
    out = subprocess.run([python, "--version"], capture_output=True, text=True).stdout
    assert out.startswith(f"Python {version}.")


def test_training_is_skipped_only_when_its_inputs_are_unchanged(tmp_path: Path) -> None:
    for name in ("config.yml", "domain.yml"):
        (tmp_path / name).write_text((PROJECT_ROOT / name).read_text())
    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "data" / "nlu" / "a.yml").write_text("nlu: []\n")
    before = rasa_env.training_fingerprint(tmp_path)
    assert rasa_env.training_fingerprint(tmp_path) == before
    (tmp_path / "data" / "nlu" / "a.yml").write_text("nlu: [x]\n")
    assert rasa_env.training_fingerprint(tmp_path) != before
    (tmp_path / "data" / "nlu" / "a.yml").rename(tmp_path / "data" / "nlu" / "b.yml")
    renamed = rasa_env.training_fingerprint(tmp_path)
    assert renamed not in (before,)
