"""`feedbot run`: the action servers and Rasa instances as child processes,
and the app (in this process, or as N child processes); ready when every
/healthz says so; a child that dies is restarted after a growing pause
(the app keeps serving meanwhile, and /healthz shows it); Ctrl-C stops
everything within a few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bot.app import create_app
from bot.health import STATUS_FILE  # each child's state, for /healthz
from commands import action_server
from feedbot import rasa_env
from feedbot.heap import freeze_once_started
from feedbot.locales import DEFAULT, LANGUAGES, NAMES, rasa_url_variable
from feedbot.rasa_env import tracker_url
from feedbot.settings import PROJECT_ROOT, Settings

log = logging.getLogger("feedbot.run")

LOOPBACK = "127.0.0.1"
# A child that dies is started again after a pause that doubles with each
# restart within the window (1 s, 2 s, 4 s … at most a minute), so a child
# that cannot start does not spin; it is never given up, since the app goes
# on serving (and saying so) while it is down.
FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 60.0
RESTART_WINDOW_SECONDS = 600.0
# What a stop allows the children before they are killed: Rasa and the
# action servers' Sanic workers may ignore SIGTERM until their own grace ends.
STOP_GRACE_SECONDS = 1.5


def restart_delay(recent_restarts: int) -> float:
    """The pause before the next start, given the restarts in the window."""
    return min(MAX_RESTART_DELAY, FIRST_RESTART_DELAY * 2**recent_restarts)


class LayoutError(ValueError):
    """The processes asked for cannot share this configuration; says what to set."""


class PortInUse(RuntimeError):
    pass


class ChildFailed(RuntimeError):
    pass


# Another language's Rasa instances listen this far above RASA_URL's port
# (Spanish: 5105, 5106…) unless RASA_URL_ES says where.
LANGUAGE_PORT_STEP = 100


@dataclass(frozen=True)
class Layout:
    """How many of each process run on this machine: app instances, and
    Rasa instances per language (one model each), which share the action
    servers."""

    app_instances: int = 1
    rasa_instances: int = 1
    languages: tuple[str, ...] = (DEFAULT,)

    @property
    def single(self) -> bool:
        return self.app_instances == 1 and self.rasa_instances == 1

    def check(self, settings: Settings) -> None:
        if self.app_instances < 1 or self.rasa_instances < 1:
            raise LayoutError("--app-instances and --rasa-instances must be at least 1")
        unknown = [lang for lang in self.languages if lang not in LANGUAGES]
        if unknown or DEFAULT not in self.languages:
            raise LayoutError(
                f"--languages takes {', '.join(LANGUAGES)} and always includes {DEFAULT}, "
                f"not {','.join(self.languages)}"
            )
        if self.single:
            return
        wanted = f"{self.app_instances} app and {self.rasa_instances} Rasa instance(s)"
        if settings.on_sqlite:
            raise LayoutError(
                f"{wanted} need a database they can share: set DATABASE_URL to PostgreSQL, "
                "e.g. DATABASE_URL=postgresql://feedbot:secret@127.0.0.1:5432/feedbot "
                "(SQLite is for one process on one machine)."
            )
        if not settings.redis_url:
            raise LayoutError(
                f"{wanted} need Redis for Rasa's lock store and the app's live events: "
                "set REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0"
            )
        tracker = settings.rasa_tracker_url
        if self.rasa_instances > 1 and tracker and tracker.startswith("sqlite"):
            raise LayoutError(
                f"{self.rasa_instances} Rasa instances need a tracker store they can share, "
                f"and RASA_TRACKER_URL is SQLite ({tracker}): set it to PostgreSQL, or unset "
                "it to use DATABASE_URL's database."
            )


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def instance_urls(base_url: str, count: int) -> tuple[str, ...]:
    """Instance i listens on the base URL's port + i."""
    return tuple(_with_port(base_url, _port(base_url) + i) for i in range(count))


def language_base_url(settings: Settings, language: str) -> str:
    """Where a language's first Rasa instance listens on this machine."""
    given = settings.rasa_urls_for(language)
    if given:
        return given[0]
    step = LANGUAGE_PORT_STEP * LANGUAGES.index(language)
    return _with_port(settings.rasa_url, _port(settings.rasa_url) + step)


