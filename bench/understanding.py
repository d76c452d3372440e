"""How well Feedbot understands replies, on labelled sets.

    .venv/bin/python -m bench.understanding

Scores: exact-match accuracy of the score (None counts as a label).
Themes: micro-averaged F1 over (reply, theme) pairs. Sentiment: accuracy.
Sets: the shared dev sets (../shared/eval, when present) and this project's
own (bench/data), whose every third line is held out: it was not looked at
while tuning the taxonomy and lexicons (see docs/understanding.md).
Also: the time to understand 100,000 replies, against reading them alone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from feedbot.settings import PROJECT_ROOT
from feedbot.understanding.reader import Understanding
from feedbot.understanding.scores import parse_score

SHARED = PROJECT_ROOT.parent / "shared" / "eval"
OWN = PROJECT_ROOT / "bench" / "data"


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def splits(path: Path) -> dict[str, list[dict]]:
    rows = load(path)
    return {
        "tune": [r for i, r in enumerate(rows) if i % 3],
        "held-out": [r for i, r in enumerate(rows) if i % 3 == 0],
    }


def score_accuracy(rows: list[dict]) -> float:
    return sum(parse_score(r["text"]) == r["score"] for r in rows) / len(rows)


def reason_figures(reader: Understanding, rows: list[dict]) -> tuple[float, float]:
    readings = list(reader.reasons([(r["text"], None) for r in rows]))
    tp = fp = fn = 0
    for row, reading in zip(rows, readings, strict=True):
        gold, found = set(row["themes"]), set(reading.themes)
        tp, fp, fn = tp + len(gold & found), fp + len(found - gold), fn + len(gold - found)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    accuracy = sum(
        reading.sentiment.value == row["sentiment"]
        for row, reading in zip(rows, readings, strict=True)
    ) / len(rows)
    return f1, accuracy


def labelled_sets(kind: str) -> dict[str, list[dict]]:
    """The shared dev set (when present) and this project's two splits."""
    sets = {}
    if (SHARED / f"{kind}.dev.jsonl").exists():
        sets["shared dev"] = load(SHARED / f"{kind}.dev.jsonl")
    for name, rows in splits(OWN / f"{kind}.jsonl").items():
        sets[f"own {name}"] = rows
    return sets


def main() -> None:
    reader = Understanding.from_taxonomy(PROJECT_ROOT / "themes.yml")
    print(f"{'set':<28} {'n':>4} {'score acc':>10}")
    score_sets = labelled_sets("scores")
    for name, rows in score_sets.items():
        print(f"{'scores: ' + name:<28} {len(rows):>4} {score_accuracy(rows):>10.3f}")
    print(f"\n{'set':<28} {'n':>4} {'theme F1':>10} {'sentiment':>10}")
    reason_sets = labelled_sets("reasons")
    for name, rows in reason_sets.items():
        f1, accuracy = reason_figures(reader, rows)
        print(f"{'reasons: ' + name:<28} {len(rows):>4} {f1:>10.3f} {accuracy:>10.3f}")

    texts = [r["text"] for rows in (*score_sets.values(), *reason_sets.values()) for r in rows]
    replies = [texts[i % len(texts)] + ("" if i < len(texts) else f" #{i}") for i in range(100_000)]
    began = time.perf_counter()
    baseline = [json.loads(json.dumps({"text": t}))["text"] for t in replies]  # read + parse only
    base_s = time.perf_counter() - began
    began = time.perf_counter()
    results = list(reader.replies(baseline))
    took = time.perf_counter() - began
    assert len(results) == len(replies)
    print(
        f"\n100,000 replies understood in {took:.1f} s ({len(replies) / took:,.0f}/s); "
        f"reading the JSON alone: {base_s:.2f} s ({took / base_s:.0f}x)"
    )


if __name__ == "__main__":
    main()
