"""A temporary Feedbot for tests and benchmarks: the action servers, Rasa
instances and app instances as processes on free ports, started the way
`feedbot run` starts them (commands.runner), on a fresh database."""

from __future__ import annotations

import http.client
import random
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from commands.runner import (
    Child,
    ChildFailed,
    Layout,
    check_children,
    plan_apps,
    plan_rasa,
    spread,
    start_all,
    stop_children,
    wait_for_rasa,
)
from feedbot.settings import Settings
from feedbot.store.migrate import upgrade

# Ports are chosen below Linux's ephemeral range (32768-60999), from which
# every outgoing connection takes its local port: a port chosen there could
# be taken by a client connection before the server binds it (CI saw Rasa
# fail with "address already in use"), or a probe could connect to itself.
# They are handed out in turn from a random start, never twice in one run
# (a process that is still stopping cannot meet a new one on its port).
_LOWEST, _HIGHEST = 10_000, 32_000
_next = [random.randrange(_LOWEST, _HIGHEST - 2_000)]


def free_port(count: int = 1) -> int:
    """A port with ``count`` free ports from it (instance i on port + i)."""
    while True:
        first = _next[0]
        _next[0] = first + count if first + 2 * count < _HIGHEST else _LOWEST
        if all(_free(first + i) for i in range(count)):
            return first


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Stack:
    settings: Settings  # instance 0's, with every Rasa instance
    app_urls: list[str]
    children: list[Child]

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)


@contextmanager
def temporary_stack(
    workdir: Path,
    within: float = 180,
    app_env: dict[str, str] | None = None,
    database_url: str | None = None,
    layout: Layout | None = None,
    redis_url: str | None = None,
    languages: tuple[str, ...] = ("en",),
) -> Iterator[Stack]:
    """Yields once every app instance's /healthz answers 200. A fresh SQLite
    database in ``workdir`` unless an empty database's URL is given. English
    only unless ``languages`` (or the layout) asks for more: each language is
    another Rasa process to start."""
    layout = layout or Layout(languages=languages)
    database_url = database_url or f"sqlite:///{workdir / 'feedbot.db'}"
    upgrade(database_url)
    # One block of free ports: the apps', then Rasa's, then the action servers'.
    apps, rasas = layout.app_instances, layout.rasa_instances
    app_port = free_port(apps + 2 * rasas)
    settings = Settings(
        database_url=database_url,
        port=app_port,
        public_base_url=f"http://127.0.0.1:{app_port}",
        rasa_urls=(f"http://127.0.0.1:{app_port + apps}",),
        action_server_urls=(f"http://127.0.0.1:{app_port + apps + rasas}",),
        language_rasa_urls=tuple(
            (language, (f"http://127.0.0.1:{free_port(rasas)}",))
            for language in layout.languages
            if language != "en"
        ),
        redis_url=redis_url,
    )
    layout.check(settings)
    # Every simulated customer comes from 127.0.0.1: lift the per-address
    # limit on new web surveys (bot.limits), unless a caller sets it.
    app_env = {"FEEDBOT_WEB_SURVEYS_PER_HOUR": "1000000", **(app_env or {})}
    children = plan_rasa(settings, layout, workdir) + plan_apps(
        settings, layout, workdir, extra_env=app_env
    )
    app_urls = [f"http://127.0.0.1:{app_port + k}" for k in range(layout.app_instances)]
    try:
        start_all(children, settings, within)
        wait_for_rasa(settings, layout, children, within)
        for url in app_urls:
            block_until_healthy(f"{url}/healthz", children, within)
        yield Stack(spread(settings, layout), app_urls, children)
    finally:
        stop_children(children)


def block_until_healthy(url: str, children: list[Child], within: float) -> None:
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        check_children(children, restart=False)
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            pass  # (HTTPException: a port connected to itself before the app listened)
        time.sleep(0.5)
    raise ChildFailed(f"not healthy after {within:.0f} s")
