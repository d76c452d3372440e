"""Custom actions with a real Tracker and CollectingDispatcher, against a real
(SQLite) store, with the project's own domain.yml and touchpoints.yml."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.handoff import ActionCountNotUnderstood, ActionOpenHandoff, urgency_of
from actions.reason import ActionAskFollowUp, ActionAskReason, ValidateProbeForm, ValidateReasonForm
from actions.score import MAX_REASKS, ActionAskScore, ValidateScoreForm
from actions.survey_end import ActionCompleteSurvey, ActionStopSurvey, ending_state
from actions.survey_start import ActionStartSurvey
from feedbot.handoff_rules import HandoffConfig, HandoffReason
from feedbot.settings import PROJECT_ROOT
from feedbot.store.migrate import upgrade
from feedbot.store.models import SurveyState
from feedbot.store.surveys import SurveyStore
from feedbot.touchpoints import load_survey_config

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
CONFIG = load_survey_config(PROJECT_ROOT / "touchpoints.yml")
SURVEY_ID = "survey-under-test"


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SurveyStore]:
    url = f"sqlite:///{tmp_path / 'actions.db'}"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("FEEDBOT_TOUCHPOINTS", str(PROJECT_ROOT / "touchpoints.yml"))
    context.reset()
    store = context.survey_store()
    yield store
    await store.close()
    context.reset()


def tracker(
    slots: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    intent: str = "give_feedback",
    text: str = "",
    metadata: dict[str, Any] | None = None,
    active_loop: str | None = None,
) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "metadata": metadata}
    return Tracker(
        SURVEY_ID,
        {"score_attempts": 0.0, "score_skipped": False, **(slots or {})},
        latest,
        events or [],
        False,
        None,
        {"name": active_loop} if active_loop else {},
        "action_listen",
    )


def answer(slot: str, value: str) -> list[dict[str, Any]]:
    """The events Rasa sends a form's validation action after the customer answers."""
    return [
        {"event": "user", "text": value, "parse_data": {}},
        {"event": "slot", "name": slot, "value": value},
    ]


