"""Typed keys for what the app holds (opened and closed in cleanup_ctx)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import aiohttp
from aiohttp import web
from sqlalchemy import Engine

from bot.channels.registry import Channels
from bot.conversations import Conversations
from bot.handoff_events import HandoffEvents
from bot.live_events import LiveEvents
from bot.rasa_client import RasaClient
from bot.sms.channel import SmsChannel
from feedbot.settings import Settings
from feedbot.store.accounts import Sessions
from feedbot.store.audit import AuditLog
from feedbot.store.handoffs import HandoffStore
from feedbot.store.improvements import ImprovementStore
from feedbot.store.opt_outs import OptOutStore
from feedbot.store.sms_inbox import SmsInbox
from feedbot.store.surveys import SurveyStore
from feedbot.touchpoints import SurveyConfig

SETTINGS = web.AppKey("settings", Settings)
SURVEY_CONFIG = web.AppKey("survey_config", SurveyConfig)
CLOCK = web.AppKey("clock", Callable[[], datetime])
STORE = web.AppKey("store", SurveyStore)
HANDOFFS = web.AppKey("handoffs", HandoffStore)
AUDIT = web.AppKey("audit", AuditLog)
SESSIONS = web.AppKey("sessions", Sessions)
SMS_INBOX = web.AppKey("sms_inbox", SmsInbox)
HTTP = web.AppKey("http", aiohttp.ClientSession)
RASA = web.AppKey("rasa", RasaClient)
CONVERSATIONS = web.AppKey("conversations", Conversations)
OPT_OUTS = web.AppKey("opt_outs", OptOutStore)
# None when Twilio is not configured: SMS endpoints answer 503 and say why.
SMS_CHANNEL = web.AppKey("sms_channel", SmsChannel | None)  # type: ignore[arg-type]
# Every customer channel, by name (bot.channels): web, sms.
CHANNELS = web.AppKey("channels", Channels)
# Factories of channels beside web and SMS (create_app(channels=...)).
MORE_CHANNELS = web.AppKey("more_channels", tuple)
# A synchronous engine for analytics (reports, exports) run on worker threads.
READ_ENGINE = web.AppKey("read_engine", Engine)
# The widgets connected now, by survey id: where an agent's reply is pushed.
LIVE_CHATS = web.AppKey("live_chats", dict)
# Live events shared by the app's instances (in process, or Redis pub/sub).
LIVE_EVENTS = web.AppKey("live_events", LiveEvents)
HANDOFF_EVENTS = web.AppKey("handoff_events", HandoffEvents)
# The outbound hand-off webhooks; None when no URL is configured.
WEBHOOKS = web.AppKey("webhooks", object)
# "You said, we did": improvements and the notices that tell customers.
IMPROVEMENTS = web.AppKey("improvements", ImprovementStore)
# The themes of themes.yml (an improvement names one), each with its label
# for what people read.
THEME_LABELS = web.AppKey("theme_labels", dict)
