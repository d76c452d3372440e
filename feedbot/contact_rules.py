"""Contact rules: whether to survey a customer now, later, or not at all.

Pure functions: the caller passes the clock, what the store knows about the
customer, and the rules; the answer says what to do and why (the why is
stored with the survey and shown by the API).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Verdict(StrEnum):
    SEND = "send"
    DELAY = "delay"  # quiet hours: send at send_at, not dropped
    SUPPRESS = "suppress"


@dataclass(frozen=True)
class QuietHours:
    start: time = time(21, 0)
    end: time = time(8, 0)

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:  # e.g. 13:00–14:00
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # across midnight

    def next_end(self, local: datetime) -> datetime:
        """The first moment at or after ``local`` outside quiet hours."""
        if not self.contains(local.timetz().replace(tzinfo=None)):
            return local
        end_today = local.replace(
            hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0
        )
        return end_today if end_today > local else end_today + timedelta(days=1)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    send_at: datetime | None = None


def sampled_in(key: str, percent: float) -> bool:
    """Deterministic sampling: the same interaction is always in or out."""
    if percent >= 100:
        return True
    if percent <= 0:
        return False
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 10_000
    return bucket < percent * 100


def decide(
    now: datetime,
    *,
    opted_out: bool,
    last_surveyed_at: datetime | None,
    min_gap: timedelta,
    sample_percent: float,
    sample_key: str,
    quiet_hours: QuietHours | None,
    time_zone: ZoneInfo,
) -> Decision:
    if opted_out:
        return Decision(Verdict.SUPPRESS, "opted out")
    if last_surveyed_at is not None and now - last_surveyed_at < min_gap:
        next_ok = last_surveyed_at + min_gap
        return Decision(
            Verdict.SUPPRESS,
            f"surveyed {_ago(now - last_surveyed_at)} ago; the minimum gap is "
            f"{_ago(min_gap)} (next possible {next_ok:%Y-%m-%d})",
        )
    if not sampled_in(sample_key, sample_percent):
        return Decision(Verdict.SUPPRESS, f"not sampled ({sample_percent:g}% of interactions)")
    if quiet_hours is not None:
        local = now.astimezone(time_zone)
        allowed = quiet_hours.next_end(local)
        if allowed != local:
            return Decision(
                Verdict.DELAY,
                f"quiet hours in {time_zone.key} "
                f"({quiet_hours.start:%H:%M}–{quiet_hours.end:%H:%M}); "
                f"sending at {allowed:%Y-%m-%d %H:%M} local time",
                send_at=allowed.astimezone(now.tzinfo),
            )
    return Decision(Verdict.SEND, "all contact rules passed")


def _ago(span: timedelta) -> str:
    days = span.days
    if days >= 1:
        return f"{days} day{'s' if days != 1 else ''}"
    hours = span.seconds // 3600
    return f"{hours} hour{'s' if hours != 1 else ''}"