def as_dict(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def start(
    store: SurveyStore, touchpoint: str = "support", locale: str | None = None
) -> dict[str, Any]:
    metadata = {"touchpoint": touchpoint, "location": "store-12", "channel": "web"}
    if locale:
        metadata["locale"] = locale
    events = await ActionStartSurvey().run(
        CollectingDispatcher(), tracker(intent="start_survey", metadata=metadata), DOMAIN
    )
    return as_dict(events)


@pytest.mark.parametrize(
    ("touchpoint", "expected"),
    [
        ("delivery", "delivery"),
        ("store_visit", "store_visit"),
        ("spaceship", "support"),
        ("", "support"),
    ],
)
async def test_start_sets_the_touchpoint_and_records_the_survey(
    store: SurveyStore, touchpoint: str, expected: str
) -> None:
    slots = await start(store, touchpoint)
    tp = CONFIG.touchpoint(expected)
    assert tp is not None
    assert slots == {
        "touchpoint": expected,
        "touchpoint_about": tp.about,
        "location": "store-12",
        "channel": "web",
        "language": "en",
    }
    survey = await store.get_survey(SURVEY_ID)
    assert survey is not None
    assert (survey.touchpoint, survey.location, survey.channel) == (expected, "store-12", "web")
    assert survey.started_at is not None


@pytest.mark.parametrize(
    ("text", "score", "category"),
    [("9", 9, "promoter"), ("seven", 7, "passive"), ("I'd give it a 2", 2, "detractor")],
)
async def test_a_valid_score_is_stored_and_picks_the_touchpoint_follow_up(
    store: SurveyStore, text: str, score: int, category: str
) -> None:
    await start(store, "checkout")
    dispatcher = CollectingDispatcher()
    events = await ValidateScoreForm().run(
        dispatcher,
        tracker({"touchpoint": "checkout"}, answer("score", text), active_loop="score_form"),
        DOMAIN,
    )
    checkout = CONFIG.touchpoint("checkout")
    assert checkout is not None and checkout.follow_up is not None
    assert as_dict(events) == {
        "score": score,
        "category": category,
        "follow_up_question": getattr(checkout.follow_up, category),
    }
    assert dispatcher.messages == []
    stored = await store.get_survey(SURVEY_ID)
    assert stored is not None and stored.response is not None
    assert (stored.response.score, stored.response.category) == (score, category)


async def test_a_spanish_survey_speaks_the_operators_spanish_and_reads_spanish(
    store: SurveyStore,
) -> None:
    """The locale picks the language: the touchpoint's Spanish words, the score
    read in Spanish ("le doy un 9"), the why question and the reason's themes
    and sentiment in Spanish."""
    slots = await start(store, "delivery", locale="es-MX")
    spanish = CONFIG.in_language("es").touchpoint("delivery")
    assert spanish is not None and spanish.follow_up is not None
    assert slots["language"] == "es"
    assert slots["touchpoint_about"] == spanish.about == "su entrega reciente"
    es = {"touchpoint": "delivery", "language": "es"}
    events = await ValidateScoreForm().run(
        CollectingDispatcher(),
        tracker(es, answer("score", "le doy un 9, el repartidor fue muy amable"), "score_form"),
        DOMAIN,
    )
    got = as_dict(events)
    assert (got["score"], got["category"]) == (9, "promoter")
    assert got["follow_up_question"] == spanish.follow_up.promoter
    assert got["reason"] == "el repartidor fue muy amable"
    stored = await store.get_survey(SURVEY_ID)
    assert stored is not None and stored.response is not None
    assert stored.response.score == 9
    assert stored.response.sentiment == "positive"
    assert set(await store.themes(SURVEY_ID)) == {"staff", "delivery"}


async def test_a_spanish_detractor_hears_when_a_person_replies_in_spanish(
    store: SurveyStore,
) -> None:
    await start(store, locale="es")
    now = "2026-11-21T12:00:00+00:00"  # a Saturday: agents are back on Monday
    result = await ActionOpenHandoff().run(
        CollectingDispatcher(),
        tracker({"language": "es"}, text="quiero hablar con una persona", metadata={"now": now}),
        DOMAIN,
    )
    assert as_dict(result)["handoff_when"] == "el lunes a las 09:00"


@pytest.fixture
def no_handoff_when_not_understood(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """touchpoints.yml with `handoff.not_understood_in_a_row: 0`."""
    config = yaml.safe_load((PROJECT_ROOT / "touchpoints.yml").read_text())
    config["handoff"]["not_understood_in_a_row"] = 0
    (tmp_path / "touchpoints.yml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("FEEDBOT_TOUCHPOINTS", str(tmp_path / "touchpoints.yml"))
    context.survey_config.cache_clear()


async def unreadable_score(attempts_before: int) -> dict[str, Any]:
    events = await ValidateScoreForm().run(
        CollectingDispatcher(),
        tracker(
            {"touchpoint": "support", "score_attempts": float(attempts_before)},
            answer("score", "very likely"),
            active_loop="score_form",
        ),
        DOMAIN,
    )
    return as_dict(events)


@pytest.mark.parametrize(
    ("attempts_before", "skipped"),
    [(0, False), (1, False), (MAX_REASKS, True)],
)
async def test_without_hand_off_an_unreadable_score_is_counted_and_finally_skipped(
    store: SurveyStore, no_handoff_when_not_understood: None, attempts_before: int, skipped: bool
) -> None:
    await start(store)
    slots = await unreadable_score(attempts_before)
    assert slots["score"] is None
    assert slots["score_attempts"] == attempts_before + 1
    assert slots["score_skipped"] is skipped and "not_understood" not in slots
    # Skipping drops the score from the form, which then ends (requested_slot None).
    assert ("requested_slot" in slots) is skipped
    assert slots.get("requested_slot") is None
    stored = await store.get_survey(SURVEY_ID)
    assert stored is not None and stored.response is None


async def test_a_second_unreadable_score_in_a_row_ends_the_form_for_a_person(
    store: SurveyStore,
) -> None:
    await start(store)
    first = await unreadable_score(0)  # re-asked
    assert first["score_attempts"] == 1 and "not_understood" not in first
    assert "requested_slot" not in first and first["score_skipped"] is False
    second = await unreadable_score(1)  # handoff.not_understood_in_a_row: 2
    assert second["not_understood"] is True and "score_skipped" not in second
    assert "requested_slot" in second and second["requested_slot"] is None  # the form ends


def turns(*said: tuple[str, str, list[str]]) -> list[dict[str, Any]]:
    """Tracker events for customer messages (text, intent) and the actions after each."""
    events: list[dict[str, Any]] = []
    for text, intent, actions in said:
        events.append({"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}})
        events += [{"event": "action", "name": a} for a in actions]
    return events


@pytest.mark.parametrize(
    ("earlier", "hand_over"),
    [
        ([], False),  # the first message not understood: "Sorry, I didn't get that"
        ([("zxq", "nlu_fallback", ["action_count_not_understood", "utter_default"])], True),
        (
            [
                ("zxq", "nlu_fallback", ["action_count_not_understood", "utter_default"]),
                ("bye", "goodbye", ["utter_goodbye"]),  # understood: the run is broken
            ],
            False,
        ),
        ([("thanks", "give_feedback", ["utter_survey_over"])], False),
    ],
)
async def test_messages_not_understood_outside_the_survey_are_counted_in_a_row(
    store: SurveyStore, earlier: list[tuple[str, str, list[str]]], hand_over: bool
) -> None:
    events = turns(*earlier, ("wqk trmp", "nlu_fallback", []))
    result = await ActionCountNotUnderstood().run(
        CollectingDispatcher(), tracker(events=events, intent="nlu_fallback"), DOMAIN
    )
    assert as_dict(result) == {"not_understood": True if hand_over else None}


async def test_a_hand_off_for_not_understanding_keeps_what_was_said(store: SurveyStore) -> None:
    await start(store)
    events = turns(
        ("/start_survey", "start_survey", ["action_start_survey", "utter_ask_score"]),
        ("purple elephants", "give_feedback", ["score_form"]),
        ("the moon is cheese", "give_feedback", ["score_form"]),
    )
    now = "2026-11-21T12:00:00+00:00"  # a Saturday, by the app's clock
    result = await ActionOpenHandoff().run(
        CollectingDispatcher(),
        tracker({"not_understood": True}, events=events, metadata={"now": now}),
        DOMAIN,
    )
    assert as_dict(result) == {"handoff_when": "on Monday at 09:00", "survey_finished": True}
    (queued,) = await context.handoff_store().queue()
    handoff = queued.handoff
    assert (handoff.reason, handoff.urgency) == ("not_understood", 1)
    assert handoff.detail == "not understood: 'purple elephants' / 'the moon is cheese'"
    assert handoff.created_at == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    stored = await store.get_survey(SURVEY_ID)
    assert stored is not None and (stored.state, stored.state_reason) == (
        "left",
        "handed to a person",
    )


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"now": "2031-01-02T03:04:05+00:00"}, datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ({"now": "not a time"}, None),  # this process's clock
        ({"now": "2031-01-02T03:04:05"}, None),  # no time zone: not trusted
        (None, None),
    ],
)
def test_actions_keep_the_apps_clock(metadata: dict[str, Any] | None, expected: Any) -> None:
    before = datetime.now(UTC)
    at = context.now(tracker(metadata=metadata))
    if expected is None:
        assert before <= at <= datetime.now(UTC)
    else:
        assert at == expected


async def test_the_reason_is_stored_as_typed(store: SurveyStore) -> None:
    await start(store)
    text = "\u200b/restart the <b>queue</b> was long"
    events = await ValidateReasonForm().run(
        CollectingDispatcher(),
        tracker({}, answer("reason", text), active_loop="reason_form"),
        DOMAIN,
    )
    assert as_dict(events) == {
        "reason": "/restart the <b>queue</b> was long",
        "reason_vague": False,
    }
    stored = await store.get_survey(SURVEY_ID)
    assert stored is not None and stored.response is not None
    assert stored.response.reason == "/restart the <b>queue</b> was long"
    assert await store.themes(SURVEY_ID) == ["wait_time"]
    assert stored.response.sentiment == "negative"


@pytest.mark.parametrize(
    ("reason", "vague", "themes"),
    [
        ("idk", True, []),
        ("it was ok", True, []),
        ("The delivery driver was rude", False, ["delivery", "staff"]),
        ("nothing special to say really honestly", False, []),
    ],
)
async def test_a_vague_reason_is_flagged_for_one_probe(
    store: SurveyStore, reason: str, vague: bool, themes: list[str]
) -> None:
    await start(store)
    events = await ValidateReasonForm().run(
        CollectingDispatcher(),
        tracker({"category": "detractor"}, answer("reason", reason), active_loop="reason_form"),
        DOMAIN,
    )
    assert as_dict(events) == {"reason": reason, "reason_vague": vague}
    assert await store.themes(SURVEY_ID) == themes


async def test_the_probe_answer_is_stored_and_retags_the_whole_why(store: SurveyStore) -> None:
    await start(store)
    await ValidateReasonForm().run(
        CollectingDispatcher(),
        tracker({"category": "detractor"}, answer("reason", "idk"), active_loop="reason_form"),
        DOMAIN,
    )
    events = await ValidateProbeForm().run(
        CollectingDispatcher(),
        tracker(
            {"category": "detractor", "reason": "idk"},
            answer("follow_up", "the parcel arrived damaged"),
            active_loop="probe_form",
        ),
        DOMAIN,
    )
    assert as_dict(events) == {"follow_up": "the parcel arrived damaged"}
    stored = await store.get_survey(SURVEY_ID)
    assert stored is not None and stored.response is not None
    assert (stored.response.reason, stored.response.follow_up) == (
        "idk",
        "the parcel arrived damaged",
    )
    assert stored.response.follow_up_at is not None
    assert await store.themes(SURVEY_ID) == ["delivery"]
    assert stored.response.sentiment == "negative"


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        ("9", {}),
        ("9 thanks", {}),
        (
            "2. Waited 40 minutes on hold",
            {"reason": "Waited 40 minutes on hold", "reason_vague": False, "reason_given": True},
        ),
        ("7 it was ok", {"reason": "it was ok", "reason_vague": True, "reason_given": True}),
    ],
)
async def test_a_reason_sent_with_the_score_is_taken(
    store: SurveyStore, text: str, slots: dict[str, Any]
) -> None:
    await start(store)
    events = await ValidateScoreForm().run(
        CollectingDispatcher(),
        tracker({"touchpoint": "support"}, answer("score", text), active_loop="score_form"),
        DOMAIN,
    )
    got = as_dict(events)
    assert {k: got[k] for k in ("reason", "reason_vague", "reason_given") if k in got} == slots
    stored = await store.get_survey(SURVEY_ID)
    assert stored is not None and stored.response is not None
    assert stored.response.reason == slots.get("reason")


