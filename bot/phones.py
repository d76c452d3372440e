"""Phone numbers in E.164, with the phonenumbers library."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phonenumbers_timezone

from feedbot.locales import for_region


class InvalidPhone(ValueError):
    pass


def to_e164(raw: str, default_region: str) -> str:
    """'+44 7700 900123', '07700 900123' (in GB) -> '+447700900123'."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{raw!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def time_zone_of(e164: str, default: str) -> ZoneInfo:
    """The customer's time zone when the number tells it (one zone for its
    prefix), else the operator's default."""
    zones = phonenumbers_timezone.time_zones_for_number(phonenumbers.parse(e164))
    if len(zones) == 1:
        try:
            return ZoneInfo(zones[0])
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(default)


def region_locale(phone: str, default_region: str) -> str | None:
    """The language people expect a text in at this number's country, when it
    is not the default (Spain and Spanish-speaking Latin America: "es")."""
    try:
        number = phonenumbers.parse(phone, default_region)
    except phonenumbers.NumberParseException:
        return None
    return for_region(phonenumbers.region_code_for_number(number))
