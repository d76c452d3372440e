"""GET /api/report, GET /api/export, logging in and who may see what, over
real HTTP against the app on a seeded demo store."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import date

import pyarrow.parquet as pq
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from analytics.demo import write_demo_data
from analytics.query import Dimension, Scope
from analytics.report import build_report
from bot.app import create_app
from bot.auth import SESSION_COOKIE
from bot.keys import SETTINGS
from feedbot.settings import PROJECT_ROOT, Settings
from feedbot.store.database import sync_engine
from feedbot.store.migrate import upgrade
from feedbot.store.models import AuditEvent, Survey
from feedbot.understanding.reader import Understanding

TOKENS = {"api": "t-api", "analyst": "t-analyst", "agent": "t-agent", "admin": "t-admin"}
SURVEYS = 800


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'demo.db'}"
    upgrade(url)
    engine = sync_engine(url)
    understanding = Understanding.from_taxonomy(PROJECT_ROOT / "themes.yml")
    write_demo_data(engine, understanding, SURVEYS, seed=5)
    engine.dispose()
    return Settings(
        database_url=url,
        api_token=TOKENS["api"],
        analyst_token=TOKENS["analyst"],
        agent_token=TOKENS["agent"],
        admin_token=TOKENS["admin"],
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    app = create_app(settings, run_scheduler=False)
    async with TestClient(TestServer(app)) as client:
        yield client


def expected_report(settings: Settings, scope: Scope, *dims: Dimension) -> dict:
    engine = sync_engine(settings.database_url)
    with engine.connect() as conn:
        found = build_report(conn, scope, dims)
    engine.dispose()
    return json.loads(json.dumps(found))


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), (bearer("api"), 403), (bearer("agent"), 403), ({"Authorization": "Bearer x"}, 401)],
)
async def test_reports_and_exports_need_the_analyst_role(
    client: TestClient, headers: dict[str, str], status: int
) -> None:
    for path in ("/api/report", "/api/export"):
        resp = await client.get(path, headers=headers)
        assert resp.status == status, path
        assert "error" in await resp.json()


async def test_the_report_over_http_is_the_report(client: TestClient, settings: Settings) -> None:
    for role in ("analyst", "admin"):
        resp = await client.get(
            "/api/report?by=location&touchpoint=store_visit&since=2020-01-01", headers=bearer(role)
        )
        assert resp.status == 200
        scope = Scope(since=date(2020, 1, 1), touchpoint="store_visit")
        assert await resp.json() == expected_report(settings, scope, Dimension.LOCATION)
    resp = await client.get("/api/report?format=csv", headers=bearer("analyst"))
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert resp.content_type == "text/csv"
    assert [r["touchpoint"] for r in rows] == ["checkout", "delivery", "store_visit", "support"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("by=store", "by must be touchpoint, location or touchpoint,location, not 'store'"),
        ("since=2026-13-01", "since: Input should be a valid date"),
        ("since=2026-10-02&until=2026-10-01", "since (2026-10-02) is after until (2026-10-01)"),
        ("min_sample=0", "min_sample: Input should be greater than or equal to 1"),
        ("colour=blue", "colour: Extra inputs are not permitted"),
        ("format=xml", "format: String should match pattern"),
    ],
)
async def test_a_bad_report_request_is_a_clear_400(
    client: TestClient, query: str, message: str
) -> None:
    resp = await client.get(f"/api/report?{query}", headers=bearer("analyst"))
    assert resp.status == 400
    assert message in (await resp.json())["error"]


async def test_csv_export_is_streamed_safe_and_masked(client: TestClient) -> None:
    resp = await client.get("/api/export?format=csv", headers=bearer("analyst"))
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers.get("Transfer-Encoding") == "chunked"  # streamed, no length up front
    assert "feedbot-surveys.csv" in resp.headers["Content-Disposition"]
    body = await resp.read()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == SURVEYS
    phones = [r["customer"] for r in rows if r["channel"] == "sms"]
    # Masked, and as they are: E.164 needs no formula guard (#16).
    assert phones and all(re.fullmatch(r"\+44\*{6}\d{4}", p) for p in phones)


async def test_jsonl_and_parquet_exports_carry_transcripts(client: TestClient) -> None:
    resp = await client.get(
        "/api/export?format=jsonl&touchpoint=delivery", headers=bearer("analyst")
    )
    lines = [json.loads(line) for line in (await resp.text()).splitlines()]
    assert lines and {r["touchpoint"] for r in lines} == {"delivery"}
    assert all(r["transcript"][0]["author"] == "bot" for r in lines)
    resp = await client.get("/api/export?format=parquet", headers=bearer("analyst"))
    assert resp.content_type == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(await resp.read()))
    assert table.num_rows == SURVEYS and "transcript" in table.column_names


async def test_full_phone_numbers_need_the_admin_role(client: TestClient) -> None:
    resp = await client.get("/api/export?format=jsonl&unmasked=true", headers=bearer("analyst"))
    assert resp.status == 403
    assert "admin" in (await resp.json())["error"]
    resp = await client.get("/api/export?format=jsonl&unmasked=true", headers=bearer("admin"))
    phones = {json.loads(line)["customer"] for line in (await resp.text()).splitlines()}
    assert any(p and p.startswith("+4479111") and "*" not in p for p in phones)
    # Full numbers left: the audit log says who and when (the refused try is not there).
    engine = sync_engine(client.app[SETTINGS].database_url)  # type: ignore[index]
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditEvent.role, AuditEvent.action).where(AuditEvent.action == "export.unmasked")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("admin", "export.unmasked")]


async def test_a_client_leaving_mid_export_does_not_harm_the_app(client: TestClient) -> None:
    resp = await client.get("/api/export?format=jsonl", headers=bearer("analyst"))
    await resp.content.read(1024)
    resp.close()  # gone after the first kilobyte
    again = await client.get("/api/export?format=csv&touchpoint=support", headers=bearer("analyst"))
    assert again.status == 200 and len((await again.text()).splitlines()) > 1


async def test_pages_send_people_to_log_in(client: TestClient) -> None:
    resp = await client.get("/dashboard?touchpoint=support", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/login?next=/dashboard?touchpoint=support"


async def test_logging_in_sets_a_signed_session_cookie(client: TestClient) -> None:
    resp = await client.post(
        "/login", data={"token": TOKENS["analyst"], "next": "/dashboard"}, allow_redirects=False
    )
    assert resp.status == 302 and resp.headers["Location"] == "/dashboard"
    cookie = resp.headers["Set-Cookie"]
    assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert TOKENS["analyst"] not in cookie  # the token itself never travels again
    page = await client.get("/dashboard")
    assert page.status == 200 and "NPS by touchpoint" in await page.text()


@pytest.mark.parametrize(("token", "status"), [("wrong", 401), (TOKENS["api"], 401), ("", 401)])
async def test_a_bad_login_says_so(client: TestClient, token: str, status: int) -> None:
    resp = await client.post("/login", data={"token": token}, allow_redirects=False)
    assert resp.status == status
    assert "not an analyst, agent or admin token" in await resp.text()
    assert SESSION_COOKIE not in resp.headers.get("Set-Cookie", "")


async def test_login_never_redirects_off_site(client: TestClient) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        resp = await client.post(
            "/login", data={"token": TOKENS["analyst"], "next": target}, allow_redirects=False
        )
        assert resp.headers["Location"] == "/dashboard", target


async def test_an_agent_may_not_open_the_dashboard(client: TestClient) -> None:
    await client.post("/login", data={"token": TOKENS["agent"]}, allow_redirects=False)
    resp = await client.get("/dashboard", allow_redirects=False)
    assert resp.status == 403


async def test_sessions_are_kept_here_expire_and_end_with_the_token(settings: Settings) -> None:
    from datetime import UTC, datetime, timedelta

    from feedbot.store.accounts import Sessions
    from feedbot.store.database import async_engine

    engine = async_engine(settings.database_url)
    sessions = Sessions(engine, timedelta(hours=12))
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    tokens = {"analyst": TOKENS["analyst"]}
    cookie = await sessions.start("analyst", t0, role_token=TOKENS["analyst"])
    assert TOKENS["analyst"] not in cookie  # a random token, not the role's
    person = await sessions.person(cookie, t0 + timedelta(minutes=1), tokens)
    assert person is not None and person.role == "analyst"
    assert await sessions.person(cookie, t0 + timedelta(hours=13), tokens) is None  # expired
    assert await sessions.person("garbage", t0, tokens) is None
    assert await sessions.person(cookie, t0, {"analyst": "a-new-token"}) is None  # rotated
    await sessions.end(cookie, t0 + timedelta(minutes=2))  # logged out: ended here
    assert await sessions.person(cookie, t0 + timedelta(minutes=3), tokens) is None
    await engine.dispose()


async def test_logging_out_ends_the_session_for_good(client: TestClient) -> None:
    resp = await client.post("/login", data={"token": TOKENS["analyst"]}, allow_redirects=False)
    cookie = resp.cookies[SESSION_COOKIE].value
    assert (await client.get("/dashboard")).status == 200
    origin = {"Origin": str(client.make_url("/")).rstrip("/")}
    await client.post("/logout", headers=origin, allow_redirects=False)
    # The same cookie, replayed after logout, opens nothing.
    replayed = await client.get(
        "/dashboard", cookies={SESSION_COOKIE: cookie}, allow_redirects=False
    )
    assert replayed.status == 302 and replayed.headers["Location"].startswith("/login")


async def test_a_transcript_page(client: TestClient) -> None:
    await client.post("/login", data={"token": TOKENS["analyst"]}, allow_redirects=False)
    page = await (await client.get("/dashboard")).text()
    link = page.split('href="/dashboard/surveys/', 1)[1].split('"', 1)[0]
    resp = await client.get(f"/dashboard/surveys/{link}")
    text = await resp.text()
    assert resp.status == 200 and 'data-testid="transcript"' in text
    missing = await client.get("/dashboard/surveys/nope")
    assert missing.status == 404


async def test_reports_and_exports_filter_by_language(
    client: TestClient, settings: Settings
) -> None:
    """language=es: surveys in es or es-MX; en: English and those with no
    locale (the default). Theme figures follow their surveys' language."""
    engine = sync_engine(settings.database_url)
    with engine.begin() as conn:
        first = select(Survey.id).order_by(Survey.id).limit(300).scalar_subquery()
        conn.execute(update(Survey).where(Survey.id.in_(first)).values(locale="es-MX"))
    engine.dispose()
    reports = {}
    for language in ("", "es", "en"):
        resp = await client.get(f"/api/report?language={language}", headers=bearer("analyst"))
        assert resp.status == 200, await resp.text()
        reports[language] = await resp.json()
    overall = {k: r["overall"] for k, r in reports.items()}
    assert 0 < overall["es"]["sent"] < overall[""]["sent"]
    assert overall["es"]["sent"] + overall["en"]["sent"] == overall[""]["sent"]
    assert overall["es"]["responses"] + overall["en"]["responses"] == overall[""]["responses"]
    mentions = {k: {d["theme"]: d["mentions"] for d in r["drivers"]} for k, r in reports.items()}
    for theme, total in mentions[""].items():
        assert mentions["es"].get(theme, 0) + mentions["en"].get(theme, 0) == total, theme

    resp = await client.get("/api/export?format=csv&language=es", headers=bearer("analyst"))
    rows = list(csv.DictReader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert len(rows) == 300 and {r["locale"] for r in rows} == {"es-MX"}
    resp = await client.get("/api/report?language=fr", headers=bearer("analyst"))
    assert resp.status == 400 and "en, es" in (await resp.json())["error"]
