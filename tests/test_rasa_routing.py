"""Which Rasa instance a conversation goes to: a stable hash over the healthy
instances (rendezvous hashing), and what happens when one stops answering."""

from __future__ import annotations

import uuid
from collections import Counter

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.rasa_client import DOWN_FOR_SECONDS, RasaClient, RasaUnavailable, instance_order
from tests.helpers.stack import free_port

URLS = ["http://10.0.0.1:5005", "http://10.0.0.2:5005", "http://10.0.0.3:5005"]
CONVERSATIONS = [uuid.UUID(int=n).hex for n in range(3000)]


def test_a_conversation_always_goes_to_the_same_instance() -> None:
    for conversation in CONVERSATIONS[:50]:
        assert instance_order(conversation, URLS) == instance_order(conversation, URLS[::-1])


def test_conversations_spread_evenly() -> None:
    first = Counter(instance_order(c, URLS)[0] for c in CONVERSATIONS)
    assert set(first) == set(URLS)
    assert all(900 <= n <= 1100 for n in first.values()), first


def test_only_the_conversations_of_an_instance_that_goes_move() -> None:
    without = [URLS[0], URLS[2]]
    for conversation in CONVERSATIONS:
        before = instance_order(conversation, URLS)[0]
        after = instance_order(conversation, without)[0]
        if before != URLS[1]:
            assert after == before  # unaffected
        else:
            assert after == instance_order(conversation, URLS)[1]  # its next choice


async def rasa_stand_in(name: str, port: int) -> TestServer:
    """Stands in for a Rasa instance's REST channel; answers with its name
    (the real Rasa's part is tested in test_scale_out)."""

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response([{"recipient_id": body["sender"], "text": name}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_get("/", lambda _: web.Response(text="Hello from Rasa"))
    server = TestServer(app, port=port)
    await server.start_server()
    return server


async def test_a_conversation_moves_when_its_instance_refuses_and_comes_back() -> None:
    ports = {"one": free_port(), "two": free_port()}
    servers = {name: await rasa_stand_in(name, port) for name, port in ports.items()}
    urls = {name: str(s.make_url("")).rstrip("/") for name, s in servers.items()}
    now = [0.0]
    try:
        async with aiohttp.ClientSession() as http:
            client = RasaClient(http, list(urls.values()), 5, clock=lambda: now[0])
            conversation = next(
                c for c in CONVERSATIONS if instance_order(c, client.urls)[0] == urls["one"]
            )
            (reply,) = await client.send(conversation, "9", {}, "web")
            assert reply.text == "one"

            await servers["one"].close()  # refuses connections now
            (reply,) = await client.send(conversation, "9", {}, "web")
            assert reply.text == "two"
            assert client.healthy() == [urls["two"]]
            states = await client.ping()
            assert states[urls["two"]] == "ok" and states[urls["one"]].startswith("down")

            # Back on its port: once the pause is over, its conversations return.
            servers["one"] = await rasa_stand_in("one", ports["one"])
            (reply,) = await client.send(conversation, "9", {}, "web")
            assert reply.text == "two"  # still passed over
            now[0] += DOWN_FOR_SECONDS + 1
            (reply,) = await client.send(conversation, "9", {}, "web")
            assert reply.text == "one"
            await servers["one"].close()

            await servers["two"].close()
            with pytest.raises(RasaUnavailable):
                await client.send(conversation, "9", {}, "web")
            with pytest.raises(RasaUnavailable):
                await client.ping()
    finally:
        for server in servers.values():
            await server.close()


async def test_a_conversation_goes_to_an_instance_of_its_language() -> None:
    """One model per language: each conversation goes to its own language's
    instances (by the same stable hash among them), never to another
    language's, even when its own are down; a language with no instance
    falls back to English's, with a warning."""
    names = ["en-1", "en-2", "es-1", "es-2"]
    servers = {name: await rasa_stand_in(name, free_port()) for name in names}
    urls = {name: str(s.make_url("")).rstrip("/") for name, s in servers.items()}
    try:
        async with aiohttp.ClientSession() as http:
            english = [urls["en-1"], urls["en-2"]]
            spanish = [urls["es-1"], urls["es-2"]]
            client = RasaClient(http, english, 5, more_languages={"es": spanish})
            assert client.languages == ["en", "es"]
            for conversation in CONVERSATIONS[:40]:
                (reply,) = await client.send(conversation, "nueve", {}, "web", "es")
                assert reply.text.startswith("es-")
                assert urls[reply.text] == instance_order(conversation, spanish)[0]
                (reply,) = await client.send(conversation, "nine", {}, "web", "en")
                assert reply.text.startswith("en-")
            assert set(await client.ping()) == set(urls.values())  # every language's

            await servers["es-1"].close()
            await servers["es-2"].close()
            with pytest.raises(RasaUnavailable):  # not answered in English instead
                await client.send(CONVERSATIONS[0], "nueve", {}, "web", "es")

            only_english = RasaClient(http, english, 5)
            assert only_english.languages == ["en"]
            (reply,) = await only_english.send(CONVERSATIONS[0], "nueve", {}, "web", "es")
            assert reply.text.startswith("en-")
    finally:
        for server in servers.values():
            await server.close()
