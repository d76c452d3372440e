"""The channel port (shared/DESIGN.md, "Where the structure is going"): the
web widget and SMS, and any later channel, implement one small interface
(bot.channels.port.CustomerChannel). The survey API, agents' replies, the
answers to words that waited for the bot, scheduled surveys and reminders
go through it; only a channel's own modules know its name."""

from bot.channels.port import (
    ChannelUnavailable,
    Contact,
    CustomerChannel,
    CustomerInvalid,
    NotDelivered,
    StartResult,
)
from bot.channels.registry import Channels

__all__ = [
    "ChannelUnavailable",
    "Channels",
    "Contact",
    "CustomerChannel",
    "CustomerInvalid",
    "NotDelivered",
    "StartResult",
]
