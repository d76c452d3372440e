"""Digests and emerging-theme alerts on schedule (docs/closing-the-loop.md).

At 08:00 in each owner's time zone (weekly digests: on Mondays) the owner
news round builds the digest of the period just ended and stores it in the
outbox under a key made of the owner and the period: whichever instance
gets there first stores it, the others find it there, so it goes once. A
digest is made on its day only: an app that was down all of that day does
not send it late the next. On Mondays, a theme emerging in an owner's scope
is also told as an alert (e-mail and Slack).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from analytics.digest import Period, build_digest, owner_scope, period_before, render_digest
from analytics.improvements import emerging_themes
from bot.owner_post import EMAIL, SLACK
from feedbot.owners import AlertsFor, DigestEvery, Owner
from feedbot.store.owner_outbox import ALERT, DIGEST, Draft, OwnerOutbox
from feedbot.touchpoints import SurveyConfig

log = logging.getLogger(__name__)

SEND_AT = time(8, 0)


def due_period(every: DigestEvery, local: datetime) -> Period | None:
    """The period whose digest is due at this local time, if one is."""
    if every is DigestEvery.NONE or local.time() < SEND_AT:
        return None
    if every is DigestEvery.WEEKLY and local.weekday() != 0:
        return None
    return period_before(every, local.date())


class OwnerDigests:
    def __init__(
        self,
        outbox: OwnerOutbox,
        config: SurveyConfig,
        read_engine: Callable[[], Engine],
        clock: Callable[[], datetime],
        *,
        base_url: str,
        mails: bool,
        region: str = "GB",
        theme_labels: Mapping[str, str] | None = None,
    ) -> None:
        self._labels = dict(theme_labels or {})
        self._outbox, self._config, self._engine = outbox, config, read_engine
        self._clock, self._base_url, self._mails, self._region = clock, base_url, mails, region
        self._done: set[str] = set()  # keys this instance has seen stored

    async def __call__(self) -> int:
        """Store every digest and emerging-theme alert now due; how many."""
        made = 0
        now = self._clock()
        for owner in self._config.owners:
            local = now.astimezone(ZoneInfo(self._config.owner_zone(owner)))
            if self._mails:
                period = due_period(owner.digest, local)
                if period is not None and await self._once(owner, period, now):
                    made += 1
            if (
                local.weekday() == 0
                and local.time() >= SEND_AT
                and await self._emerging(owner, local.date(), now)
            ):
                made += 1
        return made

    async def _once(self, owner: Owner, period: Period, now: datetime) -> bool:
        key = f"digest:{owner.email}:{period.key}"
        if key in self._done:
            return False
        if await self._outbox.has_key(f"{key}/{EMAIL}"):
            self._done.add(key)
            return False
        subject, text, html = await asyncio.to_thread(self.render, owner, period, now)
        stored = await self._outbox.add_once(
            owner.email, DIGEST, key, [Draft(EMAIL, subject, text, html)], now
        )
        self._done.add(key)
        if stored:
            log.info("%s digest for %s (%s) queued", period.every, owner.email, period.key)
        return stored

    def render(self, owner: Owner, period: Period, now: datetime) -> tuple[str, str, str]:
        with self._engine().connect() as conn:
            digest = build_digest(conn, owner, self._config, period, now, region=self._region)
        return render_digest(digest, self._base_url, self._labels)

    async def _emerging(self, owner: Owner, today: date, now: datetime) -> bool:
        if owner.alerts is AlertsFor.NONE:
            return False
        week = today - timedelta(days=7)
        key = f"emerging:{owner.email}:{week.isoformat()}"
        channels = ([EMAIL] if self._mails else []) + ([SLACK] if owner.slack_webhook_url else [])
        if key in self._done or not channels:
            return False
        if await self._outbox.has_key(f"{key}/{channels[0]}"):
            self._done.add(key)
            return False

        def find() -> list[dict[str, object]]:
            with self._engine().connect() as conn:
                return emerging_themes(conn, owner_scope(owner), week)

        found = await asyncio.to_thread(find)
        self._done.add(key)
        if not found:
            return False
        subject = f"Emerging in {owner.scope_label}: {', '.join(str(e['theme']) for e in found)}"
        lines = [
            f"{e['theme']}: {e['mentions']} of {e['reasons']} reasons in the week from "
            f"{week:%d %b} ({e['share']:.0%}), against {e['trailing_share']:.0%} over the "
            f"8 weeks before (p = {e['p_value']:.2g})"
            for e in found
        ]
        text = subject + "\n\n" + "\n".join(lines) + f"\n\nDashboard: {self._base_url}/dashboard\n"
        drafts = [Draft(channel, subject, text) for channel in channels]
        return await self._outbox.add_once(owner.email, ALERT, key, drafts, now)
