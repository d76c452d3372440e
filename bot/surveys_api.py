"""POST /api/surveys: a company's system asks Feedbot to survey a customer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from bot.auth import Role, require_role
from bot.channels import Contact, CustomerChannel, CustomerInvalid
from bot.errors import json_body
from bot.keys import CHANNELS, CLOCK, RASA, SETTINGS, STORE, SURVEY_CONFIG
from feedbot.contact_rules import Decision, Verdict, decide
from feedbot.locales import UnknownLocale, language_of, normalised
from feedbot.store.models import Survey, SurveyState
from feedbot.store.surveys import NewSurvey

routes = web.RouteTableDef()


class SurveyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field(min_length=1, max_length=32)  # one of the app's channels
    touchpoint: str = Field(min_length=1)
    phone: str | None = None
    customer_id: str | None = Field(default=None, max_length=128)
    location: str | None = Field(default=None, max_length=64)
    interaction_id: str | None = Field(default=None, min_length=1, max_length=128)
    locale: str | None = Field(default=None, max_length=16)


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message)


@routes.post("/api/surveys")
async def create_survey(request: web.Request) -> web.Response:
    app = request.app
    require_role(request, Role.API)
    wanted = await json_body(request, SurveyRequest)
    config = app[SURVEY_CONFIG]
    refusal = config.refusal(wanted.touchpoint, wanted.location)
    if refusal:
        raise _bad_request(refusal)
    channels = app[CHANNELS]
    if wanted.channel not in channels:
        raise _bad_request(
            f"Unknown channel {wanted.channel!r}; this Feedbot has {', '.join(channels.names)}."
        )
    channel = channels.named(wanted.channel)
    store = app[STORE]
    if wanted.interaction_id:
        existing = await store.survey_for_interaction(wanted.interaction_id)
        if existing is not None:  # the same interaction never makes two surveys
            return web.json_response(_summary(request, existing, duplicate=True), status=200)

    try:
        customer_ref = channel.customer_ref(Contact(wanted.phone, wanted.customer_id))
    except CustomerInvalid as exc:
        raise _bad_request(str(exc)) from None
    unavailable = channel.unavailable()
    if unavailable:
        raise web.HTTPServiceUnavailable(text=unavailable)
    try:  # as given ("es-MX"), else the channel's guess (SMS: the number's country)
        spoken = app[RASA].languages
        if wanted.locale:
            locale = normalised(wanted.locale, spoken)
        else:  # the channel's guess, when this Feedbot speaks it
            guessed = channel.default_locale(customer_ref)
            locale = guessed if guessed and language_of(guessed) in spoken else None
    except UnknownLocale as exc:
        raise _bad_request(str(exc)) from None
    new = NewSurvey(
        channel=wanted.channel,
        touchpoint=wanted.touchpoint,
        location=wanted.location,
        customer_ref=customer_ref,
        interaction_id=wanted.interaction_id,
        locale=locale,
    )
    clock = app[CLOCK]
    last_surveyed = await store.last_surveyed_at(customer_ref) if customer_ref else None
    try:
        survey = await store.create_survey(new, clock())
    except IntegrityError:  # the same interaction_id, created a moment ago
        existing = await store.survey_for_interaction(wanted.interaction_id or "")
        if existing is None:
            raise
        return web.json_response(_summary(request, existing, duplicate=True), status=200)

    opted_out = await channel.opted_out(customer_ref)
    decision = _contact_decision(app, channel, wanted, survey, last_surveyed, opted_out, clock())
    if decision.verdict is Verdict.SUPPRESS:
        await store.suppress(survey.id, decision.reason)
    elif decision.verdict is Verdict.DELAY and decision.send_at is not None:
        await store.schedule(survey.id, decision.send_at, decision.reason)
    else:
        await channel.start(survey)
    stored = await store.get_survey(survey.id)
    assert stored is not None
    return web.json_response(_summary(request, stored), status=201)


@routes.get("/api/surveys/{survey_id}")
async def read_survey(request: web.Request) -> web.Response:
    """A survey's status and every decision about it, and its messages' delivery."""
    require_role(request, Role.API)
    store = request.app[STORE]
    survey = await store.get_survey(request.match_info["survey_id"])
    if survey is None:
        raise web.HTTPNotFound(text="No survey with that id.")
    summary = _summary(request, survey)
    summary.update(
        location=survey.location,
        interaction_id=survey.interaction_id,
        created_at=survey.created_at.isoformat(),
        sent_at=survey.sent_at.isoformat() if survey.sent_at else None,
        completed_at=survey.completed_at.isoformat() if survey.completed_at else None,
        score=survey.response.score if survey.response else None,
        messages=[
            {
                "direction": m.direction,
                "author": m.author,
                "text": m.text,
                "at": m.created_at.isoformat(),
                "delivery_status": m.delivery_status,
                "delivery_error": m.delivery_error,
            }
            for m in await store.transcript(survey.id)
        ],
    )
    return web.json_response(summary)


def _contact_decision(
    app: web.Application,
    channel: CustomerChannel,
    wanted: SurveyRequest,
    survey: Survey,
    last_surveyed: datetime | None,
    opted_out: bool,
    now: datetime,
) -> Decision:
    """The contact rules for this customer and touchpoint (feedbot.contact_rules)."""
    config = app[SURVEY_CONFIG]
    rules = config.contact_rules
    touchpoint = config.touchpoint(wanted.touchpoint)
    assert touchpoint is not None
    gap_days = touchpoint.min_days_between_surveys
    return decide(
        now,
        opted_out=opted_out,
        last_surveyed_at=last_surveyed,
        min_gap=timedelta(days=rules.min_days_between_surveys if gap_days is None else gap_days),
        sample_percent=touchpoint.sample_percent,
        sample_key=wanted.interaction_id or survey.id,
        quiet_hours=rules.quiet() if channel.quiet_hours else None,
        time_zone=channel.time_zone(survey.customer_ref, rules.default_time_zone),
    )


# The API's `status` of a survey (docs/sms.md lists each); any other state is "sent".
STATUS_OF = {
    SurveyState.SUPPRESSED: "suppressed",
    SurveyState.FAILED: "failed",
    SurveyState.SCHEDULED: "scheduled",
    SurveyState.EXPIRED: "expired",
}


def _summary(request: web.Request, survey: Survey, duplicate: bool = False) -> dict[str, Any]:
    status = STATUS_OF.get(SurveyState(survey.state), "sent")
    summary: dict[str, Any] = {
        "survey_id": survey.id,
        "status": status,
        "reason": survey.state_reason,
        "state": survey.state,
        "channel": survey.channel,
        "touchpoint": survey.touchpoint,
        "locale": survey.locale,
    }
    if survey.send_at is not None:
        summary["send_at"] = survey.send_at.isoformat()
    link = request.app[CHANNELS].of(survey).link(survey, request.app[SETTINGS].public_base_url)
    if link and status == "sent":
        summary["link"] = link
    if duplicate:
        summary["duplicate"] = True
    return summary
