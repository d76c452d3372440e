"""The score parser: table-driven on the labelled sets, and property tests."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedbot.settings import PROJECT_ROOT
from feedbot.understanding.scores import ScoreReading, parse_score, read_score

LABELLED = [
    json.loads(line)
    for path in (
        PROJECT_ROOT.parent / "shared" / "eval" / "scores.dev.jsonl",
        PROJECT_ROOT / "bench" / "data" / "scores.jsonl",
    )
    if path.exists()
    for line in path.read_text().splitlines()
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9", 9),
        ("nine", 9),
        ("10/10", 10),
        ("ten out of ten", 10),
        ("I'd give it a 7", 7),
        ("a solid eight", 8),
        ("3, the package arrived 2 days late", 3),
        ("8 👍", 8),
        ("🔟", 10),
        ("5️⃣", 5),
        ("sevn", 7),  # a typo of a number word
        ("not a 10, more like a 6", 6),
        ("11", None),
        ("100", None),
        ("-3", None),
        ("7 or 8", None),
        ("between 6 and 7", None),
        ("6-7", None),
        ("9.5", None),
        ("5 stars", None),
        ("4/5", None),
        ("I called 3 times", None),
        ("order 55812", None),
        ("call me on 07700 900123", None),
        ("very likely", None),
        ("fine", None),  # a real word, not a typo of "five" or "nine"
        ("no one called me", None),
        ("", None),
    ],
)
def test_parse_score(text: str, expected: int | None) -> None:
    assert parse_score(text) == expected


def test_the_labelled_sets_are_read_almost_perfectly() -> None:
    assert len(LABELLED) >= 200
    wrong = [(r["text"], r["score"]) for r in LABELLED if parse_score(r["text"]) != r["score"]]
    assert len(wrong) <= len(LABELLED) * 0.02, wrong


@pytest.mark.parametrize(
    ("text", "score", "rest"),
    [
        ("2. Waited 40 minutes on hold", 2, "Waited 40 minutes on hold"),
        ("3 because the line was huge", 3, "the line was huge"),
        ("the line was huge, 3", 3, "the line was huge"),
        ("a solid eight, lovely staff", 8, "lovely staff"),
        ("It took 2 weeks. I give it 3", 3, "It took 2 weeks"),
        ("9 👍", 9, ""),
        ("very likely", None, "very likely"),
        # A reply that opens with a number and people: the number is the
        # score, the rest the why (an SMS answer; it used to be a re-ask).
        ("4 staff ignored me", 4, "staff ignored me"),
        ("2 staff on the tills, 5", 5, "2 staff on the tills"),
        # A head count anywhere else, or one person, is not a score.
        ("we were 4 people and nobody came", None, "we were 4 people and nobody came"),
        ("1 guy was rude", None, "1 guy was rude"),
    ],
)
def test_the_rest_of_a_reply_is_its_reason(text: str, score: int | None, rest: str) -> None:
    assert read_score(text) == ScoreReading(score=score, rest=rest)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_never_crashes_and_never_leaves_the_scale(text: str) -> None:
    score = parse_score(text)
    assert score is None or (isinstance(score, int) and 0 <= score <= 10)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_the_same_reply_always_reads_the_same(text: str) -> None:
    assert parse_score(text) == parse_score(text)
    assert read_score(text) == read_score(text)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=10), st.sampled_from(["", "!", " 👍", "/10", " out of 10"])
)
def test_every_plain_score_is_read(score: int, suffix: str) -> None:
    assert parse_score(f"{score}{suffix}") == score


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=11, max_value=99) | st.integers(max_value=-1, min_value=-99))
def test_numbers_off_the_scale_are_never_scores(number: int) -> None:
    assert parse_score(str(number)) is None


SPANISH = [
    json.loads(line)
    for line in (PROJECT_ROOT / "bench" / "data" / "scores.es.jsonl").read_text().splitlines()
]


def test_the_spanish_labelled_set_is_read_almost_perfectly() -> None:
    assert len(SPANISH) >= 150
    wrong = [(r["text"], r["score"]) for r in SPANISH if parse_score(r["text"], "es") != r["score"]]
    assert len(wrong) / len(SPANISH) <= 0.03, wrong


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nueve", 9),
        ("un ocho", 8),  # "un" is an article, not a 1
        ("le doy un 7", 7),
        ("diez de diez", 10),
        ("🔟", 10),
        ("8 sobre 10", 8),
        ("no es un 10, más bien un 6", 6),
        ("nine", 9),  # a Spanish survey answered in English
        # The same refusals as in English:
        ("entre 6 y 7", None),  # a range
        ("siete u ocho", None),
        ("5 estrellas", None),  # another scale
        ("3 de 5", None),
        ("llamé 3 veces", None),  # a count
        ("tardó 3 días", None),  # a duration (accented unit)
        ("el 3 de mayo", None),  # a date
        ("pedido número 7", None),  # an order number
        ("una persona me ayudó", None),  # "una" is no rating
        ("un 9 y medio", None),  # 9.5
        ("once", None),  # 11
        ("muy probable", None),
    ],
)
def test_spanish_replies(text: str, expected: int | None) -> None:
    assert parse_score(text, "es") == expected


def test_the_spanish_reason_after_the_score_is_kept() -> None:
    assert read_score("Le doy un nueve porque el personal fue amable", "es") == ScoreReading(
        score=9, rest="el personal fue amable"
    )
    assert read_score("el pedido llegó tarde, le doy un 4", "es") == ScoreReading(
        score=4, rest="el pedido llegó tarde"
    )


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_spanish_reading_never_crashes_and_never_leaves_the_scale(text: str) -> None:
    score = parse_score(text, "es")
    assert score is None or (isinstance(score, int) and 0 <= score <= 10)
