"""The `feedbot` command: run the product, train the model, export data."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from feedbot.settings import PROJECT_ROOT, Settings, SettingsError
from feedbot.touchpoints import TouchpointConfigError, load_survey_config

if TYPE_CHECKING:
    from feedbot.understanding.reader import Understanding

app = typer.Typer(
    help="Feedbot: conversational NPS feedback on Rasa. Settings come from environment "
    "variables (see .env.example).",
    no_args_is_help=True,
    add_completion=False,
)
# Messages are not wrapped at the terminal's width: paths and hints stay whole.
err = Console(stderr=True, soft_wrap=True)


def error(message: object) -> None:
    """An error line; the message is printed as it is (no rich markup in it)."""
    err.print(f"[red]error:[/red] {escape(str(message))}")


def _settings() -> Settings:
    from feedbot.understanding.themes import TaxonomyError, load_taxonomy

    try:
        settings = Settings.from_env()
        load_survey_config(settings.touchpoints_file)
        load_taxonomy(settings.themes_file)
    except (SettingsError, TouchpointConfigError, TaxonomyError) as exc:
        error(exc)
        raise typer.Exit(2) from None
    return settings


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


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


@app.command()
def run(
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for Rasa to load its model.")
    ] = 180,
) -> None:
    """Start everything on this machine: migrations, the action server, Rasa and
    the app (http://127.0.0.1:$PORT/). Trains the model first if there is none."""
    from feedbot import rasa_env, runner
    from feedbot.store.migrate import upgrade

    _logging()
    settings = _settings()
    upgrade(settings.database_url)
    var_dir = PROJECT_ROOT / "var"
    try:
        runner.ensure_ports_free(settings)
        if not rasa_env.model_is_current():
            err.print("Training data changed or no model yet: training (under a minute)…")
            rasa_env.train(rasa_env.rasa_environment(settings.action_server_url, var_dir))
        children = runner.start_children(settings, var_dir)
    except (rasa_env.RasaNotInstalled, runner.PortInUse, subprocess.CalledProcessError) as exc:
        error(exc)
        raise typer.Exit(1) from None
    # A service manager stops us with SIGTERM: shut down as for Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        asyncio.run(runner.serve_app(settings, children, ready_timeout))
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
    """Serve only the app (Rasa and the action server run elsewhere: RASA_URL,
    ACTION_SERVER_URL). Applies migrations first."""
    from aiohttp import web

    from bot.app import create_app
    from feedbot.store.migrate import upgrade

    _logging()
    settings = _settings()
    upgrade(settings.database_url)
    try:
        web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)
    except OSError as exc:
        error(f"cannot listen on {settings.host}:{settings.port}: {exc}")
        raise typer.Exit(1) from None


@app.command()
def train(
    force: Annotated[bool, typer.Option(help="Train even if nothing changed.")] = False,
) -> None:
    """Train the Rasa model into models/. Skipped when domain.yml, config.yml and
    data/ are unchanged since the last training."""
    from feedbot import rasa_env

    settings = _settings()
    try:
        env = rasa_env.rasa_environment(settings.action_server_url, PROJECT_ROOT / "var")
        if not rasa_env.train(env, force=force):
            err.print(f"Model is up to date ({rasa_env.model_path()}); nothing to train.")
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


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="File to write ('-' for stdout).")],
    format: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
) -> None:
    """Export one row per survey (score, category, reason, state, times)."""
    from analytics.export import ExportFormat, count_surveys, survey_rows, write_export
    from feedbot.store.database import sync_engine

    try:
        fmt = ExportFormat(format)
    except ValueError:
        error(f"unknown format {format!r}; use csv or jsonl")
        raise typer.Exit(2) from None
    settings = _settings()
    engine = sync_engine(settings.database_url)
    total = count_surveys(engine)
    to_stdout = str(out) == "-"
    handle = sys.stdout if to_stdout else out.open("w", encoding="utf-8", newline="")
    try:
        with _progress("Exporting", disable=to_stdout) as progress:
            task = progress.add_task("export", total=total)
            written = write_export(
                survey_rows(engine), fmt, handle, on_row=lambda: progress.advance(task)
            )
    finally:
        if not to_stdout:
            handle.close()
        engine.dispose()
    if not to_stdout:
        err.print(f"Wrote {written} surveys to {out}")


