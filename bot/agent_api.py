"""The agents' API (agent or admin role): the queue of open hand-offs, one
hand-off's card, and claiming, replying, noting, releasing, reassigning and
resolving.

A claimed hand-off is its agent's: only they may reply or resolve it until
they release it or an admin reassigns it (a reply to a waiting hand-off
claims it for whoever replies first). Every action is in the audit log.

A reply reaches the customer on their own channel: by SMS through Twilio,
or pushed to every widget open on that survey (and in the transcript, which
a widget that reconnects reads back). Replies, like everything else the
customer sees, are part of the transcript; notes are not.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from analytics.export import mask_phone
from bot.auth import Role, may_see, person_of, require_role
from bot.channels import ChannelUnavailable, NotDelivered
from bot.errors import json_body
from bot.keys import (
    AUDIT,
    CHANNELS,
    CLOCK,
    HANDOFF_EVENTS,
    HANDOFFS,
    STORE,
    SURVEY_CONFIG,
    THEME_LABELS,
)
from feedbot.customer_text import MAX_MESSAGE_CHARS
from feedbot.handoff_rules import reason_words
from feedbot.locales import language_of
from feedbot.store.handoffs import HandoffStore
from feedbot.store.models import Author, Handoff, HandoffState, Survey

routes = web.RouteTableDef()


class AgentAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str = Field(min_length=1, max_length=64)


class AgentText(AgentAction):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


class Resolution(AgentAction):
    code: str = Field(min_length=1, max_length=32)


class Reassignment(AgentAction):
    to: str = Field(min_length=1, max_length=64)


async def _audit(
    request: web.Request, role: Role, agent: str, action: str, handoff: Handoff, **detail: str
) -> None:
    await request.app[AUDIT].record(
        agent, role.value, action, request.app[CLOCK](), handoff.id, detail or None
    )


def _not_yours(handoff: Handoff) -> web.HTTPConflict:
    return web.HTTPConflict(
        text=f"This hand-off is claimed by {handoff.claimed_by}: only they may answer or "
        "resolve it until they release it or an admin reassigns it."
    )


def _handoffs(request: web.Request) -> HandoffStore:
    return request.app[HANDOFFS]


async def _open(request: web.Request) -> Handoff:
    """The hand-off named in the path, if the person asking may see it (an
    account limited to some touchpoints or locations sees no other)."""
    handoff = await _handoffs(request).get(request.match_info["handoff_id"])
    if handoff is not None:
        survey = await request.app[STORE].get_survey(handoff.survey_id)
        if survey is not None and may_see(request, survey.touchpoint, survey.location):
            return handoff
    raise web.HTTPNotFound(text="No hand-off with that id.")


async def _visible(request: web.Request, event: dict[str, Any]) -> bool:
    """Whether a live event is about a hand-off the person may see (an
    account with a scope is not told of, nor shown the words of, others)."""
    person = person_of(request)
    if person is None or (person.touchpoints is None and person.locations is None):
        return True
    if "handoff_id" not in event:  # a resync: the console re-reads its (scoped) queue
        return True
    handoff = await _handoffs(request).get(str(event["handoff_id"]))
    survey = await request.app[STORE].get_survey(handoff.survey_id) if handoff else None
    return survey is not None and may_see(request, survey.touchpoint, survey.location)


def _agent(request: web.Request, body: AgentAction) -> str:
    """Who acts: a person logged in with their own account is themselves,
    whatever the body says; with the shared agent token, the name given."""
    person = person_of(request)
    return person.name if person is not None and person.user_id else body.agent


def _card(
    handoff: Handoff, survey: Survey, now: datetime, flag_after: float, names: dict[str, str]
) -> dict[str, Any]:
    """``names``: each touchpoint's name for people (touchpoints.yml)."""
    waiting = (now - handoff.created_at).total_seconds() / 60
    response = survey.response
    return {
        "id": handoff.id,
        "survey_id": survey.id,
        "state": handoff.state,
        "reason": handoff.reason,
        "reason_words": reason_words(handoff.reason),
        "detail": handoff.detail,
        "urgency": handoff.urgency,
        "created_at": handoff.created_at.isoformat(),
        "waiting_minutes": round(waiting, 1),
        # Waiting for a first agent reply longer than the operator allows.
        "overdue": handoff.first_reply_at is None and waiting > flag_after,
        "claimed_by": handoff.claimed_by,
        "channel": survey.channel,
        "customer": mask_phone(survey.customer_ref),
        "touchpoint": survey.touchpoint,
        "touchpoint_name": names.get(survey.touchpoint, survey.touchpoint),
        "location": survey.location,
        "score": response.score if response else None,
        "category": response.category if response else None,
        "why": response.reason if response else None,
        "sentiment": response.sentiment if response else None,
    }


