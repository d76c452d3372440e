"""Steps of a Rasa turn, Rasa's own way against feedbot_rasa's, in one
process and the same run, taking turns (no servers, no network: the CPU of
the step itself, steadier than a load test on a shared machine).

    .venv/bin/python -m bench.rasa_steps [--rounds 3]

1. The model's graph (patch 6): three-turn conversations read and predicted
   by the trained English model (each message parsed, then the actions
   predicted until the bot listens), with Rasa's dask runner and with
   feedbot_rasa.graph_runner. CPU ms per conversation.
2. Checking an action server's answer (patch 1): the answers the survey's
   actions give, checked with the validator built once against all the
   event kinds (as patch 1 did before) and with the check that goes to the
   event's own kind first. Microseconds per answer.
3. Reading a message (patch 7): the survey's kinds of message parsed by the
   trained English model with Rasa's `LogisticRegressionClassifier._create_X`
   and with feedbot_rasa.sentence_features.create_x (the graph run by
   feedbot_rasa.graph_runner both ways). CPU ms per message.
4. The policies' states (patch 8): the conversations of step 1 predicted
   with Rasa's `Domain.states_for_tracker_history` and with
   feedbot_rasa.tracker_states' (the graph run by feedbot_rasa.graph_runner
   both ways). A conversation's tracker is kept from one turn to the next,
   as FeedbotTrackerStore keeps it. CPU ms spent working out states, per
   three-turn conversation.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

# What customers send in a survey.
MESSAGES = [
    "hi",
    "8",
    "nine",
    "the staff were friendly and quick",
    "I waited forty minutes on the phone and nobody could tell me where my order was",
    "no thanks",
    "what is this?",
]

# Answers Feedbot's actions give in a survey: asking (a response, no
# events), starting the survey, reading a score, ending.
ANSWERS = [
    {"events": [], "responses": [{"text": "How likely are you to recommend us?"}]},
    {
        "events": [
            {"event": "slot", "name": n, "value": v, "timestamp": None}
            for n, v in [
                ("touchpoint", "checkout"),
                ("touchpoint_about", "your checkout"),
                ("location", None),
                ("channel", "web"),
                ("language", "en"),
            ]
        ],
        "responses": [],
    },
    {
        "events": [
            {"event": "slot", "name": "score", "value": 9, "timestamp": None},
            {"event": "slot", "name": "category", "value": "promoter", "timestamp": None},
            {"event": "slot", "name": "follow_up_question", "value": "What", "timestamp": None},
            {"event": "slot", "name": "requested_slot", "value": None, "timestamp": None},
            {"event": "active_loop", "name": None, "timestamp": None},
        ],
        "responses": [],
    },
    {
        "events": [{"event": "slot", "name": "survey_done", "value": True, "timestamp": None}],
        "responses": [{"text": "Thank you!", "custom": {"feedbot": {"ended": "completed"}}}],
    },
]


def inner(rounds: int) -> None:
    """Run in Rasa's environment."""
    import asyncio
    import logging
    import time

    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.nlu.classifiers.logistic_regression_classifier import (
        LogisticRegressionClassifier,
    )
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted
    from rasa.utils.log_utils import configure_structlog

    from feedbot_rasa import graph_runner, patches, sentence_features, tracker_states

    configure_structlog(logging.INFO)  # as the server runs: no debug lines
    agent = Agent.load("models/feedbot.tar.gz")
    processor = agent.processor

    class KeptTrackers(InMemoryTrackerStore):
        """Hands out the tracker it saved, as FeedbotTrackerStore does."""

        async def retrieve(self, sender_id: str) -> Any:
            return kept.get(sender_id)

        async def save(self, tracker: Any) -> None:
            kept[tracker.sender_id] = tracker

    kept: dict[str, Any] = {}
    processor.tracker_store = KeptTrackers(processor.domain)

    async def conversation(sender: str) -> None:
        for text in ["hi", "8", "the staff were friendly"]:
            tracker = await processor.log_message(UserMessage(text, sender_id=sender))
            for _ in range(4):
                prediction = processor._predict_next_with_tracker(tracker)
                name = processor.domain.action_names_or_texts[prediction.max_confidence_index]
                tracker.update(ActionExecuted(name))
                if name == ACTION_LISTEN_NAME:
                    break
            await processor.save_tracker(tracker)

    async def graph_ms(tag: str, n: int = 100) -> float:
        start = time.process_time()
        for i in range(n):
            await conversation(f"{tag}-{i}")
        return 1000 * (time.process_time() - start) / n

    def check_us(check: object, n: int = 300) -> float:
        start = time.process_time()
        for _ in range(n):
            for answer in ANSWERS:
                check(answer)  # type: ignore[operator]
        return 1e6 * (time.process_time() - start) / (n * len(ANSWERS))

    async def parse_ms(n: int = 100) -> float:
        start = time.process_time()
        for _ in range(n):
            for text in MESSAGES:
                await processor.parse_message(UserMessage(text))
        return 1000 * (time.process_time() - start) / (n * len(MESSAGES))

    spent = [0.0]

    def timed(states: Any) -> Any:
        def states_for_tracker_history(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return states(*args, **kwargs)
            finally:
                spent[0] += time.process_time() - start

        return states_for_tracker_history

    def states_ms(tag: str, n: int = 100) -> float:
        spent[0] = 0.0
        asyncio.run(graph_ms(tag, n))
        return 1000 * spent[0] / n

    full = patches.response_validator()
    dispatch = patches.event_dispatch()
    assert dispatch is not None and all(dispatch.valid(a) for a in ANSWERS)
    dask_run = DaskGraphRunner.run
    asyncio.run(graph_ms("warm-up", 20))
    rasa_create_x = LogisticRegressionClassifier._create_X
    rasa_states = Domain.states_for_tracker_history
    kinds = ("dask", "plain", "full", "dispatch", "all features", "sentence features")
    kinds += ("states replayed", "states carried on")
    results: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(rounds):
        DaskGraphRunner.run = dask_run  # type: ignore[method-assign]
        results["dask"].append(asyncio.run(graph_ms(f"dask{r}")))
        DaskGraphRunner.run = graph_runner.run  # type: ignore[method-assign]
        results["plain"].append(asyncio.run(graph_ms(f"plain{r}")))
        results["full"].append(check_us(lambda a: next(full.iter_errors(a), None)))
        results["dispatch"].append(check_us(dispatch.valid))
        LogisticRegressionClassifier._create_X = rasa_create_x  # type: ignore[method-assign]
        results["all features"].append(asyncio.run(parse_ms()))
        LogisticRegressionClassifier._create_X = sentence_features.create_x  # type: ignore[method-assign]
        results["sentence features"].append(asyncio.run(parse_ms()))
        LogisticRegressionClassifier._create_X = rasa_create_x  # type: ignore[method-assign]
        Domain.states_for_tracker_history = timed(rasa_states)  # type: ignore[method-assign]
        results["states replayed"].append(states_ms(f"replayed{r}"))
        Domain.states_for_tracker_history = timed(tracker_states.states_for_tracker_history)  # type: ignore[method-assign]
        results["states carried on"].append(states_ms(f"carried{r}"))
        Domain.states_for_tracker_history = rasa_states  # type: ignore[method-assign]

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    print(f"(medians of {rounds} rounds, each side taking turns)")
    d, p = median(results["dask"]), median(results["plain"])
    print(f"graph, CPU ms per three-turn conversation: dask {d:.1f}, plain {p:.1f} ({p / d:.2f}×)")
    f, q = median(results["full"]), median(results["dispatch"])
    print(
        f"answer check, CPU µs per answer: all kinds {f:.0f}, own kind first {q:.0f} ({q / f:.2f}×)"
    )
    a, n = median(results["all features"]), median(results["sentence features"])
    print(
        f"message read, CPU ms per message: all features combined {a:.2f}, "
        f"sentence features only {n:.2f} ({n / a:.2f}×)"
    )
    a, n = median(results["states replayed"]), median(results["states carried on"])
    print(
        f"policies' states, CPU ms per three-turn conversation: replayed {a:.2f}, "
        f"carried on {n:.2f} ({n / a:.2f}×)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args.rounds)
        return
    from feedbot import rasa_env
    from feedbot.settings import PROJECT_ROOT

    python = rasa_env.rasa_executable().parent / "python"
    command = [str(python), "-m", "bench.rasa_steps", "--inner", "--rounds", str(args.rounds)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=rasa_env.rasa_environment())
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
