"""Alerts to owners: a detractor's complete answer reaches, within seconds,
the people who own its touchpoint or location (docs/closing-the-loop.md).

A round (kicked after every turn that ended a survey, and run by the owner
news loop every few seconds on every instance):

1. queues an alert per owner for each ended detractor's survey
   (``alert_state = "due"``), once, whichever instance gets there first;
2. tells each owner their waiting alerts in one message per channel, at most
   once per ``ALERT_GAP``: what arrives inside the gap waits for the next one;
3. sends the outbox (bot.owner_post).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jinja2

from bot.owner_post import EMAIL, SLACK
from feedbot.customer_text import mask_contacts
from feedbot.handoff_rules import HandoffReason, is_severe
from feedbot.nps import DETRACTOR_AT_MOST
from feedbot.owners import Owner
from feedbot.store.handoffs import HandoffStore
from feedbot.store.models import Handoff, HandoffState
from feedbot.store.owner_outbox import Draft, OwnerOutbox
from feedbot.store.surveys import SurveyStore
from feedbot.touchpoints import SurveyConfig

log = logging.getLogger(__name__)

# No owner gets more than one alert message (per channel) in this time.
ALERT_GAP = timedelta(minutes=5)
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates" / "owners"),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def slack_escaped(text: object) -> str:
    """Slack's mrkdwn reads &, < and > as markup: customers' words are escaped."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


TEMPLATES.filters["slack"] = slack_escaped


@dataclass(frozen=True)
class AlertFacts:
    """One detractor's answer as an owner reads it (contacts masked)."""

    survey_id: str
    touchpoint: str  # its display name
    location: str | None
    channel: str
    score: int | None
    reason: str | None
    follow_up: str | None
    themes: list[tuple[str, str | None]]  # (theme, its sentiment)
    person: str | None  # "asked for a person", "offered a person: accepted", …
    handoff_id: str | None
    transcript_url: str
    handoff_url: str | None
    ended: str  # the survey's state: completed, left, expired, declined


def person_line(handoff: Handoff | None) -> str | None:
    """Whether a person was offered or asked for, in words."""
    if handoff is None:
        return None
    if handoff.reason == HandoffReason.ASKED:
        return "asked for a person"
    if handoff.reason == HandoffReason.NOT_UNDERSTOOD:
        return "handed to a person (the bot could not understand)"
    return {
        HandoffState.OFFERED: "offered a person (no answer yet)",
        HandoffState.DECLINED: "offered a person, and declined",
    }.get(HandoffState(handoff.state), "offered a person, and accepted")


