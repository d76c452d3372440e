"""The app's edges: JSON that clients send (nesting, Unicode and fuzzed
bodies get a clear 4xx, or a widget error frame in test_web_conversation,
never a 500, and one log line each, not a traceback), the headers of every
response, and cross-site requests riding on a session cookie. The app runs
for real on a port; Rasa is not needed, since nothing here reaches a
conversation."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import create_app
from bot.json_input import MAX_DEPTH, InputRefused, nesting_depth, read_json
from bot.limits import Counter, Limits, MemoryCounter, RedisCounter
from feedbot.settings import Settings, SettingsError
from feedbot.store.migrate import upgrade
from tests.helpers.served import served

TOKENS = {"api": "t-api", "agent": "t-agent", "analyst": "t-analyst", "admin": "t-admin"}


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[[[ in a string ]"}', 1),  # brackets in strings do not count
        ('["\\"[", "]"]', 1),  # nor after an escaped quote
        ("[" * 5000, 5000),  # malformed: the parser refuses it later
    ],
)
def test_nesting_depth(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"deeper than {MAX_DEPTH}"),
        ('{"text": "\\ud800"}', "not valid Unicode"),  # a lone surrogate
        ('{"text": "\\udc00 low"}', "not valid Unicode"),
        (b'{"text": "\xff"}', "UTF-8"),
        ("{'single': 'quotes'}", "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_refused_json_says_why(text: str | bytes, message: str) -> None:
    with pytest.raises(InputRefused, match=message):
        read_json(text)


def test_valid_json_is_read_as_it_is() -> None:
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert read_json(deep) is not None
    assert read_json('{"text": "\\ud83d\\ude00 ok"}') == {"text": "😀 ok"}  # a proper pair


def app_settings(url: str, **limits: int) -> Settings:
    return Settings(
        database_url=url,
        api_token=TOKENS["api"],
        agent_token=TOKENS["agent"],
        analyst_token=TOKENS["analyst"],
        admin_token=TOKENS["admin"],
        var_dir=Path(url.removeprefix("sqlite:///")).parent / "var",
        **limits,
    )


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('input') / 'feedbot.db'}"
    upgrade(url)
    with served(create_app(app_settings(url), run_scheduler=False)) as base:
        yield base


def post(base_url: str, path: str, body: str | bytes, role: str = "api") -> requests.Response:
    return requests.post(
        base_url + path,
        data=body.encode() if isinstance(body, str) else body,
        headers={
            "Authorization": f"Bearer {TOKENS[role]}",
            "Content-Type": "application/json",
        },
        timeout=30,
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"channel": "web", "touchpoint": ' + "[" * 1000 + "]" * 1000 + "}", "deeper than"),
        ('{"channel": "web", "touchpoint": "support", "location": "\\ud800"}', "not valid Unicode"),
        ("not json", "must be JSON"),
    ],
)
def test_bad_bodies_get_a_400_that_says_why_and_one_log_line(
    base_url: str, body: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        resp = post(base_url, "/api/surveys", body)
    assert resp.status_code == 400
    assert message in resp.json()["error"]
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused POST")]
    assert len(refusals) == 1 and refusals[0].exc_info is None  # a line, not a traceback
    assert "Traceback" not in caplog.text


# JSON values of every shape, with text that includes lone surrogates.
_SURROGATE = st.sampled_from(["\ud800", "\udfff", "\udc00"])
_TEXT = st.text(max_size=30) | st.builds(  # text with a lone surrogate in it
    lambda a, s, b: a + s + b, st.text(max_size=10), _SURROGATE, st.text(max_size=10)
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_FIELDS = ["channel", "touchpoint", "location", "customer_id", "interaction_id", "locale"]
# A survey body: the real field names with values of any shape. (Channel "sms"
# is left out: a valid one would text a number, which needs Twilio.)
_SURVEY = st.fixed_dictionaries(
    {},
    optional={
        **{f: _JSON for f in _FIELDS if f != "channel"},
        "channel": st.sampled_from(["web", "email", ""]) | _JSON.filter(lambda v: v != "sms"),
    },
)
_RAW = st.one_of(
    _JSON.map(lambda v: json.dumps(v, ensure_ascii=True)),  # \\ud800 escapes survive this
    _SURVEY.map(lambda v: json.dumps(v, ensure_ascii=True)),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
)
_PATHS = [
    "/api/surveys",
    "/api/handoffs/nope/claim",
    "/api/handoffs/nope/notes",
    "/api/handoffs/nope/reply",
    "/api/handoffs/nope/resolve",
    "/api/erasures",
]
_ROLE_FOR = {"/api/surveys": "api", "/api/erasures": "admin"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_RAW, path=st.sampled_from(_PATHS))
def test_fuzzed_bodies_never_get_a_5xx(base_url: str, body: str, path: str) -> None:
    role = _ROLE_FOR.get(path, "agent")
    resp = post(base_url, path, body.encode("utf-8", "surrogatepass"), role)
    assert resp.status_code < 500, (path, body[:80], resp.text[:200])
    if resp.status_code >= 400:
        assert resp.json()["error"]  # a message, not a page or a trace


@pytest.mark.parametrize(
    ("path", "status", "html"),
    [
        ("/api/surveys/nope", 401, False),  # an error
        ("/dashboard", 302, False),  # a redirect to the login page
        ("/login", 200, True),  # a page
        ("/api/export?format=csv", 401, False),
    ],
)
def test_every_response_has_the_security_headers(
    base_url: str, path: str, status: int, html: bool
) -> None:
    resp = requests.get(base_url + path, allow_redirects=False, timeout=30)
    assert resp.status_code == status
    assert resp.headers["Server"] == "Feedbot"  # no versions
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["Cache-Control"] == "no-store"
    assert ("Content-Security-Policy" in resp.headers) is html


def test_static_files_may_be_cached_and_name_no_versions(base_url: str) -> None:
    resp = requests.get(base_url + "/static/widget.js", timeout=30)
    assert resp.status_code == 200 and resp.headers["Server"] == "Feedbot"
    assert "no-store" not in resp.headers.get("Cache-Control", "")


def test_exports_are_not_kept_by_caches(base_url: str) -> None:
    resp = requests.get(
        base_url + "/api/export?format=csv",
        headers={"Authorization": f"Bearer {TOKENS['analyst']}"},
        timeout=30,
    )
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest.fixture
def agent_session(base_url: str) -> Iterator[requests.Session]:
    """An agent logged in through the login page: a session cookie."""
    with requests.Session() as session:
        resp = session.post(
            base_url + "/login", data={"token": TOKENS["agent"]}, allow_redirects=False
        )
        assert resp.status_code == 302 and "feedbot_session" in session.cookies
        yield session


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "SAME"}, 404),  # from Feedbot's own page: on to the handler
        ({"Referer": "SAME/agent"}, 404),  # no Origin, but Feedbot's page referred it
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403),
        ({"Referer": "http://evil.example/page"}, 403),
        ({}, 403),  # neither: a cookie alone is not enough
    ],
)
def test_cookie_requests_that_change_things_must_come_from_feedbots_pages(
    base_url: str,
    agent_session: requests.Session,
    headers: dict[str, str],
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = {k: v.replace("SAME", base_url) for k, v in headers.items()}
    with caplog.at_level(logging.INFO):
        resp = agent_session.post(
            base_url + "/api/handoffs/nope/claim", data='{"agent": "sam"}', headers=sent
        )
    assert resp.status_code == status
    if status == 403:
        assert "Cross-site request refused" in resp.json()["error"]
        assert "refused a cross-site POST /api/handoffs/nope/claim" in caplog.text
    else:
        assert "No hand-off" in resp.json()["error"]


def test_programs_with_a_bearer_token_are_not_asked_for_an_origin(base_url: str) -> None:
    resp = post(base_url, "/api/handoffs/nope/claim", '{"agent": "sam"}', role="agent")
    assert resp.status_code == 404  # past the check, to the handler


def test_logging_out_cross_site_is_refused(base_url: str, agent_session: requests.Session) -> None:
    foreign = agent_session.post(
        base_url + "/logout", headers={"Origin": "http://evil.example"}, allow_redirects=False
    )
    assert foreign.status_code == 403
    own = agent_session.post(
        base_url + "/logout", headers={"Origin": base_url}, allow_redirects=False
    )
    assert own.status_code == 302


@pytest.fixture
def strict_url(tmp_path: Path) -> Iterator[str]:
    """An app of its own (its counts start at zero) with small limits."""
    url = f"sqlite:///{tmp_path / 'feedbot.db'}"
    upgrade(url)
    settings = app_settings(url, failed_logins_per_minute=3, web_surveys_per_hour=2)
    with served(create_app(settings, run_scheduler=False)) as base:
        yield base


def test_guessing_tokens_is_stopped_after_a_few_tries_and_logged(
    strict_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        wrong_login = requests.post(
            strict_url + "/login", data={"token": "guess-1"}, allow_redirects=False, timeout=30
        )
        assert wrong_login.status_code == 401
        for guess in ("guess-2", "guess-3"):
            resp = requests.get(
                strict_url + "/api/report",
                headers={"Authorization": f"Bearer {guess}"},
                timeout=30,
            )
            assert resp.status_code == 401
            assert resp.headers["WWW-Authenticate"] == "Bearer"  # kept on the JSON error
        # Three failures this minute: now even the right token waits.
        blocked = requests.get(
            strict_url + "/api/report",
            headers={"Authorization": f"Bearer {TOKENS['analyst']}"},
            timeout=30,
        )
        login = requests.post(
            strict_url + "/login", data={"token": TOKENS["analyst"]}, allow_redirects=False
        )
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "60"
    assert "Too many failed attempts" in blocked.json()["error"]
    assert login.status_code == 429
    failures = [r.getMessage() for r in caplog.records if "failed credentials" in r.getMessage()]
    assert failures == [
        "failed credentials from 127.0.0.1 on /login (1 of 3 this minute)",
        "failed credentials from 127.0.0.1 on /api/report (2 of 3 this minute)",
        "failed credentials from 127.0.0.1 on /api/report (3 of 3 this minute)",
    ]
    assert "guess-" not in caplog.text  # the tokens tried are not logged
    # Requests without a token are not guesses: the login page still shows.
    assert requests.get(strict_url + "/login", timeout=30).status_code == 200


def test_a_right_token_is_not_a_failure(strict_url: str) -> None:
    for _ in range(5):
        resp = requests.get(
            strict_url + "/api/report",
            headers={"Authorization": f"Bearer {TOKENS['analyst']}"},
            timeout=30,
        )
        assert resp.status_code == 200
    # Nor is the wrong role for the place (403): the token is real.
    for _ in range(5):
        resp = requests.get(
            strict_url + "/api/report",
            headers={"Authorization": f"Bearer {TOKENS['agent']}"},
            timeout=30,
        )
        assert resp.status_code == 403


async def test_one_address_may_begin_only_so_many_web_surveys(strict_url: str) -> None:
    ws_url = strict_url.replace("http://", "ws://") + "/chat"
    async with aiohttp.ClientSession() as http:
        for _ in range(2):  # the hour's worth (Rasa is not running: the bot apologises)
            async with http.ws_connect(ws_url) as ws:
                await ws.send_json({"type": "start", "touchpoint": "support"})
                assert (await ws.receive_json(timeout=30))["type"] == "survey"
        async with http.ws_connect(ws_url) as ws:
            await ws.send_json({"type": "start", "touchpoint": "support"})
            refused = await ws.receive_json(timeout=30)
            assert refused["type"] == "error" and "Too many new surveys" in refused["message"]
            # The socket stays open and says so again.
            await ws.send_json({"type": "start", "touchpoint": "support"})
            assert (await ws.receive_json(timeout=30))["type"] == "error"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FEEDBOT_FAILED_LOGINS_PER_MINUTE": "0"}, "must be at least 1, not 0"),
        ({"FEEDBOT_WEB_SURVEYS_PER_HOUR": "many"}, "must be a whole number"),
    ],
)
def test_limits_that_make_no_sense_are_refused_at_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=f"{next(iter(env))} {message}"):
        Settings.from_env(env)


def test_limits_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {"FEEDBOT_FAILED_LOGINS_PER_MINUTE": "4", "FEEDBOT_WEB_SURVEYS_PER_HOUR": "7"}
    )
    assert (settings.failed_logins_per_minute, settings.web_surveys_per_hour) == (4, 7)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_counts_are_per_window_and_shared_through_redis(kind: str) -> None:
    """Two app instances on one Redis count the same failures (the Redis
    server on this machine); in memory, one process counts alone."""
    now = [1000.0]
    prefix = f"test{uuid.uuid4().hex[:8]}"

    def counter() -> Counter:
        if kind == "redis":
            return RedisCounter("redis://127.0.0.1:6379/0", prefix, clock=lambda: now[0])
        return MemoryCounter(clock=lambda: now[0])

    first = counter()
    second = counter() if kind == "redis" else first
    try:
        assert [await first.add("failed:1.2.3.4", 60) for _ in range(2)] == [1, 2]
        assert await second.add("failed:1.2.3.4", 60) == 3  # the other instance sees them
        assert await second.get("failed:5.6.7.8", 60) == 0  # per address
        now[0] += 60  # the next minute starts afresh
        assert await first.get("failed:1.2.3.4", 60) == 0
    finally:
        await first.close()
        if second is not first:
            await second.close()


QUERY_NAMES = (
    "by since until touchpoint location interval min_sample format unmasked transcripts x".split()
)
_QUERY = st.dictionaries(
    st.sampled_from(QUERY_NAMES),
    _TEXT | st.integers().map(str) | st.sampled_from(["2026-01-01", "touchpoint", "csv", "week"]),
    max_size=5,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=_QUERY, path=st.sampled_from(["/api/report", "/api/export", "/dashboard"]))
def test_fuzzed_report_and_export_queries_never_get_a_5xx(
    base_url: str, query: dict[str, str], path: str
) -> None:
    params = {k: v.encode("utf-8", "surrogatepass") for k, v in query.items()}
    resp = requests.get(
        base_url + path,
        params=params,
        headers={"Authorization": f"Bearer {TOKENS['analyst']}"},
        allow_redirects=False,
        timeout=60,
    )
    assert resp.status_code < 500, (path, query, resp.text[:200])


@pytest.fixture(scope="module")
def login_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An app of its own: fuzzed logins fail, and its address gets blocked
    (429, which is not a 5xx) without blocking the other tests' app."""
    url = f"sqlite:///{tmp_path_factory.mktemp('login') / 'feedbot.db'}"
    upgrade(url)
    with served(create_app(app_settings(url), run_scheduler=False)) as base:
        yield base


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(form=st.dictionaries(st.sampled_from(["token", "next", "x"]), _TEXT, max_size=3))
def test_fuzzed_logins_never_get_a_5xx(login_url: str, form: dict[str, str]) -> None:
    data = {k: v.encode("utf-8", "surrogatepass") for k, v in form.items()}
    resp = requests.post(login_url + "/login", data=data, allow_redirects=False, timeout=30)
    assert resp.status_code < 500, (form, resp.text[:200])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frames=st.lists(_RAW | _SURVEY.map(lambda v: json.dumps({"type": "start", **v})), max_size=4)
)
def test_fuzzed_widget_frames_get_frames_back_and_the_socket_stays_open(
    base_url: str, frames: list[str]
) -> None:
    async def talk() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(base_url.replace("http", "ws") + "/chat") as ws:
                for frame in frames:
                    await ws.send_str(
                        frame.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
                    )
                    answer = await ws.receive(timeout=30)
                    assert answer.type == aiohttp.WSMsgType.TEXT, (frame[:80], answer)
                    assert json.loads(answer.data)["type"] in {"error", "survey", "bot", "ready"}
                assert not ws.closed

    asyncio.run(talk())


