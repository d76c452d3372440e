"""Our Rasa config (config.yml) against Rasa's default config, same data:
training time, per-turn latency and the conversation tests, in one run.

    .venv/bin/python -m bench.rasa_config      (several minutes: the default
                                                 config trains TensorFlow models)

Training runs with Rasa's component cache off, so each training is complete.
Latency is measured through Rasa's REST channel with the real action server,
one conversation at a time, alternating between the two models.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from bench.turn_latency import run_load, via_rasa
from commands.runner import Layout, plan_rasa, start_all, stop_children
from feedbot import rasa_env
from feedbot.settings import PROJECT_ROOT, Settings
from feedbot.store.migrate import upgrade
from tests.helpers.stack import block_until_healthy, free_port


def rasa_default_config() -> str:
    """Rasa's own default config (what it uses when config.yml names no pipeline
    or policies), read from the installed Rasa, without UnexpecTEDIntentPolicy:
    that policy refuses to train on this project's data ("No user features
    specified"), so the full default cannot train here at all."""
    (path,) = (PROJECT_ROOT / ".venv-rasa").glob(
        "lib/python3.*/site-packages/rasa/engine/recipes/config_files/default_config.yml"
    )
    config = yaml.safe_load(path.read_text())
    config["policies"] = [p for p in config["policies"] if p["name"] != "UnexpecTEDIntentPolicy"]
    return yaml.safe_dump(config, sort_keys=False)


def train(config: Path, out: Path, env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(
        [
            str(rasa_env.rasa_executable()),
            "train",
            "--config",
            str(config),
            "--out",
            str(out),
            "--fixed-model-name",
            "model",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - began


def conversation_tests(model: Path, out: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [
            str(rasa_env.rasa_executable()),
            "test",
            "core",
            "--model",
            str(model),
            "--stories",
            "tests/test_stories.yml",
            "--out",
            str(out),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    found = re.findall(r"Correct:\s+(\d+ / \d+)", result.stdout + result.stderr)
    return found[0] if found else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=20, help="per round and model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedbot-rasa-config-") as tmp:
        work = Path(tmp)
        env = rasa_env.rasa_environment()
        env["RASA_MAX_CACHE_SIZE"] = "0"  # no component cache: complete trainings
        (work / "default.yml").write_text(rasa_default_config())
        configs = {"ours": PROJECT_ROOT / "config.yml", "default": work / "default.yml"}
        results: dict[str, dict[str, object]] = {}
        for name, config in configs.items():
            print(f"training with {name} config…", flush=True)
            seconds = train(config, work / name, env)
            model = work / name / "model.tar.gz"
            results[name] = {
                "train_s": seconds,
                "size_mb": model.stat().st_size / 1e6,
                "stories": conversation_tests(model, work / f"{name}-results", env),
                "latency": [],
            }
        stacks = {}
        try:
            for name in configs:
                db = f"sqlite:///{work / name / 'feedbot.db'}"
                upgrade(db)
                port = free_port(2)
                settings = Settings(
                    database_url=db,
                    rasa_urls=(f"http://127.0.0.1:{port}",),
                    action_server_urls=(f"http://127.0.0.1:{port + 1}",),
                )
                model = work / name / "model.tar.gz"
                children = plan_rasa(settings, Layout(), work / name, model=model)
                start_all(children, settings)
                stacks[name] = (settings, children)
                block_until_healthy(f"{settings.rasa_url}/", children, 300)
            asyncio.run(_latencies(stacks, results, args))
        finally:
            for _, children in stacks.values():
                stop_children(children)
    ours, default = results["ours"], results["default"]
    print(
        f"\n{'config':<8} {'train s':>8} {'model MB':>9} {'p50 ms':>8} {'p95 ms':>8} {'stories':>9}"
    )
    for name, r in results.items():
        lat = r["latency"]
        print(
            f"{name:<8} {r['train_s']:>8.1f} {r['size_mb']:>9.1f} {lat['p50_ms']:>8.1f} "
            f"{lat['p95_ms']:>8.1f} {r['stories']:>9}"
        )
    print(
        f"\nours/default: training {ours['train_s'] / default['train_s']:.3f}x, "
        f"p50 turn {ours['latency']['p50_ms'] / default['latency']['p50_ms']:.2f}x, "
        f"p95 turn {ours['latency']['p95_ms'] / default['latency']['p95_ms']:.2f}x"
    )


async def _latencies(stacks: dict, results: dict, args: argparse.Namespace) -> None:
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in stacks}
    for settings, _ in stacks.values():
        await run_load(via_rasa(settings.rasa_url), 3, 1)  # warm up
    for _ in range(args.rounds):
        for name, (settings, _) in stacks.items():
            rounds[name].append(await run_load(via_rasa(settings.rasa_url), args.conversations, 1))
    for name, measured in rounds.items():
        results[name]["latency"] = {
            k: statistics.median(m[k] for m in measured) for k in ("p50_ms", "p95_ms")
        }


if __name__ == "__main__":
    main()
