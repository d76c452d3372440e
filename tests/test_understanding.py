"""Themes, sentiment and vagueness: quality on the labelled sets, the
taxonomy's format and errors, and an operator's own taxonomy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedbot.nps import Category
from feedbot.settings import PROJECT_ROOT
from feedbot.understanding.reader import Understanding, is_vague
from feedbot.understanding.sentiment import Sentiment, default_reader
from feedbot.understanding.themes import TaxonomyError, ThemeTagger, load_taxonomy

REASON_SETS = [
    path
    for path in (
        PROJECT_ROOT.parent / "shared" / "eval" / "reasons.dev.jsonl",
        PROJECT_ROOT / "bench" / "data" / "reasons.jsonl",
    )
    if path.exists()
]
REASONS = [json.loads(line) for path in REASON_SETS for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def reader() -> Understanding:
    return Understanding.from_taxonomy(PROJECT_ROOT / "themes.yml")


def figures(reader: Understanding, rows: list[dict]) -> tuple[float, float]:
    """Theme micro-F1 and sentiment accuracy on labelled reasons."""
    readings = list(reader.reasons([(r["text"], None) for r in rows]))
    tp = fp = fn = 0
    for row, reading in zip(rows, readings, strict=True):
        gold, found = set(row["themes"]), set(reading.themes)
        tp, fp, fn = tp + len(gold & found), fp + len(found - gold), fn + len(gold - found)
    right = sum(
        r.sentiment.value == row["sentiment"] for row, r in zip(rows, readings, strict=True)
    )
    return 2 * tp / (2 * tp + fp + fn), right / len(rows)


def test_themes_and_sentiment_on_the_labelled_reasons(reader: Understanding) -> None:
    assert len(REASONS) >= 150
    f1, accuracy = figures(reader, REASONS)
    assert f1 >= 0.9 and accuracy >= 0.9


@pytest.mark.parametrize(
    ("text", "themes"),
    [
        ("the waiter was rude and ignored us", ["staff"]),
        ("45 minutes on hold", ["wait_time"]),
        ("I got charged a late fee I didn't owe", ["price"]),  # 'late' here is no wait
        ("the drivers were lovely", ["staff", "delivery"]),  # plural, two themes
        ("delivry was late", ["wait_time", "delivery"]),  # a typo
        ("the <b>queue</b> was long", ["wait_time"]),  # markup glued to words
        ("only $49 a night for the room", ["price"]),  # an amount of money
        ("they lost my luggage", ["delivery"]),  # bags someone was meant to bring
        ("the bags were damaged", ["delivery"]),
        ("a lost bag", ["delivery"]),
        ("they charged 5p for a bag", ["price"]),  # a bag alone is not a delivery
        # How the staff treated the customer, said as a noun or as what they did.
        ("the rudeness was unbelievable", ["staff"]),
        ("we were greeted", ["staff"]),
        ("we were seated quickly", ["staff", "wait_time"]),
        # A word about the place, before or after it.
        ("a cute little place", ["facilities"]),
        ("the place was really calm", ["facilities"]),
        ("the place where I ordered", []),
        ("the wifi kept dropping", ["facilities"]),  # what a place offers its guests
        ("meh", []),
    ],
)
def test_themes(reader: Understanding, text: str, themes: list[str]) -> None:
    assert sorted(reader.reason(text).themes) == sorted(themes)


@pytest.mark.parametrize(
    ("text", "category", "sentiment"),
    [
        ("the staff were lovely", None, Sentiment.POSITIVE),
        ("parcel went missing", None, Sentiment.NEGATIVE),
        ("friendly staff but the price is too high", None, Sentiment.NEUTRAL),  # mixed
        ("the delivery", Category.DETRACTOR, Sentiment.NEGATIVE),  # says nothing; the score does
        ("the delivery", Category.PROMOTER, Sentiment.POSITIVE),
        ("nothing", Category.DETRACTOR, Sentiment.NEUTRAL),  # about nothing: no guess
        ("RUDE staff!!!", None, Sentiment.NEGATIVE),
        ("can someone help me please?", None, Sentiment.NEUTRAL),  # a request, not praise
        ("the chips were soggy and lukewarm", None, Sentiment.NEGATIVE),  # quality words
        ("the staff were so helpful", None, Sentiment.POSITIVE),
        # A denial that names nothing good or bad is a complaint...
        ("they never called me back about the refund", None, Sentiment.NEGATIVE),
        ("the driver would not carry it upstairs", None, Sentiment.NEGATIVE),
        # ...but a bare "no" is not, and "no problems" is praise.
        ("no comment", None, Sentiment.NEUTRAL),
        ("no problems at all with the order", None, Sentiment.POSITIVE),
        ("why was my order cancelled?", None, Sentiment.NEGATIVE),  # asking why is complaining
        ("I want to speak to a manager", None, Sentiment.NEUTRAL),  # a demand, not praise
        # Service phrases count the other way after a negation.
        ("not worth it", None, Sentiment.NEGATIVE),
        ("no complaints", None, Sentiment.POSITIVE),  # the phrase's own "no" is not before it
        # Coming back and recommending is loyalty; refusing to is its opposite.
        ("we will definitely come back", None, Sentiment.POSITIVE),
        ("a must try", None, Sentiment.POSITIVE),
        ("won't be coming back", None, Sentiment.NEGATIVE),
        ("I wouldn't go back", None, Sentiment.NEGATIVE),
        # Why and with whom they came is not how it went...
        ("we came with friends for a birthday party", None, Sentiment.NEUTRAL),
        # ...and "like" that compares or asks is not liking.
        ("it felt like a school canteen", None, Sentiment.NEUTRAL),
        ("I would like a table by the window", None, Sentiment.NEUTRAL),
        ("I like the food", None, Sentiment.POSITIVE),
        # A handle or a web address names something; its words are no opinion.
        ("@united worst service ever", None, Sentiment.NEGATIVE),
        ("@united where is my parcel", None, Sentiment.NEUTRAL),
        ("where is my parcel? https://shop.example/best/offers", None, Sentiment.NEUTRAL),
    ],
)
def test_sentiment(
    reader: Understanding, text: str, category: Category | None, sentiment: Sentiment
) -> None:
    assert reader.reason(text, category).sentiment is sentiment


@pytest.mark.parametrize(
    ("text", "category", "own"),
    [
        (
            "the food was great but the service was slow",
            None,
            {"product": "positive", "staff": "negative", "wait_time": "negative"},
        ),
        ("rude waiter, lovely pasta", None, {"staff": "negative", "product": "positive"}),
        (
            "the price was fine, the manager was rude to us",
            None,
            {"price": "neutral", "staff": "negative"},
        ),
        # One theme only: the reason is about it, so when the words next to
        # it say nothing, the reason's sentiment (here from the score) is its.
        ("the delivery", Category.DETRACTOR, {"delivery": "negative"}),
        ("the delivery, what a disaster", None, {"delivery": "negative"}),
        # Several themes, none with words of its own sentiment: with a score
        # (a 2), each takes the answer's; without one, nothing is known.
        (
            "the driver threw my parcel over the fence, I want a refund",
            Category.DETRACTOR,
            {"staff": "negative", "resolution": "negative", "delivery": "negative"},
        ),
        (
            "the driver threw my parcel over the fence, I want a refund",
            None,
            {"staff": "neutral", "resolution": "neutral", "delivery": "neutral"},
        ),
        # One theme with its own words keeps them; the rest are not made up.
        (
            "the price was fine, the manager was rude to us",
            Category.DETRACTOR,
            {"price": "neutral", "staff": "negative"},
        ),
    ],
)
def test_each_theme_has_its_own_sentiment(
    reader: Understanding, text: str, category: Category | None, own: dict[str, str]
) -> None:
    reading = reader.reason(text, category)
    assert {t: r.sentiment.value for t, r in reading.by_theme.items()} == own
    assert list(reading.by_theme) == reading.themes  # the same themes, in the same order


def test_each_theme_says_which_words_made_it(reader: Understanding) -> None:
    reading = reader.reason("Lovely risotto, but the waiter was rude and the waiter forgot us")
    assert reading.by_theme["product"].words == ["risotto"]
    assert reading.by_theme["staff"].words == ["waiter", "rude"]  # once each, in text order


def test_a_theme_word_inside_a_hyphenated_word_keeps_its_clause(reader: Understanding) -> None:
    # "-" inside a word is not a dash: "well-priced drinks" stays one clause.
    reading = reader.reason("the food was so-so, the well-priced menu was great")
    assert reading.by_theme["price"].sentiment is Sentiment.POSITIVE


@pytest.mark.parametrize(
    ("text", "vague"),
    [
        ("idk", True),
        ("just because", True),
        ("it was ok", True),
        ("nothing", True),
        ("the queue", False),  # short, but about something
        ("I honestly don't have anything to add", False),  # long enough to be an answer
    ],
)
def test_vague_reasons(reader: Understanding, text: str, vague: bool) -> None:
    assert reader.reason(text).vague is vague
    assert is_vague(text, reader.reason(text).themes) is vague


def test_an_operator_taxonomy_with_its_own_theme(tmp_path: Path) -> None:
    path = tmp_path / "themes.yml"
    path.write_text(
        """
