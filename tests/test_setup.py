"""The two set-up commands' promises that can be checked without a fresh machine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from commands.runner import Layout, LayoutError, PortInUse, ensure_ports_free
from feedbot import rasa_env
from feedbot.settings import PROJECT_ROOT, Settings
from tests.helpers.stack import free_port


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


def test_a_port_left_in_time_wait_by_the_last_run_counts_as_free() -> None:
    """Stopping Feedbot and starting it again at once: the app's port still
    has connections in TIME_WAIT (the server closed them first), and nothing
    listens. The check binds as the server will, so it is free."""
    with socket.socket() as listener:
        # As asyncio's servers (so aiohttp's) listen on Unix.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server's side closes first: TIME_WAIT is on its port
        client.recv(1)
        client.close()
    time.sleep(0.2)
    with socket.socket() as naive:  # how the check bound before: refused
        with pytest.raises(OSError):
            naive.bind(("127.0.0.1", port))
    settings = Settings(port=port, rasa_urls=(f"http://127.0.0.1:{free_port()}",))
    ensure_ports_free(settings)  # does not raise
    with socket.socket() as listening:  # a server really listening there
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(("127.0.0.1", port))
        listening.listen()
        with pytest.raises(PortInUse, match=f"port {port} \\(the app\\) is already in use"):
            ensure_ports_free(settings)


def test_several_instances_are_refused_on_sqlite_or_without_redis() -> None:
    layout = Layout(app_instances=2, rasa_instances=1)
    with pytest.raises(LayoutError, match="set DATABASE_URL to PostgreSQL"):
        layout.check(Settings(database_url="sqlite:///x.db", redis_url="redis://127.0.0.1"))
    with pytest.raises(LayoutError, match="set REDIS_URL"):
        layout.check(Settings(database_url="postgresql://u@h/db"))
    Layout(1, 2).check(Settings(database_url="postgresql://u@h/db", redis_url="redis://h"))
    shared = {"database_url": "postgresql://u@h/db", "redis_url": "redis://h"}
    with pytest.raises(LayoutError, match="RASA_TRACKER_URL is SQLite"):
        Layout(1, 2).check(Settings(**shared, rasa_tracker_url="sqlite:///rasa.db"))
    Layout(2, 1).check(Settings(**shared, rasa_tracker_url="sqlite:///rasa.db"))  # one Rasa
    Layout().check(Settings(database_url="sqlite:///x.db"))  # the one-machine default


def test_feedbot_run_says_what_to_set_for_several_instances(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "commands.cli", "run", "--app-instances", "2"],
        cwd=PROJECT_ROOT,
        env=dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "need a database they can share: set DATABASE_URL to PostgreSQL" in result.stderr
    assert not (tmp_path / "db.sqlite").exists()  # refused before touching anything


def test_the_built_wheel_works_in_a_fresh_environment(tmp_path: Path) -> None:
    """`pip install .` (a wheel, not the source tree): its data files are in it,
    and `feedbot understand` reads an answer. The fresh environment borrows
    the project environment's dependencies (no downloads), not its source."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(PROJECT_ROOT),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (wheel,) = wheels.glob("feedbot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    # Every non-Python file the packages read at run time is in the wheel.
    for package in ("feedbot", "bot"):
        for path in (PROJECT_ROOT / package).rglob("*"):
            if path.is_file() and path.suffix not in (".py", ".pyc"):
                assert str(path.relative_to(PROJECT_ROOT)) in names, path

    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(fresh)], check=True, timeout=120)
    subprocess.run(
        [fresh / "bin" / "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    site = next((fresh / "lib").glob("python3.*/site-packages"))
    project_site = next(Path(sys.prefix, "lib").glob("python3.*/site-packages"))
    (site / "project_dependencies.pth").write_text(f"{project_site}\n")
    # The operator's own files, as an installed Feedbot is given them.
    operator = {}
    for name, variable in (
        ("themes.yml", "FEEDBOT_THEMES"),
        ("touchpoints.yml", "FEEDBOT_TOUCHPOINTS"),
    ):
        copy = tmp_path / name
        copy.write_text((PROJECT_ROOT / name).read_text())
        operator[variable] = str(copy)
    result = subprocess.run(
        [fresh / "bin" / "feedbot", "understand"],
        input='{"text": "9, the driver was lovely"}\n',
        cwd=tmp_path,  # not the source tree
        env=dict(os.environ, **operator),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout)
    assert answer["score"] == 9 and answer["sentiment"] == "positive"


def test_the_app_runs_on_uvloop_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    import uvloop

    from commands.cli import _event_loop

    loop = _event_loop()
    assert isinstance(loop, uvloop.Loop)
    loop.close()
    monkeypatch.setenv("FEEDBOT_EVENT_LOOP", "asyncio")
    loop = _event_loop()
    assert not isinstance(loop, uvloop.Loop) and isinstance(loop, asyncio.AbstractEventLoop)
    loop.close()


def test_feedbot_run_lays_out_a_rasa_instance_per_language(tmp_path: Path) -> None:
    """Instance i of each language: English on RASA_URL's port + i, Spanish on
    RASA_URL_ES's (default RASA_URL's + 100) + i, both calling action server
    i; every app instance is told every language's instances."""
    from commands.runner import plan_apps, plan_rasa, spread

    settings = Settings(
        database_url="postgresql://u@h/db",
        redis_url="redis://h",
        rasa_urls=("http://127.0.0.1:5005",),
        action_server_urls=("http://127.0.0.1:5055",),
    )
    layout = Layout(app_instances=2, rasa_instances=2, languages=("en", "es"))
    spread_settings = spread(settings, layout)
    assert spread_settings.rasa_urls == ("http://127.0.0.1:5005", "http://127.0.0.1:5006")
    assert spread_settings.rasa_urls_for("es") == ("http://127.0.0.1:5105", "http://127.0.0.1:5106")
    children = {c.name: c for c in plan_rasa(settings, layout, tmp_path)}
    assert set(children) == {"actions-0", "actions-1", "rasa-0", "rasa-1", "rasa-es-0", "rasa-es-1"}
    spanish = children["rasa-es-1"].command
    assert spanish[spanish.index("--port") + 1] == "5106"
    assert spanish[spanish.index("--model") + 1].endswith("feedbot-es.tar.gz")
    endpoints = spanish[spanish.index("--endpoints") + 1]
    assert (
        endpoints == children["rasa-1"].command[children["rasa-1"].command.index("--endpoints") + 1]
    )
    apps = plan_apps(settings, layout, tmp_path)
    assert apps[1].env["RASA_URL_ES"] == "http://127.0.0.1:5105,http://127.0.0.1:5106"
    assert Settings.from_env(apps[1].env).languages == ("en", "es")
    # Told where: RASA_URL_ES wins; English only: no Spanish instance at all.
    told = Settings(
        **{**settings.__dict__, "language_rasa_urls": (("es", ("http://127.0.0.1:7000",)),)}
    )
    assert spread(told, layout).rasa_urls_for("es") == (
        "http://127.0.0.1:7000",
        "http://127.0.0.1:7001",
    )
    # The action servers are told the languages too (they ready those readers).
    assert children["actions-0"].env["RASA_URL_ES"] == apps[1].env["RASA_URL_ES"]
    english = Layout(languages=("en",))
    os.environ["RASA_URL_ES"] = "http://127.0.0.1:7000"  # set outside, not started here
    try:
        english_children = plan_rasa(settings, english, tmp_path)
        assert "RASA_URL_ES" not in plan_apps(settings, english, tmp_path)[0].env
    finally:
        del os.environ["RASA_URL_ES"]
    assert {c.name for c in english_children} == {"actions", "rasa"}
    assert "RASA_URL_ES" not in english_children[0].env
    with pytest.raises(LayoutError, match="always includes en"):
        Layout(languages=("es",)).check(settings)
    with pytest.raises(LayoutError, match="--languages takes en, es"):
        Layout(languages=("en", "fr")).check(settings)
