"""The app factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import (
    agent_api,
    analytics_api,
    dashboard,
    handoff_events,
    health,
    improvements_api,
    pages,
    privacy_api,
    surveys_api,
    web_chat,
)
from bot.auth import SESSION_SECONDS, identify
from bot.channels import Channels, CustomerChannel
from bot.channels.sms import SmsPort
from bot.channels.web import WebChannel
from bot.conversations import Conversations
from bot.errors import error_middleware
from bot.handoff_events import HandoffEvents
from bot.handoff_webhooks import HandoffWebhooks
from bot.improvement_notices import (
    IMPROVEMENT_NOTICES,
    ImprovementNotices,
    improvement_notices_loop,
)
from bot.keys import (
    AUDIT,
    CHANNELS,
    CLOCK,
    CONVERSATIONS,
    HANDOFF_EVENTS,
    HANDOFFS,
    HTTP,
    IMPROVEMENTS,
    LIVE_CHATS,
    LIVE_EVENTS,
    MORE_CHANNELS,
    OPT_OUTS,
    RASA,
    READ_ENGINE,
    SESSIONS,
    SETTINGS,
    SMS_CHANNEL,
    SMS_INBOX,
    STORE,
    SURVEY_CONFIG,
    THEME_LABELS,
    WEBHOOKS,
)
from bot.limits import LIMITS, Limits, counter_for, limit_guessing
from bot.live_events import live_events
from bot.owner_alerts import OwnerAlerts
from bot.owner_digests import OwnerDigests
from bot.owner_news import OWNER_NEWS, OwnerNews, owner_news_loop
from bot.owner_post import Mailer, OwnerPost, Slack, SmtpServer
from bot.rasa_client import RasaClient
from bot.security import same_origin_only, security_headers
from bot.sms import webhooks
from bot.sms.channel import SmsChannel
from bot.sms.scheduler import scheduler
from bot.sms.twilio_sender import SmsNotConfigured, TwilioSender
from bot.tasks import background_tasks
from feedbot import rasa_env
from feedbot.locales import NAMES
from feedbot.settings import Settings
from feedbot.store.accounts import Sessions
from feedbot.store.audit import AuditLog
from feedbot.store.database import async_engine, sync_engine
from feedbot.store.handoffs import HandoffStore
from feedbot.store.improvements import ImprovementStore
from feedbot.store.opt_outs import OptOutStore
from feedbot.store.owner_outbox import OwnerOutbox
from feedbot.store.rasa_tracker import RasaTracker
from feedbot.store.sms_inbox import SmsInbox
from feedbot.store.sms_outbox import SmsOutbox
from feedbot.store.surveys import SurveyStore
from feedbot.theme_labels import theme_labels
from feedbot.touchpoints import SurveyConfig, load_survey_config

HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)


# No request Feedbot takes comes near this (a survey, a reply of at most 2,000
# characters, a Twilio webhook); a larger body gets 413 before it is read.
MAX_REQUEST_BYTES = 64 * 1024


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    clock: Callable[[], datetime] = utc_now,
    *,
    run_scheduler: bool = True,
    channels: Sequence[Callable[[web.Application], CustomerChannel]] = (),
) -> web.Application:
    """Build the app. Migrations are applied by the caller (``feedbot serve``).
    Without ``run_scheduler`` the caller runs bot.sms.scheduler's rounds itself
    (tests that move the clock). ``channels``: more customer channels beside
    web and SMS, each made from the app once its resources are open
    (README, "Adding a channel")."""
    app = web.Application(
        middlewares=[error_middleware, identify, same_origin_only, limit_guessing],
        client_max_size=MAX_REQUEST_BYTES,
    )
    app[MORE_CHANNELS] = tuple(channels)
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = settings
    app[SURVEY_CONFIG] = load_survey_config(settings.touchpoints_file)
    _warn_untranslated(app[SURVEY_CONFIG], settings.touchpoints_file.name, settings.languages)
    app[THEME_LABELS] = theme_labels(settings.themes_file)
    app[CLOCK] = clock
    app[LIVE_CHATS] = {}
    app[LIVE_EVENTS] = live_events(
        settings.redis_url,
        (handoff_events.TOPIC, web_chat.PUSH_TOPIC),
        settings.deployment_key,
    )
    app[HANDOFF_EVENTS] = HandoffEvents(app[LIVE_EVENTS])
    app[LIMITS] = Limits(
        counter_for(settings.redis_url, settings.deployment_key),
        settings.failed_logins_per_minute,
        settings.web_surveys_per_hour,
    )
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(web_chat.widget_pushes)
    app.cleanup_ctx.append(background_tasks)  # after _resources: closed before them
    if run_scheduler:
        app.cleanup_ctx.append(scheduler)
        app.cleanup_ctx.append(owner_news_loop)
        app.cleanup_ctx.append(improvement_notices_loop)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    # Pages show a theme by its label in themes.yml ("Waiting time"), not its id.
    env.filters["theme_label"] = lambda theme: app[THEME_LABELS].get(theme, theme)
    app.add_routes(pages.routes)
    app.add_routes(web_chat.routes)
    app.add_routes(health.routes)
    app.add_routes(surveys_api.routes)
    app.add_routes(analytics_api.routes)
    app.add_routes(dashboard.routes)
    app.add_routes(agent_api.routes)
    app.add_routes(privacy_api.routes)
    app.add_routes(improvements_api.routes)
    app.add_routes(webhooks.routes)
    app.router.add_static("/static", HERE / "static", name="static", append_version=True)
    return app


class RasaLockReleaser:
    """Drops a conversation's lock in Rasa's Redis lock store, for when the
    Rasa instance holding it died mid-turn. One Redis connection pool,
    closed with the app."""

    def __init__(self, settings: Settings) -> None:
        import redis.asyncio as redis

        self._deployment = settings.deployment_key
        self._client = redis.Redis.from_url(settings.redis_url or "")

    async def __call__(self, conversation_id: str) -> None:
        from redis.exceptions import RedisError

        try:
            await self._client.delete(rasa_env.lock_key(self._deployment, conversation_id))
        except (OSError, RedisError) as exc:
            log.warning("could not release Rasa's lock of %s: %s", conversation_id, exc)

    async def close(self) -> None:
        await self._client.aclose()


def _owner_news(
    app: web.Application, engine: AsyncEngine, http: aiohttp.ClientSession
) -> OwnerNews:
    """Owners' alerts and digests, and the e-mail and Slack that carry them."""
    settings, config = app[SETTINGS], app[SURVEY_CONFIG]
    mailer = (
        Mailer(SmtpServer.from_url(settings.smtp_url), settings.mail_from or "")
        if settings.smtp_url
        else None
    )
    outbox = OwnerOutbox(engine, claim=settings.claim)
    alerts = OwnerAlerts(
        app[STORE],
        app[HANDOFFS],
        outbox,
        config,
        app[CLOCK],
        base_url=settings.public_base_url,
        mails=mailer is not None,
        region=settings.default_region,
        theme_labels=app[THEME_LABELS],
    )
    unreachable = [o.email for o in config.owners if not alerts.reachable(o)]
    if unreachable:
        log.warning(
            "owners with no way to reach them (set SMTP_URL, or give them a slack_webhook_url): %s",
            ", ".join(unreachable),
        )
    post = OwnerPost(outbox, config.owner, mailer, Slack(http), app[CLOCK])
    digests = OwnerDigests(
        outbox,
        config,
        lambda: app[READ_ENGINE],
        app[CLOCK],
        base_url=settings.public_base_url,
        mails=mailer is not None,
        region=settings.default_region,
        theme_labels=app[THEME_LABELS],
    )
    return OwnerNews(alerts, post, app[CLOCK], digests=digests)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = async_engine(settings.database_url)
    await app[LIVE_EVENTS].start()
    # One pool of kept-alive connections for Rasa, Twilio and webhooks.
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
    app[STORE] = SurveyStore(engine)
    app[HANDOFFS] = HandoffStore(engine)
    app[AUDIT] = AuditLog(engine)
    app[SMS_INBOX] = SmsInbox(engine, claim=settings.claim)
    app[SESSIONS] = Sessions(engine, timedelta(seconds=SESSION_SECONDS))
    app[READ_ENGINE] = sync_engine(settings.database_url)
    app[HTTP] = http
    lock_releaser = RasaLockReleaser(settings) if settings.redis_url else None
    app[RASA] = RasaClient(
        http,
        settings.rasa_urls,
        settings.rasa_timeout_seconds,
        release_lock=lock_releaser,
        more_languages=dict(settings.language_rasa_urls),
    )
    tracker = RasaTracker(rasa_env.tracker_url(settings, settings.var_dir))
    app[OWNER_NEWS] = _owner_news(app, engine, http)
    app[CONVERSATIONS] = Conversations(
        app[STORE],
        app[RASA],
        app[CLOCK],
        handoffs=app[HANDOFFS],
        survey_config=app[SURVEY_CONFIG],
        events=app[HANDOFF_EVENTS],
        tracker=tracker,
        hold=settings.claim,
        on_ended=app[OWNER_NEWS].kick,
    )
    app[OPT_OUTS] = OptOutStore(engine)
    app[IMPROVEMENTS] = ImprovementStore(engine, claim=settings.claim)
    try:
        sender = TwilioSender(
            settings, SmsOutbox(engine, claim=settings.claim), app[OPT_OUTS], app[CLOCK]
        )
    except SmsNotConfigured as exc:
        log.info("SMS channel off: %s", exc)
        sender = None
    app[SMS_CHANNEL] = (
        SmsChannel(
            sender,
            app[STORE],
            app[OPT_OUTS],
            app[CONVERSATIONS],
            app[SURVEY_CONFIG],
            app[CLOCK],
            handoffs=app[HANDOFFS],
            improvements=app[IMPROVEMENTS],
            region=settings.default_region,
        )
        if sender
        else None
    )
    app[CHANNELS] = Channels(
        [
            WebChannel(app, app[STORE], app[CLOCK]),
            SmsPort(
                app[SMS_CHANNEL],
                app[OPT_OUTS],
                settings.default_region,
                app[SURVEY_CONFIG].contact_rules,
            ),
            *(make(app) for make in app[MORE_CHANNELS]),
        ]
    )
    webhooks = None
    if settings.webhooks_on:
        webhooks = HandoffWebhooks(
            list(settings.webhook_urls),
            settings.webhook_secret or "",
            app[HANDOFFS],
            http,
            app[CLOCK],
            first_delay=settings.webhook_retry_seconds,
        )
        app[HANDOFF_EVENTS].also_send_to(webhooks.notify)
        log.info("hand-off events go to %d webhook URL(s)", len(settings.webhook_urls))
    app[WEBHOOKS] = webhooks
    app[IMPROVEMENT_NOTICES] = ImprovementNotices(app[IMPROVEMENTS], app[CHANNELS], app[CLOCK])
    yield
    if webhooks is not None:
        await webhooks.drain(within=5)
    if sender is not None:
        await sender.close()
    await http.close()
    if lock_releaser is not None:
        await lock_releaser.close()
    await app[LIVE_EVENTS].close()
    await app[LIMITS].counter.close()
    await engine.dispose()
    app[READ_ENGINE].dispose()
    tracker.close()


def _warn_untranslated(config: SurveyConfig, file_name: str, languages: Sequence[str]) -> None:
    """Name each text customers of a language will be told in English."""
    for language in languages:
        missing = [f"{place} ({file_name})" for place in config.untranslated(language)]
        missing += [
            f"{name} ({rasa_env.LOCALES_DIR}/{language}/domain.yml)"
            for name in rasa_env.bot_language(language).untranslated_responses()
        ]
        if missing:
            log.warning(
                "no %s text for %d place(s), said in English instead: %s",
                NAMES[language],
                len(missing),
                "; ".join(missing),
            )
