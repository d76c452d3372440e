"""Where a turn's time goes in Rasa: py-spy attached to the running Rasa
process during a load, for the code at commit 12d500a and for the current
code, in the same run.

    .venv/bin/python -m bench.profile [--conversations 40] [--concurrency 10]

For each stack it prints Rasa's CPU per turn (the process's user + system
time over the turns it served: far steadier than wall time on a shared
machine) and the share of Rasa's samples spent in the parts that matter
(inclusive: a frame and everything below it).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from bench.processes import cpu_seconds, descendants
from bench.scale import baseline_stack, ws_urls
from bench.turn_latency import SCRIPT, run_load, via_app
from tests.helpers.stack import temporary_stack

# (label, substring of a collapsed-stack frame "function (file:line)")
PARTS = [
    ("jsonschema validation of action responses", "_validate_action_result"),
    ("action server calls (HTTP, incl. validation)", "_run_action (rasa/core/processor.py"),
    ("tracker store: load the conversation", "fetch_tracker_and_update_session"),
    ("tracker store: save the conversation", "save_tracker"),
    ("NLU: parse the message", "parse_message"),
    ("policies: predict next action", "predict_next_action"),
    ("serialising the tracker for the action server", "current_state"),
    ("the domain sent to the action server", "as_dict (rasa/shared/core/domain.py"),
    ("form activation and validation", "validate_slots (rasa/core/actions/forms.py"),
]


def rasa_pid(root: int) -> int:
    """The Rasa server among ``root``'s descendants (it runs `... run --model`)."""
    for pid in descendants(root):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run" in command and b"--model" in command:
            return pid
    raise LookupError("no Rasa process found")


def profile(name: str, ws: str, pid: int, args: argparse.Namespace, out: Path) -> None:
    converse = via_app(ws)
    asyncio.run(run_load(converse, 6, 2))  # warm up
    raw = out / f"{name}.txt"
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--output",
            str(raw),
            "--nonblocking",
            "--gil",  # only the thread running Python: worker threads waiting do not count
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cpu_before = cpu_seconds(pid)
    result = asyncio.run(run_load(converse, args.conversations, args.concurrency))
    cpu = cpu_seconds(pid) - cpu_before
    spy.send_signal(2)  # SIGINT: py-spy writes what it has
    spy.wait(60)
    samples: Counter[str] = Counter()
    frames: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for label, frame in PARTS:
            if frame in stack:
                samples[label] += int(count)
        for frame in set(stack.split(";")):
            frames[frame] += int(count)
    turns = result["turns"]
    print(
        f"\n{name}: {turns:.0f} turns, Rasa CPU {1000 * cpu / turns:.0f} ms a turn, "
        f"p50 {result['p50_ms']:.0f} ms, {result['turns_per_s']:.1f} turns/s"
    )
    for label, _ in PARTS:
        print(f"  {100 * samples[label] / max(total, 1):5.1f}%  {label}")
    if args.top:
        print(f"  top {args.top} frames (inclusive, below the event loop):")
        inner = [(f, n) for f, n in frames.most_common() if n < 0.6 * total]
        for frame, n in inner[: args.top]:
            print(f"    {100 * n / total:5.1f}%  {frame[:110]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--only", default="ab", help="a: 12d500a, b: the current code")
    parser.add_argument("--top", type=int, default=0, help="also list the top N frames")
    args = parser.parse_args()
    print(f"each conversation = {1 + len(SCRIPT)} turns over the widget's WebSocket")
    with tempfile.TemporaryDirectory(prefix="feedbot-profile-") as tmp, ExitStack() as stacks:
        work = Path(tmp)
        if "a" in args.only:
            (urls, pid) = stacks.enter_context(baseline_stack(work))
            profile("a 12d500a", urls[0], rasa_pid(pid), args, work)
        if "b" in args.only:
            (work / "b").mkdir()
            stack = stacks.enter_context(temporary_stack(work / "b"))
            pid = stack.child("rasa").process.pid
            profile("b now", ws_urls(stack)[0], pid, args, work)


if __name__ == "__main__":
    main()
