"""Sending surveys for a list of interactions (`feedbot survey send --csv`),
through the app's own API, so every contact rule and record applies."""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

FIELDS = ("channel", "phone", "customer_id", "touchpoint", "location", "interaction_id", "locale")


class BulkFileError(ValueError):
    pass


@dataclass(frozen=True)
class RowOutcome:
    line: int
    outcome: str  # sent, scheduled, suppressed, failed, already sent, invalid
    detail: str = ""


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise BulkFileError(f"{path}: no such file") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = {"channel", "touchpoint", "interaction_id"} - set(reader.fieldnames or [])
        if missing:
            raise BulkFileError(
                f"{path}: the header needs {', '.join(sorted(missing))} "
                f"(columns: {', '.join(FIELDS)})"
            )
        for number, row in enumerate(reader, start=2):
            yield number, {k: v.strip() for k, v in row.items() if k in FIELDS and v and v.strip()}


async def send_all(
    rows: Iterable[tuple[int, dict[str, str]]],
    api_url: str,
    token: str,
    on_row: Callable[[RowOutcome], None],
    concurrency: int = 4,
) -> Counter[str]:
    """Post every row, ``concurrency`` at a time. Rows are read as they are
    needed, so a file of any length takes the same memory."""
    outcomes: Counter[str] = Counter()
    pending = iter(rows)

    async def worker(http: aiohttp.ClientSession) -> None:
        for line, row in pending:  # shared: each row goes to one worker
            result = await _send_one(http, api_url, token, line, row)
            outcomes[result.outcome] += 1
            on_row(result)

    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return outcomes


async def _send_one(
    http: aiohttp.ClientSession, api_url: str, token: str, line: int, row: dict[str, str]
) -> RowOutcome:
    if not row.get("interaction_id"):
        return RowOutcome(line, "invalid", "no interaction_id (needed to re-run safely)")
    async with http.post(f"{api_url}/api/surveys", json=row) as resp:
        body = await resp.json(content_type=None)
        if resp.status == 401:
            raise PermissionError(body.get("error", "the API refused the token"))
        if resp.status >= 400:
            return RowOutcome(
                line, "invalid" if resp.status < 500 else "failed", body.get("error", "")
            )
        if body.get("duplicate"):
            return RowOutcome(line, "already sent", body.get("status", ""))
        return RowOutcome(line, body["status"], body.get("reason") or "")
