"""Turning pydantic's validation errors into one line a person can act on."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import ValidationError


def describe(exc: ValidationError, top: str = "(top level)") -> str:
    """'touchpoints.1.about: Field required; locations: ...' (places count from 0)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or top}: {err['msg'].removeprefix('Value error, ')}"
        for err in exc.errors()
    )


def time_zone_name(value: str) -> str:
    """A pydantic validator: an IANA time zone name this machine knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
    return value


class DuplicateKey(yaml.YAMLError):
    """A key written twice in one YAML mapping; the message names it and both lines."""


class _NoDuplicateKeys(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping: a
    theme or touchpoint listed twice would otherwise be read as the last
    one, silently."""


def _mapping(loader: _NoDuplicateKeys, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            lines = f"lines {seen[key] + 1} and {key_node.start_mark.line + 1}"
            raise DuplicateKey(f"{key!r} is listed twice ({lines}); keep one")
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_NoDuplicateKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str) -> Any:
    """YAML as yaml.safe_load reads it, but a key written twice in one
    mapping is an error (DuplicateKey, a yaml.YAMLError) that names both lines."""
    return yaml.load(text, Loader=_NoDuplicateKeys)