@routes.get("/api/handoffs")
async def queue(request: web.Request) -> web.Response:
    require_role(request, Role.AGENT)
    now = request.app[CLOCK]()
    flag_after = request.app[SURVEY_CONFIG].handoff.flag_waiting_after_minutes
    names = request.app[SURVEY_CONFIG].touchpoint_names()
    queued = await _handoffs(request).queue()
    return web.json_response(
        {
            "handoffs": [
                _card(q.handoff, q.survey, now, flag_after, names)
                for q in queued
                if may_see(request, q.survey.touchpoint, q.survey.location)
            ]
        }
    )


@routes.get("/api/handoffs/{handoff_id}")
async def card(request: web.Request) -> web.Response:
    require_role(request, Role.AGENT)
    handoff = await _open(request)
    store, handoffs = request.app[STORE], _handoffs(request)
    survey = await store.get_survey(handoff.survey_id)
    assert survey is not None
    names = request.app[SURVEY_CONFIG].touchpoint_names()
    found = _card(
        handoff,
        survey,
        request.app[CLOCK](),
        request.app[SURVEY_CONFIG].handoff.flag_waiting_after_minutes,
        names,
    )
    readings = await store.theme_readings(survey.id)
    found["themes"] = list(readings)
    # Why each theme was tagged (the customer's words) and its own sentiment.
    labels = request.app[THEME_LABELS]
    found["theme_details"] = [
        {
            "theme": theme,
            "label": labels.get(theme, theme),
            "sentiment": tag.sentiment,
            "words": tag.words or [],
        }
        for theme, tag in readings.items()
    ]
    found["transcript"] = [
        {"author": m.author, "text": m.text, "at": m.created_at.isoformat()}
        for m in await store.transcript(survey.id)
    ]
    found["notes"] = [
        {"author": n.author, "text": n.text, "at": n.created_at.isoformat()}
        for n in await handoffs.notes(handoff.id)
    ]
    earlier = (
        await handoffs.earlier_surveys(survey.customer_ref, survey.id)
        if survey.customer_ref
        else []
    )
    found["earlier_surveys"] = [
        {
            "survey_id": s.id,
            "touchpoint": s.touchpoint,
            "touchpoint_name": names.get(s.touchpoint, s.touchpoint),
            "created_at": s.created_at.isoformat(),
            "score": s.response.score if s.response else None,
            "why": s.response.reason if s.response else None,
        }
        for s in earlier
    ]
    return web.json_response(found)


@routes.post("/api/handoffs/{handoff_id}/claim")
async def claim(request: web.Request) -> web.Response:
    role = require_role(request, Role.AGENT)
    handoff = await _open(request)
    body = await json_body(request, AgentAction)
    who = _agent(request, body)
    if not await _handoffs(request).claim(handoff.id, who, request.app[CLOCK]()):
        raise web.HTTPConflict(text=f"This hand-off is {handoff.state}, not waiting.")
    await _audit(request, role, who, "handoff.claim", handoff)
    _announce(request, "claimed", handoff, agent=who)
    return web.json_response({"id": handoff.id, "state": HandoffState.CLAIMED})


@routes.post("/api/handoffs/{handoff_id}/release")
async def release(request: web.Request) -> web.Response:
    """The claiming agent gives the hand-off back to the queue."""
    role = require_role(request, Role.AGENT)
    handoff = await _open(request)
    body = await json_body(request, AgentAction)
    who = _agent(request, body)
    if not await _handoffs(request).release(handoff.id, who):
        if handoff.state == HandoffState.CLAIMED:
            raise _not_yours(handoff)
        raise web.HTTPConflict(text=f"This hand-off is {handoff.state}, not claimed.")
    await _audit(request, role, who, "handoff.release", handoff)
    _announce(request, "released", handoff, agent=who)
    return web.json_response({"id": handoff.id, "state": HandoffState.WAITING})


