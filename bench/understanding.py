"""How well Feedbot understands replies, on labelled sets.

    .venv/bin/python -m bench.understanding

Scores: exact-match accuracy of the score (None counts as a label).
Themes: micro-averaged F1 over (reply, theme) pairs. Sentiment: accuracy.
Sets: the shared dev sets (../shared/eval, when present) and this project's
own (bench/data; Spanish: *.es.jsonl), whose every third line is held out:
it was not looked at while tuning the taxonomy and lexicons (see
docs/understanding.md).
External sets: each public, human-labelled dev half in
../shared/eval/external/ (when present; read its README for the licences:
nothing from it is committed or shipped), understood exactly as `feedbot
understand` does and scored by the shared scorer (score_external.py) with
its rules (optional themes, lines without theme labels, mixed sentiment);
`--detail` adds each theme's precision and recall. For the sets whose
aspect labels name plain categories (MAMS, SemEval-2014), each theme's own
sentiment is scored against the labelled polarity of its aspects.
Also: the time to understand 100,000 replies, against reading them alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from feedbot.settings import PROJECT_ROOT
from feedbot.understanding.reader import Understanding
from feedbot.understanding.scores import parse_score

SHARED = PROJECT_ROOT.parent / "shared" / "eval"
EXTERNAL = SHARED / "external"
SCORER = SHARED / "score_external.py"
OWN = PROJECT_ROOT / "bench" / "data"


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def splits(path: Path) -> dict[str, list[dict]]:
    rows = load(path)
    return {
        "tune": [r for i, r in enumerate(rows) if i % 3],
        "held-out": [r for i, r in enumerate(rows) if i % 3 == 0],
    }


def score_accuracy(rows: list[dict], language: str = "en") -> float:
    return sum(parse_score(r["text"], language) == r["score"] for r in rows) / len(rows)


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


def labelled_sets(kind: str, language: str = "en") -> dict[str, list[dict]]:
    """The shared dev set (when present) and this project's two splits; for
    Spanish, the project's own Spanish set (bench/data/<kind>.es.jsonl)."""
    suffix = "" if language == "en" else f".{language}"
    sets = {}
    if (SHARED / f"{kind}{suffix}.dev.jsonl").exists():
        sets["shared dev"] = load(SHARED / f"{kind}{suffix}.dev.jsonl")
    for name, rows in splits(OWN / f"{kind}{suffix}.jsonl").items():
        sets[f"own {name}"] = rows
    return sets