def spread(settings: Settings, layout: Layout) -> Settings:
    """The settings every app instance gets: all Rasa instances of every
    language and the action servers."""
    import dataclasses

    return dataclasses.replace(
        settings,
        rasa_urls=instance_urls(settings.rasa_url, layout.rasa_instances),
        language_rasa_urls=tuple(
            (lang, instance_urls(language_base_url(settings, lang), layout.rasa_instances))
            for lang in layout.languages
            if lang != DEFAULT
        ),
        action_server_urls=instance_urls(settings.action_server_url, layout.rasa_instances),
    )


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        # As a server would bind: connections in TIME_WAIT from a run that
        # just stopped do not make the port "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ensure_ports_free(settings: Settings, layout: Layout | None = None) -> None:
    """Fail before starting anything if a port is taken (often: Feedbot is
    already running), naming the setting that moves it."""
    layout = layout or Layout()
    wanted = [
        ("the app", settings.host, settings.port + k, "PORT") for k in range(layout.app_instances)
    ]
    for i in range(layout.rasa_instances):
        for language in layout.languages:
            base = language_base_url(settings, language)
            wanted.append(
                (
                    f"Rasa ({NAMES[language]})",
                    LOOPBACK,
                    _port(base) + i,
                    rasa_url_variable(language),
                )
            )
        wanted.append(
            (
                "the action server",
                LOOPBACK,
                _port(settings.action_server_url) + i,
                "ACTION_SERVER_URL",
            )
        )
    for name, host, port, setting in wanted:
        if not _port_free(host, port):
            raise PortInUse(
                f"port {port} ({name}) is already in use. Is Feedbot already running? "
                f"Stop it, or set {setting} to use another port."
            )


