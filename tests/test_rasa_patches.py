"""feedbot_rasa's patches, run in Rasa's own environment (.venv-rasa): every
action server response is still validated exactly as Rasa 3.6.21 does it,
and Rasa refuses to start when the installed code is not the code patched."""

from __future__ import annotations

import http.client
import json
import socket
import sqlite3
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiohttp import web

from bot.rasa_client import TURN_REFUSED
from feedbot import rasa_env
from feedbot.settings import PROJECT_ROOT
from tests.helpers.gate import Gate
from tests.helpers.stack import block_until_healthy, free_port
from tests.system import System

pytestmark = pytest.mark.system


def in_rasa(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    python = rasa_env.rasa_executable().parent / "python"
    return subprocess.run(
        [str(python), "-c", textwrap.dedent(script), *args],
        cwd=PROJECT_ROOT,
        env=rasa_env.rasa_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def with_model(script: str, language: str, texts: list[str]) -> str:
    """``script`` run in Rasa's environment with the trained model of
    ``language`` and ``texts`` (JSON) as its arguments: its last line."""
    result = in_rasa(script, str(rasa_env.model_path(language)), json.dumps(texts), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


RESPONSES = [
    {},
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "score", "value": 9}], "responses": [{"text": "hi"}]},
    {"events": [{"event": "active_loop", "name": None}]},
    {"events": "not a list"},
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"name": "score"}]},
    {"events": [{"event": "slot", "name": 3}]},
    {"responses": "hello"},
    {"responses": ["hello"]},
    [],
    "ok",
    None,
    # each event is checked against the kind its name says, and only that one
    {"events": [{"event": "slot", "name": "x", "value": 1, "timestamp": True}]},
    {"events": [{"event": ["slot"], "name": "x", "value": 1}]},
    {"events": [{"event": "user", "parse_data": {"entities": [{"entity": "a"}]}}]},
    {"events": [{"event": "entities"}]},
    {"events": ["slot"]},
    {"events": [{"event": "slot", "name": "x", "value": 1}, {"event": "nope"}]},
]
VALID = [
    {"events": [{"event": "user", "text": "hi", "parse_data": {"entities": []}}]},
    {"events": [{"event": "bot", "text": "hi"}, {"event": "reset_slots"}]},
    {"events": [{"event": "slot", "name": "x", "value": [1]}, {"event": "followup", "name": "a"}]},
]