@routes.post("/api/handoffs/{handoff_id}/reassign")
async def reassign(request: web.Request) -> web.Response:
    """An admin gives an open hand-off to another agent."""
    role = require_role(request, Role.ADMIN)
    handoff = await _open(request)
    body = await json_body(request, Reassignment)
    who = _agent(request, body)
    if not await _handoffs(request).reassign(handoff.id, body.to, request.app[CLOCK]()):
        raise web.HTTPConflict(text=f"This hand-off is {handoff.state}, not open.")
    await _audit(
        request,
        role,
        who,
        "handoff.reassign",
        handoff,
        to=body.to,
        **({"from": handoff.claimed_by} if handoff.claimed_by else {}),
    )
    _announce(request, "claimed", handoff, agent=body.to)
    return web.json_response({"id": handoff.id, "state": HandoffState.CLAIMED, "agent": body.to})


@routes.post("/api/handoffs/{handoff_id}/notes")
async def note(request: web.Request) -> web.Response:
    role = require_role(request, Role.AGENT)
    handoff = await _open(request)
    body = await json_body(request, AgentText)
    who = _agent(request, body)
    await _handoffs(request).add_note(handoff.id, who, body.text, request.app[CLOCK]())
    await _audit(request, role, who, "handoff.note", handoff)
    _announce(request, "noted", handoff, agent=who)
    return web.json_response({"id": handoff.id}, status=201)


@routes.post("/api/handoffs/{handoff_id}/reply")
async def reply(request: web.Request) -> web.Response:
    role = require_role(request, Role.AGENT)
    handoff = await _open(request)
    if handoff.state == HandoffState.RESOLVED:
        raise web.HTTPConflict(text="This hand-off is resolved; the bot has the conversation.")
    body = await json_body(request, AgentText)
    who = _agent(request, body)
    app = request.app
    now = app[CLOCK]()
    if handoff.state == HandoffState.WAITING:  # the first to answer takes it
        if await _handoffs(request).claim(handoff.id, who, now):
            await _audit(request, role, who, "handoff.claim", handoff)
            _announce(request, "claimed", handoff, agent=who)
        handoff = await _open(request)
    if handoff.state == HandoffState.CLAIMED and handoff.claimed_by != who:
        raise _not_yours(handoff)
    survey = await app[STORE].get_survey(handoff.survey_id)
    assert survey is not None
    await _deliver(app, survey, body.text, Author.AGENT)
    await _handoffs(request).replied(handoff.id, now)
    await _audit(request, role, who, "handoff.reply", handoff)
    _announce(request, "replied", handoff, agent=who)
    return web.json_response({"id": handoff.id, "delivered": True})


@routes.post("/api/handoffs/{handoff_id}/resolve")
async def resolve(request: web.Request) -> web.Response:
    """Close the hand-off; the bot then asks the customer one recovery
    question, whose answer is kept with the hand-off."""
    role = require_role(request, Role.AGENT)
    handoff = await _open(request)
    body = await json_body(request, Resolution)
    who = _agent(request, body)
    app = request.app
    now = app[CLOCK]()
    if not await _handoffs(request).resolve(handoff.id, body.code, now, who):
        now_is = await _open(request)
        if now_is.state == HandoffState.CLAIMED and now_is.claimed_by != who:
            raise _not_yours(now_is)
        raise web.HTTPConflict(text=f"This hand-off is already {now_is.state}.")
    await _audit(request, role, who, "handoff.resolve", handoff, code=body.code)
    survey = await app[STORE].get_survey(handoff.survey_id)
    assert survey is not None
    question = app[SURVEY_CONFIG].in_language(language_of(survey.locale)).handoff.recovery_question
    await _deliver(app, survey, question, Author.BOT)
    _announce(request, "resolved", handoff, agent=who, code=body.code)
    return web.json_response({"id": handoff.id, "state": HandoffState.RESOLVED})


def _announce(request: web.Request, event: str, handoff: Handoff, **more: str) -> None:
    request.app[HANDOFF_EVENTS].publish({"event": event, "handoff_id": handoff.id, **more})


async def _deliver(app: web.Application, survey: Survey, text: str, author: Author) -> None:
    """Say this to the customer on their channel, and keep it in the transcript."""
    try:
        await app[CHANNELS].of(survey).say(survey, text, author)
    except ChannelUnavailable as exc:
        raise web.HTTPServiceUnavailable(text=str(exc)) from None
    except NotDelivered as exc:
        raise web.HTTPBadGateway(text=str(exc)) from None


@routes.get("/agent/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one JSON object per hand-off event, as it happens."""
    require_role(request, Role.AGENT)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    await response.write(b": connected\n\n")
    async with request.app[HANDOFF_EVENTS].listen() as queue:
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    await response.write(b": still here\n\n")  # keeps proxies from closing it
                    continue
                if not await _visible(request, event):
                    continue
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
        except ConnectionResetError:  # the console was closed
            return response
