"""Parsing ``key=value`` assignments given on the command line."""

from __future__ import annotations

import json
from typing import Any

from worldlab.errors import WorldlabError


def parse_value(text: str) -> Any:
    """``3`` → 3, ``0.5`` → 0.5, ``true`` → True, ``[1,2]`` → [1, 2], anything else → the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(items: list[str] | None, what: str = "--set") -> dict[str, Any]:
    """Turn ``["a.b=1", "c=x"]`` into ``{"a.b": 1, "c": "x"}`` with a clear error on bad items."""
    result: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WorldlabError(
                f"{what} '{item}' is malformed: expected KEY=VALUE, for example {what} name=3"
            )
        result[key.strip()] = parse_value(value)
    return result
