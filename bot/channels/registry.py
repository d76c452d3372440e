"""The channels this Feedbot has, by name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bot.channels.port import CustomerChannel
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