def external_figures(reader: Understanding, gold: Path) -> tuple[str, list[str]]:
    """The shared scorer's summary line for this set, and its per-theme lines."""
    texts = [row["text"] for row in load(gold)]
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as out:
        for understood in reader.replies(texts):
            out.write(json.dumps(understood.as_json(), ensure_ascii=False) + "\n")
    try:
        scored = subprocess.run(
            [sys.executable, str(SCORER), str(gold), out.name],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        Path(out.name).unlink()
    detail = [
        line
        for line in scored.stderr.splitlines()
        if line.startswith(("themes:", "  ", "sentiment:")) and "miss" not in line
    ]
    return scored.stdout.strip(), detail


# The external README's mapping of the plain aspect categories (MAMS and
# SemEval-2014) to Feedbot's themes, the optional ones included: an aspect's
# polarity is the customer's whether or not the theme is scored.
ASPECT_THEMES = {
    "food": "product",
    "menu": "product",
    "staff": "staff",
    "service": "staff",
    "price": "price",
    "ambience": "facilities",
    "place": "facilities",
}


def theme_sentiment_figures(reader: Understanding, rows: list[dict]) -> tuple[float, int, int]:
    """Per-theme polarity accuracy: over the labelled aspects whose theme was
    tagged (a theme whose aspects disagree, e.g. food good and menu bad, is
    left out), how often the theme's own sentiment is the aspect's. Also how
    many were tagged, of how many labelled."""
    readings = reader.reasons([(r["text"], None) for r in rows])
    right = tagged = labelled = 0
    for row, reading in zip(rows, readings, strict=True):
        gold: dict[str, set[str]] = {}
        for label in row.get("labels", []):
            aspect, _, polarity = label.rpartition(":")
            if aspect in ASPECT_THEMES:
                gold.setdefault(ASPECT_THEMES[aspect], set()).add(polarity)
        for theme, polarities in gold.items():
            if len(polarities) != 1:
                continue
            labelled += 1
            if theme in reading.by_theme:
                tagged += 1
                right += reading.by_theme[theme].sentiment.value in polarities
    return (right / tagged if tagged else 0.0), tagged, labelled


def report_external(reader: Understanding, detail: bool) -> None:
    sets = sorted(EXTERNAL.glob("*.dev.jsonl")) if SCORER.exists() else []
    if not sets:
        print(f"\n(no external sets at {EXTERNAL}: skipped)")
        return
    print(
        f"\n{'external dev half':<34} {'n':>4} {'theme F1':>10} {'sentiment':>10} "
        f"{'per theme':>10}  (aspects tagged / labelled)"
    )
    for gold in sets:
        summary, lines = external_figures(reader, gold)
        figures = dict(part.split("=") for part in summary.split())
        name = gold.name.removesuffix(".dev.jsonl")
        per_theme = ""
        rows = load(gold)
        if any(label.rpartition(":")[0] in ASPECT_THEMES for r in rows for label in r["labels"]):
            accuracy, tagged, labelled = theme_sentiment_figures(reader, rows)
            per_theme = f"{accuracy:>10.3f}  ({tagged} / {labelled})"
        print(
            f"{name:<34} {figures['n']:>4} {float(figures['theme_f1']):>10.3f} "
            f"{float(figures['sentiment_acc']):>10.3f} {per_theme}"
        )
        if detail:
            for line in lines:
                print(f"    {line.strip()}")


def single_reason_latency(reader: Understanding, texts: list[str], n: int = 2000) -> None:
    """One reason at a time, as the action server reads each customer's why
    (actions/reason.py calls Understanding.reason once per answer)."""
    import statistics

    times = []
    for i in range(n):
        began = time.perf_counter()
        reader.reason(f"{texts[i % len(texts)]} #{i}")  # no two alike
        times.append(time.perf_counter() - began)
    cuts = statistics.quantiles(times, n=100)
    print(
        f"\none reason at a time ({n}): p50 {statistics.median(times) * 1000:.2f} ms, "
        f"p95 {cuts[94] * 1000:.2f} ms, p99 {cuts[98] * 1000:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detail", action="store_true", help="per-theme precision and recall")
    parser.add_argument("--no-speed", action="store_true", help="skip the 100,000-reply timing")
    args = parser.parse_args()
    reader = Understanding.from_taxonomy(PROJECT_ROOT / "themes.yml")
    print(f"{'set':<28} {'n':>4} {'score acc':>10}")
    score_sets = labelled_sets("scores")
    for name, rows in score_sets.items():
        print(f"{'scores: ' + name:<28} {len(rows):>4} {score_accuracy(rows):>10.3f}")
    for name, rows in labelled_sets("scores", "es").items():
        accuracy = score_accuracy(rows, "es")
        print(f"{'scores (es): ' + name:<28} {len(rows):>4} {accuracy:>10.3f}")
    print(f"\n{'set':<28} {'n':>4} {'theme F1':>10} {'sentiment':>10}")
    reason_sets = labelled_sets("reasons")
    for name, rows in reason_sets.items():
        f1, accuracy = reason_figures(reader, rows)
        print(f"{'reasons: ' + name:<28} {len(rows):>4} {f1:>10.3f} {accuracy:>10.3f}")
    spanish = Understanding.from_taxonomy(PROJECT_ROOT / "themes.yml", "es")
    for name, rows in labelled_sets("reasons", "es").items():
        f1, accuracy = reason_figures(spanish, rows)
        print(f"{'reasons (es): ' + name:<28} {len(rows):>4} {f1:>10.3f} {accuracy:>10.3f}")
    report_external(reader, args.detail)
    if args.no_speed:
        return
    single_reason_latency(reader, [r["text"] for rows in reason_sets.values() for r in rows])

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
