"""Settings from environment variables (documented in .env.example)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from feedbot.locales import DEFAULT, LANGUAGES, rasa_url_variable

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_database_url() -> str:
    return f"sqlite:///{PROJECT_ROOT / 'var' / 'feedbot.db'}"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=_default_database_url)
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    # Every Rasa instance the app may send a conversation to (RASA_URL, comma
    # separated), and the action servers (one per Rasa instance); health
    # checks ask them all.
    rasa_urls: tuple[str, ...] = ("http://127.0.0.1:5005",)
    # The Rasa instances of each other language the bot speaks (RASA_URL_ES
    # for Spanish, comma separated), as (language, urls) pairs; a language
    # without instances is not offered (its surveys are refused).
    language_rasa_urls: tuple[tuple[str, tuple[str, ...]], ...] = ()
    action_server_urls: tuple[str, ...] = ("http://127.0.0.1:5055",)
    # Redis: live events shared by the app's instances, and Rasa's lock store.
    # Unset: one process, events in memory (SQLite's single-machine default).
    redis_url: str | None = None
    # Rasa's own conversation store (its SQL tracker store). Unset: SQLite under
    # var/ with an SQLite store, else the same PostgreSQL database as the store.
    rasa_tracker_url: str | None = None
    # Where `feedbot run` and `feedbot rasa` write logs, Rasa's generated
    # endpoints files and (on SQLite) Rasa's tracker file (FEEDBOT_VAR_DIR).
    var_dir: Path = PROJECT_ROOT / "var"
    touchpoints_file: Path = PROJECT_ROOT / "touchpoints.yml"
    themes_file: Path = PROJECT_ROOT / "themes.yml"
    # Rasa's answer to one turn; a turn that takes longer is reported to the
    # customer as a hiccup instead of leaving the widget hanging.
    rasa_timeout_seconds: float = 30.0
    # Bearer token for the survey API (POST /api/surveys); unset: the API refuses all.
    api_token: str | None = None
    # Role tokens (bot/auth.py): analysts read reports and exports, agents
    # answer hand-offs, admins may do everything and see full phone numbers.
    analyst_token: str | None = None
    agent_token: str | None = None
    admin_token: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    # Outbound messages per second (Twilio queues what a number cannot send
    # at once; pacing here keeps bulk sends from piling up). None: no limit.
    twilio_max_per_second: float | None = None
    # Region used to read phone numbers written without a country code.
    default_region: str = "GB"
    # Help-desk URLs that get every hand-off event, signed with the secret.
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str | None = None
    # The first retry waits this long, each next one twice as long (5 tries).
    webhook_retry_seconds: float = 1.0
    # How often each app instance looks for scheduled surveys, reminders and
    # expiries (each job is claimed by one instance only).
    scheduler_interval_seconds: float = 30.0
    # How long an instance's claim on a piece of work holds before another
    # instance's scheduler round takes the work over (the claimer is taken to
    # have stopped): a customer's turn, an inbound text being handled, an
    # outbound text being sent. Longer than RASA_TIMEOUT_SECONDS.
    claim_seconds: float = 120.0
    # Failed tokens (a wrong bearer token, a wrong login) one client address
    # may send in a minute; then every try with a token gets 429 until the
    # minute ends.
    failed_logins_per_minute: int = 10
    # New web surveys (the widget starting a conversation) one client address
    # may begin in an hour; survey links from the API are not counted.
    web_surveys_per_hour: int = 200
    # Answers and transcripts older than this many days are anonymised (their
    # figures stay; feedbot.privacy). None: kept until erased.
    retention_days: int | None = None
    # Keys the hash that erasure records keep instead of the erased number or
    # id (FEEDBOT_PRIVACY_KEY); unset: derived from DATABASE_URL, which anyone
    # who can read the database may know, so set it in production.
    privacy_key: str | None = None
    # Owners' alerts and digests by e-mail (docs/closing-the-loop.md):
    # smtp://user:pass@host:587 (STARTTLS; required when a password is given)
    # or smtps://user:pass@host:465 (TLS from the start). Unset: no e-mail.
    smtp_url: str | None = None
    mail_from: str | None = None  # FEEDBOT_MAIL_FROM, e.g. Feedbot <feedback@example.com>

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls()
        port = _int(env, "PORT", defaults.port)
        return cls(
            database_url=env.get("DATABASE_URL") or defaults.database_url,
            host=env.get("HOST") or defaults.host,
            port=port,
            public_base_url=(env.get("PUBLIC_BASE_URL") or f"http://127.0.0.1:{port}").rstrip("/"),
            rasa_urls=_urls(env, "RASA_URL") or defaults.rasa_urls,
            language_rasa_urls=tuple(
                (language, urls)
                for language in LANGUAGES
                if language != DEFAULT and (urls := _urls(env, rasa_url_variable(language)))
            ),
            action_server_urls=_urls(env, "ACTION_SERVER_URL") or defaults.action_server_urls,
            redis_url=env.get("REDIS_URL") or None,
            rasa_tracker_url=env.get("RASA_TRACKER_URL") or None,
            var_dir=Path(env["FEEDBOT_VAR_DIR"])
            if env.get("FEEDBOT_VAR_DIR")
            else defaults.var_dir,
            touchpoints_file=Path(env.get("FEEDBOT_TOUCHPOINTS") or defaults.touchpoints_file),
            themes_file=Path(env.get("FEEDBOT_THEMES") or defaults.themes_file),
            rasa_timeout_seconds=float(
                env.get("RASA_TIMEOUT_SECONDS") or defaults.rasa_timeout_seconds
            ),
            api_token=env.get("FEEDBOT_API_TOKEN") or None,
            analyst_token=env.get("FEEDBOT_ANALYST_TOKEN") or None,
            agent_token=env.get("FEEDBOT_AGENT_TOKEN") or None,
            admin_token=env.get("FEEDBOT_ADMIN_TOKEN") or None,
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID") or None,
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN") or None,
            twilio_from_number=env.get("TWILIO_FROM_NUMBER") or None,
            twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID") or None,
            twilio_api_base=(env.get("TWILIO_API_BASE") or defaults.twilio_api_base).rstrip("/"),
            twilio_max_per_second=_positive(env, "TWILIO_MAX_PER_SECOND"),
            default_region=(env.get("FEEDBOT_DEFAULT_REGION") or defaults.default_region).upper(),
            webhook_urls=_urls(env, "FEEDBOT_WEBHOOK_URLS"),
            webhook_secret=env.get("FEEDBOT_WEBHOOK_SECRET") or None,
            webhook_retry_seconds=_positive(env, "FEEDBOT_WEBHOOK_RETRY_SECONDS")
            or defaults.webhook_retry_seconds,
            scheduler_interval_seconds=_positive(env, "FEEDBOT_SCHEDULER_INTERVAL_SECONDS")
            or defaults.scheduler_interval_seconds,
            claim_seconds=_positive(env, "FEEDBOT_CLAIM_SECONDS") or defaults.claim_seconds,
            failed_logins_per_minute=_int(
                env, "FEEDBOT_FAILED_LOGINS_PER_MINUTE", defaults.failed_logins_per_minute
            ),
            web_surveys_per_hour=_int(
                env, "FEEDBOT_WEB_SURVEYS_PER_HOUR", defaults.web_surveys_per_hour
            ),
            retention_days=_int(env, "FEEDBOT_RETENTION_DAYS", 0) or None,
            privacy_key=env.get("FEEDBOT_PRIVACY_KEY") or None,
            smtp_url=env.get("SMTP_URL") or None,
            mail_from=env.get("FEEDBOT_MAIL_FROM") or None,
        ).checked()

    @property
    def rasa_url(self) -> str:
        """The first Rasa instance (the only one on a single machine)."""
        return self.rasa_urls[0]

    def rasa_urls_for(self, language: str) -> tuple[str, ...]:
        """The Rasa instances that speak this language (none: not offered)."""
        if language == DEFAULT:
            return self.rasa_urls
        return dict(self.language_rasa_urls).get(language, ())

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages this deployment's bot speaks: English, and each
        other language with Rasa instances."""
        return tuple(lang for lang in LANGUAGES if self.rasa_urls_for(lang))

    @property
    def action_server_url(self) -> str:
        return self.action_server_urls[0]

    @property
    def deployment_key(self) -> str:
        """Short and alphanumeric, the same for every process of one deployment
        (they share the database): keeps two deployments on one Redis apart."""
        return hashlib.blake2b(self.database_url.encode(), digest_size=4).hexdigest()

    @property
    def erasure_key(self) -> str:
        return self.privacy_key or f"feedbot-erasure:{self.database_url}"

    @property
    def webhooks_on(self) -> bool:
        """Signed webhooks can reach the company's systems (hand-off events,
        and web customers told of improvements)."""
        return bool(self.webhook_urls and self.webhook_secret)

    @property
    def claim(self) -> timedelta:
        return timedelta(seconds=self.claim_seconds)

    @property
    def on_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def checked(self) -> Settings:
        for name, value in (
            ("FEEDBOT_FAILED_LOGINS_PER_MINUTE", self.failed_logins_per_minute),
            ("FEEDBOT_WEB_SURVEYS_PER_HOUR", self.web_surveys_per_hour),
        ):
            if value < 1:
                raise SettingsError(f"{name} must be at least 1, not {value}")
        if self.retention_days is not None and self.retention_days < 1:
            raise SettingsError(
                f"FEEDBOT_RETENTION_DAYS must be at least 1 (or unset), not {self.retention_days}"
            )
        if self.claim_seconds <= self.rasa_timeout_seconds:
            raise SettingsError(
                f"FEEDBOT_CLAIM_SECONDS ({self.claim_seconds:g}) must be longer than "
                f"RASA_TIMEOUT_SECONDS ({self.rasa_timeout_seconds:g}): a turn still waiting "
                "for Rasa would be taken over by another instance"
            )
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://")):
            raise SettingsError(
                f"REDIS_URL must start with redis:// or rediss://, not {self.redis_url!r}"
            )
        if self.smtp_url and not self.smtp_url.startswith(("smtp://", "smtps://")):
            raise SettingsError(
                "SMTP_URL must look like smtp://user:password@host:587 (STARTTLS) or "
                f"smtps://user:password@host:465, not {self.smtp_url.split('@')[-1]!r}"
            )
        if self.smtp_url and not self.mail_from:
            raise SettingsError(
                "SMTP_URL is set: set FEEDBOT_MAIL_FROM too, the address owners' e-mail comes from"
            )
        if self.webhook_urls and not self.webhook_secret:
            raise SettingsError(
                "FEEDBOT_WEBHOOK_URLS is set: set FEEDBOT_WEBHOOK_SECRET too, to sign the events"
            )
        return self


class SettingsError(ValueError):
    """A setting has a value Feedbot cannot use."""


def _int(env: os._Environ[str] | dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None


def _positive(env: os._Environ[str] | dict[str, str], name: str) -> float | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise SettingsError(f"{name} must be a positive number, not {raw!r}")
    return value


def _urls(env: os._Environ[str] | dict[str, str], name: str) -> tuple[str, ...]:
    urls = tuple(u.strip().rstrip("/") for u in (env.get(name) or "").split(",") if u.strip())
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise SettingsError(f"{name}: {url!r} is not an http(s) URL")
    return urls