class OwnerAlerts:
    def __init__(
        self,
        store: SurveyStore,
        handoffs: HandoffStore,
        outbox: OwnerOutbox,
        config: SurveyConfig,
        clock: Callable[[], datetime],
        *,
        base_url: str,
        mails: bool,
        region: str = "GB",
        theme_labels: Mapping[str, str] | None = None,
    ) -> None:
        """``theme_labels``: each theme's label in themes.yml, for what owners read."""
        self._labels = dict(theme_labels or {})
        self._store, self._handoffs, self._outbox = store, handoffs, outbox
        self._config, self._clock, self._base_url = config, clock, base_url.rstrip("/")
        self._mails, self._region = mails, region

    def reachable(self, owner: Owner) -> bool:
        return self._mails or owner.slack_webhook_url is not None

    async def queue_due(self) -> int:
        """Alerts queued for every ended detractor's survey; how many surveys."""
        queued = 0
        for survey_id in await self._outbox.due_surveys():
            owners = await self._owners_for(survey_id)
            if await self._outbox.queue_alerts(survey_id, owners, self._clock()):
                queued += 1
                if owners:
                    log.info("survey %s: alert queued for %d owner(s)", survey_id, len(owners))
        return queued

    async def _owners_for(self, survey_id: str) -> list[str]:
        survey = await self._store.get_survey(survey_id)
        if survey is None or survey.score is None or survey.score > DETRACTOR_AT_MOST:
            return []
        response = survey.response
        words = " ".join(t for t in (response.reason, response.follow_up) if t) if response else ""
        severe = is_severe(survey.score, words, self._config.handoff) is not None
        return [
            owner.email
            for owner in self._config.owners
            if owner.covers(survey.touchpoint, survey.location)
            and owner.wants_alert(detractor=True, severe=severe)
            and self.reachable(owner)
        ]

    async def batch_waiting(self) -> datetime | None:
        """Tell each owner whose turn has come their waiting alerts; when the
        next owner's turn comes (None: nobody waits)."""
        now = self._clock()
        wake: datetime | None = None
        for email in await self._outbox.owners_waiting():
            owner = self._config.owner(email)
            turn = await self._outbox.next_turn(email, "alert")
            if owner is None or turn > now:
                if owner is not None:
                    wake = turn if wake is None else min(wake, turn)
                continue
            waiting = await self._outbox.waiting(email)
            if not waiting:
                continue
            facts = [await self.facts(survey_id) for _, survey_id in waiting]
            drafts = self.drafts(owner, [f for f in facts if f is not None])
            batch = uuid.uuid4().hex
            ids = [alert_id for alert_id, _ in waiting]
            if await self._outbox.commit_batch(email, batch, ids, drafts, now, ALERT_GAP):
                log.info("alert to %s: %d answer(s) in one message", email, len(ids))
        return wake

    async def facts(self, survey_id: str) -> AlertFacts | None:
        survey = await self._store.get_survey(survey_id)
        if survey is None:
            return None
        response = survey.response
        themes = await self._store.theme_readings(survey_id)
        handoff = await self._handoffs.latest_for_survey(survey_id)
        touchpoint = self._config.touchpoint(survey.touchpoint)
        location = survey.location
        if location:
            known = next((loc for loc in self._config.locations if loc.id == location), None)
            location = known.name if known else location
        return AlertFacts(
            survey_id=survey.id,
            touchpoint=touchpoint.name if touchpoint else survey.touchpoint,
            location=location,
            channel=survey.channel,
            score=survey.score,
            reason=self._mask(response.reason if response else None),
            follow_up=self._mask(response.follow_up if response else None),
            themes=[(self._labels.get(t, t), tag.sentiment) for t, tag in themes.items()],
            person=person_line(handoff),
            handoff_id=handoff.id if handoff else None,
            transcript_url=f"{self._base_url}/dashboard/surveys/{survey.id}",
            handoff_url=f"{self._base_url}/agent#handoff={handoff.id}"
            if handoff and handoff.state != HandoffState.DECLINED
            else None,
            ended=survey.state,
        )

    def _mask(self, text: str | None) -> str | None:
        return mask_contacts(text, self._region) if text else text

    def drafts(self, owner: Owner, alerts: list[AlertFacts]) -> list[Draft]:
        """The batch's message on each of the owner's channels."""
        if not alerts:
            return []
        subject = alert_subject(alerts)
        context = {"owner": owner, "alerts": alerts, "subject": subject}
        drafts = []
        if self._mails:
            drafts.append(
                Draft(
                    EMAIL,
                    subject,
                    TEMPLATES.get_template("alert.txt").render(context),
                    TEMPLATES.get_template("alert.html").render(context),
                )
            )
        if owner.slack_webhook_url is not None:
            drafts.append(
                Draft(SLACK, subject, TEMPLATES.get_template("alert.slack").render(context))
            )
        return drafts


def alert_subject(alerts: list[AlertFacts]) -> str:
    if len(alerts) == 1:
        one = alerts[0]
        where = f" at {one.location}" if one.location else ""
        score = "no score" if one.score is None else f"{one.score}/10"
        return f"Detractor{where}: {score} on {one.touchpoint}"
    places = sorted({a.touchpoint for a in alerts})
    return f"{len(alerts)} detractors: {', '.join(places)}"
