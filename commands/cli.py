"""The `feedbot` command: run the product, train the model, export data."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from analytics.query import ExportFormat, Interval, ReportFormat, Scope
from feedbot.locales import LANGUAGES, rasa_url_variable
from feedbot.settings import PROJECT_ROOT, Settings
from feedbot.touchpoints import load_survey_config

if TYPE_CHECKING:
    from feedbot.understanding.reader import Readers, Understanding

app = typer.Typer(
    help="Feedbot: conversational NPS feedback on Rasa. Settings come from environment "
    "variables (see .env.example).",
    no_args_is_help=True,
    add_completion=False,
    # A crash report must not print local variables: settings hold tokens.
    pretty_exceptions_show_locals=False,
)
from commands.common import _settings, err, error  # noqa: E402


def _progress(label: str, disable: bool = False) -> Progress:
    """A progress bar on stderr, so stdout stays clean for data."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=disable,
    )


def _understanding(themes_file: Path) -> Understanding:
    from feedbot.understanding.reader import Understanding
    from feedbot.understanding.themes import TaxonomyError

    try:
        return Understanding.from_taxonomy(themes_file)
    except TaxonomyError as exc:
        error(exc)
        raise typer.Exit(2) from None


def _readers(themes_file: Path) -> Readers:
    """A reader per language; the English one built now, which refuses a
    broken taxonomy before any work."""
    from feedbot.understanding.reader import Readers
    from feedbot.understanding.themes import TaxonomyError

    readers = Readers(themes_file)
    try:
        readers("en")
    except TaxonomyError as exc:
        error(exc)
        raise typer.Exit(2) from None
    return readers


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not verbose:
        # The twilio library logs every request's headers at INFO: ten lines
        # a text. What an operator needs (failures, retries) is logged by
        # bot.sms.twilio_sender.
        logging.getLogger("twilio").setLevel(logging.WARNING)


