"""Demo data: realistic, seeded survey results, so a newcomer sees a living
dashboard (`feedbot demo-data`). Reasons are written in natural language and
read by the real understanding code (themes, sentiment), as a customer's
would be.

The made-up company has patterns an analyst should find: support loses
customers on waiting, the Leeds store on its staff, checkout is improving week
by week, and delivery is liked except when it is late.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from feedbot.handoff_rules import HandoffReason
from feedbot.nps import Category, category_of
from feedbot.store.models import (
    Author,
    Channel,
    Direction,
    Handoff,
    HandoffState,
    Message,
    Response,
    ResponseTheme,
    Survey,
    SurveyState,
)
from feedbot.understanding.reader import ReasonReading, Understanding

LOCATIONS = {
    "support": ["phone", "chat"],
    "delivery": ["north-hub", "south-hub"],
    "store_visit": ["london-soho", "manchester", "leeds", "bristol"],
    "checkout": ["web", "app"],
}
TOUCHPOINT_WEIGHTS = {"support": 3, "delivery": 3, "store_visit": 3, "checkout": 2}

REASONS: dict[str, dict[Category, list[str]]] = {
    "support": {
        Category.DETRACTOR: [
            "I waited on hold for forty minutes",
            "the wait was far too long and nobody called back",
            "my problem still isn't fixed after three calls",
            "the agent was rude and didn't listen",
            "I had to explain everything again to each person",
        ],
        Category.PASSIVE: [
            "it got sorted but the queue was long",
            "helpful in the end, slow to get through",
            "fine, though I had to call twice",
        ],
        Category.PROMOTER: [
            "the agent was friendly and fixed it straight away",
            "quick answer and the issue was resolved",
            "Sam was really patient and helpful",
        ],
    },
    "delivery": {
        Category.DETRACTOR: [
            "the parcel arrived three days late",
            "the driver left it in the rain and the box was damaged",
            "it never arrived and no one told me why",
        ],
        Category.PASSIVE: [
            "arrived a day late but in good shape",
            "ok, the tracking could be clearer",
        ],
        Category.PROMOTER: [
            "arrived early and well packed",
            "the driver was lovely and it came on time",
            "fast delivery, great tracking updates",
        ],
    },
    "store_visit": {
        Category.DETRACTOR: [
            "the staff ignored me at the counter",
            "the shop was dirty and the queue was huge",
            "staff were unfriendly and couldn't answer questions",
            "prices were much higher than online",
        ],
        Category.PASSIVE: [
            "nice shop but hard to find what I wanted",
            "good range, a bit pricey",
        ],
        Category.PROMOTER: [
            "the staff were so friendly and helpful",
            "lovely clean store and a great choice of products",
            "quick and easy, the assistant knew everything",
        ],
    },
    "checkout": {
        Category.DETRACTOR: [
            "the payment page kept failing",
            "checkout was confusing and I got charged twice",
            "the website crashed at the last step",
        ],
        Category.PASSIVE: [
            "fine but too many steps",
            "worked, though the delivery costs were a surprise",
        ],
        Category.PROMOTER: [
            "really easy and quick to pay",
            "smooth checkout, saved my details nicely",
        ],
    },
}
VAGUE = ["ok", "just because", "it was fine", "meh", "no reason"]
FOLLOW_UPS = {
    Category.DETRACTOR: ["the waiting mostly", "staff attitude", "it took too long"],
    Category.PASSIVE: ["a bit faster would help", "better prices"],
    Category.PROMOTER: ["friendly people", "it was quick"],
}


@dataclass(frozen=True)
class DemoSurvey:
    touchpoint: str
    location: str
    channel: str
    phone: str | None
    created_at: datetime
    state: SurveyState
    score: int | None
    reason: str | None
    follow_up: str | None
    answer_after: timedelta


def _score(rng: random.Random, touchpoint: str, location: str, age: float) -> int:
    """Scores with the demo company's patterns (age: 0 newest … 1 oldest)."""
    mean = {"support": 7.2, "delivery": 8.3, "store_visit": 8.4, "checkout": 6.6}[touchpoint]
    if location == "leeds":
        mean -= 2.0
    if touchpoint == "checkout":
        mean += 2.6 * (1 - age)  # a fix rolled out over the period
    return max(0, min(10, round(rng.gauss(mean, 2.0))))