@dataclass(eq=False)
class Child:
    """One process this runner started, and how to start it again."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] = field(init=False)
    restarts: list[float] = field(default_factory=list)
    # Set while the child is down and waiting for its restart (monotonic time).
    next_start: float | None = None
    last_exit_code: int | None = None

    def status(self, now: float) -> dict[str, object]:
        running = self.next_start is None and self.process.poll() is None
        found: dict[str, object] = {
            "state": "running" if running else "restarting",
            "pid": self.process.pid if running else None,
            "restarts": len(self.restarts),
            "last_exit_code": self.last_exit_code,
        }
        if self.next_start is not None:
            found["next_start_in_seconds"] = round(max(0.0, self.next_start - now), 1)
        return found

    def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                self.command,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop them in order
            )
        log.info("started %s (pid %s), log: %s", self.name, self.process.pid, self.log_path)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _child(name: str, command: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log_dir.mkdir(parents=True, exist_ok=True)
    return Child(name, command, env, log_dir / f"{name}.log")


def _with_languages(env: dict[str, str], spread_settings: Settings) -> dict[str, str]:
    """The environment naming each other language's Rasa instances this run
    starts (RASA_URL_ES…), and no others: the apps route to them, and the
    action servers get ready to read those languages."""
    for language in LANGUAGES:
        if language != DEFAULT:
            env.pop(rasa_url_variable(language), None)
    for language, urls in spread_settings.language_rasa_urls:
        env[rasa_url_variable(language)] = ",".join(urls)
    return env


def plan_rasa(
    settings: Settings, layout: Layout, var_dir: Path, model: Path | None = None
) -> list[Child]:
    """Each Rasa instance with its own action server, on consecutive ports."""
    spread_settings = spread(settings, layout)
    env = _with_languages(rasa_env.rasa_environment(), spread_settings)
    env["DATABASE_URL"] = settings.database_url
    env["FEEDBOT_TOUCHPOINTS"] = str(settings.touchpoints_file)
    # Only the app talks to Rasa and the action server: they listen on the
    # loopback interface, never on every interface (their defaults).
    env["SANIC_HOST"] = LOOPBACK
    tracker = tracker_url(settings, var_dir)
    children = []
    for i, actions_url in enumerate(spread_settings.action_server_urls):
        suffix = "" if layout.rasa_instances == 1 else f"-{i}"
        endpoints = rasa_env.write_endpoints(
            var_dir / f"endpoints{suffix}.yml",
            rasa_env.endpoints(
                actions_url,
                tracker,
                settings.redis_url,
                rasa_env.lock_key_prefix(settings.deployment_key),
            ),
        )
        children.append(
            _child(
                f"actions{suffix}",
                action_server.command(_port(actions_url)),
                env,
                var_dir / "log",
            )
        )
        # Instance i of every language calls action server i (the actions
        # speak every language: the survey's is in its `language` slot).
        for language in layout.languages:
            url = spread_settings.rasa_urls_for(language)[i]
            chosen = model if model and language == DEFAULT else rasa_env.model_path(language)
            children.append(
                _child(
                    f"rasa{'' if language == DEFAULT else '-' + language}{suffix}",
                    rasa_env.rasa_command(chosen, _port(url), endpoints, LOOPBACK),
                    env,
                    var_dir / "log",
                )
            )
    return children


def plan_apps(
    settings: Settings, layout: Layout, var_dir: Path, extra_env: dict[str, str] | None = None
) -> list[Child]:
    """App instance k as `feedbot serve` on PORT + k, each knowing every Rasa instance."""
    spread_settings = spread(settings, layout)
    children = []
    for k in range(layout.app_instances):
        env = _with_languages(dict(os.environ), spread_settings)
        env.update(
            DATABASE_URL=settings.database_url,
            HOST=settings.host,
            PORT=str(settings.port + k),
            PUBLIC_BASE_URL=settings.public_base_url,
            RASA_URL=",".join(spread_settings.rasa_urls),
            ACTION_SERVER_URL=",".join(spread_settings.action_server_urls),
            FEEDBOT_TOUCHPOINTS=str(settings.touchpoints_file),
            FEEDBOT_THEMES=str(settings.themes_file),
            FEEDBOT_VAR_DIR=str(var_dir),  # where the runner says how its children are
        )
        for name, value in (
            ("REDIS_URL", settings.redis_url),
            ("FEEDBOT_ANALYST_TOKEN", settings.analyst_token),
        ):
            if value:
                env[name] = value
        env.update(extra_env or {})
        children.append(
            _child(
                f"app-{k}", [sys.executable, "-m", "commands.cli", "serve"], env, var_dir / "log"
            )
        )
    return children


def start_all(children: list[Child], settings: Settings, within: float = 180) -> None:
    """Start the children. Several Rasa instances on one database: the first
    creates Rasa's tables alone (two at once would race to create them)."""
    rasa = [c for c in children if c.name.startswith("rasa")]
    others = [c for c in children if c not in rasa]
    for child in others:
        if child.name.startswith("actions"):
            child.start()
    if rasa:
        rasa[0].start()
        if len(rasa) > 1:
            wait_until(lambda: _answers(f"{settings.rasa_url}/"), [rasa[0], *others], within)
        for child in rasa[1:]:
            child.start()
    for child in others:
        if not child.name.startswith("actions"):
            child.start()


def wait_for_rasa(settings: Settings, layout: Layout, children: list[Child], within: float) -> None:
    """Every Rasa instance has loaded its model (an app is healthy with one)."""
    spread_settings = spread(settings, layout)
    urls = [u for lang in layout.languages for u in spread_settings.rasa_urls_for(lang)]
    wait_until(lambda: all(_answers(f"{url}/") for url in urls), children, within)


def _answers(url: str) -> bool:
    import http.client
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        # HTTPException: not an HTTP answer. Before the server listens, a
        # connection to a port in the ephemeral range can connect to itself
        # (Linux's TCP self-connect) and read back its own request as the
        # "status line" (BadStatusLine: "GET / HTTP/1.1"): not up yet.
        return False


