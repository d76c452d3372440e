"""The channels this Feedbot has, by name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bot.channels.port import CustomerChannel
from feedbot.settings import Settings
from feedbot.store.improvements import NoticeReach
from feedbot.store.models import Survey


class Channels:
    def __init__(self, channels: Iterable[CustomerChannel]) -> None:
        self._by_name = {c.name: c for c in channels}

    def __iter__(self) -> Iterator[CustomerChannel]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def named(self, name: str) -> CustomerChannel:
        return self._by_name[name]

    def of(self, survey: Survey) -> CustomerChannel:
        """The channel a survey is on."""
        return self._by_name[survey.channel]

    def with_reminders(self) -> list[str]:
        return sorted(c.name for c in self if c.reminders)

    def notice_reach(self, settings: Settings) -> NoticeReach:
        """Who "you said, we did" can reach on these channels now."""
        return notice_reach([type(c) for c in self], settings)


def notice_reach(kinds: Iterable[type[CustomerChannel]], settings: Settings) -> NoticeReach:
    """The same from the channels' classes (the command line has no app)."""
    kinds = list(kinds)
    untold = {k.name: key for k in kinds if (key := k.untold(settings))}
    keys = tuple(k.untold_key for k in kinds if k.untold_key)
    return NoticeReach(frozenset(k.name for k in kinds), untold, keys)


def built_in() -> tuple[type[CustomerChannel], ...]:
    """The channels every Feedbot has (an app may add more: create_app(channels=…))."""
    from bot.channels.sms import SmsPort  # (imported here: they import the app's keys)
    from bot.channels.web import WebChannel

    return (WebChannel, SmsPort)