def test_a_body_too_large_gets_a_413_that_says_so(base_url: str) -> None:
    body = json.dumps({"channel": "web", "touchpoint": "x" * 100_000})
    resp = post(base_url, "/api/surveys", body)
    assert resp.status_code == 413
    assert "Maximum request body size" in resp.json()["error"]


async def test_an_account_is_locked_after_its_wrong_passwords_from_any_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Per account as well as per address: a guesser who spreads the tries
    over many addresses is stopped too."""
    limits = Limits(MemoryCounter(), failures_per_minute=3, web_surveys_per_hour=30)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert not await limits.account_guessed("ana@example.com")
            await limits.account_failed("ana@example.com")
    assert await limits.account_guessed("ana@example.com")
    assert not await limits.account_guessed("bo@example.com")  # others are not
    assert not await limits.guessing("10.0.0.9")  # nor is any address by this
    assert "wrong password for ana@example.com (3 of 3 this minute)" in caplog.text


async def test_a_dropped_database_connection_gets_an_error_frame_not_a_broken_socket(
    tmp_path: Path,
) -> None:
    """PostgreSQL ends the app's connections (as a restart or an operator's
    pg_terminate_backend would): the widget is told to send again and its
    socket stays open; the next try gets a fresh connection."""
    import psycopg
    from aiohttp.test_utils import TestClient, TestServer

    from bot.web_chat import SEND_AGAIN
    from tests.databases import PG_ADMIN, fresh_database

    with fresh_database("postgresql", tmp_path) as url:
        upgrade(url)
        name = url.rsplit("/", 1)[1]
        app = create_app(app_settings(url), run_scheduler=False)  # no Rasa: starts apologise
        async with TestClient(TestServer(app)) as client:
            async with client.ws_connect("/chat") as ws:
                await ws.send_json({"type": "start", "touchpoint": "support"})
                assert (await ws.receive_json(timeout=30))["type"] == "survey"
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                ended = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                ).fetchall()
            assert ended  # the app's pooled connections
            async with client.ws_connect("/chat") as ws:
                await ws.send_json({"type": "start", "touchpoint": "support"})
                failed = await ws.receive_json(timeout=30)
                assert failed == {"type": "error", "message": SEND_AGAIN, "retry": True}
                await ws.send_json({"type": "start", "touchpoint": "support"})
                assert (await ws.receive_json(timeout=30))["type"] == "survey"
