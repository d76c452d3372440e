import re
from pathlib import Path

import pytest
import yaml

from feedbot.nps import Category
from feedbot.settings import PROJECT_ROOT
from feedbot.touchpoints import TouchpointConfigError, load_survey_config
from tests.chat import response_texts, response_variations

VALID = """
default_touchpoint: support
touchpoints:
  - id: support
    name: Support
    about: your call
    follow_up:
      detractor: "What went wrong?"
      passive: "What would make it a 10?"
      promoter: "What went well?"
  - id: delivery
    name: Delivery
    about: your delivery
locations:
  - {id: store-12, name: Store 12}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "touchpoints.yml"
    path.write_text(text)
    return path


def test_the_shipped_file_has_the_required_touchpoints() -> None:
    config = load_survey_config(PROJECT_ROOT / "touchpoints.yml")
    ids = {t.id for t in config.touchpoints}
    assert {"support", "delivery", "store_visit", "checkout"} <= ids
    for touchpoint in config.touchpoints:
        assert touchpoint.follow_up is not None
        wordings = {touchpoint.follow_up.for_category(c) for c in Category}
        assert len(wordings) == 3  # a different question per category
    assert config.accepts_location("anything-goes")  # no list: free-form


def test_a_valid_file_loads(tmp_path: Path) -> None:
    config = load_survey_config(write(tmp_path, VALID))
    support = config.touchpoint("support")
    assert support is not None and support.follow_up is not None
    assert support.follow_up.for_category(Category.PASSIVE) == "What would make it a 10?"
    delivery = config.touchpoint("delivery")
    assert delivery is not None and delivery.follow_up is None  # domain.yml's wording
    assert config.accepts_location("store-12")
    assert not config.accepts_location("store-13")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (VALID.replace("default_touchpoint: support", "default_touchpoint: nope"), "nope"),
        (VALID.replace("- id: delivery", "- id: support"), "listed twice"),
        (VALID.replace("- id: delivery", "- id: Delivery Now"), "touchpoints.1.id"),
        (VALID.replace("    about: your delivery\n", ""), "touchpoints.1.about"),
        (VALID.replace('promoter: "What went well?"', 'promotor: "x"'), "promoter"),
        (VALID + "colour: blue\n", "colour"),
        ("touchpoints: [", "not valid YAML"),
        ("", "(top level)"),
    ],
)
def test_mistakes_are_named_with_their_place(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TouchpointConfigError) as caught:
        load_survey_config(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(TouchpointConfigError, match="FEEDBOT_TOUCHPOINTS"):
        load_survey_config(tmp_path / "absent.yml")


@pytest.mark.parametrize(
    ("touchpoint", "location", "refusal"),
    [
        ("support", None, None),
        ("support", "store-12", None),
        ("moon", None, "Unknown touchpoint 'moon'. Known touchpoints: support, delivery."),
        ("support", "store-13", "Unknown location 'store-13'."),
    ],
)
def test_one_place_says_why_a_survey_is_refused(
    tmp_path: Path, touchpoint: str, location: str | None, refusal: str | None
) -> None:
    config = load_survey_config(write(tmp_path, VALID))
    assert config.refusal(touchpoint, location) == refusal


def test_every_way_of_asking_the_score_says_what_0_and_10_mean() -> None:
    """Read alone in a text, each variant must say which end is which."""
    for text in response_texts("utter_ask_score"):
        lowered = text.lower()
        assert "0" in text and "10" in text, text
        assert "not at all likely" in lowered and "extremely likely" in lowered, text


def test_no_greeting_promises_how_many_questions() -> None:
    """A vague reason brings a third question (the probe): "two quick
    questions" would not be true."""
    numbers = re.compile(r"\b(one|two|three|\d+)\s+(quick\s+)?questions?\b", re.I)
    for text in response_texts("utter_greet_survey"):
        assert not numbers.search(text), text


def test_the_sms_texts_say_who_is_writing_and_are_checked_at_start(tmp_path: Path) -> None:
    texts = load_survey_config(PROJECT_ROOT / "touchpoints.yml").sms
    assert texts.say("first_text", message="Hi! How likely…?") == (
        "Northwind Goods: Hi! How likely…? Reply STOP to opt out."
    )
    assert "your recent delivery" in texts.say("help", about="your recent delivery")
    for sms, expected in [
        ('first_text: "Hi from {company}: {message} STOP to stop"', "first_text uses {company}"),
        ('first_text: "{sender}: hi. Reply STOP"', "first_text must contain {message}"),
        ('first_text: "{sender}: {message}"', "first_text must say how to stop"),
        ('help: "{sender} {about"', "help:"),
    ]:
        path = write(tmp_path, VALID + f"sms:\n  {sms}\n")
        with pytest.raises(TouchpointConfigError) as caught:
            load_survey_config(path)
        assert expected in str(caught.value), str(caught.value)


