"""`feedbot run`: the action server and Rasa as child processes, the app in
this one; ready when /healthz says so; Ctrl-C stops everything it started."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bot.app import create_app
from feedbot import rasa_env
from feedbot.settings import PROJECT_ROOT, Settings
from feedbot.store.migrate import upgrade

log = logging.getLogger("feedbot.run")


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


LOOPBACK = "127.0.0.1"


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


class PortInUse(RuntimeError):
    pass


def ensure_ports_free(settings: Settings) -> None:
    """Fail before starting anything if a port is taken (often: Feedbot is
    already running), naming the setting that moves it."""
    wanted = [
        ("the app", settings.host, settings.port, "PORT"),
        ("Rasa", LOOPBACK, _port(settings.rasa_url), "RASA_URL"),
        ("the action server", LOOPBACK, _port(settings.action_server_url), "ACTION_SERVER_URL"),
    ]
    for name, host, port, setting in wanted:
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                raise PortInUse(
                    f"port {port} ({name}) is already in use. Is Feedbot already running? "
                    f"Stop it, or set {setting} to use another port."
                ) from None


def start_children(settings: Settings, var_dir: Path, model: Path | None = None) -> list[Child]:
    log_dir = var_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = rasa_env.rasa_environment(settings.action_server_url, var_dir / "rasa-tracker.db")
    env["DATABASE_URL"] = settings.database_url
    env["FEEDBOT_TOUCHPOINTS"] = str(settings.touchpoints_file)
    # Only the app talks to Rasa and the action server: they listen on the
    # loopback interface, never on every interface (their defaults).
    env["SANIC_HOST"] = LOOPBACK
    commands = {
        "actions": rasa_env.action_server_command(_port(settings.action_server_url)),
        "rasa": [
            str(rasa_env.rasa_executable()),
            "run",
            "--model",
            str(model or rasa_env.model_path()),
            "--interface",
            LOOPBACK,
            "--port",
            str(_port(settings.rasa_url)),
            "--endpoints",
            "endpoints.yml",
            "--credentials",
            "credentials.yml",
        ],
    }
    children = []
    for name, command in commands.items():
        log_path = log_dir / f"{name}.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop them in order
            )
        log.info("started %s (pid %s), log: %s", name, process.pid, log_path)
        children.append(Child(name, process, log_path))
    return children


def stop_children(children: list[Child], grace_seconds: float = 10.0) -> None:
    for child in children:
        if child.process.poll() is None:
            os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for child in children:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()
        log.info("stopped %s", child.name)


async def serve_app(settings: Settings, children: list[Child], ready_timeout: float) -> None:
    """Serve the app until interrupted or until a child process dies."""
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    log.info("app listening on http://%s:%s", settings.host, settings.port)
    try:
        await _wait_until_healthy(settings, children, ready_timeout)
        print(
            f"\nFeedbot is ready: {settings.public_base_url}/  (Ctrl-C stops it)\n"
            f"Dashboard for analysts: {settings.public_base_url}/dashboard\n",
            flush=True,
        )
        while True:
            _check_children(children)
            await asyncio.sleep(1)
    finally:
        await runner.cleanup()


async def _wait_until_healthy(settings: Settings, children: list[Child], within: float) -> None:
    url = f"http://127.0.0.1:{settings.port}/healthz"
    deadline = time.monotonic() + within
    last = ""
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            _check_children(children)
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
                    last = await resp.text()
            except aiohttp.ClientError as exc:
                last = str(exc)
            await asyncio.sleep(0.5)
    raise ChildFailed(f"not healthy after {within:.0f} s: {last}")


class ChildFailed(RuntimeError):
    pass


def _check_children(children: list[Child]) -> None:
    for child in children:
        code = child.process.poll()
        if code is not None:
            raise ChildFailed(
                f"{child.name} exited with code {code}. Last lines of {child.log_path}:\n"
                f"{child.tail()}"
            )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def temporary_stack(
    workdir: Path,
    within: float = 180,
    app_env: dict[str, str] | None = None,
    database_url: str | None = None,
) -> Iterator[Settings]:
    """Rasa, the action server and the app (`feedbot serve`) as processes on
    free ports, with a fresh SQLite database in ``workdir`` unless an empty
    database's URL is given; for tests and benchmarks. Yields the app's
    settings once /healthz answers 200."""
    database_url = database_url or f"sqlite:///{workdir / 'feedbot.db'}"
    upgrade(database_url)
    app_port = free_port()
    settings = Settings(
        database_url=database_url,
        port=app_port,
        public_base_url=f"http://127.0.0.1:{app_port}",
        rasa_url=f"http://127.0.0.1:{free_port()}",
        action_server_url=f"http://127.0.0.1:{free_port()}",
    )
    children = start_children(settings, workdir)
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        PORT=str(app_port),
        RASA_URL=settings.rasa_url,
        ACTION_SERVER_URL=settings.action_server_url,
        **(app_env or {}),
    )
    log_path = workdir / "log" / "app.log"
    with log_path.open("ab") as log_file:
        app = subprocess.Popen(
            [sys.executable, "-m", "feedbot.cli", "serve"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    children.append(Child("app", app, log_path))
    try:
        block_until_healthy(f"{settings.public_base_url}/healthz", children, within)
        yield settings
    finally:
        stop_children(children)


def block_until_healthy(url: str, children: list[Child], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        _check_children(children)
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise ChildFailed(f"not healthy after {within:.0f} s")