def generate(count: int, seed: int, days: int, now: datetime) -> Iterator[DemoSurvey]:
    rng = random.Random(seed)
    touchpoints = list(TOUCHPOINT_WEIGHTS)
    weights = list(TOUCHPOINT_WEIGHTS.values())
    for n in range(count):
        touchpoint = rng.choices(touchpoints, weights)[0]
        location = rng.choice(LOCATIONS[touchpoint])
        age = rng.random()
        created_at = now - timedelta(days=days * age, seconds=rng.randrange(3600))
        channel = Channel.SMS if rng.random() < 0.6 else Channel.WEB
        phone = f"+4479111{n % 100_000:05d}" if channel == Channel.SMS else None
        roll = rng.random()
        answer_after = timedelta(seconds=rng.lognormvariate(5.5, 1.2))
        if roll < 0.22:  # never answered
            yield DemoSurvey(
                touchpoint, location, channel, phone, created_at, SurveyState.EXPIRED,
                None, None, None, answer_after,
            )  # fmt: skip
            continue
        if roll < 0.25:
            yield DemoSurvey(
                touchpoint, location, channel, phone, created_at, SurveyState.DECLINED,
                None, None, None, answer_after,
            )  # fmt: skip
            continue
        score = _score(rng, touchpoint, location, age)
        category = category_of(score)
        if rng.random() < 0.06:  # scored, then left
            yield DemoSurvey(
                touchpoint, location, channel, phone, created_at, SurveyState.LEFT,
                score, None, None, answer_after,
            )  # fmt: skip
            continue
        vague = rng.random() < 0.1
        reason = rng.choice(VAGUE) if vague else rng.choice(REASONS[touchpoint][category])
        if location == "leeds" and category is Category.DETRACTOR and rng.random() < 0.6:
            reason = rng.choice(REASONS["store_visit"][Category.DETRACTOR][:3])
        follow_up = rng.choice(FOLLOW_UPS[category]) if vague else None
        yield DemoSurvey(
            touchpoint, location, channel, phone, created_at, SurveyState.COMPLETED,
            score, reason, follow_up, answer_after,
        )  # fmt: skip


def _transcript(survey_id: str, demo: DemoSurvey, sent: datetime) -> list[dict[str, object]]:
    lines: list[tuple[Author, str]] = [
        (Author.BOT, "Hi! We'd love to hear about your recent experience."),
        (Author.BOT, "How likely are you to recommend us to a friend, from 0 to 10?"),
    ]
    if demo.score is not None:
        lines.append((Author.CUSTOMER, str(demo.score)))
        lines.append((Author.BOT, "Thanks! What is the main reason for your score?"))
    if demo.reason:
        lines.append((Author.CUSTOMER, demo.reason))
    if demo.follow_up:
        lines.append((Author.BOT, "Could you tell me a bit more?"))
        lines.append((Author.CUSTOMER, demo.follow_up))
    if demo.state == SurveyState.COMPLETED:
        lines.append((Author.BOT, "Thank you, that really helps us improve."))
    at = sent
    rows = []
    for author, text in lines:
        at += demo.answer_after / 4 if author == Author.CUSTOMER else timedelta(seconds=1)
        rows.append(
            {
                "survey_id": survey_id,
                "peer": demo.phone,
                "direction": Direction.INBOUND if author == Author.CUSTOMER else Direction.OUTBOUND,
                "author": author,
                "text": text,
                "created_at": at,
            }
        )
    return rows


HANDOFF_COLUMNS = [c.key for c in Handoff.__table__.columns]
RECOVERY_ANSWERS = ["yes"] * 12 + ["no"] * 5 + ["you fixed the refund, but it took a week"] * 2