@pytest.mark.parametrize(
    ("action", "response"),
    [
        (ActionAskScore(), "utter_ask_score"),
        (ActionAskReason(), "utter_ask_reason"),
        (ActionAskFollowUp(), "utter_ask_follow_up"),
    ],
)
@pytest.mark.parametrize(
    ("events", "asks"),
    [
        # The rule just asked: the form must not ask again.
        ([{"event": "user"}, {"event": "action", "name": "{response}"}, {"event": "bot"}], False),
        # The customer answered since: a re-ask.
        ([{"event": "action", "name": "{response}"}, {"event": "user"}], True),
        # An explanation came in between: ask again.
        ([{"event": "user"}, {"event": "action", "name": "utter_explain_survey"}], True),
    ],
)
async def test_ask_actions_never_repeat_the_question_just_asked(
    action: Any, response: str, events: list[dict[str, Any]], asks: bool
) -> None:
    filled = [
        {k: (v.format(response=response) if k == "name" else v) for k, v in e.items()}
        for e in events
    ]
    dispatcher = CollectingDispatcher()
    assert await action.run(dispatcher, tracker(events=filled), DOMAIN) == []
    expected = [response] if asks else []
    assert [m["response"] for m in dispatcher.messages] == expected


@pytest.mark.parametrize(
    ("intent", "has_score", "has_reason", "state"),
    [
        ("goodbye", True, False, SurveyState.LEFT),
        ("goodbye", False, False, SurveyState.LEFT),
        ("decline", True, False, SurveyState.COMPLETED),
        ("decline", False, False, SurveyState.DECLINED),
        ("decline", True, True, SurveyState.COMPLETED),  # skipped the probing question
        ("goodbye", False, True, SurveyState.COMPLETED),
    ],
)
def test_how_an_early_end_is_recorded(
    intent: str, has_score: bool, has_reason: bool, state: SurveyState
) -> None:
    assert ending_state(intent, has_score, has_reason) is state


