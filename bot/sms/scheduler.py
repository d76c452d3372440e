"""Sending surveys that waited (quiet hours) once their time comes, closing
surveys nobody answered in time, and applying the retention period."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from aiohttp import web

from bot.channels import Channels
from bot.handoff_webhooks import HandoffWebhooks
from bot.keys import CHANNELS, CLOCK, SETTINGS, SMS_CHANNEL, STORE, SURVEY_CONFIG, WEBHOOKS
from bot.replay import replay_awaiting
from bot.rounds import run_rounds, stop
from bot.sms.webhooks import handle_lapsed
from feedbot.privacy import Anonymised, anonymise_with_settings
from feedbot.settings import Settings
from feedbot.store.surveys import SurveyStore
from feedbot.touchpoints import ContactRules

log = logging.getLogger(__name__)


# A scheduled survey claimed this long ago whose first text never left was
# lost with the instance that claimed it: it is scheduled again.
UNSENT_AFTER = timedelta(minutes=5)


async def send_due(store: SurveyStore, channels: Channels, now: datetime) -> int:
    """Send every scheduled survey whose time has come, on its channel;
    returns how many."""
    requeued = await store.requeue_unsent(claimed_before=now - UNSENT_AFTER)
    if requeued:
        log.warning("%d scheduled survey(s) claimed but never sent: sending them again", requeued)
    sent = 0
    for survey in await store.claim_due(now):
        result = await channels.of(survey).start(survey)
        log.info("scheduled survey %s: %s", survey.id, result.status)
        sent += 1
    return sent


async def send_reminders(
    store: SurveyStore, channels: Channels, rules: ContactRules, now: datetime
) -> int:
    """At most one reminder per survey to customers who have not replied, on
    the channels that remind, never in their quiet hours (a later round
    sends it)."""
    reminding = channels.with_reminders()
    if rules.reminder_after_hours is None or not reminding:
        return 0
    quiet = rules.quiet()
    sent = 0
    due = now - timedelta(hours=rules.reminder_after_hours)
    for survey in await store.reminder_candidates(sent_before=due, channels=reminding):
        channel = channels.of(survey)
        local = now.astimezone(channel.time_zone(survey.customer_ref, rules.default_time_zone))
        if quiet is not None and channel.quiet_hours and quiet.contains(local.time()):
            continue
        if await store.claim_reminder(survey.id, now):
            await channel.remind(survey)
            sent += 1
    return sent


async def expire_unanswered(store: SurveyStore, after: timedelta, now: datetime) -> int:
    expired = await store.expire(sent_before=now - after, at=now)
    if expired:
        log.info("%d survey(s) expired unanswered", expired)
    return expired


# The retention period is applied at most this often by each instance (it is
# idempotent: instances that overlap do the same work once between them).
RETENTION_EVERY = timedelta(hours=1)


async def apply_retention(settings: Settings, now: datetime) -> Anonymised:
    """Anonymise what is older than FEEDBOT_RETENTION_DAYS (docs/privacy.md)."""
    done = await asyncio.to_thread(anonymise_with_settings, settings, now)
    if done.surveys or done.messages:
        log.info(
            "retention (%d days): anonymised %d survey(s), deleted %d message(s) and %d "
            "conversation event(s)",
            settings.retention_days,
            done.surveys,
            done.messages,
            done.conversation_events,
        )
    return done


async def scheduler(app: web.Application) -> AsyncIterator[None]:
    retained_at: datetime | None = None

    async def one_round() -> datetime | None:
        """One round of the survey scheduler (bot.rounds runs them)."""
        nonlocal retained_at
        sms = app[SMS_CHANNEL]
        rules = app[SURVEY_CONFIG].contact_rules
        now = app[CLOCK]()
        await expire_unanswered(app[STORE], timedelta(hours=rules.expire_after_hours), now)
        if sms is not None:
            await handle_lapsed(app)  # texts an instance took and never handled
            await sms.sender.resume()  # the SMS outbox
        await send_due(app[STORE], app[CHANNELS], now)
        await send_reminders(app[STORE], app[CHANNELS], rules, now)
        await replay_awaiting(app)  # Rasa may be back
        webhooks = app[WEBHOOKS]
        if isinstance(webhooks, HandoffWebhooks):
            await webhooks.resume_stalled()
        if retained_at is None or now - retained_at >= RETENTION_EVERY:
            await apply_retention(app[SETTINGS], now)
            retained_at = now
        return None

    every = app[SETTINGS].scheduler_interval_seconds
    # never kicked: a round every `every` seconds; a failed round is logged
    # and the next one retries; when the app stops, a round in progress
    # finishes first
    rounds = run_rounds(one_round, asyncio.Event(), app[CLOCK], every, "survey scheduler")
    task = asyncio.create_task(rounds, name="survey scheduler")
    yield
    await stop(task)
