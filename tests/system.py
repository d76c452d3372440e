"""The real system for end-to-end tests: Rasa with the trained model, the
action server and the app, as processes on free ports with their own SQLite
database under a temporary folder."""

from __future__ import annotations

import os
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

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from feedbot import runner
from feedbot.settings import PROJECT_ROOT, Settings
from feedbot.store.database import sync_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import Message, Survey


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class System:
    base_url: str
    ws_url: str
    database_url: str
    engine: Engine
    log_dir: Path

    def survey(self, survey_id: str) -> Survey:
        with Session(self.engine) as session:
            survey = session.scalar(
                select(Survey)
                .where(Survey.id == survey_id)
                .options(selectinload(Survey.response), selectinload(Survey.messages))
            )
            assert survey is not None, f"survey {survey_id} not stored"
            return survey

    def transcript(self, survey_id: str) -> list[tuple[str, str]]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(Message).where(Message.survey_id == survey_id).order_by(Message.id)
            )
            return [(m.author, m.text) for m in rows]


@contextmanager
def running_system(workdir: Path) -> Iterator[System]:
    database_url = f"sqlite:///{workdir / 'feedbot.db'}"
    upgrade(database_url)
    app_port = free_port()
    settings = Settings(
        database_url=database_url,
        port=app_port,
        public_base_url=f"http://127.0.0.1:{app_port}",
        rasa_url=f"http://127.0.0.1:{free_port()}",
        action_server_url=f"http://127.0.0.1:{free_port()}",
    )
    children = runner.start_children(settings, workdir)
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        PORT=str(app_port),
        RASA_URL=settings.rasa_url,
        ACTION_SERVER_URL=settings.action_server_url,
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
    children.append(runner.Child("app", app, log_path))
    engine = sync_engine(database_url)
    try:
        _wait_healthy(f"{settings.public_base_url}/healthz", children, within=180)
        yield System(
            base_url=settings.public_base_url,
            ws_url=f"ws://127.0.0.1:{app_port}/chat",
            database_url=database_url,
            engine=engine,
            log_dir=workdir / "log",
        )
    finally:
        runner.stop_children(children)
        engine.dispose()


def _wait_healthy(url: str, children: list[runner.Child], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for child in children:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited early:\n{child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"system not healthy after {within} s")