@pytest.mark.parametrize(
    ("intent", "score", "state"),
    [("decline", None, "declined"), ("decline", 8, "completed"), ("goodbye", 8, "left")],
)
async def test_stopping_records_the_state(
    store: SurveyStore, intent: str, score: int | None, state: str
) -> None:
    await start(store)
    await ActionStopSurvey().run(
        CollectingDispatcher(), tracker({"score": score}, intent=intent), DOMAIN
    )
    stored = await store.get_survey(SURVEY_ID)
    assert stored is not None and stored.state == state
    assert (stored.completed_at is not None) is (state == "completed")


async def test_completing_records_the_time(store: SurveyStore) -> None:
    await start(store)
    events = await ActionCompleteSurvey().run(CollectingDispatcher(), tracker(), DOMAIN)
    assert as_dict(events) == {"survey_finished": True}
    stored = await store.get_survey(SURVEY_ID)
    assert stored is not None and stored.state == "completed" and stored.completed_at is not None


def test_every_custom_action_is_declared_in_the_domain() -> None:
    names = {
        a().name()
        for a in (
            ActionStartSurvey,
            ActionAskScore,
            ValidateScoreForm,
            ActionAskReason,
            ValidateReasonForm,
            ActionAskFollowUp,
            ValidateProbeForm,
            ActionCompleteSurvey,
            ActionStopSurvey,
            ActionOpenHandoff,
            ActionCountNotUnderstood,
        )
    }
    assert names == set(DOMAIN["actions"])


@pytest.mark.parametrize(
    ("reason", "score", "urgency"),
    [
        (HandoffReason.SEVERE, 6, 3),
        (HandoffReason.ASKED, 2, 3),  # a low score makes any hand-off severe
        (HandoffReason.ASKED, 8, 2),
        (HandoffReason.ASKED, None, 2),
        (HandoffReason.NOT_UNDERSTOOD, None, 1),
        (HandoffReason.NOT_UNDERSTOOD, 1, 3),
    ],
)
def test_handoff_urgency(reason: HandoffReason, score: int | None, urgency: int) -> None:
    assert urgency_of(reason, score, HandoffConfig()) == urgency


def test_slot_set_events_are_plain_dicts() -> None:
    # rasa_sdk returns events as dicts; the tests above rely on that shape.
    assert SlotSet("score", 3) == {"event": "slot", "timestamp": None, "name": "score", "value": 3}