@app.command()
def run(
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for Rasa to load its model.")
    ] = 180,
    app_instances: Annotated[
        int,
        typer.Option(
            min=1,
            help="App instances to start; instance k listens on PORT+k. More than one "
            "needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).",
        ),
    ] = 1,
    rasa_instances: Annotated[
        int,
        typer.Option(
            min=1,
            help="Rasa instances per language (instance i of each language shares action "
            "server i) on RASA_URL's, RASA_URL_ES's (default: RASA_URL's port + 100) and "
            "ACTION_SERVER_URL's ports + i. More than one needs PostgreSQL and Redis.",
        ),
    ] = 1,
    languages: Annotated[
        str,
        typer.Option(
            help="The languages the bot speaks, comma separated: one Rasa model each "
            "(en is always one). Surveys in a language not started here are refused.",
        ),
    ] = ",".join(LANGUAGES),
) -> None:
    """Start everything on this machine: migrations, the action server(s), Rasa
    and the app (http://127.0.0.1:$PORT/); a Rasa instance per language. Trains
    the models first (one per language) when their files changed. A process
    that dies is restarted."""
    from commands import runner
    from feedbot import rasa_env
    from feedbot.store.migrate import upgrade

    _logging()
    settings = _settings()
    wanted = tuple(dict.fromkeys(lang.strip().lower() for lang in languages.split(",") if lang))
    layout = runner.Layout(app_instances, rasa_instances, wanted)
    try:
        layout.check(settings)
    except runner.LayoutError as exc:
        error(exc)
        raise typer.Exit(2) from None
    if settings.analyst_token is None:  # so that the dashboard can be opened at all
        settings = dataclasses.replace(settings, analyst_token=secrets.token_urlsafe(18))
        err.print(
            "FEEDBOT_ANALYST_TOKEN is not set: for this run, log in to the dashboard with "
            f"{settings.analyst_token}"
        )
    upgrade(settings.database_url)
    var_dir = settings.var_dir
    children: list[runner.Child] = []
    try:
        runner.ensure_ports_free(settings, layout)
        if not rasa_env.models_are_current():
            err.print("Training data changed or no model yet: training (a minute or two)…")
            rasa_env.train(rasa_env.rasa_environment())
        children = runner.plan_rasa(settings, layout, var_dir)
        if not layout.single:
            children += runner.plan_apps(settings, layout, var_dir)
        # A service manager stops us with SIGTERM: shut down as for Ctrl-C.
        signal.signal(signal.SIGTERM, _interrupt)
        runner.start_all(children, settings, ready_timeout)
        runner.wait_for_rasa(settings, layout, children, ready_timeout)
        if layout.single:
            asyncio.run(runner.serve_app(runner.spread(settings, layout), children, ready_timeout))
        else:
            asyncio.run(runner.supervise_apps(settings, layout, children, ready_timeout))
    except (rasa_env.RasaNotInstalled, runner.PortInUse, subprocess.CalledProcessError) as exc:
        error(exc)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("Stopping…")
    except runner.ChildFailed as exc:
        error(exc)
        raise typer.Exit(1) from None
    finally:
        runner.stop_children(children)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def serve() -> None:
    """Serve only the app, on HOST:PORT. Rasa and the action servers run
    elsewhere: RASA_URL and ACTION_SERVER_URL (each may list several
    instances, comma separated); REDIS_URL when other app instances run too.
    Applies migrations first."""
    from aiohttp import web

    from bot.app import create_app
    from feedbot.heap import freeze_once_started
    from feedbot.store.migrate import upgrade

    _logging()
    settings = _settings()
    upgrade(settings.database_url)
    app = create_app(settings)
    app.on_startup.append(freeze_once_started)
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            print=None,
            loop=_event_loop(),
        )
    except OSError as exc:
        error(f"cannot listen on {settings.host}:{settings.port}: {exc}")
        raise typer.Exit(1) from None


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop (libuv): the same asyncio API with less overhead per
    socket event, as Rasa's and the action server's Sanic already use
    (docs/performance.md). FEEDBOT_EVENT_LOOP=asyncio keeps the standard one."""
    if os.environ.get("FEEDBOT_EVENT_LOOP", "uvloop") == "asyncio":
        return asyncio.new_event_loop()
    import uvloop

    return uvloop.new_event_loop()


@app.command()
def train(
    force: Annotated[bool, typer.Option(help="Train even if nothing changed.")] = False,
) -> None:
    """Train the Rasa models into models/, one per language (English from
    domain.yml, config.yml and data/; Spanish from those rules and stories with
    locales/es/). A language whose files are unchanged since its last training
    is skipped."""
    from feedbot import rasa_env

    _settings()  # refuse early when the configuration is broken
    try:
        env = rasa_env.rasa_environment()
        if not rasa_env.train(env, force=force):
            err.print(f"Models are up to date ({rasa_env.MODELS_DIR}); nothing to train.")
    except rasa_env.RasaNotInstalled as exc:
        error(exc)
        raise typer.Exit(1) from None
    except subprocess.CalledProcessError as exc:
        error(f"training failed (exit code {exc.returncode})")
        raise typer.Exit(1) from None


@app.command()
def migrate() -> None:
    """Apply database migrations to DATABASE_URL."""
    from feedbot.store.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    err.print("Database is up to date.")


# The period and place a report or an export is about.
SinceOption = Annotated[
    datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First day (UTC), inclusive.")
]
UntilOption = Annotated[
    datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last day (UTC), inclusive.")
]
TouchpointOption = Annotated[str | None, typer.Option(help="Only this touchpoint.")]
LocationOption = Annotated[str | None, typer.Option(help="Only this location.")]
LanguageOption = Annotated[
    str | None, typer.Option(help="Only surveys in this language (en, es; en takes unset too).")
]


def _scope(
    since: datetime | None,
    until: datetime | None,
    touchpoint: str | None,
    location: str | None,
    language: str | None = None,
) -> Scope:
    try:
        return Scope(
            since.date() if since else None,
            until.date() if until else None,
            touchpoint,
            location,
            language,
        )
    except ValueError as exc:
        error(exc)
        raise typer.Exit(2) from None


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="File to write ('-' for stdout).")],
    format: Annotated[
        ExportFormat,
        typer.Option("--format", help="csv (spreadsheets), jsonl or parquet (with transcripts)."),
    ] = ExportFormat.CSV,
    since: SinceOption = None,
    until: UntilOption = None,
    touchpoint: TouchpointOption = None,
    location: LocationOption = None,
    language: LanguageOption = None,
    unmasked: Annotated[
        bool,
        typer.Option(
            "--unmasked",
            help="Full phone numbers (default: masked, +1******4567). Whoever can run this "
            "command can read the database, so the flag is enough here; over HTTP it needs "
            "the admin role.",
        ),
    ] = False,
) -> None:
    """Export one row per survey: where, who (masked), score, category, reason,
    follow-up, themes, sentiment, state, times and a one-line summary; JSON
    Lines and Parquet add the transcript. Streamed: any size, same memory."""
    from analytics.export import ExportOptions, count_surveys, survey_rows, write_export
    from feedbot.store.database import sync_engine

    scope = _scope(since, until, touchpoint, location, language)
    settings = _settings()
    names = load_survey_config(settings.touchpoints_file).touchpoint_names()
    options = ExportOptions(scope, unmasked=unmasked, touchpoint_names=names)
    engine = sync_engine(settings.database_url)
    to_stdout = str(out) == "-"
    if unmasked:
        from datetime import UTC, datetime

        from feedbot.store.audit import record_sync

        record_sync(
            engine, "cli", "admin", "export.unmasked", datetime.now(UTC), None, scope.as_dict()
        )
    try:
        with engine.connect() as conn:
            total = count_surveys(conn, scope)
            handle = sys.stdout.buffer if to_stdout else out.open("wb")
            try:
                with _progress("Exporting", disable=to_stdout) as progress:
                    task = progress.add_task("export", total=total)
                    written = write_export(
                        survey_rows(conn, options, transcripts=format.has_transcript),
                        format,
                        handle,
                        on_row=lambda: progress.advance(task),
                    )
            finally:
                if to_stdout:
                    handle.flush()
                else:
                    handle.close()
    except OSError as exc:
        error(f"cannot write {out}: {exc}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if not to_stdout:
        err.print(f"Wrote {written} surveys to {out}")


# Wider than any report's tables: they are printed at their natural width.
UNLIMITED_WIDTH = 10_000


@app.command()
def report(
    by: Annotated[
        str, typer.Option(help="touchpoint, location, or touchpoint,location.")
    ] = "touchpoint",
    since: SinceOption = None,
    until: UntilOption = None,
    touchpoint: TouchpointOption = None,
    location: LocationOption = None,
    language: LanguageOption = None,
    format: Annotated[
        ReportFormat,
        typer.Option("--format", help="table (to read), json (everything) or csv (the groups)."),
    ] = ReportFormat.TABLE,
    interval: Annotated[Interval, typer.Option(help="The trend's periods.")] = Interval.WEEK,
    min_sample: Annotated[
        int, typer.Option(min=1, help="Groups and periods with fewer answers are flagged.")
    ] = 30,
    width: Annotated[
        int | None,
        typer.Option(
            min=40,
            help="Columns for the tables. Default: the terminal's; the tables' full width "
            "when written to a file or a pipe.",
        ),
    ] = None,
) -> None:
    """NPS with its 95% interval, response and completion rates, time to
    answer and top themes per group; the themes that drive the score; the
    worst exit points (touchpoint × theme); and the trend."""
    from analytics import render
    from analytics.query import parse_by
    from analytics.report import build_report
    from feedbot.store.database import sync_engine

    scope = _scope(since, until, touchpoint, location, language)
    try:
        dims = parse_by(by)
    except ValueError as exc:
        error(exc)
        raise typer.Exit(2) from None
    engine = sync_engine(_settings().database_url)
    try:
        with engine.connect() as conn:
            found = build_report(conn, scope, dims, interval=interval, min_sample=min_sample)
    finally:
        engine.dispose()
    if format is ReportFormat.JSON:
        sys.stdout.write(render.as_json(found) + "\n")
    elif format is ReportFormat.CSV:
        sys.stdout.write(render.as_csv(found))
    else:
        # Not a terminal (`feedbot report > file`): as wide as the tables need.
        columns = width or (None if sys.stdout.isatty() else UNLIMITED_WIDTH)
        render.as_tables(found, Console(soft_wrap=False, width=columns))


@app.command("demo-data")
def demo_data(
    surveys: Annotated[int, typer.Option(min=1, help="How many surveys to make.")] = 5000,
    seed: Annotated[int, typer.Option(help="The same seed makes the same data.")] = 7,
    days: Annotated[int, typer.Option(min=1, help="Spread over this many days to today.")] = 120,
    transcripts: Annotated[
        bool, typer.Option(help="Also write each conversation's messages.")
    ] = True,
) -> None:
    """Fill the store with realistic demo surveys (touchpoints, locations,
    reasons read by the real theme and sentiment code), for a living
    dashboard. Adds to what is there; use a separate DATABASE_URL to keep
    demo data apart from real answers."""
    from analytics.demo import write_demo_data
    from feedbot.store.database import sync_engine
    from feedbot.store.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    understanding = _understanding(settings.themes_file)
    engine = sync_engine(settings.database_url)
    try:
        with _progress("Writing demo surveys") as progress:
            task = progress.add_task("demo", total=surveys)
            written = write_demo_data(
                engine,
                understanding,
                surveys,
                seed=seed,
                days=days,
                transcripts=transcripts,
                on_batch=lambda n: progress.advance(task, n),
            )
    finally:
        engine.dispose()
    err.print(f"Wrote {written} demo surveys to {settings.database_url}")


@app.command()
def understand(
    themes: Annotated[
        Path | None, typer.Option(help="Theme taxonomy (default: FEEDBOT_THEMES or themes.yml).")
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help='Also say why, per line: "because": {theme: [the words that matched]} '
            'and "theme_sentiment": {theme: that theme\'s own sentiment}.',
        ),
    ] = False,
    locale: Annotated[
        str,
        typer.Option(
            help="The language of the lines (en, es, or a tag like es-MX); a line's own "
            '"locale" field wins.',
        ),
    ] = "en",
) -> None:
    """Read JSON lines {"text": "...", "locale": "es"} ("locale" optional) on
    stdin; write one JSON line per input: {"score": int|null, "themes": [...],
    "sentiment": "positive"|"neutral"|"negative"}. A line that is not a JSON
    object with a "text" string (and, if given, a locale Feedbot speaks) gets
    {"error": ...} in its place, and the exit code is 1."""
    import json

    from feedbot.locales import UnknownLocale, language_of, normalised

    try:
        default = language_of(normalised(locale))
    except UnknownLocale as exc:
        error(f"--locale: {exc}")
        raise typer.Exit(2) from None
    readers = _readers(themes or Settings.from_env().themes_file)
    errors = 0

    def lines() -> Iterator[tuple[str | None, str]]:
        """(language, text) per line; (None, why) for a line that cannot be read."""
        for number, line in enumerate(sys.stdin, start=1):
            try:
                item = json.loads(line)
                text = item["text"]
                if not isinstance(text, str):
                    raise TypeError
                tag = item.get("locale")
                language = language_of(normalised(tag)) if tag else default
            except UnknownLocale as exc:
                yield None, f"line {number}: {exc}"
            except (ValueError, KeyError, TypeError, AttributeError):
                yield None, f'line {number}: expected a JSON object with a "text" string'
            else:
                yield language, text

    out = sys.stdout
    for language, result in _understood_in_order(readers, lines()):
        if language is None:
            errors += 1
            out.write(json.dumps({"error": result}) + "\n")
            continue
        out.write(json.dumps(result.as_json(explain), ensure_ascii=False) + "\n")
    if errors:
        err.print(f"{errors} line(s) could not be read; see the error lines in the output")
        raise typer.Exit(1)


def _understood_in_order(
    readers: Readers, lines: Iterable[tuple[str | None, str]], batch_size: int = 512
) -> Iterator[tuple[str | None, Any]]:
    """Each line understood in its language, in batches, in input order."""
    from feedbot.understanding.reader import by_language

    batch: list[tuple[str | None, str]] = []

    def flush() -> Iterator[tuple[str | None, Any]]:
        # (a line that could not be read is its own error message)
        found = by_language(
            batch, lambda lang, texts: texts if lang is None else readers(lang).replies(texts)
        )
        return zip((lang for lang, _ in batch), found, strict=True)

    for line in lines:
        batch.append(line)
        if len(batch) >= batch_size:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


@app.command()
def retag() -> None:
    """Re-tag themes and sentiment of every stored answer (after editing
    themes.yml or the sentiment lexicon)."""
    from feedbot.retagging import count_answers, retag_all
    from feedbot.store.database import sync_engine

    settings = _settings()
    readers = _readers(settings.themes_file)
    engine = sync_engine(settings.database_url)
    try:
        total = count_answers(engine)
        with _progress("Re-tagging") as progress:
            task = progress.add_task("retag", total=total)
            done = retag_all(engine, readers, on_batch=lambda n: progress.advance(task, n))
    finally:
        engine.dispose()
    err.print(f"Re-tagged {done} answers with {settings.themes_file}")


@app.command()
def erase(
    phone: Annotated[
        str | None, typer.Option(help="The customer's phone number (any format of your region).")
    ] = None,
    customer_id: Annotated[
        str | None, typer.Option(help="Your own id of a web customer, as given to the survey API.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase everything stored about one customer: surveys, answers, themes,
    transcripts, hand-offs and Rasa's copy of each conversation. Their
    opt-out is kept (so they are never texted again), and a record that an
    erasure happened is left, without the number or id (docs/privacy.md)."""
    from datetime import UTC, datetime

    from bot.phones import InvalidPhone, to_e164
    from feedbot.privacy import erase_with_settings
    from feedbot.store.audit import record_sync
    from feedbot.store.database import sync_engine

    settings = _settings()
    if (phone is None) == (customer_id is None):
        error("Give exactly one of --phone or --customer-id.")
        raise typer.Exit(2)
    if phone is not None:
        try:
            kind, ref = "phone", to_e164(phone, settings.default_region)
        except InvalidPhone as exc:
            error(exc)
            raise typer.Exit(2) from None
    else:
        kind, ref = "customer_id", customer_id or ""
    if not yes:
        if not sys.stdin.isatty():
            error("Add --yes to erase without being asked (there is no terminal to ask on).")
            raise typer.Exit(2)
        typer.confirm(f"Erase everything stored about {ref}? This cannot be undone", abort=True)
    erased = erase_with_settings(
        settings, customer_ref=ref, kind=kind, by="cli", at=datetime.now(UTC)
    )
    engine = sync_engine(settings.database_url)
    try:
        record_sync(
            engine, "cli", "admin", "customer.erase", datetime.now(UTC), None, {"kind": kind}
        )
    finally:
        engine.dispose()
    err.print(
        f"Erased {erased.surveys} survey(s), {erased.messages} message(s), "
        f"{erased.handoffs} hand-off(s) and {erased.conversation_events} event(s) of "
        "Rasa's conversations. A record of the erasure is kept, without the identifier."
    )


