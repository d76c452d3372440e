"""An improvement as analysts log it ("you said, we did"): the request that
`POST /api/improvements` and `feedbot improvement add` both take, checked
against the operator's touchpoints and themes."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from feedbot.store.audit import AuditLog
from feedbot.store.improvements import ImprovementStore, NoticeReach
from feedbot.touchpoints import SurveyConfig

# An SMS of at most 3 parts, with room for " Reply STOP to opt out."
MAX_MESSAGE_CHARS = 400


class ImprovementRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    theme: str = Field(min_length=1, max_length=32)
    touchpoint: str | None = Field(default=None, min_length=1, max_length=64)
    location: str | None = Field(default=None, min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    # What customers are told, in the company's words.
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    lookback_days: int = Field(default=90, ge=1, le=365)
    dry_run: bool = False

    def refusal(self, config: SurveyConfig, themes: Collection[str]) -> str | None:
        """Why this cannot be logged, if it cannot (for a 4xx)."""
        if self.theme not in themes:
            return f"Unknown theme {self.theme!r}. Themes: {', '.join(sorted(themes))}."
        if self.touchpoint is not None:
            return config.refusal(self.touchpoint, self.location)
        if self.location is not None and not config.accepts_location(self.location):
            return f"Unknown location {self.location!r}."
        return None

    def outside(
        self, touchpoints: Collection[str] | None, locations: Collection[str] | None
    ) -> str | None:
        """Why an account limited to these touchpoints and locations may not
        log this one, if it may not."""
        if touchpoints is not None and self.touchpoint not in touchpoints:
            return (
                f"Your account covers the touchpoints {', '.join(touchpoints)}: name one of them."
            )
        if locations is not None and self.location not in locations:
            return f"Your account covers the locations {', '.join(locations)}: name one of them."
        return None


async def log_improvement(
    wanted: ImprovementRequest,
    store: ImprovementStore,
    audit: AuditLog,
    *,
    by: str,
    role: str,
    now: datetime,
    reach: NoticeReach,
) -> dict[str, Any]:
    """Who would be told (a dry run), or the improvement logged with its
    notices and the log entry: the answer `POST /api/improvements` and
    `feedbot improvement add` give."""
    audience = await store.audience(
        wanted.theme,
        wanted.touchpoint,
        wanted.location,
        now - timedelta(days=wanted.lookback_days),
        now,
        reach=reach,
    )
    if wanted.dry_run:
        return {
            "recipients": len(audience.reach),
            "by_channel": audience.by_channel(),
            "excluded": audience.excluded,
        }
    improvement = await store.log(
        theme=wanted.theme,
        touchpoint=wanted.touchpoint,
        location=wanted.location,
        title=wanted.title,
        message=wanted.message,
        lookback_days=wanted.lookback_days,
        by=by,
        at=now,
        customers=audience.reach,
    )
    await audit.record(
        by,
        role,
        "improvement.log",
        now,
        improvement.id,
        {"theme": wanted.theme, "recipients": improvement.recipients},
    )
    return {
        "improvement_id": improvement.id,
        "recipients": improvement.recipients,
        "by_channel": audience.by_channel(),
        "status": "sending" if improvement.recipients else "no recipients",
    }
