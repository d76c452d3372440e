"""`feedbot digest` and `feedbot improvement`: owners' digests and "you
said, we did" from the command line (docs/closing-the-loop.md)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from commands.common import _settings, err, error
from feedbot.owners import DigestEvery, Owner
from feedbot.settings import Settings
from feedbot.touchpoints import SurveyConfig, load_survey_config

digest_app = typer.Typer(
    help="Owners' digests (touchpoints.yml owners:): see one, or send one now.",
    no_args_is_help=True,
)

OwnerOption = Annotated[
    str, typer.Option("--owner", help="The owner's e-mail, as in touchpoints.yml owners:.")
]
PeriodOption = Annotated[
    DigestEvery | None,
    typer.Option(
        "--period", help="daily (yesterday) or weekly (last Monday to Sunday); default: theirs."
    ),
]


def _owner(config: SurveyConfig, email: str) -> Owner:
    owner = config.owner(email)
    if owner is None:
        listed = ", ".join(o.email for o in config.owners) or "none are listed"
        error(f"{email} is not an owner in the touchpoint file (owners: {listed}).")
        raise typer.Exit(2)
    return owner


def _rendered(
    settings: Settings, owner_email: str, period: DigestEvery | None
) -> tuple[Owner, str, str, str, str]:
    """(owner, period key, subject, text, HTML) of the owner's digest now."""
    from analytics.digest import build_digest, period_before, render_digest
    from feedbot.store.database import sync_engine
    from feedbot.theme_labels import theme_labels

    config = load_survey_config(settings.touchpoints_file)
    owner = _owner(config, owner_email)
    every = period or (owner.digest if owner.digest is not DigestEvery.NONE else DigestEvery.WEEKLY)
    if every is DigestEvery.NONE:
        error("--period is daily or weekly.")
        raise typer.Exit(2)
    now = datetime.now(UTC)
    local_day = now.astimezone(ZoneInfo(config.owner_zone(owner))).date()
    chosen = period_before(every, local_day)
    engine = sync_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            digest = build_digest(conn, owner, config, chosen, now, region=settings.default_region)
    finally:
        engine.dispose()
    labels = theme_labels(settings.themes_file)
    subject, text, html = render_digest(digest, settings.public_base_url, labels)
    return owner, chosen.key, subject, text, html


@digest_app.command("preview")
def digest_preview(
    owner: OwnerOption,
    period: PeriodOption = None,
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part instead.")] = False,
) -> None:
    """Print the digest the owner would get now (the plain-text part, or
    --html), without sending it."""
    _, _, subject, text, page = _rendered(_settings(), owner, period)
    sys.stdout.write(page if html else f"Subject: {subject}\n\n{text}")


@digest_app.command("send")
def digest_send(owner: OwnerOption, period: PeriodOption = None) -> None:
    """Send the owner's digest now, through SMTP_URL, and record it."""
    from bot.owner_post import EMAIL, Mailer, NotSent, SmtpServer
    from feedbot.store.database import async_engine
    from feedbot.store.owner_outbox import DIGEST, Draft, OwnerOutbox

    settings = _settings()
    if not settings.smtp_url:
        error("SMTP_URL is not set: there is no mail server to send through (.env.example).")
        raise typer.Exit(2)
    found, key, subject, text, html = _rendered(settings, owner, period)

    async def send() -> None:
        mailer = Mailer(SmtpServer.from_url(settings.smtp_url or ""), settings.mail_from or "")
        await mailer.send(found.email, subject, text, html)
        engine = async_engine(settings.database_url)
        try:
            outbox = OwnerOutbox(engine)
            now = datetime.now(UTC)
            await outbox.add_sent(found.email, DIGEST, Draft(EMAIL, subject, text, html), now)
        finally:
            await engine.dispose()

    try:
        asyncio.run(send())
    except NotSent as exc:
        error(f"The digest was not sent: {exc}")
        raise typer.Exit(1) from None
    err.print(f"Sent {subject!r} to {found.email} ({key}).")


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


improvement_app = typer.Typer(
    help='"You said, we did": log an improvement and tell the customers who raised it.',
    no_args_is_help=True,
)


@improvement_app.command("add")
def improvement_add(
    theme: Annotated[str, typer.Option(help="The theme it answers (themes.yml).")],
    title: Annotated[str, typer.Option(help="A short title, for reports and digests.")],
    message: Annotated[str, typer.Option(help="What customers are told, in your words.")],
    touchpoint: Annotated[
        str | None, typer.Option(help="Only this touchpoint's customers.")
    ] = None,
    location: Annotated[str | None, typer.Option(help="Only this location's customers.")] = None,
    lookback_days: Annotated[
        int, typer.Option(min=1, max=365, help="Customers who raised it this many days back.")
    ] = 90,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count who would be told; log and send nothing.")
    ] = False,
) -> None:
    """Log an improvement, as POST /api/improvements does, and print the
    same JSON. The running app sends the messages (within seconds)."""
    from pydantic import ValidationError

    from bot.channels.registry import built_in, notice_reach
    from feedbot.improvements import ImprovementRequest, log_improvement
    from feedbot.store.audit import AuditLog
    from feedbot.store.database import async_engine
    from feedbot.store.improvements import ImprovementStore
    from feedbot.understanding.themes import load_taxonomy
    from feedbot.validation import describe

    settings = _settings()
    config = load_survey_config(settings.touchpoints_file)
    try:
        wanted = ImprovementRequest(
            theme=theme,
            touchpoint=touchpoint,
            location=location,
            title=title,
            message=message,
            lookback_days=lookback_days,
            dry_run=dry_run,
        )
    except ValidationError as exc:
        error(describe(exc))
        raise typer.Exit(2) from None
    refusal = wanted.refusal(config, load_taxonomy(settings.themes_file).themes)
    if refusal:
        error(refusal)
        raise typer.Exit(2)

    async def log_it() -> dict[str, object]:
        engine = async_engine(settings.database_url)
        try:
            return await log_improvement(
                wanted,
                ImprovementStore(engine),
                AuditLog(engine),
                by="cli",
                role="admin",
                now=datetime.now(UTC),
                reach=notice_reach(built_in(), settings),
            )
        finally:
            await engine.dispose()

    print_json(asyncio.run(log_it()))


@improvement_app.command("list")
def improvement_list() -> None:
    """Every improvement, with whether it worked (as GET /api/improvements)."""
    from analytics.improvements import improvement_rows
    from analytics.query import Scope
    from feedbot.store.database import sync_engine

    engine = sync_engine(_settings().database_url)
    try:
        with engine.connect() as conn:
            rows = improvement_rows(conn, Scope(), datetime.now(UTC).date())
    finally:
        engine.dispose()
    print_json({"improvements": rows})