themes:
  parking:
    label: Parking
    phrases: [car park, parking space]
    patterns:
      - [{NORM: "no"}, {NORM: space}]
    except: [parking ticket]
  staff:
    label: Staff
    phrases: [cashier]
"""
    )
    tagger = ThemeTagger(load_taxonomy(path))
    assert tagger.tag("the car parks were full") == ["parking"]
    assert tagger.tag("no space anywhere") == ["parking"]
    assert tagger.tag("got a parking ticket") == []
    assert tagger.tag("the cashiers and the parking space") == ["parking", "staff"]


def test_a_theme_takes_every_word_of_its_word_classes(tmp_path: Path) -> None:
    """WordNet's foods and drinks, without typo correction or lemmatising of
    the class words themselves (spaCy's lemma table turns the noun "feed"
    into "fee")."""
    path = tmp_path / "themes.yml"
    path.write_text(
        """
themes:
  product:
    label: Product
    word_classes: [food, drink]
  price:
    label: Price
    phrases: [fee]
"""
    )
    tagger = ThemeTagger(load_taxonomy(path))
    assert tagger.tag("the risotto was bland") == ["product"]
    assert tagger.tag("stale bagels again") == ["product"]  # plural: the reason is lemmatised
    assert tagger.tag("a lukewarm cappuccino") == ["product"]
    assert tagger.tag("the late fee is unfair") == ["price"]
    assert tagger.tag("the course was hard to follow") == []  # a race course first, not a dish


def test_the_default_taxonomy_hears_dishes_as_product(reader: Understanding) -> None:
    assert "product" in reader.reason("the lasagna was cold and the espresso bitter").themes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("themes: [", "not valid YAML"),
        ("themes: {}", "themes"),
        ("themes:\n  staff: {label: Staff, phrases: [x], colour: red}", "themes.staff.colour"),
        ("themes:\n  staff: {label: Staff}", "needs phrases, patterns or word_classes"),
        (
            "themes:\n  product: {label: Product, word_classes: [food, cars]}",
            "themes.product.word_classes.1: no word class 'cars'",
        ),
        ("themes:\n  Staff: {label: Staff, phrases: [x]}", "lower case"),
        (
            "themes:\n  staff: {label: Staff, patterns: [[{NOPE: 1}]]}",
            "themes.staff.patterns.0",
        ),
        ("themes:\n  staff: {label: Staff, patterns: [[{NORM: no}]]}", 'quote it ("no")'),
        (  # the same inside a list of words
            "themes:\n  staff: {label: Staff, patterns: [[{LOWER: {NOT_IN: [to, on]}}]]}",
            "themes.staff.patterns.0: LOWER is True",
        ),
    ],
)
def test_taxonomy_mistakes_are_named_with_their_place(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "themes.yml"
    path.write_text(text)
    with pytest.raises(TaxonomyError) as caught:
        ThemeTagger(load_taxonomy(path), source=str(path))
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_sentiment_reader_is_shared() -> None:
    assert default_reader() is default_reader()


def test_word_classes_take_a_words_most_frequent_sense_only(tmp_path: Path) -> None:
    """tools/wordnet_word_classes.py on a tiny WordNet in WordNet 3.0's own
    file format: "course" is a dish in one sense, but a race course first."""
    from tools.wordnet_word_classes import WordNet

    (tmp_path / "index.noun").write_text(
        "  1 licence header line\n"
        "food n 1 1 ~ 1 0 00000001  \n"
        "risotto n 1 0 1 0 00000002  \n"
        "course n 2 0 2 0 00000004 00000002  \n"
        "bagel n 1 0 1 0 00000003  \n"
    )
    (tmp_path / "data.noun").write_text(
        "  1 licence header line\n"
        "00000001 13 n 01 food 0 002 ~ 00000002 n 0000 ~ 00000003 n 0000 | any food  \n"
        "00000002 13 n 02 risotto 0 course 0 000 | a rice dish  \n"
        "00000003 13 n 01 bagel 0 000 | a bread roll  \n"
        "00000004 06 n 01 course 0 000 | a race course  \n"
    )
    assert WordNet(tmp_path).word_class(["food.n.01"]) == ["bagel", "food", "risotto"]


def test_the_shipped_word_classes_are_the_tools(tmp_path: Path) -> None:
    import yaml

    from feedbot.understanding.themes import WORD_CLASSES
    from tools.wordnet_word_classes import CLASSES

    shipped = yaml.safe_load(WORD_CLASSES.read_text())
    assert shipped["roots"] == CLASSES and set(shipped["classes"]) == set(CLASSES)
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in WORD_CLASSES.read_text()
    assert {"risotto", "bagel", "espresso"} <= set(shipped["classes"]["food"]) | set(
        shipped["classes"]["drink"]
    )


SPANISH_REASONS = [
    json.loads(line)
    for line in (PROJECT_ROOT / "bench" / "data" / "reasons.es.jsonl").read_text().splitlines()
]


@pytest.fixture(scope="module")
def spanish() -> Understanding:
    return Understanding.from_taxonomy(PROJECT_ROOT / "themes.yml", "es")


def test_themes_and_sentiment_on_the_spanish_labelled_reasons(spanish: Understanding) -> None:
    """The same taxonomy and three sentiments as in English, from Spanish words."""
    assert len(SPANISH_REASONS) >= 100
    f1, accuracy = figures(spanish, SPANISH_REASONS)
    assert f1 >= 0.9 and accuracy >= 0.85


@pytest.mark.parametrize(
    ("text", "themes", "sentiment"),
    [
        ("el personal fue muy amable", ["staff"], Sentiment.POSITIVE),
        ("los empleados fueron groseros", ["staff"], Sentiment.NEGATIVE),  # a plural
        ("el envio llego tarde", ["wait_time", "delivery"], Sentiment.NEGATIVE),  # no accents
        ("la comida estaba buena pero el servicio fue lento", None, Sentiment.NEUTRAL),  # mixed
        ("no está mal", [], Sentiment.POSITIVE),  # praise said as a negation
        ("nadie me llamó como prometieron", ["communication"], Sentiment.NEGATIVE),  # "como"
        ("ni idea", [], Sentiment.NEUTRAL),  # vague, not about anyone
    ],
)
def test_spanish_themes_and_sentiment(
    spanish: Understanding, text: str, themes: list[str] | None, sentiment: Sentiment
) -> None:
    reading = spanish.reason(text)
    if themes is not None:
        assert sorted(reading.themes) == sorted(themes)
    assert reading.sentiment is sentiment


def test_each_spanish_theme_has_its_own_sentiment(spanish: Understanding) -> None:
    reading = spanish.reason("la comida estaba riquísima pero el camarero fue muy borde")
    assert reading.by_theme["product"].sentiment is Sentiment.POSITIVE
    assert reading.by_theme["staff"].sentiment is Sentiment.NEGATIVE
    assert reading.by_theme["staff"].words == ["camarero", "borde"]


def test_a_vague_spanish_reason_gets_one_probe(spanish: Understanding) -> None:
    assert spanish.reason("ni idea").vague
    assert spanish.reason("normal").vague
    assert not spanish.reason("la cola era larguísima").vague


def test_an_operators_spanish_words_tag_the_same_theme(tmp_path: Path) -> None:
    path = tmp_path / "themes.yml"
    path.write_text(
        """
themes:
  parking:
    label: Parking
    phrases: [car park]
    es:
      phrases: [aparcamiento, plaza de garaje]
      except: [aparcamiento de bicicletas]
"""
    )
    english = Understanding.from_taxonomy(path)
    spanish = Understanding.from_taxonomy(path, "es")
    assert english.reason("the car park was full").themes == ["parking"]
    assert spanish.reason("no había aparcamiento").themes == ["parking"]
    assert spanish.reason("las plazas de garaje eran estrechas").themes == ["parking"]
    assert spanish.reason("el aparcamiento de bicicletas").themes == []
    assert english.reason("no había aparcamiento").themes == []  # Spanish words are Spanish


def test_a_mistake_in_a_spanish_pattern_is_named_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "themes.yml"
    path.write_text(
        "themes:\n  staff:\n    label: Staff\n    phrases: [staff]\n"
        "    es:\n      patterns:\n        - [{LOWER: no}]\n"
    )
    with pytest.raises(TaxonomyError) as caught:
        load_taxonomy(path)
    assert "themes.staff.es.patterns.0" in str(caught.value)
