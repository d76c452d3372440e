"""The systemd unit set in deploy/systemd/ (docs/deployment.md), started the
way systemd would start it: each unit's ExecStart, with its
EnvironmentFile, Environment and WorkingDirectory, on the PostgreSQL and
Redis servers of this machine. systemd itself does not run in this test
environment (it is not the init process here), so the test reads the unit
files and starts exactly their commands; `/opt/feedbot` stands for this
checkout. Two app instances (feedbot-app@P and @P+1), one Rasa instance per
language (English and Spanish, started at once as systemd starts them) and
their action server: a survey started on one app instance is finished on the
other, in English and in Spanish."""

from __future__ import annotations

import configparser
import shlex
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from commands.runner import Child, Layout, stop_children, wait_for_rasa
from feedbot.settings import PROJECT_ROOT, Settings
from feedbot.store.database import sync_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import Response, Survey, SurveyState
from tests.chat import ChatClient, response_texts
from tests.databases import fresh_database
from tests.helpers.stack import block_until_healthy, free_port

pytestmark = pytest.mark.system

UNITS = PROJECT_ROOT / "deploy" / "systemd"
INSTALLED_AT = "/opt/feedbot"


def read_unit(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string((UNITS / name).read_text())
    return parser["Service"]


def environment_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as systemd's EnvironmentFile= reads them."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip().strip('"')
    return env


def as_systemd_starts_it(
    name: str, env_file: Path, log_dir: Path, instance: str | None = None
) -> Child:
    service = read_unit(name)

    def here(value: str) -> str:
        value = value.replace(INSTALLED_AT, str(PROJECT_ROOT))
        return value.replace("%i", instance) if instance is not None else value

    assert service["EnvironmentFile"] == "/etc/feedbot.env"
    assert here(service["WorkingDirectory"]) == str(PROJECT_ROOT)
    assert service["Restart"] == "always"
    env = {"PATH": "/usr/bin:/bin", **environment_file(env_file)}
    if "Environment" in service:
        key, value = here(service["Environment"]).split("=", 1)
        env[key] = value
    command = shlex.split(here(service["ExecStart"]))
    label = name.replace(".service", "").replace("@", f"-{instance}")
    return Child(label, command, env, log_dir / f"{label}.log")


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[list[str], str]]:
    app_port, rasa_port, actions_port = free_port(2), free_port(), free_port()
    spanish_port = free_port()
    with fresh_database("postgresql", tmp_path) as database_url:
        # /etc/feedbot.env: the operator's copy of .env.example, filled in.
        env_file = tmp_path / "feedbot.env"
        values = environment_file(PROJECT_ROOT / ".env.example")
        values.update(
            DATABASE_URL=database_url,
            REDIS_URL="redis://127.0.0.1:6379/0",
            RASA_URL=f"http://127.0.0.1:{rasa_port}",
            RASA_URL_ES=f"http://127.0.0.1:{spanish_port}",
            ACTION_SERVER_URL=f"http://127.0.0.1:{actions_port}",
            PUBLIC_BASE_URL=f"http://127.0.0.1:{app_port}",
            FEEDBOT_VAR_DIR=str(tmp_path / "var"),
        )
        env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        upgrade(database_url)
        logs = tmp_path / "log"
        logs.mkdir()
        children = [
            as_systemd_starts_it("feedbot-actions.service", env_file, logs),
            as_systemd_starts_it("feedbot-rasa.service", env_file, logs),
            as_systemd_starts_it("feedbot-rasa-es.service", env_file, logs),
            *(
                as_systemd_starts_it("feedbot-app@.service", env_file, logs, str(app_port + k))
                for k in range(2)
            ),
        ]
        try:
            for child in children:
                child.start()
            settings = Settings.from_env(values)
            layout = Layout(app_instances=2, rasa_instances=1, languages=("en", "es"))
            wait_for_rasa(settings, layout, children, 180)
            urls = [f"http://127.0.0.1:{app_port + k}" for k in range(2)]
            for url in urls:
                block_until_healthy(f"{url}/healthz", children, 180)
            yield urls, database_url
        finally:
            stop_children(children)


async def across_instances(
    ws: list[str], start: dict[str, str], first: str, then: str
) -> tuple[str, list[str], list[str]]:
    """A survey started on one app instance with its first answer, and
    finished on the other: (its id, the opening, the bot's answer to `then`)."""
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(ws[0]) as socket:
            chat = ChatClient(socket)
            opening = await chat.start(**start)
            assert await chat.say(first)
            survey_id = chat.survey_id
        async with http.ws_connect(ws[1]) as socket:  # the other instance carries on
            chat = ChatClient(socket)
            await chat.start(survey_id=survey_id)
            last = await chat.say(then)
    assert survey_id is not None
    return survey_id, opening, last


def stored(database_url: str, survey_id: str) -> tuple[Survey, Response]:
    engine = sync_engine(database_url)
    try:
        with Session(engine) as session:
            survey = session.scalar(select(Survey).where(Survey.id == survey_id))
            response = session.get(Response, survey_id)
            assert survey is not None and response is not None
            return survey, response
    finally:
        engine.dispose()


async def test_the_unit_set_runs_feedbot_across_two_app_instances_in_both_languages(
    deployment: tuple[list[str], str],
) -> None:
    urls, database_url = deployment
    ws = [url.replace("http://", "ws://") + "/chat" for url in urls]
    english, _, _ = await across_instances(
        ws, {"touchpoint": "support"}, "8", "Quick and friendly on the phone"
    )
    survey, response = stored(database_url, english)
    assert survey.state == SurveyState.COMPLETED and response.score == 8
    assert response.reason == "Quick and friendly on the phone"

    # Spanish, on the Spanish unit's Rasa instance, across the app instances too.
    spanish, opening, thanks = await across_instances(
        ws[::-1], {"touchpoint": "delivery", "locale": "es"}, "diez", "el repartidor fue muy amable"
    )
    assert any("su entrega reciente" in text for text in opening), opening
    assert thanks and thanks[0] in response_texts("utter_thanks", "es")
    survey, response = stored(database_url, spanish)
    assert survey.locale == "es" and survey.state == SurveyState.COMPLETED
    assert response.score == 10 and response.reason == "el repartidor fue muy amable"
