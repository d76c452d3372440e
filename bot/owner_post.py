"""Sending what owners are told: e-mail over SMTP and Slack incoming
webhooks, from the outbox (feedbot.store.owner_outbox).

A failed try (the server down, a 4xx/5xx answer, a timeout) is tried again
after 5 s, 10 s, 20 s… (at most every 10 minutes) for a day, then recorded
as failed with its last error. Nothing here ever holds up a conversation: the
outbox is filled in a transaction and sent by a background round.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

import aiohttp
import aiosmtplib

from feedbot.owners import Owner
from feedbot.store.owner_outbox import Outgoing, OwnerOutbox

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=5)
LONGEST_WAIT = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(hours=24)
EMAIL, SLACK = "email", "slack"


class NotSent(Exception):
    """A try failed; the message says why (for the log and the outbox)."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # smtps://: TLS from the start
    start_tls: bool | None  # True: required; None: when the server offers it

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        implicit = parts.scheme == "smtps"
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if implicit else 587),
            username=username,
            password=password,
            use_tls=implicit,
            # A password never crosses the network in clear.
            start_tls=None if implicit or not password else True,
        )


class Mailer:
    """E-mail through the operator's SMTP server (SMTP_URL)."""

    def __init__(self, server: SmtpServer, sender: str, timeout: float = 20) -> None:
        self._server, self._sender, self._timeout = server, sender, timeout

    async def send(self, to: str, subject: str, text: str, html: str | None) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="feedbot")
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
        server = self._server
        try:
            await aiosmtplib.send(
                message,
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.use_tls,
                start_tls=server.start_tls,
                tls_context=ssl.create_default_context(),
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise NotSent(f"SMTP {server.host}:{server.port}: {type(exc).__name__}: {exc}") from exc


class Slack:
    """Messages to a Slack incoming webhook (``slack_webhook_url``)."""

    def __init__(self, http: aiohttp.ClientSession, timeout: float = 10) -> None:
        self._http, self._timeout = http, aiohttp.ClientTimeout(total=timeout)

    async def post(self, url: str, text: str) -> None:
        try:
            async with self._http.post(url, json={"text": text}, timeout=self._timeout) as resp:
                if not 200 <= resp.status < 300:
                    raise NotSent(f"Slack answered HTTP {resp.status}: {(await resp.text())[:200]}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NotSent(f"Slack: {type(exc).__name__}: {exc}") from exc


class OwnerPost:
    """Sends the outbox's due messages to owners as they are listed now."""

    def __init__(
        self,
        outbox: OwnerOutbox,
        owners: Callable[[str], Owner | None],
        mailer: Mailer | None,
        slack: Slack,
        clock: Callable[[], datetime],
    ) -> None:
        self._outbox, self._owners, self._mailer, self._slack = outbox, owners, mailer, slack
        self._clock = clock

    @property
    def mails(self) -> bool:
        return self._mailer is not None

    async def send_ready(self) -> int:
        """Every due message, tried once; how many went."""
        sent = 0
        for message in await self._outbox.take_ready(self._clock()):
            try:
                await self._deliver(message)
            except NotSent as exc:
                await self._failed(message, str(exc))
                continue
            await self._outbox.sent(message.id, self._clock())
            log.info(
                "%s %s (%s) sent to %s", message.kind, message.id, message.channel, message.owner
            )
            sent += 1
        return sent

    async def next_due(self) -> datetime | None:
        return await self._outbox.next_due()

    async def _deliver(self, message: Outgoing) -> None:
        owner = self._owners(message.owner)
        if owner is None:
            raise NotSent(f"{message.owner} is no longer an owner in the touchpoint file")
        if message.channel == EMAIL:
            if self._mailer is None:
                raise NotSent("SMTP_URL is not set")
            await self._mailer.send(owner.email, message.subject, message.text, message.html)
        elif message.channel == SLACK:
            if owner.slack_webhook_url is None:
                raise NotSent(f"{owner.email} has no slack_webhook_url any more")
            await self._slack.post(str(owner.slack_webhook_url), message.text)
        else:
            raise NotSent(f"unknown channel {message.channel!r}")

    async def _failed(self, message: Outgoing, error: str) -> None:
        now = self._clock()
        wait = min(FIRST_RETRY * 2 ** (message.attempts - 1), LONGEST_WAIT)
        retry_at = now + wait if now + wait - message.created_at < GIVE_UP_AFTER else None
        await self._outbox.failed(message.id, error, retry_at)
        if retry_at is None:
            log.error("%s %s to %s given up: %s", message.kind, message.id, message.owner, error)
        else:
            log.warning(
                "%s %s to %s not sent (try %d), again in %ds: %s",
                message.kind,
                message.id,
                message.owner,
                message.attempts,
                wait.total_seconds(),
                error,
            )
