import pytest

from feedbot.scores import parse_score


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9", 9),
        ("0", 0),
        ("10", 10),
        (" 7 ", 7),
        ("nine", 9),
        ("Ten", 10),
        ("zero", 0),
        ("10/10", 10),
        ("8 out of 10", 8),
        ("I'd give it a 7", 7),
        ("probably a 6", 6),
        ("2, the package was late", 2),
        # no single valid 0–10 score
        ("11", None),
        ("100", None),
        ("-3", None),
        ("9.5", None),
        ("7 or 8", None),
        ("between 6 and 7", None),
        ("very likely", None),
        ("", None),
        ("   ", None),
    ],
)
def test_parse_score(text: str, expected: int | None) -> None:
    assert parse_score(text) == expected