def wait_until(ready: Callable[[], bool], children: list[Child], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        check_children(children, restart=False)
        if ready():
            return
        time.sleep(0.5)
    raise ChildFailed(f"not ready after {within:.0f} s")


def stop_children(children: list[Child], grace_seconds: float = STOP_GRACE_SECONDS) -> None:
    started = [c for c in children if hasattr(c, "process")]
    for child in started:
        if child.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # gone already
                os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for child in started:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            log.info("%s did not stop within %.1f s: killed", child.name, grace_seconds)
        # The whole group: a Sanic worker whose parent is gone would linger.
        with contextlib.suppress(ProcessLookupError):  # gone already
            os.killpg(child.process.pid, signal.SIGKILL)
        child.process.wait()
        log.info("stopped %s", child.name)


def check_children(children: list[Child], restart: bool = True, now: float | None = None) -> bool:
    """Restart a child that died, after its pause (the others carry on
    meanwhile); True when any child changed state. While starting
    (``restart=False``) a death stops everything, with the child's last lines."""
    now = time.monotonic() if now is None else now
    changed = False
    for child in children:
        if not hasattr(child, "process"):
            continue
        if child.next_start is not None:
            if now >= child.next_start:
                child.next_start = None
                child.restarts.append(now)
                child.start()
                changed = True
            continue
        code = child.process.poll()
        if code is None:
            continue
        if not restart:
            raise ChildFailed(
                f"{child.name} exited with code {code}. Last lines of {child.log_path}:\n"
                f"{child.tail()}"
            )
        # What it started lives on without it (Sanic's worker processes keep
        # its port): end its whole group before it is started again.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signal.SIGKILL)
        child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW_SECONDS]
        delay = restart_delay(len(child.restarts))
        child.last_exit_code = code
        child.next_start = now + delay
        changed = True
        log.error(
            "%s exited with code %s; restarting it in %.0f s (restart %d in %.0f min; log: %s)",
            child.name,
            code,
            delay,
            len(child.restarts) + 1,
            RESTART_WINDOW_SECONDS / 60,
            child.log_path,
        )
    return changed


def write_status(children: list[Child], path: Path, now: float | None = None) -> None:
    """Each child's state, for /healthz (replaced whole, never half written)."""
    now = time.monotonic() if now is None else now
    status = {
        "runner_pid": os.getpid(),
        "processes": {c.name: c.status(now) for c in children if hasattr(c, "process")},
    }
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(status, indent=1))
    partial.replace(path)


async def serve_app(settings: Settings, children: list[Child], ready_timeout: float) -> None:
    """Serve the app in this process until interrupted (one app instance)."""
    app = create_app(settings)
    app.on_startup.append(freeze_once_started)  # as `feedbot serve` does
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    log.info("app listening on http://%s:%s", settings.host, settings.port)
    try:
        # /healthz lists the children from the first moment it can say "ok".
        write_status(children, settings.var_dir / STATUS_FILE)
        await _wait_until_healthy([settings.port], children, ready_timeout)
        _ready(settings, 1)
        await _supervise(children, settings.var_dir / STATUS_FILE)
    finally:
        await runner.cleanup()


async def supervise_apps(
    settings: Settings, layout: Layout, children: list[Child], ready_timeout: float
) -> None:
    """Several app instances run as children: wait for all, then watch them."""
    ports = [settings.port + k for k in range(layout.app_instances)]
    write_status(children, settings.var_dir / STATUS_FILE)
    await _wait_until_healthy(ports, children, ready_timeout)
    _ready(settings, layout.app_instances)
    await _supervise(children, settings.var_dir / STATUS_FILE)


def _ready(settings: Settings, app_instances: int) -> None:
    more = ""
    if app_instances > 1:
        more = f"App instances on ports {settings.port}–{settings.port + app_instances - 1}.\n"
    print(
        f"\nFeedbot is ready: {settings.public_base_url}/  (Ctrl-C stops it)\n"
        f"{more}Dashboard for analysts: {settings.public_base_url}/dashboard\n",
        flush=True,
    )


async def _supervise(children: list[Child], status_path: Path) -> None:
    write_status(children, status_path)
    while True:
        now = time.monotonic()
        if check_children(children, now=now) or any(c.next_start for c in children):
            write_status(children, status_path, now)
        await asyncio.sleep(0.5)


async def _wait_until_healthy(ports: list[int], children: list[Child], within: float) -> None:
    deadline = time.monotonic() + within
    last = ""
    async with aiohttp.ClientSession() as http:
        for port in ports:
            url = f"http://127.0.0.1:{port}/healthz"
            while True:
                check_children(children, restart=False)
                try:
                    async with http.get(url) as resp:
                        if resp.status == 200:
                            break
                        last = await resp.text()
                except aiohttp.ClientError as exc:
                    last = str(exc)
                if time.monotonic() > deadline:
                    raise ChildFailed(f"not healthy after {within:.0f} s: {last}")
                await asyncio.sleep(0.5)