def _handoff(
    rng: random.Random, survey_id: str, demo: DemoSurvey, done: datetime, now: datetime
) -> dict[str, object] | None:
    """Some customers go to a person: most severe detractors are offered one
    (about two in three accept), and a few others ask. Recent ones are still
    open; the rest were answered within minutes to hours and resolved."""
    if demo.score is None:
        return None
    severe = demo.score <= 3 and demo.state == SurveyState.COMPLETED
    if severe and rng.random() < 0.7:
        reason, declined = HandoffReason.SEVERE, rng.random() < 0.35
    elif rng.random() < 0.006:
        reason, declined = HandoffReason.ASKED, False
    else:
        return None
    row: dict[str, object] = dict.fromkeys(HANDOFF_COLUMNS) | {
        "id": str(uuid.uuid4()),
        "survey_id": survey_id,
        "reason": reason,
        "urgency": 3 if demo.score <= 3 else 2,
        "created_at": done,
        "state": HandoffState.DECLINED if declined else HandoffState.WAITING,
    }
    first_reply = done + timedelta(minutes=rng.lognormvariate(3.0, 0.9))
    resolved = first_reply + timedelta(hours=rng.lognormvariate(1.0, 1.0))
    if declined or first_reply > now:
        return row
    row |= {
        "state": HandoffState.CLAIMED,
        "claimed_by": "demo agent",
        "claimed_at": first_reply,
        "first_reply_at": first_reply,
    }
    if resolved > now:  # still with the agent
        return row
    answer = rng.choice(RECOVERY_ANSWERS) if rng.random() < 0.8 else None
    return row | {
        "state": HandoffState.RESOLVED,
        "resolved_at": resolved,
        "resolution_code": "resolved",
        "recovery_answer": answer,
        "recovery_at": resolved + timedelta(minutes=5) if answer else None,
    }


def write_demo_data(
    engine: Engine,
    understanding: Understanding,
    count: int,
    *,
    seed: int = 7,
    days: int = 120,
    now: datetime | None = None,
    transcripts: bool = True,
    batch_size: int = 2000,
    on_batch: Callable[[int], None] = lambda n: None,
) -> int:
    """Insert ``count`` demo surveys; returns how many were written."""
    now = now or datetime.now(UTC)
    readings: dict[tuple[str, Category], ReasonReading] = {}
    handoff_rng = random.Random(seed + 1)  # apart, so the surveys stay as they were
    written = 0
    batch: list[DemoSurvey] = []

    def flush() -> None:
        nonlocal written
        surveys, responses, themes, messages, handoffs = [], [], [], [], []
        for demo in batch:
            survey_id = str(uuid.uuid4())
            sent = demo.created_at + timedelta(seconds=5)
            scored = sent + demo.answer_after if demo.score is not None else None
            surveys.append(
                {
                    "id": survey_id,
                    "channel": demo.channel,
                    "touchpoint": demo.touchpoint,
                    "location": demo.location,
                    "customer_ref": demo.phone,
                    "state": demo.state,
                    "created_at": demo.created_at,
                    "sent_at": sent,
                    "started_at": sent,
                    "completed_at": scored + timedelta(minutes=2)
                    if scored and demo.state == SurveyState.COMPLETED
                    else None,
                    "score": demo.score,
                    "answered_at": scored,
                    "answer_seconds": (scored - sent).total_seconds() if scored else None,
                }
            )
            if demo.score is not None:
                category = category_of(demo.score)
                text = " ".join(t for t in (demo.reason, demo.follow_up) if t)
                tags, sentiment, by_theme = [], None, {}
                if text:
                    if (text, category) not in readings:  # the same words read once
                        readings[(text, category)] = understanding.reason(text, category)
                    reading = readings[(text, category)]
                    tags, sentiment, by_theme = reading.themes, reading.sentiment, reading.by_theme
                responses.append(
                    {
                        "survey_id": survey_id,
                        "score": demo.score,
                        "category": category,
                        "reason": demo.reason,
                        "follow_up": demo.follow_up,
                        "sentiment": sentiment,
                        "scored_at": scored,
                        "reason_at": scored + timedelta(minutes=1) if demo.reason else None,
                    }
                )
                themes += [
                    {
                        "survey_id": survey_id,
                        "theme": t,
                        "touchpoint": demo.touchpoint,
                        "location": demo.location,
                        "created_day": demo.created_at.astimezone(UTC).date().isoformat(),
                        "score": demo.score,
                        "sentiment": by_theme[t].sentiment.value,
                        "words": by_theme[t].words,
                    }
                    for t in tags
                ]
            if transcripts:
                messages += _transcript(survey_id, demo, sent)
            if scored is not None:
                handoff = _handoff(handoff_rng, survey_id, demo, scored + timedelta(minutes=2), now)
                if handoff is not None:
                    handoffs.append(handoff)
        with engine.begin() as conn:
            conn.execute(insert(Survey), surveys)
            if responses:
                conn.execute(insert(Response), responses)
            if themes:
                conn.execute(insert(ResponseTheme), themes)
            if messages:
                conn.execute(insert(Message), messages)
            if handoffs:
                conn.execute(insert(Handoff), handoffs)
        written += len(batch)
        on_batch(len(batch))
        batch.clear()

    for demo in generate(count, seed, days, now):
        batch.append(demo)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return written