def test_every_response_is_judged_as_rasa_judges_it() -> None:
    """The patched method against Rasa's own (jsonschema.validate), response
    by response: the same verdict and the same error message."""
    result = in_rasa(
        f"""
        import json
        from rasa.core.actions.action import RemoteAction
        from jsonschema import ValidationError

        def verdicts(action):
            out = []
            for response in json.loads({json.dumps(json.dumps(VALID + RESPONSES))}):
                try:
                    out.append(["valid", action._validate_action_result(response)])
                except ValidationError as e:
                    out.append(["refused", e.message])
            return out

        action = RemoteAction("action_x", None)
        before = verdicts(action)
        from feedbot_rasa.patches import apply
        apply()
        assert RemoteAction._validate_action_result.__module__ == "feedbot_rasa.patches"
        from feedbot_rasa.patches import event_dispatch
        assert event_dispatch() is not None  # the cheaper check is the one used
        print(json.dumps([before, verdicts(action), verdicts(action)]))
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    before, after, again = json.loads(result.stdout.strip().splitlines()[-1])
    assert after == before and again == before
    assert [v[0] for v in after] == ["valid"] * 7 + ["refused"] * 15


def test_rasa_refuses_to_start_on_another_version() -> None:
    result = in_rasa(
        """
        import sys
        import rasa
        rasa.__version__ = "3.6.22"
        sys.argv = ["rasa", "--version"]
        from feedbot_rasa.__main__ import main
        main()
        """
    )
    assert result.returncode == 3
    assert "refusing to start: Rasa 3.6.22 is installed" in result.stderr
    assert "made for Rasa 3.6.21" in result.stderr


def applied_after(upgrade: str) -> str:
    """What `feedbot_rasa.patches.apply()` says once ``upgrade`` (Python run
    first in Rasa's environment) has changed Rasa's code, as an upgrade might."""
    result = in_rasa(
        textwrap.dedent(upgrade)
        + textwrap.dedent(
            """
            from feedbot_rasa.patches import PatchMismatch, apply
            try:
                apply()
            except PatchMismatch as e:
                print("refused:", e)
            """
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_rasa_refuses_to_start_when_the_patched_code_changed() -> None:
    said = applied_after(
        """
        from rasa.core.actions.action import RemoteAction

        def _validate_action_result(self, result):  # what an upgrade might bring
            return True

        RemoteAction._validate_action_result = _validate_action_result
        """
    )
    assert "refused: RemoteAction._validate_action_result is not the code" in said


def test_the_running_rasa_is_the_patched_one(system: System) -> None:
    log = (system.log_dir / "rasa.log").read_text(errors="replace")
    assert "feedbot_rasa: Rasa 3.6.21 patched" in log


Answer = Callable[[dict[str, Any]], web.Response]
Say = Callable[[str, str], tuple[int, object]]


@contextmanager
def rasa_with_action_server(tmp_path: Path, answer: Answer) -> Iterator[tuple[Say, Path]]:
    """A real, patched Rasa with the trained model, whose action server is
    a small local one answering each call with ``answer(body)``: the way to
    have an action server misbehave on purpose. Yields how to say something
    to Rasa ((status, body); status 0 when Rasa closed the connection without
    an answer) and Rasa's log."""
    import asyncio
    import threading

    async def webhook(request: web.Request) -> web.Response:
        return answer(await request.json())

    actions_port, rasa_port = free_port(), free_port()
    loop = asyncio.new_event_loop()
    runner_ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", actions_port).start())
        runner_ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    runner_ready.wait(10)
    endpoints = rasa_env.write_endpoints(
        tmp_path / "endpoints.yml",
        rasa_env.endpoints(
            f"http://127.0.0.1:{actions_port}",
            f"sqlite:///{tmp_path / 'tracker.db'}",
            None,
            "feedbot",
        ),
    )
    command = rasa_env.rasa_command(rasa_env.model_path(), rasa_port, endpoints, "127.0.0.1")
    log_path = tmp_path / "rasa.log"
    with log_path.open("wb") as log_file:
        rasa = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=rasa_env.rasa_environment(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    from commands.runner import Child

    child = Child("rasa", command, {}, log_path)
    child.process = rasa

    def say(sender: str, text: str) -> tuple[int, object]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook",
            data=json.dumps({"sender": sender, "message": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as exc:
            return 0, str(exc)

    try:
        block_until_healthy(f"http://127.0.0.1:{rasa_port}/", [child], 180)
        yield say, log_path
    finally:
        rasa.terminate()
        rasa.wait(30)
        loop.call_soon_threadsafe(loop.stop)


def ran(body: dict[str, Any]) -> web.Response:
    """A well-formed answer that says which action ran."""
    text = f"I ran {body['next_action']}"
    return web.json_response({"events": [], "responses": [{"text": text}]})


def test_a_malformed_action_response_is_refused_by_the_real_rasa(tmp_path: Path) -> None:
    """A real, patched Rasa with the trained model, calling an action server
    whose first answer has events that are not a list: Rasa refuses that
    answer whole (its message is not said, its events are not applied; Rasa
    logs it and goes on with the turn), and takes the well-formed ones."""
    answers = iter([{"events": "not a list", "responses": [{"text": "MALFORMED"}]}])

    def answer(body: dict[str, Any]) -> web.Response:
        malformed = next(answers, None)
        return web.json_response(malformed) if malformed else ran(body)

    with rasa_with_action_server(tmp_path, answer) as (say, log_path):
        status, body = say("malformed", "/start_survey")
        assert status == 200
        texts = [m["text"] for m in body]  # type: ignore[union-attr]
        assert "MALFORMED" not in texts and "I ran action_start_survey" not in texts
        assert "I ran validate_score_form" in texts  # the turn went on without it
        # the rule has just asked for the score: patch 9 makes no ask call
        assert "I ran action_ask_score" not in texts
        log = log_path.read_text(errors="replace")
        assert "'not a list' is not of type 'array'" in log
        assert "Failed to validate Action server response" in log

        status, body = say("well-formed", "/start_survey")
        assert status == 200
        assert {"recipient_id": "well-formed", "text": "I ran action_start_survey"} in body


@pytest.mark.parametrize("status", [500, 503])
def test_a_turn_whose_action_server_fails_is_abandoned_unsaved(tmp_path: Path, status: int) -> None:
    """An action server that answers 5xx (its database connection dropped,
    say): unpatched, Rasa saves the turn without the action's events and the
    customer's answer is lost. Patched, the turn is abandoned: no answer, no
    event saved; the same words later make the turn whole."""
    failures = iter([status])

    def answer(body: dict[str, Any]) -> web.Response:
        failing = next(failures, None)
        if failing is not None:
            return web.json_response({"error": "database gone"}, status=failing)
        return ran(body)

    with rasa_with_action_server(tmp_path, answer) as (say, log_path):
        got, _ = say("failing", "/start_survey")
        assert got == 0  # closed without an answer
        assert "action server failed" in log_path.read_text(errors="replace")
        with sqlite3.connect(tmp_path / "tracker.db") as db:
            saved = db.execute("SELECT count(*) FROM events WHERE sender_id = 'failing'")
            assert saved.fetchone() == (0,)
        got, body = say("failing", "/start_survey")
        assert got == 200
        assert {"recipient_id": "failing", "text": "I ran action_start_survey"} in body


LOCK_WAIT = """
import asyncio, json, sys
from rasa.core.lock_store import InMemoryLockStore
PATCHED = sys.argv[1:] == ["patched"]
if PATCHED:
    from feedbot_rasa.patches import apply
    apply()

async def main():
    store = InMemoryLockStore()
    store.issue_ticket("c", 0.3)  # a holder that died: its ticket lapses in 0.3 s
    async def turn():
        # our ticket lapses at about the same time, before we look again
        async with store.lock("c", lock_lifetime=0.3, wait_time_in_seconds=0.5):
            return "served"
    try:
        return await asyncio.wait_for(turn(), 5)
    except asyncio.TimeoutError:
        return "still waiting after 5 s"

print("RESULT", asyncio.run(main()))
"""


@pytest.mark.parametrize(("patched", "expected"), [(True, "served"), (False, "still waiting")])
def test_a_waiter_whose_ticket_lapsed_is_served_once_the_lock_is_free(
    patched: bool, expected: str
) -> None:
    """The lock bug the patch fixes, shown on Rasa's own lock store: unpatched,
    the waiter waits for ever; patched, it takes a new ticket and is served."""
    script = LOCK_WAIT.replace('sys.argv[1:] == ["patched"]', str(patched))
    result = in_rasa(script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"RESULT {expected}" in result.stdout


# An agent without a model (a stand-in processor records the turns that
# began and says "Why?"), for the lock store's failures.
LOCK_PRELUDE = """
import asyncio, json, sys
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import RedisLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
PATCHED = True
if PATCHED:
    from feedbot_rasa.patches import apply
    apply()

class Processor:
    began = []
    async def handle_message(self, message):
        self.began.append(message.sender_id)
        await message.output_channel.send_text_message(message.sender_id, "Why?")
        return None

agent = Agent(tracker_store=InMemoryTrackerStore(None))
agent.processor = Processor()
"""

LOCK_STORE_DOWN = (
    LOCK_PRELUDE
    + """

async def turn(port, sender):
    agent.lock_store = RedisLockStore(host="127.0.0.1", port=port, key_prefix="patchtest")
    out = CollectingOutputChannel()
    try:
        await agent.handle_message(UserMessage("9", out, sender))
    except Exception as error:
        return {"raised": type(error).__name__, "error": str(error)}
    return {"said": out.messages}

async def main():
    down = await turn(int(sys.argv[1]), "down")  # nothing listens there
    up = await turn(6379, "up")  # the Redis server on this machine
    return {"down": down, "up": up, "began": Processor.began}

print("RESULT", json.dumps(asyncio.run(main())))
"""
)


@pytest.mark.parametrize("patched", [True, False])
def test_a_turn_the_lock_store_cannot_lock_is_refused_in_so_many_words(patched: bool) -> None:
    """Redis down: unpatched, Rasa's lock store raises before the turn begins
    and its REST channel answers an empty list (the app took the words as
    answered with nothing); patched, the one reply is the refusal the app
    reads (bot.rasa_client), and the turn never began. With Redis up the
    turn runs as before."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = probe.getsockname()[1]
    script = LOCK_STORE_DOWN.replace("PATCHED = True", f"PATCHED = {patched}")
    result = in_rasa(script, str(nowhere))
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert got["began"] == ["up"]
    assert got["up"] == {"said": [{"recipient_id": "up", "text": "Why?"}]}
    if patched:
        [refusal] = got["down"]["said"]
        reason = refusal["custom"][TURN_REFUSED]
        assert "Connection refused" in reason or "connecting" in reason, reason
        assert "feedbot_rasa: a turn refused" in result.stderr
    else:
        assert got["down"]["raised"] == "LockError"  # the REST channel answers []


LOCK_STORE_LOST_WHILE_WAITING = (
    LOCK_PRELUDE
    + """
agent.lock_store = RedisLockStore(host="127.0.0.1", port=int(sys.argv[1]), key_prefix=sys.argv[2])

async def main():
    agent.lock_store.issue_ticket("held", 60)  # another turn holds the lock
    print("WAITING", flush=True)
    out = CollectingOutputChannel()
    await agent.handle_message(UserMessage("9", out, "held"))
    return {"said": out.messages, "began": Processor.began}

print("RESULT", json.dumps(asyncio.run(main())))
"""
)


def test_a_lock_store_lost_while_a_turn_waits_for_the_lock_refuses_the_turn() -> None:
    """Redis stops while a turn waits for another to finish (a gate in front
    of the real Redis, shut then): the waiting turn is refused, not left to
    Rasa's REST channel's empty answer."""
    python = rasa_env.rasa_executable().parent / "python"
    with Gate(6379) as redis:
        redis.open()
        waiting = subprocess.Popen(
            [
                str(python),
                "-c",
                LOCK_STORE_LOST_WHILE_WAITING,
                str(redis.port),
                "t" + uuid4().hex[:8],
            ],
            cwd=PROJECT_ROOT,
            env=rasa_env.rasa_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiting.stdout is not None
        assert waiting.stdout.readline().strip() == "WAITING"
        time.sleep(1.5)  # it has looked at the lock, found it held, and waits
        redis.shut()
        out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err[-3000:]
    got = json.loads(out.split("RESULT ", 1)[1])
    assert got["began"] == []
    [refusal] = got["said"]
    assert refusal["custom"][TURN_REFUSED].startswith("lock store failed:"), refusal


def test_rasa_and_the_app_name_a_refused_turn_alike() -> None:
    from feedbot_rasa import turns

    assert turns.TURN_REFUSED == TURN_REFUSED


FORM_ACTIVATION = """
import asyncio, json
from aiohttp import web
from rasa.core.actions.forms import FormAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
PATCHED = True
if PATCHED:
    from feedbot_rasa.patches import apply
    apply()

async def main():
    calls = []
    async def webhook(request):
        body = await request.json()
        slots = body["tracker"]["slots"]
        calls.append([body["next_action"], slots.get("score")])
        # As Feedbot's validation actions answer when they have nothing to validate.
        return web.json_response({"events": [], "responses": []})
    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    domain = Domain.load("domain.yml")
    endpoint = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook")
    results = {}
    for case, before in (("nothing filled", []), ("score filled", [SlotSet("score", 7)])):
        calls.clear()
        tracker = DialogueStateTracker.from_events("c", [
            ActionExecuted("action_listen"),
            UserUttered("/start_survey", {"name": "start_survey", "confidence": 1.0}),
            *before,
            ActionExecuted("action_start_survey"),
        ], domain.slots)
        form = FormAction("score_form", endpoint)
        nlg = TemplatedNaturalLanguageGenerator(domain.responses)
        await form.run(CollectingOutputChannel(), nlg, tracker, domain)
        results[case] = list(calls)
    await runner.cleanup()
    return results

print("RESULT " + json.dumps(asyncio.run(main())))
"""


@pytest.mark.parametrize("patched", [True, False])
def test_a_form_is_validated_once_at_activation_when_nothing_was_filled(patched: bool) -> None:
    """Rasa's own FormAction against a recording action server: at a form's
    activation unpatched Rasa calls the validation action twice even when no
    slot is filled; patched, once. A slot filled before the form is still
    validated at activation, with its value."""
    result = in_rasa(FORM_ACTIVATION.replace("PATCHED = True", f"PATCHED = {patched}"))
    assert result.returncode == 0, result.stderr[-3000:]
    calls = json.loads(next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))[7:])
    validate, ask = ["validate_score_form", None], ["action_ask_score", None]
    expected_nothing = [validate, ask] if patched else [validate, validate, ask]
    assert calls["nothing filled"] == expected_nothing
    assert calls["score filled"][0] == ["validate_score_form", 7.0]


def test_feedbots_validation_actions_act_only_on_the_slots_they_are_given() -> None:
    """What the activation patch relies on: no validation action extracts
    slots itself (an `extract_<slot>` method runs on every call)."""
    import importlib
    import inspect
    import pkgutil

    from rasa_sdk.forms import FormValidationAction

    import actions

    modules = [
        importlib.import_module(f"actions.{m.name}") for m in pkgutil.iter_modules(actions.__path__)
    ]
    validators = [
        cls
        for module in modules
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and issubclass(cls, FormValidationAction)
        and cls is not FormValidationAction
    ]
    assert {v().name() for v in validators} >= {
        "validate_score_form",
        "validate_reason_form",
        "validate_probe_form",
    }
    for validator in validators:
        extracting = [name for name in dir(validator) if name.startswith("extract_")]
        assert extracting == [], f"{validator.__name__} extracts {extracting}"


GRAPH_SCRIPT = """
import asyncio, json, sys
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.engine.exceptions import GraphRunError
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted
from rasa.core.policies.policy import PolicyPrediction

agent = Agent.load(sys.argv[1])
processor = agent.processor
TEXTS = json.loads(sys.argv[2])

async def conversation(sender):
    # Each text, then the actions the model predicts, recorded as if run,
    # until it listens again: every prediction and every parse, in order.
    seen = []
    for text in TEXTS:
        tracker = await processor.log_message(UserMessage(text, sender_id=sender))
        parsed = dict(tracker.latest_message.parse_data)
        parsed.pop("message_id")  # a new uuid for every message
        seen.append(["parse", parsed])
        for _ in range(4):
            prediction = processor._predict_next_with_tracker(tracker)
            name = processor.domain.action_names_or_texts[prediction.max_confidence_index]
            seen.append(["predict", name, prediction.policy_name, prediction.probabilities])
            tracker.update(ActionExecuted(name))
            if name == ACTION_LISTEN_NAME:
                break
        await processor.save_tracker(tracker)
    return seen

def clash():
    node = processor.model_metadata.core_target
    try:
        processor.graph_runner.run(inputs={"__message__": node}, targets=[node])
    except GraphRunError as e:
        return str(e)

async def main():
    before = await conversation("dask"), clash()
    from feedbot_rasa.patches import apply
    apply()
    from rasa.engine.runner.dask import DaskGraphRunner
    assert DaskGraphRunner.run.__module__ == "feedbot_rasa.graph_runner"
    after = await conversation("plain"), clash()
    print(json.dumps([before, after], default=str))

asyncio.run(main())
"""


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_graph_runs_as_dask_ran_it(language: str) -> None:
    """Patch 6: the trained model's graph, run without dask, reads the same
    messages the same way and predicts the same actions with the same
    probabilities, conversation after conversation, as Rasa's dask runner;
    and an input named like a node is refused with Rasa's own message."""
    texts = {
        "en": ["hi", "8", "the staff were friendly", "what is this?", "stop", "bye", "10"],
        "es": ["hola", "8", "el personal fue amable", "¿qué es esto?", "para", "adiós", "10"],
    }[language]
    before, after = json.loads(with_model(GRAPH_SCRIPT, language, texts))
    (dask_seen, dask_clash), (plain_seen, plain_clash) = before, after
    assert plain_seen == dask_seen
    predicted = [step[1] for step in dask_seen if step[0] == "predict"]
    assert len(predicted) > len(texts) and "action_listen" in predicted
    assert len({step[1] for step in dask_seen if step[0] == "predict"}) > 2
    assert dask_clash and plain_clash == dask_clash and "clashes with a node name" in dask_clash


STATES_SCRIPT = """
import asyncio, json, sys
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME, USER
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Restarted, UserUtteranceReverted

from rasa.core.tracker_store import InMemoryTrackerStore

agent = Agent.load(sys.argv[1])
processor = agent.processor
TEXTS = json.loads(sys.argv[2])
kept = {}

class KeptTrackers(InMemoryTrackerStore):
    # the same tracker object from turn to turn, as FeedbotTrackerStore
    async def retrieve(self, sender_id):
        return kept.get(sender_id)
    async def save(self, tracker):
        kept[tracker.sender_id] = tracker

processor.tracker_store = KeptTrackers(processor.domain)
replayed = Domain.states_for_tracker_history
from feedbot_rasa.patches import apply
apply()
from feedbot_rasa import tracker_states
carried_on = tracker_states.states_for_tracker_history
assert Domain.states_for_tracker_history is carried_on
domain = processor.domain
QUESTIONS = [
    dict(),
    dict(omit_unset_slots=True),
    dict(ignore_rule_only_turns=True, rule_only_data={"slots": ["requested_slot"], "loops": []}),
    dict(ignore_rule_only_turns=True, rule_only_data={"slots": [], "loops": ["score_form"]}),
]

def shape(states):
    # the states and which sub-states they share, as Rasa hands them out
    ids = {}
    return [
        {kind: [sorted(map(str, sub.items())), ids.setdefault(id(sub), len(ids))]
         for kind, sub in sorted(state.items())}
        for state in states
    ]

compared = 0

def compare(tracker):
    global compared
    for question in QUESTIONS:
        expected = replayed(domain, tracker, **question)
        got = carried_on(domain, tracker, **question)
        assert shape(got) == shape(expected), (question, got, expected)
        # a policy edits what it is given (the featurizer drops the text of
        # user sub-states): the next answer must not change
        for state in got:
            state.get(USER, {}).pop("text", None)
            state.clear()
        assert shape(carried_on(domain, tracker, **question)) == shape(expected)
        compared += 1

async def main():
    tracker = None
    objects = set()
    for step in TEXTS:
        if step == "UNDO":  # the customer's last message taken back
            tracker.update(UserUtteranceReverted())
            compare(tracker)
            continue
        if step == "RESTART":
            tracker.update(Restarted())
            compare(tracker)
            continue
        tracker = await processor.log_message(UserMessage(step, sender_id="states"))
        objects.add(id(tracker))
        for _ in range(4):
            compare(tracker)
            prediction = processor._predict_next_with_tracker(tracker)
            name = domain.action_names_or_texts[prediction.max_confidence_index]
            tracker.update(ActionExecuted(name))
            if name == ACTION_LISTEN_NAME:
                break
        compare(tracker)
        await processor.save_tracker(tracker)
    assert len(objects) == 1  # carried on from turn to turn
    print("COMPARED", compared, len(tracker.events))

asyncio.run(main())
"""


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_policies_states_carry_on_as_rasa_replays_them(language: str) -> None:
    """Patch 8: before and after every predicted action of a conversation
    (taken back once and restarted once on the way), the states carried on
    from the last question are the states Rasa replays from the start, for
    each kind of question the policies ask, sub-states shared where Rasa's
    are; and a policy editing what it was handed does not change the next
    answer."""
    texts = {
        "en": [
            "hi",
            "8",
            "UNDO",
            "9",
            "the staff were friendly",
            "what is this?",
            "RESTART",
            "hi",
            "2",
            "stop",
            "bye",
            "10",
        ],
        "es": [
            "hola",
            "8",
            "UNDO",
            "9",
            "el personal fue amable",
            "¿qué es esto?",
            "RESTART",
            "hola",
            "2",
            "para",
            "adiós",
            "10",
        ],
    }[language]
    compared, events = map(int, with_model(STATES_SCRIPT, language, texts).split()[1:])
    assert compared >= 4 * 30 and events > 30


RULES_SCRIPT = """
import asyncio, json, sys
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.core.policies.rule_policy import RulePolicy
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, ActiveLoop

agent = Agent.load(sys.argv[1])
processor = agent.processor
processor.tracker_store = InMemoryTrackerStore(processor.domain)
domain = processor.domain
TEXTS = json.loads(sys.argv[2])
rasas = RulePolicy._get_possible_keys
from feedbot_rasa.patches import apply
apply()
from feedbot_rasa import rule_keys
remembered = RulePolicy._get_possible_keys
assert remembered is rule_keys.get_possible_keys
seen = {"calls": 0, "answered_from_memory": 0, "loop_lookups": 0}

def compared(self, lookup, states):
    before = len(rule_keys._remembered)
    got = remembered(self, lookup, states)
    expected = rasas(self, lookup, states)
    assert got == expected, (states, got, expected)
    # the same pick among equally long rules
    assert max(got, key=len, default=None) == max(expected, key=len, default=None)
    seen["calls"] += 1
    seen["answered_from_memory"] += len(rule_keys._remembered) == before
    seen["loop_lookups"] += lookup is not self.lookup["rules"]
    return got

RulePolicy._get_possible_keys = compared

async def converse(sender):
    for text in TEXTS:
        tracker = await processor.log_message(UserMessage(text, sender_id=sender))
        for _ in range(5):
            prediction = processor._predict_next_with_tracker(tracker)
            name = domain.action_names_or_texts[prediction.max_confidence_index]
            tracker.update(ActionExecuted(name))
            if name in domain.form_names:
                # a form runs: active on its first run, done on its second
                was = tracker.active_loop_name
                tracker.update(ActiveLoop(None if was == name else name))
            if name == ACTION_LISTEN_NAME:
                break
        await processor.save_tracker(tracker)

async def main():
    for sender in ("first", "second", "third"):  # the same path: answers remembered
        await converse(sender)
    print(json.dumps(seen))

asyncio.run(main())
"""


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_rules_that_fit_are_remembered_as_rasa_finds_them(language: str) -> None:
    """Patch 11: every time the RulePolicy asks which rules fit the
    conversation (the rules, and the unhappy-path rules of an active form),
    the remembered answer is the one Rasa works out again, down to the rule
    picked among equally long ones; the same path taken again is answered
    from memory."""
    texts = {
        "en": ["/start_survey", "8", "ok", "the staff were friendly", "what?", "stop", "10"],
        "es": ["/start_survey", "8", "vale", "el personal fue amable", "¿qué?", "para", "10"],
    }[language]
    seen = json.loads(with_model(RULES_SCRIPT, language, texts))
    assert seen["calls"] > 3 * len(texts)
    assert seen["loop_lookups"] > 0  # a form was active on the way
    assert seen["answered_from_memory"] >= seen["calls"] // 2


INTENT_SCRIPT = """
import json, sys
import numpy as np
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier

agent = Agent.load(sys.argv[1])
TEXTS = json.loads(sys.argv[2])
runner = agent.processor.graph_runner
rasa_create_x = LogisticRegressionClassifier._create_X
from feedbot_rasa.patches import apply
apply()
from feedbot_rasa.sentence_features import create_x
assert LogisticRegressionClassifier._create_X is create_x
name = next(n for n in runner._instantiated_nodes if "LogisticRegression" in n)
classifier = runner._instantiated_nodes[name]._component
featurizer = [n for n in runner._instantiated_nodes if "Featurizer" in n][-1]

def featurized(text):
    out = runner.run(inputs={"__message__": [UserMessage(text)]}, targets=[featurizer])
    return out[featurizer]

def same(a, b):
    a, b = a.tocsr(), b.tocsr()
    return (a.dtype == b.dtype and a.shape == b.shape
            and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
            and np.array_equal(a.data, b.data)
            and np.array_equal(classifier.clf.predict_proba(a), classifier.clf.predict_proba(b)))

messages = [featurized(text) for text in TEXTS]
alike = [same(rasa_create_x(classifier, m), create_x(classifier, m)) for m in messages]
together = [m[0] for m in messages]
batch = same(rasa_create_x(classifier, together), create_x(classifier, together))
print(json.dumps([alike, batch]))
"""


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_intent_is_read_from_the_matrix_rasa_builds(language: str) -> None:
    """Patch 7: for every message (short, long, numbers, other scripts, words
    the model never saw) and for several messages at once, the classifier's
    input built from the sentence features alone is Rasa's matrix, value for
    value and in the same order, and gives the same probabilities."""
    texts = [
        "hi",
        "8",
        "10/10",
        "nine",
        "I'd rather not",
        "what is this?",
        "talk to a human",
        "The staff were friendly but the queue was forty minutes long!!!",
        "el personal fue amable",
        "¿qué es esto?",
        "prefiero no",
        "ok 👍",
        "zxqv wplk",
        "",
        "   ",
        "a" * 400,
        "ÇA VA? très bien",
        "5 — maybe 6",
    ]
    alike, together = json.loads(with_model(INTENT_SCRIPT, language, texts))
    assert alike == [True] * len(texts)
    assert together is True


ASK_ONCE_SCRIPT = """
import asyncio, json, sys
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import EventVerbosity
from feedbot_rasa.ask_once import ASK_ONCE, asked_since_last_customer_message

agent = Agent.load(sys.argv[1])
processor = agent.processor
TEXTS = json.loads(sys.argv[2])

async def main():
    seen = []
    for text in TEXTS:
        tracker = await processor.log_message(UserMessage(text, sender_id="asks"))
        for _ in range(4):
            events = tracker.current_state(EventVerbosity.ALL)["events"]
            decided = {r: asked_since_last_customer_message(tracker.events, r)
                       for r in ASK_ONCE.values()}
            seen.append([events, decided])
            prediction = processor._predict_next_with_tracker(tracker)
            name = processor.domain.action_names_or_texts[prediction.max_confidence_index]
            tracker.update(ActionExecuted(name))
            if name == ACTION_LISTEN_NAME:
                break
        await processor.save_tracker(tracker)
    print(json.dumps([ASK_ONCE, seen], default=str))

asyncio.run(main())
"""


def test_rasa_skips_only_the_ask_calls_the_action_server_would_answer_empty() -> None:
    """Patch 9: the ask actions Rasa answers itself are exactly the
    `AskOnceAction`s of the actions package, by the response each says; and
    along a conversation Rasa's test (has the question been asked since the
    customer last wrote?) decides as the action server's does on the events
    Rasa would send it, both ways."""
    import importlib
    import inspect
    import pkgutil

    from rasa_sdk import Tracker

    import actions
    from actions.asking import AskOnceAction, asked_since_last_customer_message

    modules = [
        importlib.import_module(f"actions.{m.name}") for m in pkgutil.iter_modules(actions.__path__)
    ]
    ask_once = {
        cls().name(): f"utter_ask_{cls().slot}"
        for module in modules
        for cls in vars(module).values()
        if inspect.isclass(cls) and issubclass(cls, AskOnceAction) and not inspect.isabstract(cls)
    }
    texts = ["/start_survey", "what is this?", "8", "what?", "the staff were friendly"]
    texts += ["/start_survey", "3", "slow"]
    rasa_ask_once, seen = json.loads(with_model(ASK_ONCE_SCRIPT, "en", texts))
    assert rasa_ask_once == ask_once and len(ask_once) == 3
    outcomes = set()
    for events, decided in seen:
        tracker = Tracker("asks", {}, {}, events, False, None, {}, "")
        for response, rasa_says in decided.items():
            assert asked_since_last_customer_message(tracker, response) is rasa_says
            outcomes.add(rasa_says)
    assert outcomes == {True, False}
