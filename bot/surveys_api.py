"""POST /api/surveys: a company's system asks Feedbot to survey a customer."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from bot.auth import require_token
from bot.keys import CLOCK, OPT_OUTS, SETTINGS, SMS_CHANNEL, STORE, SURVEY_CONFIG
from bot.phones import InvalidPhone, to_e164
from feedbot.store.models import Channel, Survey, SurveyState
from feedbot.store.surveys import NewSurvey

routes = web.RouteTableDef()


class SurveyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["sms", "web"]
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
    require_token(request, app[SETTINGS].api_token)
    try:
        body = await request.json()
    except ValueError:
        raise _bad_request("The request body must be JSON.") from None
    try:
        wanted = SurveyRequest.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        raise _bad_request(problems) from None
    config = app[SURVEY_CONFIG]
    if config.touchpoint(wanted.touchpoint) is None:
        known = ", ".join(t.id for t in config.touchpoints)
        raise _bad_request(f"Unknown touchpoint {wanted.touchpoint!r}. Known: {known}.")
    if wanted.location and not config.accepts_location(wanted.location):
        raise _bad_request(f"Unknown location {wanted.location!r}.")
    store = app[STORE]
    if wanted.interaction_id:
        existing = await store.survey_for_interaction(wanted.interaction_id)
        if existing is not None:  # the same interaction never makes two surveys
            return web.json_response(_summary(request, existing, duplicate=True), status=200)

    customer_ref = wanted.customer_id
    if wanted.channel == "sms":
        if not wanted.phone:
            raise _bad_request("An SMS survey needs a phone number.")
        try:
            customer_ref = to_e164(wanted.phone, app[SETTINGS].default_region)
        except InvalidPhone as exc:
            raise _bad_request(str(exc)) from None
        if app[SMS_CHANNEL] is None:
            raise web.HTTPServiceUnavailable(
                text="SMS is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                "TWILIO_FROM_NUMBER (or TWILIO_MESSAGING_SERVICE_SID)."
            )
    new = NewSurvey(
        channel=wanted.channel,
        touchpoint=wanted.touchpoint,
        location=wanted.location,
        customer_ref=customer_ref,
        interaction_id=wanted.interaction_id,
        locale=wanted.locale,
    )
    clock = app[CLOCK]
    try:
        survey = await store.create_survey(new, clock())
    except IntegrityError:  # the same interaction_id, created a moment ago
        existing = await store.survey_for_interaction(wanted.interaction_id or "")
        if existing is None:
            raise
        return web.json_response(_summary(request, existing, duplicate=True), status=200)

    if wanted.channel == "sms":
        if await app[OPT_OUTS].is_opted_out(customer_ref or ""):
            await store.finish(survey.id, SurveyState.SUPPRESSED, clock(), reason="opted out")
        else:
            await app[SMS_CHANNEL].start(survey)  # type: ignore[union-attr]
    else:
        await store.mark_sent(survey.id, clock())
    stored = await store.get_survey(survey.id)
    assert stored is not None
    return web.json_response(_summary(request, stored), status=201)


def _summary(request: web.Request, survey: Survey, duplicate: bool = False) -> dict[str, Any]:
    if survey.state == SurveyState.SUPPRESSED:
        status = "suppressed"
    elif survey.state == SurveyState.FAILED:
        status = "failed"
    else:
        status = "sent"
    summary: dict[str, Any] = {
        "survey_id": survey.id,
        "status": status,
        "reason": survey.state_reason,
        "state": survey.state,
        "channel": survey.channel,
        "touchpoint": survey.touchpoint,
    }
    if survey.channel == Channel.WEB:
        summary["link"] = f"{request.app[SETTINGS].public_base_url}/s/{survey.id}"
    if duplicate:
        summary["duplicate"] = True
    return summary
