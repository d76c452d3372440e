"""Twelve small patches to Rasa 3.6.21, each checked against the exact code it
replaces, so that an upgrade can never silently skip or break one: Rasa
refuses to start instead (docs/performance.md has the measurements of the
first four and six to eleven; docs/reliability.md, the fifth's and the
twelfth's).

1. Validating each action server response. Rasa calls `jsonschema.validate`,
   which re-checks the schema against its meta-schema and builds a validator
   on every call: about three quarters of Rasa's CPU per turn here. The
   patched method validates every response exactly as before (same schema,
   same validator class, the same best-matching error, same message), with a
   validator built once.
2. Calling the action server. Rasa opens a new HTTP session, so a new TCP
   connection, for every action call. The patched `EndpointConfig.session`
   hands out one kept-alive session per event loop and endpoint settings.
3. Waiting for a conversation's lock. Rasa's ticket lock gives each waiter a
   ticket that expires `TICKET_LOCK_LIFETIME` after it was issued, even
   while it is still waiting. When the holder's ticket and the waiter's both
   expire before the waiter next looks (it looks once a second), the queue
   is empty, "now serving" is 0, never the waiter's number, and the waiter
   waits until the HTTP request times out: a turn that hung for 60 s after
   the Rasa instance holding its lock died (docs/deployment.md). The
   patched `LockStore.lock` takes a new ticket when its own has expired, so
   it is served as soon as nobody holds the lock.
4. Activating a form. Rasa 3.6 calls the form's validation action at
   activation to validate required slots that were filled before it, and
   then again in the form's first run; with nothing filled before, the first
   call validates nothing (its second call gets the same tracker plus what
   the message brought). The patched `FormAction.activate` skips that first
   call when no required slot is pre-filled: one action server call fewer
   per form activation, two of the ten calls of a three-turn survey. Safe
   for Feedbot's validation actions, which act only on the slots they are
   given (none defines an `extract_<slot>` method or acts on every call;
   tests/test_rasa_patches.py checks that).
5. An action server that cannot be reached, or that answers 5xx. Rasa logs
   "Bot will continue, but the actions events are lost" and saves the turn
   without them: the customer's score or reason is gone (the validation
   action never ran), and nothing tells the app. The wrapped
   `RemoteAction.run` turns a connection failure or a 5xx into
   `TurnAbandoned`, which is not an `Exception`, so neither Rasa's
   processor nor its REST channel swallows it: the turn ends unsaved, the
   connection closes without an answer, and the app keeps the customer's
   words and sends them again once the action server is back (bot.replay).
   It relies on `MessageProcessor._run_action` catching `Exception` only,
   and on `RemoteAction.run` raising a 5xx "from" the response error, both
   checked too.
6. Running the model's graph. Rasa hands its graph of components to dask's
   scheduler three or four times a turn; dask's bookkeeping for a dozen
   nodes was a tenth of Rasa's CPU. `DaskGraphRunner.run` is replaced by
   feedbot_rasa.graph_runner.run: the same nodes with the same inputs, in
   an order worked out once.
7. Reading a message's intent. `LogisticRegressionClassifier._create_X`
   combines every sparse feature of the message, deep-copying the
   token-by-vocabulary sequence features, to use the sentence features only:
   a tenth of Rasa's CPU. It is replaced by
   feedbot_rasa.sentence_features.create_x, which builds the same matrix
   from the sentence features alone.
8. The policies' states of a conversation. Before every prediction each
   policy replays the whole conversation into a new tracker to take its
   states: three times a prediction, from the first event each time.
   `Domain.states_for_tracker_history` is replaced by
   feedbot_rasa.tracker_states.states_for_tracker_history, which carries on
   from the events it replayed before for the same tracker (and starts
   again when one was undone).
9. Asking a form's question. At a form's activation Rasa calls the form's
   ask action, which says nothing when a rule has just asked the question
   (actions/asking.py). `FormAction._ask_for_slot` is wrapped by
   feedbot_rasa.ask_once.ask_for_slot, which makes that test in Rasa for
   Feedbot's ask-once actions and skips the call when it would be empty:
   two of a survey's eight action calls.
10. Loading the model. The garbage collector's full walks covered the half
   a million objects Rasa holds once loaded (its libraries and the model),
   which are never freed: about 0.3 s of CPU each, every conversation on
   the instance waiting.
   `rasa.core.run.load_agent_on_start` is wrapped by
   feedbot_rasa.heap.frozen_after, which freezes what is loaded
   (`gc.freeze()`) once the model is.
11. Finding the rules that fit. Before every prediction the RulePolicy
   filters all its rules against the conversation's states, a Python call
   per rule and turn, though surveys go through the same few sequences of
   states. `RulePolicy._get_possible_keys` is replaced by
   feedbot_rasa.rule_keys.get_possible_keys, which remembers the answer
   for the rules and states it was given.
12. A lock store that does not answer. With Redis down, Rasa's lock store
   raises LockError before the turn begins, its REST channel answers an
   empty list, and the app took the customer's words as answered with
   nothing: lost. The patched `LockStore.lock` raises LockUnavailable
   instead, and the patched `Agent.handle_message` answers it with one
   custom payload (`feedbot.turn_refused`): the app keeps the words, tells
   the customer it will reply, and sends them again once Redis is back,
   without counting a failed try.
"""

