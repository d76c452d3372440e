"""Two steps of a Rasa turn, Rasa's own way against feedbot_rasa's, in one
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
"""

from __future__ import annotations

import argparse
import subprocess
import sys

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
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted
    from rasa.utils.log_utils import configure_structlog

    from feedbot_rasa import graph_runner, patches

    configure_structlog(logging.INFO)  # as the server runs: no debug lines
    agent = Agent.load("models/feedbot.tar.gz")
    processor = agent.processor

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

    full = patches.response_validator()
    dispatch = patches.event_dispatch()
    assert dispatch is not None and all(dispatch.valid(a) for a in ANSWERS)
    dask_run = DaskGraphRunner.run
    asyncio.run(graph_ms("warm-up", 20))
    results: dict[str, list[float]] = {k: [] for k in ("dask", "plain", "full", "dispatch")}
    for r in range(rounds):
        DaskGraphRunner.run = dask_run  # type: ignore[method-assign]
        results["dask"].append(asyncio.run(graph_ms(f"dask{r}")))
        DaskGraphRunner.run = graph_runner.run  # type: ignore[method-assign]
        results["plain"].append(asyncio.run(graph_ms(f"plain{r}")))
        results["full"].append(check_us(lambda a: next(full.iter_errors(a), None)))
        results["dispatch"].append(check_us(dispatch.valid))

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    print(f"(medians of {rounds} rounds, each side taking turns)")
    d, p = median(results["dask"]), median(results["plain"])
    print(f"graph, CPU ms per three-turn conversation: dask {d:.1f}, plain {p:.1f} ({p / d:.2f}×)")
    f, q = median(results["full"]), median(results["dispatch"])
    print(
        f"answer check, CPU µs per answer: all kinds {f:.0f}, own kind first {q:.0f} ({q / f:.2f}×)"
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
