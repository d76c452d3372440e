"""What the app itself says to customers in each language it speaks, where
the operator has no text to write: apologies when the bot is down, when a
person will reply, and HELP's words when no survey is open. The operator's
texts are in touchpoints.yml (per language under ``translations:``) and the
bot's in domain.yml and locales/<language>/domain.yml."""

from __future__ import annotations

from dataclasses import dataclass

from feedbot.locales import DEFAULT, LANGUAGES


@dataclass(frozen=True)
class AppWords:
    # The bot could not answer; the customer's words are kept.
    rasa_down_apology: str
    # No Rasa took the turn: the bot answers later by itself (bot.replay).
    bot_will_reply: str
    # HELP from a number with no open survey: "a short survey about {about}".
    about_anything: str
    # When a person will reply ({at}: "09:00"; {day}: a weekday's name).
    shortly: str
    today_at: str
    tomorrow_at: str
    on_day_at: str
    weekdays: tuple[str, str, str, str, str, str, str]  # Monday first


APP_WORDS = {
    "en": AppWords(
        rasa_down_apology="Sorry, I'm having a technical hiccup. Your message is saved; "
        "please try again in a minute.",
        bot_will_reply="Sorry, I'm having trouble right now. Your message is saved, "
        "and I'll reply here as soon as I can.",
        about_anything="your recent experience with us",
        shortly="shortly",
        today_at="today at {at}",
        tomorrow_at="tomorrow at {at}",
        on_day_at="on {day} at {at}",
        weekdays=("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    ),
    # Usted, as in every Spanish text Feedbot ships.
    "es": AppWords(
        rasa_down_apology="Disculpe, tenemos un problema técnico. Su mensaje está guardado; "
        "inténtelo de nuevo en un minuto, por favor.",
        bot_will_reply="Disculpe, ahora mismo tenemos un problema. Su mensaje está guardado "
        "y le responderé aquí en cuanto pueda.",
        about_anything="su experiencia reciente con nosotros",
        shortly="en breve",
        today_at="hoy a las {at}",
        tomorrow_at="mañana a las {at}",
        on_day_at="el {day} a las {at}",
        weekdays=("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    ),
}
assert set(APP_WORDS) == set(LANGUAGES)


def app_words(language: str | None) -> AppWords:
    """The app's words in this language (English for one it does not speak)."""
    return APP_WORDS.get(language or DEFAULT, APP_WORDS[DEFAULT])


def all_of(name: str) -> tuple[str, ...]:
    """One notice in every language (to recognise it in a transcript)."""
    return tuple(getattr(words, name) for words in APP_WORDS.values())