@app.command()
def audit(
    limit: Annotated[int, typer.Option(min=1, help="How many events, newest first.")] = 50,
    since: Annotated[
        str | None, typer.Option(help="Only events from this day on (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Who did what to customers' data, and when: claims, replies, notes,
    releases, reassignments and resolutions of hand-offs, unmasked exports
    and erasures (newest first)."""
    from datetime import UTC, datetime

    from feedbot.store.audit import recent
    from feedbot.store.database import sync_engine

    try:
        day = datetime.fromisoformat(since).replace(tzinfo=UTC) if since else None
    except ValueError:
        error(f"--since must be a day as YYYY-MM-DD, not {since!r}")
        raise typer.Exit(2) from None
    engine = sync_engine(_settings().database_url)
    try:
        events = recent(engine, limit, day)
    finally:
        engine.dispose()
    table = Table("when (UTC)", "who", "role", "action", "on", "detail")
    for e in events:
        detail = ", ".join(f"{k}={v}" for k, v in (e.detail or {}).items())
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.role, e.action, e.target or "", detail
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)


user_app = typer.Typer(
    help="People's accounts: analysts, agents and admins, each with their own password "
    "and, if you like, a scope of touchpoints and locations."
)
app.add_typer(user_app, name="user")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        error("Give the password with --password-stdin (there is no terminal to ask on).")
        raise typer.Exit(2)
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Option(help="Their e-mail address: what they log in with.")],
    role: Annotated[str, typer.Option(help="analyst, agent or admin.")],
    name: Annotated[str, typer.Option(help="Shown to colleagues and in the audit log.")] = "",
    touchpoint: Annotated[
        list[str] | None,
        typer.Option(help="Only this touchpoint (repeat for several); default: all."),
    ] = None,
    location: Annotated[
        list[str] | None,
        typer.Option(help="Only this location (repeat for several); default: all."),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Make an account. The password (12 characters at least) is asked for,
    or read from standard input; it is stored hashed with Argon2id."""
    from datetime import UTC, datetime

    from feedbot.store.accounts import AccountError, add_user
    from feedbot.store.database import sync_engine

    settings = _settings()
    config = load_survey_config(settings.touchpoints_file)
    for t in touchpoint or []:
        if config.touchpoint(t) is None:
            error(f"Unknown touchpoint {t!r}. Known: {', '.join(x.id for x in config.touchpoints)}")
            raise typer.Exit(2)
    engine = sync_engine(settings.database_url)
    try:
        user = add_user(
            engine,
            email=email,
            name=name or email,
            role=role,
            password=_password(password_stdin),
            at=datetime.now(UTC),
            touchpoints=touchpoint,
            locations=location,
        )
    except AccountError as exc:
        error(exc)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    err.print(f"Added {user.email} ({user.role}{_scope_words(user)}). They log in at /login.")


def _scope_words(user: Any) -> str:
    parts = []
    if user.touchpoints:
        parts.append("touchpoints " + ", ".join(user.touchpoints))
    if user.locations:
        parts.append("locations " + ", ".join(user.locations))
    return "; " + "; ".join(parts) if parts else ""


@user_app.command("list")
def user_list() -> None:
    """Every account: e-mail, name, role, scope, and whether it is disabled."""
    from feedbot.store.accounts import list_users
    from feedbot.store.database import sync_engine

    engine = sync_engine(_settings().database_url)
    try:
        users = list_users(engine)
    finally:
        engine.dispose()
    table = Table("e-mail", "name", "role", "touchpoints", "locations", "state")
    for u in users:
        table.add_row(
            u.email,
            u.name,
            u.role,
            ", ".join(u.touchpoints or []) or "all",
            ", ".join(u.locations or []) or "all",
            "disabled" if u.disabled_at else "active",
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@user_app.command("disable")
def user_disable(email: Annotated[str, typer.Argument(help="The account's e-mail.")]) -> None:
    """The person can no longer log in, and is logged out everywhere now."""
    from datetime import UTC, datetime

    from feedbot.store.accounts import AccountError, disable_user
    from feedbot.store.database import sync_engine

    engine = sync_engine(_settings().database_url)
    try:
        disable_user(engine, email, datetime.now(UTC))
    except AccountError as exc:
        error(exc)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    err.print(f"Disabled {email}; their sessions have ended.")


@user_app.command("reset")
def user_reset(
    email: Annotated[str, typer.Argument(help="The account's e-mail.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """A new password (and the account enabled again); their sessions end."""
    from datetime import UTC, datetime

    from feedbot.store.accounts import AccountError, reset_password
    from feedbot.store.database import sync_engine

    engine = sync_engine(_settings().database_url)
    try:
        reset_password(engine, email, _password(password_stdin), datetime.now(UTC))
    except AccountError as exc:
        error(exc)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    err.print(f"New password set for {email}; their sessions have ended.")


survey_app = typer.Typer(help="Surveys: send them for a list of interactions.")
app.add_typer(survey_app, name="survey")


@survey_app.command("send")
def survey_send(
    csv_file: Annotated[
        Path,
        typer.Option(
            "--csv",
            help="Columns: channel, phone, customer_id, touchpoint, location, "
            "interaction_id (required: it makes re-runs safe), locale.",
        ),
    ],
    url: Annotated[
        str | None, typer.Option(help="The running app (default: PUBLIC_BASE_URL).")
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Requests in flight at once. The app paces texts at TWILIO_MAX_PER_SECOND "
            "whatever this is.",
        ),
    ] = 4,
) -> None:
    """Send a survey for each row, through the running app's API (so every
    contact rule applies). Safe to re-run: rows already sent are skipped."""
    import os

    from feedbot.bulk import BulkFileError, RowOutcome, read_rows, send_all

    settings = _settings()
    token = os.environ.get("FEEDBOT_API_TOKEN")
    if not token:
        error("set FEEDBOT_API_TOKEN to the app's API token")
        raise typer.Exit(2)
    try:
        total = sum(1 for _ in read_rows(csv_file))  # for the progress bar; rows stream later
    except BulkFileError as exc:
        error(exc)
        raise typer.Exit(2) from None
    with _progress("Sending") as progress:
        task = progress.add_task("send", total=total)

        def done(result: RowOutcome) -> None:
            progress.advance(task)
            if result.outcome in ("invalid", "failed"):  # as it happens, above the bar
                err.print(escape(f"line {result.line}: {result.outcome}: {result.detail}"))

        try:
            outcomes = asyncio.run(
                send_all(
                    read_rows(csv_file),
                    (url or settings.public_base_url).rstrip("/"),
                    token,
                    done,
                    concurrency,
                )
            )
        except PermissionError as exc:
            error(exc)
            raise typer.Exit(2) from None
        except OSError as exc:
            error(f"cannot reach the app: {exc}. Is it running?")
            raise typer.Exit(1) from None
    summary = ", ".join(
        f"{outcomes.get(k, 0)} {k}"
        for k in ("sent", "scheduled", "suppressed", "already sent", "failed", "invalid")
    )
    err.print(f"{total} rows: {summary}")
    if outcomes.get("failed") or outcomes.get("invalid"):
        raise typer.Exit(1)


@app.command()
def actions() -> None:
    """Run only the Rasa action server, listening on ACTION_SERVER_URL's host
    and port (127.0.0.1:5055 unless set), storing answers in DATABASE_URL."""
    from urllib.parse import urlsplit

    from commands import action_server

    settings = _settings()
    url = urlsplit(settings.action_server_url)
    env = dict(os.environ, SANIC_HOST=url.hostname or "127.0.0.1")
    # Replaced by the server (one process, no waiting parent): a supervisor
    # such as systemd signals and counts the server itself.
    os.chdir(PROJECT_ROOT)
    command = action_server.command(url.port or 5055)
    os.execve(command[0], command, env)


@app.command("rasa")
def rasa_server(
    host: Annotated[
        str, typer.Option(help="Interface to listen on; only the app should reach it.")
    ] = "127.0.0.1",
    language: Annotated[
        str,
        typer.Option(
            help="The language of this instance's model (en, es). Another language than "
            "en listens on RASA_URL_ES's port (for es), and the apps list it there.",
        ),
    ] = "en",
) -> None:
    """Run only one Rasa server (patched, see feedbot_rasa/), on RASA_URL's port
    (or its language's, RASA_URL_ES), calling the action server at
    ACTION_SERVER_URL, with its tracker store in RASA_TRACKER_URL (default:
    DATABASE_URL when that is PostgreSQL) and its lock store in REDIS_URL.
    Trains nothing: run `feedbot train` first."""
    from urllib.parse import urlsplit

    from feedbot import rasa_env
    from feedbot.rasa_env import tracker_url

    settings = _settings()
    if language not in LANGUAGES:
        error(f"--language is one of {', '.join(LANGUAGES)}, not {language!r}")
        raise typer.Exit(2)
    model = rasa_env.model_path(language)
    if not model.exists():
        error(f"no model at {model}: run `feedbot train` first")
        raise typer.Exit(1)
    urls = settings.rasa_urls_for(language)
    if not urls:
        error(f"set {rasa_url_variable(language)} to where this instance listens")
        raise typer.Exit(2)
    var_dir = settings.var_dir
    endpoints = rasa_env.write_endpoints(
        var_dir / "endpoints.yml",
        rasa_env.endpoints(
            settings.action_server_url,
            tracker_url(settings, var_dir),
            settings.redis_url,
            rasa_env.lock_key_prefix(settings.deployment_key),
        ),
    )
    port = urlsplit(urls[0]).port or 5005
    try:
        command = rasa_env.rasa_command(model, port, endpoints, host)
    except rasa_env.RasaNotInstalled as exc:
        error(exc)
        raise typer.Exit(1) from None
    raise SystemExit(subprocess.call(command, cwd=PROJECT_ROOT, env=rasa_env.rasa_environment()))


# Sub-commands kept in their own modules (they import this one's helpers).
from commands.check import check  # noqa: E402
from commands.closing_loop import digest_app, improvement_app  # noqa: E402

app.command()(check)
app.add_typer(digest_app, name="digest")
app.add_typer(improvement_app, name="improvement")


def main() -> None:
    from sqlalchemy.exc import InterfaceError, OperationalError

    try:
        app()
    except (OperationalError, InterfaceError) as exc:
        # Not a crash report: the database is down, or the URL names none.
        reason = " ".join(str(exc.orig or exc).split())
        error(f"the database (DATABASE_URL) could not be used: {reason}")
        sys.exit(1)


if __name__ == "__main__":
    main()