import asyncio
import contextlib
import functools
import hashlib
import inspect
import sys
from collections.abc import Callable
from typing import Any

from feedbot_rasa.turns import TURN_REFUSED, LockUnavailable, TurnAbandoned, one_line

RASA_VERSION = "3.6.21"
# sha256 of each replaced function's source, first 16 hex digits.
EXPECTED_SOURCES = {
    "RemoteAction._validate_action_result": "f8cdb4be68123961",
    "RemoteAction.action_response_format_spec": "091b74aa3738d126",
    "EndpointConfig.session": "e55aa13d9d4fb4bc",
    "EndpointConfig.request": "ccdb778aed8208e2",
    "LockStore.lock": "8b9b716c031a3444",
    "LockStore._acquire_lock": "ead2fff373291c24",
    "FormAction.activate": "316fc4da2b1b5979",
    "RemoteAction.run": "ccabf6f1160d527a",
    "MessageProcessor._run_action": "6d383d0179ef1187",
    "Agent.handle_message": "ba53507e4d5532a3",
}


class PatchMismatch(RuntimeError):
    """Rasa is not the version, or its code not the code, the patches were made for."""


def source_digest(function: Callable[..., Any]) -> str:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):  # replaced by code without a source file
        return "no source"
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def check(
    version: str,
    functions: dict[str, Callable[..., Any]],
    expected: dict[str, str] | None = None,
    made_in: str = "feedbot_rasa/patches.py",
) -> None:
    expected = EXPECTED_SOURCES if expected is None else expected
    if version != RASA_VERSION:
        raise PatchMismatch(
            f"Rasa {version} is installed; {made_in} was made for "
            f"Rasa {RASA_VERSION}. Reinstall .venv-rasa with `make install`, or review "
            "the patches against the new version and update them."
        )
    for name, function in functions.items():
        digest = source_digest(function)
        if digest != expected[name]:
            raise PatchMismatch(
                f"{name} is not the code {made_in} relies on "
                f"(source digest {digest}, expected {expected[name]}). Review the "
                "patch against it before starting."
            )


def apply() -> None:
    import rasa
    from rasa.core.actions.action import RemoteAction
    from rasa.core.actions.forms import FormAction
    from rasa.core.agent import Agent
    from rasa.core.lock_store import LockStore
    from rasa.core.processor import MessageProcessor
    from rasa.utils.endpoints import EndpointConfig

    check(
        rasa.__version__,
        {
            "RemoteAction._validate_action_result": RemoteAction._validate_action_result,
            "RemoteAction.action_response_format_spec": RemoteAction.action_response_format_spec,
            "EndpointConfig.session": EndpointConfig.session,
            "EndpointConfig.request": EndpointConfig.request,
            # __wrapped__: the function under @asynccontextmanager
            "LockStore.lock": LockStore.lock.__wrapped__,
            "LockStore._acquire_lock": LockStore._acquire_lock,
            "FormAction.activate": FormAction.activate,
            "RemoteAction.run": RemoteAction.run,
            "MessageProcessor._run_action": MessageProcessor._run_action,
            "Agent.handle_message": Agent.handle_message,
        },
    )
    from feedbot_rasa import (
        ask_once,
        graph_runner,
        heap,
        rule_keys,
        sentence_features,
        tracker_states,
        tracker_store,
    )

    check(
        rasa.__version__,
        graph_runner.replaced_functions(),
        graph_runner.EXPECTED_SOURCES,
        "feedbot_rasa/graph_runner.py",
    )
    check(
        rasa.__version__,
        sentence_features.replaced_functions(),
        sentence_features.EXPECTED_SOURCES,
        "feedbot_rasa/sentence_features.py",
    )
    check(
        rasa.__version__,
        tracker_states.replaced_functions(),
        tracker_states.EXPECTED_SOURCES,
        "feedbot_rasa/tracker_states.py",
    )
    check(
        rasa.__version__,
        ask_once.replaced_functions(),
        ask_once.EXPECTED_SOURCES,
        "feedbot_rasa/ask_once.py",
    )
    check(
        rasa.__version__,
        heap.replaced_functions(),
        heap.EXPECTED_SOURCES,
        "feedbot_rasa/heap.py",
    )
    check(
        rasa.__version__,
        rule_keys.replaced_functions(),
        rule_keys.EXPECTED_SOURCES,
        "feedbot_rasa/rule_keys.py",
    )
    check(
        rasa.__version__,
        tracker_store.replaced_functions(),
        tracker_store.EXPECTED_SOURCES,
        "feedbot_rasa/tracker_store.py",
    )
    RemoteAction._validate_action_result = _validate_action_result
    EndpointConfig.session = _kept_alive_session
    LockStore.lock = _lock
    Agent.handle_message = _handle_message
    FormAction.activate = _activate_form
    RemoteAction.run = _abandoning_when_unreachable(RemoteAction.run)
    from rasa.engine.runner.dask import DaskGraphRunner

    DaskGraphRunner.run = graph_runner.run
    from rasa.nlu.classifiers.logistic_regression_classifier import (
        LogisticRegressionClassifier,
    )

    LogisticRegressionClassifier._create_X = sentence_features.create_x
    from rasa.shared.core.domain import Domain

    Domain.states_for_tracker_history = tracker_states.states_for_tracker_history
    FormAction._ask_for_slot = ask_once.ask_for_slot
    from rasa.core import run

    run.load_agent_on_start = heap.frozen_after(run.load_agent_on_start)
    from rasa.core.policies.rule_policy import RulePolicy

    RulePolicy._get_possible_keys = rule_keys.get_possible_keys
    # Before Rasa sets up its logging: straight to its log.
    print(
        f"feedbot_rasa: Rasa {rasa.__version__} patched "
        "(validator built once, kept-alive action calls, lock waiters re-ticketed, "
        "one validation call at form activation, a turn abandoned when the action "
        "server cannot be reached, the model's graph run without dask, the intent "
        "read from sentence features only, the policies' states carried on, no call "
        "for a question a rule has just asked, the loaded model frozen out of the "
        "garbage collector's walks, the rules that fit remembered, a turn refused when "
        "the lock store is down; FeedbotTrackerStore checked)",
        file=sys.stderr,
        flush=True,
    )


