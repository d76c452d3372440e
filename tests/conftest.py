from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from feedbot.settings import PROJECT_ROOT, Settings
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from tests.helpers.config import touchpoints_for_tests
from tests.helpers.mail import RestartableSmtp
from tests.system import System, running_system

API_TOKEN = "test-api-token"
AGENT_TOKEN = "test-agent-token"
ANALYST_TOKEN = "test-analyst-token"
ADMIN_TOKEN = "test-admin-token"
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = PROJECT_ROOT / "test-output"


@pytest.fixture(scope="session")
def fake_twilio() -> FakeTwilio:
    """A local server playing Twilio's Messages API (Twilio itself cannot be reached here)."""
    return FakeTwilio().start()


@pytest.fixture(scope="session")
def owner_smtp() -> Iterator[RestartableSmtp]:
    """The owners' mail server (aiosmtpd) the session's app sends alerts to."""
    server = RestartableSmtp().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def system(
    tmp_path_factory: pytest.TempPathFactory, fake_twilio: FakeTwilio, owner_smtp: RestartableSmtp
) -> Iterator[System]:
    """Rasa (English and Spanish), the action server and the app, started
    once for the session."""
    workdir = tmp_path_factory.mktemp("system")
    env = {
        "FEEDBOT_TOUCHPOINTS": str(touchpoints_for_tests(workdir, with_owners=True)),
        "SMTP_URL": f"smtp://127.0.0.1:{owner_smtp.port}",
        "FEEDBOT_MAIL_FROM": "Feedbot <feedbot@example.com>",
        "FEEDBOT_API_TOKEN": API_TOKEN,
        "FEEDBOT_AGENT_TOKEN": AGENT_TOKEN,
        "FEEDBOT_ANALYST_TOKEN": ANALYST_TOKEN,
        "FEEDBOT_ADMIN_TOKEN": ADMIN_TOKEN,
        **fake_twilio.app_env(),
    }
    with running_system(workdir, app_env=env, languages=("en", "es")) as running:
        yield running


def settings_for(system: System, fake: FakeTwilio) -> Settings:
    """Settings for an app built in-process against the running stack, with
    the shipped touchpoints.yml (quiet hours on)."""
    return Settings(
        database_url=system.database_url,
        var_dir=system.var_dir,
        rasa_urls=(system.rasa_url,),
        language_rasa_urls=(("es", (system.spanish_rasa_url,)),) if system.spanish_rasa_url else (),
        api_token=API_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM_NUMBER,
        twilio_api_base=fake.base_url,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one test module (a sync Playwright session is kept short:
    it must not be alive while other modules run their own event loops)."""
    assert shutil.which(CHROMIUM), "Debian's chromium is needed: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