@app.command()
def understand(
    themes: Annotated[
        Path | None, typer.Option(help="Theme taxonomy (default: FEEDBOT_THEMES or themes.yml).")
    ] = None,
) -> None:
    """Read JSON lines {"text": "..."} on stdin; write one JSON line per input:
    {"score": int|null, "themes": [...], "sentiment": "positive"|"neutral"|"negative"}.
    A line that is not a JSON object with a "text" string gets {"error": ...} in
    its place, and the exit code is 1."""
    import json

    reader = _understanding(themes or Settings.from_env().themes_file)
    errors: dict[int, str] = {}

    def texts() -> Iterator[str]:
        for number, line in enumerate(sys.stdin, start=1):
            try:
                item = json.loads(line)
                text = item["text"]
                if not isinstance(text, str):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                errors[number] = f'line {number}: expected a JSON object with a "text" string'
                text = ""
            yield text

    out = sys.stdout
    for number, understood in enumerate(reader.replies(texts()), start=1):
        if number in errors:
            out.write(json.dumps({"error": errors[number]}) + "\n")
        else:
            out.write(json.dumps(understood.as_json(), ensure_ascii=False) + "\n")
    if errors:
        err.print(f"{len(errors)} line(s) could not be read; see the error lines in the output")
        raise typer.Exit(1)


@app.command()
def retag() -> None:
    """Re-tag themes and sentiment of every stored answer (after editing
    themes.yml or the sentiment lexicon)."""
    from feedbot.retagging import count_answers, retag_all
    from feedbot.store.database import sync_engine

    settings = _settings()
    reader = _understanding(settings.themes_file)
    engine = sync_engine(settings.database_url)
    try:
        total = count_answers(engine)
        with _progress("Re-tagging") as progress:
            task = progress.add_task("retag", total=total)
            done = retag_all(engine, reader, on_batch=lambda n: progress.advance(task, n))
    finally:
        engine.dispose()
    err.print(f"Re-tagged {done} answers with {settings.themes_file}")


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
        rows = list(read_rows(csv_file))
    except BulkFileError as exc:
        error(exc)
        raise typer.Exit(2) from None
    problems: list[str] = []
    with _progress("Sending") as progress:
        task = progress.add_task("send", total=len(rows))

        def done(result: RowOutcome) -> None:
            progress.advance(task)
            if result.outcome in ("invalid", "failed"):
                problems.append(f"line {result.line}: {result.outcome}: {result.detail}")

        try:
            outcomes = asyncio.run(
                send_all(rows, (url or settings.public_base_url).rstrip("/"), token, done)
            )
        except PermissionError as exc:
            error(exc)
            raise typer.Exit(2) from None
        except OSError as exc:
            error(f"cannot reach the app: {exc}. Is it running?")
            raise typer.Exit(1) from None
    for problem in problems:
        err.print(problem)
    summary = ", ".join(
        f"{outcomes.get(k, 0)} {k}"
        for k in ("sent", "scheduled", "suppressed", "already sent", "failed", "invalid")
    )
    err.print(f"{len(rows)} rows: {summary}")
    if outcomes.get("failed") or outcomes.get("invalid"):
        raise typer.Exit(1)


@app.command()
def actions() -> None:
    """Run only the Rasa action server (port from ACTION_SERVER_URL)."""
    from urllib.parse import urlsplit

    settings = _settings()
    port = urlsplit(settings.action_server_url).port or 5055
    raise SystemExit(
        subprocess.call(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
            cwd=PROJECT_ROOT,
        )
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