@functools.cache
def response_validator() -> Any:
    """What `jsonschema.validate` builds for Rasa's response schema, built once."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


class _EventDispatch:
    """The same verdict on a valid response as the full schema, cheaper.

    The schema says each event is `oneOf` 23 kinds, each kind fixing `event`
    to its own constant; jsonschema checks every event against all 23. When
    every kind fixes `event` to a different string, an event can only match
    the kind named by its `event`, so the response is valid exactly when it
    is valid without the `oneOf` and each event is valid against its own
    kind. Anything this does not find valid goes to the full validator,
    which gives the verdict and the error."""

    def __init__(self, validator: Any) -> None:
        import copy

        schema = copy.deepcopy(validator.schema)
        items = schema["properties"]["events"]["items"]
        kinds = items.pop("oneOf")
        names = [kind["properties"]["event"]["const"] for kind in kinds]
        if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
            raise ValueError("the kinds of event are not told apart by their names")
        cls = type(validator)
        self.outer = cls(schema)
        self.kinds = {name: cls(kind) for name, kind in zip(names, kinds, strict=True)}

    def valid(self, result: Any) -> bool:
        if not self.outer.is_valid(result):
            return False
        for event in result.get("events") or ():
            name = event.get("event")
            kind = self.kinds.get(name) if isinstance(name, str) else None
            if kind is None or not kind.is_valid(event):
                return False
        return True


@functools.cache
def event_dispatch() -> _EventDispatch | None:
    """The cheaper check (built once), or None when Rasa's schema is not
    shaped for it."""
    try:
        return _EventDispatch(response_validator())
    except (KeyError, TypeError, ValueError):
        return None


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    from jsonschema import ValidationError
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    dispatch = event_dispatch()
    if dispatch is not None and dispatch.valid(result):
        return True
    error: ValidationError | None = best_match(response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


class _Borrowed:
    """`async with` hands out the shared session and leaves it open."""

    def __init__(self, session: Any) -> None:
        self._session = session

    async def __aenter__(self) -> Any:
        return self._session

    async def __aexit__(self, *exc: Any) -> None:
        return None


_sessions: dict[tuple[Any, ...], Any] = {}


def _kept_alive_session(self: Any) -> _Borrowed:
    """Like `EndpointConfig.session` (same headers, auth and timeout), but one
    session per event loop and settings, so connections are kept alive."""
    import aiohttp
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    loop = asyncio.get_running_loop()
    auth = (self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
    key = (id(loop), tuple(sorted(self.headers.items())), auth)
    session = _sessions.get(key)
    if session is None or session.closed or session._loop is not loop:
        session = aiohttp.ClientSession(
            # Shorter than the action server's keep-alive (Sanic's 5 s), so a
            # connection is never reused just as the server closes it.
            connector=aiohttp.TCPConnector(keepalive_timeout=2),
            headers=self.headers,
            auth=aiohttp.BasicAuth(*auth) if auth else None,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        )
        _sessions[key] = session
    return _Borrowed(session)


@contextlib.asynccontextmanager
async def _lock(
    self: Any,
    conversation_id: str,
    lock_lifetime: float | None = None,
    wait_time_in_seconds: float = 1,
) -> Any:
    """`LockStore.lock`, but a waiter whose ticket expired takes a new one,
    and a lock that cannot be taken (the store down, the lock gone) raises
    LockUnavailable: the turn never began."""
    from rasa.core.lock_store import LOCK_LIFETIME, LockError

    lifetime = LOCK_LIFETIME if lock_lifetime is None else lock_lifetime
    ticket = None
    try:
        try:
            ticket = self.issue_ticket(conversation_id, lifetime)
            while True:
                # fetch the lock each time: it may no longer exist
                lock = self.get_lock(conversation_id)
                if not lock:
                    raise LockError(f"the lock of conversation '{conversation_id}' vanished")
                if not lock.is_locked(ticket):
                    break
                if lock._ticket_for_ticket_number(ticket) is None:
                    # Ours expired while we waited (Rasa would wait forever now).
                    ticket = self.issue_ticket(conversation_id, lifetime)
                    continue
                await asyncio.sleep(wait_time_in_seconds)
                self.update_lock(conversation_id)
        except Exception as error:  # the store down (Rasa's LockError, Redis's), the lock gone
            raise LockUnavailable(f"lock store failed: {one_line(error)}") from error
        yield lock
    finally:
        if ticket is not None:
            try:
                self.cleanup(conversation_id, ticket)
            except Exception as error:
                # The turn is over (done or failed); its ticket expires by itself.
                print(f"feedbot_rasa: a lock's ticket not removed: {error}", file=sys.stderr)


async def _handle_message(self: Any, message: Any) -> Any:
    """`Agent.handle_message`, but when the conversation's lock cannot be
    taken the turn is refused in so many words: Rasa's REST channel would
    answer an empty list, and the app would take the customer's words as
    answered with nothing. The one reply is a custom payload (TURN_REFUSED)
    the app reads as "not begun": it keeps the words and sends them again."""
    if not self.is_ready():
        return None
    try:
        async with self.lock_store.lock(message.sender_id):
            return await self.processor.handle_message(message)
    except LockUnavailable as error:
        print(f"feedbot_rasa: a turn refused: {error}", file=sys.stderr, flush=True)
        await message.output_channel.send_custom_json(message.sender_id, {TURN_REFUSED: str(error)})
        return None


async def _activate_form(
    self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any
) -> list[Any]:
    """`FormAction.activate` without the validation call when no required
    slot was filled before the form (Rasa's code, with that one return)."""
    from rasa.core.actions import action
    from rasa.shared.core.constants import ACTION_EXTRACT_SLOTS
    from rasa.shared.core.events import SlotSet

    prefilled_slots = {}
    action_extract_slots = action.action_for_name_or_text(
        ACTION_EXTRACT_SLOTS, domain, self.action_endpoint
    )
    extraction_events = await action_extract_slots.run(output_channel, nlg, tracker, domain)
    tracker.update_with_events(extraction_events, domain)
    for slot_name in self.required_slots(domain):
        if not self._should_request_slot(tracker, slot_name):
            prefilled_slots[slot_name] = tracker.get_slot(slot_name)

    validate_name = f"validate_{self.name()}"
    if not prefilled_slots or validate_name not in domain.action_names_or_texts:
        # Nothing to validate yet: the form's first run validates what the
        # message brought, with the same validation action.
        return [event for event in extraction_events if isinstance(event, SlotSet)]

    validated_events = await self.validate_slots(
        prefilled_slots, tracker, domain, output_channel, nlg
    )
    validated_slot_names = [e.key for e in validated_events if isinstance(e, SlotSet)]
    return validated_events + [
        event
        for event in extraction_events
        if isinstance(event, SlotSet) and event.key not in validated_slot_names
    ]


def _abandoning_when_unreachable(run: Callable[..., Any]) -> Callable[..., Any]:
    import aiohttp

    async def run_or_abandon(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await run(self, *args, **kwargs)
        except Exception as error:
            # Rasa raises RasaException in the middle of handling the
            # connection error: the connection error is its context.
            if isinstance(error.__context__, aiohttp.ClientConnectionError):
                raise TurnAbandoned(f"action server unreachable: {error}") from error
            # A 5xx (its database connection dropped, say) is raised "from"
            # the response error; a 4xx is Rasa's ActionExecutionRejection.
            status = getattr(error.__cause__, "status", None)
            if isinstance(status, int) and status >= 500:
                raise TurnAbandoned(f"action server failed ({status}): {error}") from error
            raise

    return run_or_abandon