def test_every_spanish_way_of_asking_the_score_says_what_0_and_10_mean() -> None:
    for text in response_texts("utter_ask_score", "es"):
        lowered = text.lower()
        assert "0" in text and "10" in text, text
        assert "nada probable" in lowered and "extremadamente probable" in lowered, text


def test_the_spanish_bot_has_every_response_the_english_one_has() -> None:
    """Each language's model is trained with domain.yml's responses replaced
    by its own: one left out would be said in English (and warned of)."""
    from feedbot import rasa_env

    assert rasa_env.bot_language("es").untranslated_responses() == []
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    for name, variations in domain["responses"].items():
        spanish = response_variations(name, "es")
        # The same conditions, so the Spanish bot says the same thing when.
        assert [v.get("condition") for v in spanish] == [v.get("condition") for v in variations]
        # Written in Spanish (a bare "{follow_up_question}" is the operator's).
        shared = set(response_texts(name, "es")) & set(response_texts(name))
        assert shared <= {"{follow_up_question}"}, name


def test_the_shipped_file_says_every_text_in_spanish() -> None:
    config = load_survey_config(PROJECT_ROOT / "touchpoints.yml")
    assert config.untranslated("es") == []
    spanish = config.in_language("es")
    for english, translated in zip(config.touchpoints, spanish.touchpoints, strict=True):
        assert translated.id == english.id and translated.name == english.name
        assert translated.about != english.about
        assert translated.follow_up is not None and english.follow_up is not None
        for category in Category:
            assert translated.follow_up.for_category(category) != english.follow_up.for_category(
                category
            )
    assert spanish.handoff.offer_question.startswith("Sentimos")
    assert "BAJA" in spanish.sms.say("first_text", message="Hola")
    # What is not a text is shared: the rules, the sender, the business hours.
    assert spanish.handoff.severe_score_at_most == config.handoff.severe_score_at_most
    assert spanish.sms.sender == config.sms.sender
    assert config.in_language("en") is config


def test_a_text_left_out_in_spanish_is_said_in_english_and_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        VALID
        + """
translations:
  es:
    touchpoints:
      support:
        about: su llamada
    handoff:
      recovery_thanks: Gracias.
""",
    )
    config = load_survey_config(path)
    spanish = config.in_language("es")
    support = spanish.touchpoint("support")
    assert support is not None and support.about == "su llamada"
    assert support.follow_up == config.touchpoints[0].follow_up  # English: not translated
    assert spanish.handoff.recovery_thanks == "Gracias."
    assert spanish.handoff.offer_question == config.handoff.offer_question
    missing = config.untranslated("es")
    assert "translations.es.touchpoints.support.follow_up" in missing
    assert "translations.es.touchpoints.delivery.about" in missing
    assert "translations.es.touchpoints.support.about" not in missing
    assert "translations.es.handoff.offer_question" in missing
    assert "translations.es.handoff.recovery_thanks" not in missing
    assert "translations.es.sms.help" in missing


@pytest.mark.parametrize(
    ("translations", "message"),
    [
        ("  fr:\n    handoff: {offer_declined: Non}\n", "translations.fr: Feedbot speaks es"),
        (
            "  es:\n    touchpoints:\n      spaceship: {about: nave}\n",
            "translations.es.touchpoints: 'spaceship' is not a touchpoint",
        ),
        ('  es:\n    sms:\n      help: "{sender}: ayuda"\n', "help must say how to stop"),
        ('  es:\n    sms:\n      reminder: "{nombre}"\n', "reminder uses {nombre}"),
        ("  es:\n    handoff:\n      offer_question: 3\n", "es.handoff.offer_question"),
    ],
)
def test_mistakes_in_a_translation_are_named_with_their_place(
    tmp_path: Path, translations: str, message: str
) -> None:
    path = write(tmp_path, VALID + "translations:\n" + translations)
    with pytest.raises(TouchpointConfigError) as caught:
        load_survey_config(path)
    assert message in str(caught.value), str(caught.value)
