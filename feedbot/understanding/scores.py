"""Reading an NPS score (0–10) out of what a customer typed.

A reply holds a score only when it holds exactly one rating and that rating is
a whole number from 0 to 10: "9", "nine", "10/10", "ten out of ten", "I'd give
it a 7", "a solid eight", "3, the package arrived 2 days late", "8 👍", "🔟".
Everything else is ``None`` so the bot re-asks instead of guessing: out of
range ("11", "-3"), two candidates ("7 or 8"), decimals ("9.5"), other scales
("5 stars", "4/5"), numbers that are not ratings (durations, counts, money,
order and phone numbers) and words without a number ("very likely").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import emoji
from text_to_num import alpha2digit

from feedbot.understanding.vocabulary import TypoCorrector


@dataclass(frozen=True)
class ScoreReading:
    score: int | None
    # What else the reply says ("2. Waited 40 minutes" → "Waited 40 minutes"),
    # or the whole reply when the score is not at its start or end.
    rest: str


def parse_score(text: str, language: str = "en") -> int | None:
    return _decide(_normalise(text, language))


def read_score(text: str, language: str = "en") -> ScoreReading:
    """The score in a reply in ``language`` ("en", "es"; a Spanish survey
    also reads English number words, as bilingual customers write them)."""
    normalised = _normalise(text, language)
    score = _decide(normalised)
    rest = _rest(text, language) if score is not None else text.strip()
    return ScoreReading(score=score, rest=rest)


# Words right after a number that make it a duration, count, amount or time,
# not a rating.
_NOT_A_RATING_AFTER = frozenset(
    """
    second seconds sec secs minute minutes min mins hour hours hr hrs h day days week weeks
    wk wks month months year years yr yrs time times call calls attempt attempts try tries
    visit visits item items thing things order orders parcel parcels package packages box
    boxes email emails message messages text texts pound pounds quid dollar dollars buck bucks
    euro euros pence cent cents p am pm o'clock mile miles km kg step steps page pages
    click clicks ticket tickets seat seats floor floors aisle aisles till tills
    segundo segundos minuto minutos hora horas día días dia dias semana semanas mes meses
    año años ano anos vez veces llamada llamadas intento intentos visita visitas artículo
    artículos articulo articulos cosa cosas pedido pedidos paquete paquetes caja cajas
    correo correos mensaje mensajes euros peso pesos dólar dólares dolar dolares céntimo
    céntimos centimo centimos centavo centavos kilómetro kilómetros kilometro kilometros
    kilo kilos paso pasos página páginas pagina paginas clic clics entrada entradas asiento
    asientos piso pisos planta plantas pasillo pasillos mesa mesas
    """.split()
)
# A number before "de" and a month is a date ("el 3 de mayo"), not a rating.
_MONTHS = (
    "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|"
    "noviembre|diciembre"
)
_DATE = re.compile(rf"(?<![\d.,])\d{{1,2}}\s+de\s+(?:{_MONTHS})\b")
# People after a number count them ("we were 4 people", "2 staff on the tills"),
# except at the very start of a reply, where the number answers the question
# and the words after it are the why: "4 staff ignored me".
_PEOPLE_AFTER = frozenset(
    """
    people person persons staff guy guys man men woman women lady ladies kid kids
    persona personas empleado empleados empleada empleadas trabajador trabajadores chico
    chicos chica chicas señor señores señora señoras niño niños niña niñas hombre hombres
    mujer mujeres dependiente dependientes dependienta dependientas
    """.split()
)
_ONE_PERSON = frozenset(
    """
    person guy man woman lady kid persona empleado empleada trabajador chico chica señor
    señora niño niña hombre mujer dependiente dependienta
    """.split()
)
# Words after a number that put it on another scale: the reply is not an NPS score.
_OTHER_SCALE_AFTER = frozenset(
    "star stars percent % point points estrella estrellas punto puntos porciento".split()
)
# Words right before a number that make it an identifier or an amount.
_NOT_A_RATING_BEFORE = frozenset(
    """
    order number no num ref reference ticket case till aisle lane table room gate platform
    bus route flight item page step version zone door floor level unit code pin account
    minus negative
    pedido número numero nº referencia caso caja pasillo mesa habitación habitacion puerta
    andén anden vuelo línea linea autobús autobus ruta página pagina paso versión version
    zona planta piso nivel código codigo cuenta menos
    """.split()
)

# One-word and short spellings of "out of".
_OUT_OF = r"(?:/|out\s+of|outta|of|de|sobre)"
_FRACTION = re.compile(rf"(?<![\d.,])(-?\d+(?:[.,]\d+)?)\s*{_OUT_OF}\s*(\d+)(?![\d.,]*\d)")
_NUMBER = re.compile(r"(?<![\w.,/:#£$€+\-])(-?\d+(?:[.,]\d+)?)(?![\w%/]|[.,:]\d)")
_PRONOUN_ONE = re.compile(
    r"\b(no|every|some|the|this|that|which|each|any)\s+one\b|\bone\s+(?=of\b|more\b|thing\b|"
    r"another\b|who\b|person\b|guy\b|lady\b|man\b|woman\b)"
)
_RANGE = re.compile(r"(?<![\d.,])\d{1,2}\s*[-–]\s*\d{1,2}(?![\d.,])")
_KEYCAP = re.compile(r":keycap_(\d+):")
_EMOJI_NAME = re.compile(r":[a-z0-9_\-&.’']+:")
_WORD = re.compile(r"[a-zñáéíóúü]+")
_NUMBER_WORDS = {
    "en": ("zero", "three", "four", "five", "seven", "eight", "nine"),
    "es": ("cuatro", "cinco", "siete", "ocho", "nueve"),
}
# Spanish articles and pronouns that text2num would read as 1: "le doy un
# 8" is an 8, "una persona" is not a rating, "uno de ellos" is someone.
_SPANISH_ONE = re.compile(r"\b(?:un|una)\b|\buno\s+(?=de\b)")
_PERCENT = re.compile(r"\bpor\s+ciento\b")


@lru_cache(maxsize=2)
def _number_word_typos(language: str) -> TypoCorrector:
    return TypoCorrector(_NUMBER_WORDS[language], language=language)


# The scale said around the score ("on a scale of 0 to 10", "del 1 al 10"):
# not a rating itself.
_SCALE = re.compile(
    r"\b(?:(?:on\s+)?a\s+scale\s+)?(?:of|from)\s+[01]\s+to\s+(?:10|ten)\b|"
    r"\b(?:en\s+una\s+escala\s+)?del?\s+[01]\s+(?:al?|hasta(?:\s+el)?)\s+(?:10|diez)\b"
)
# "9 and a half", "9 y medio": 9.5, not 9.
_HALF = re.compile(r"(\d+)\s+(?:and\s+a\s+half|y\s+medio)\b")


def _normalise(text: str, language: str = "en") -> str:
    text = emoji.demojize(text.replace("\ufe0f", ""), delimiters=(" :", ": "))
    text = _KEYCAP.sub(r" \1 ", text)
    text = _EMOJI_NAME.sub(" ", text)
    text = text.lower().replace("’", "'")
    text = re.sub(r"(?<=[a-z])-(?=[a-z0-9])|(?<=[0-9])-(?=[a-z])", " ", text)  # "5-minute"
    typos = _number_word_typos("es" if language == "es" else "en")
    text = _WORD.sub(lambda m: typos.correct(m.group()) or m.group(), text)
    if language == "es":
        text = _PERCENT.sub("porciento", text)
        text = _SPANISH_ONE.sub(lambda m: "alguien " if m.group().startswith("uno") else "_", text)
        text = alpha2digit(text, "es", threshold=0)
        text = _DATE.sub(" ", text)
    text = _PRONOUN_ONE.sub(lambda m: m.group().replace("one", "someone"), text)
    text = alpha2digit(text, "en", threshold=0)
    return _HALF.sub(r"\1.5", _SCALE.sub(" ", text))


def _value(token: str) -> float:
    return float(token.replace(",", "."))


def _decide(text: str) -> int | None:
    explicit: list[float] = []  # "x/10", "x out of 10"
    for match in _FRACTION.finditer(text):
        if int(match.group(2)) != 10:
            return None  # another scale: 4/5, 3 out of 5
        if not _negated(text, match.start()):
            explicit.append(_value(match.group(1)))
    if explicit:
        return _single_valid(explicit)
    if _RANGE.search(text):
        return None  # "6-7": two candidates
    text = _FRACTION.sub(" ", text)
    candidates: list[float] = []
    opening_count: float | None = None
    for match in _NUMBER.finditer(text):
        token = match.group(1)
        before = _words_before(text, match.start())
        after = _word_after(text, match.end())
        if after in _OTHER_SCALE_AFTER or text[match.end() : match.end() + 1] == "%":
            return None
        if after in _NOT_A_RATING_AFTER or (before and before[-1] in _NOT_A_RATING_BEFORE):
            continue
        if after in _PEOPLE_AFTER:
            # "1 guy was rude" is one guy; "4 staff ignored me", opening the
            # reply, is a 4 (if no other number is the score).
            singular = after in _ONE_PERSON and _value(token) == 1
            if not text[: match.start()].strip() and not singular:
                opening_count = _value(token)
            continue
        if len(token.lstrip("-").split(".")[0].split(",")[0]) >= 3:
            continue  # ids, phone numbers, amounts: never a 0–10 rating
        if _negated(text, match.start()):
            continue  # "not a 10, more like 6"
        candidates.append(_value(token))
    if not candidates and opening_count is not None:
        candidates.append(opening_count)
    return _single_valid(candidates)


def _single_valid(values: list[float]) -> int | None:
    if not values or len(set(values)) != 1:
        return None  # nothing, or two different candidates ("7 or 8")
    value = values[0]
    if value != int(value) or not 0 <= value <= 10:
        return None
    if any(v < 0 for v in values):
        return None
    return int(value)


def _words_before(text: str, index: int, count: int = 2) -> list[str]:
    return _WORD.findall(text[:index])[-count:]


def _word_after(text: str, index: int) -> str:
    match = re.match(r"\s*([a-zñáéíóúü']+|%)", text[index:])
    return match.group(1) if match else ""


_NEGATED_BEFORE = re.compile(
    r"\b(?:(?:not|never)\s+(?:an?\s+)?|(?:no|nunca)\s+(?:(?:le|les|lo|la)\s+)?"
    r"(?:(?:es|era|sería|seria|fue|daría|daria|doy|di|pongo|pondría|pondria|puse|merece)\s+)?"
    r"(?:_\s+)?)$"
)


def _negated(text: str, index: int) -> bool:
    """A number right after "not" or "never" ("not a 10, more like 6", "no es
    un 10")."""
    return bool(_NEGATED_BEFORE.search(text[:index]))


# The score at the start or the end of a reply, with the words that carry it
# ("I'd give it a solid 8 because") and what joins it to the rest.
_FILLER = (
    r"(?:(?:i'?d|i|would|give|gave|rate|say|it|you|u|us|an?|solid|strong|weak|generous|"
    r"definitely|def|deffo|maybe|probably|prob|about|around|like|honestly|score|rating|my|is|"
    r"yo|le|les|doy|daría|daria|di|pongo|pondría|pondria|puse|un|una|mi|nota|puntuación|"
    r"puntuacion|es|sería|seria|diría|diria|quizás|quizas|tal\s+vez|probablemente|"
    r"sinceramente|como|un\s+buen|buen)\s+)*"
)
_SCORE_WORD = (
    r"(?:\d{1,2}|zero|one|two|three|four|five|six|seven|eight|nine|ten|"
    r"cero|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez)"
)
_SCORE_PART = rf"{_FILLER}{_SCORE_WORD}(?:\s*{_OUT_OF}\s*(?:10|ten|diez))?"
_LEADING = re.compile(
    rf"^\s*{_SCORE_PART}[\s,.;:!)(-]*"
    r"(?:(?:because|cos|coz|cause|as|since|but|porque|ya\s+que|pues|pero|aunque)\s+)?",
    re.IGNORECASE,
)
_TRAILING = re.compile(
    rf"[\s,.;:!-]+(?:(?:so|así\s+que|asi\s+que|por\s+eso)\s+)?{_SCORE_PART}[\s\W]*$",
    re.IGNORECASE,
)


# What is left after the score that is not a reason ("nine from me", "8 tbh").
_FILLER_ONLY = re.compile(
    r"^(?:from me|tbh|honestly|i think|i guess|ish|maybe|probably|definitely|thanks|"
    r"thank you|thx|cheers|ok|okay|yes|yeah|out of 10|out of ten|/10|"
    r"de mi parte|por mi parte|la verdad|creo|supongo|gracias|vale|sí|si|de 10|sobre 10|"
    r"de diez|sobre diez)?$",
    re.IGNORECASE,
)


def _rest(text: str, language: str = "en") -> str:
    """The reply without its score, when the score is at its start or end."""
    plain = emoji.replace_emoji(text, replace=" ").strip()
    score = _decide(_normalise(plain, language))
    rest = plain
    leading = _LEADING.match(plain)
    trailing = _TRAILING.search(plain)
    if leading and _decide(_normalise(leading.group(), language)) == score:
        rest = plain[leading.end() :]
    elif trailing and _decide(_normalise(trailing.group(), language)) == score:
        rest = plain[: trailing.start()]
    rest = rest.strip(" ,.;:-()!?")
    return "" if _FILLER_ONLY.match(rest) else rest
