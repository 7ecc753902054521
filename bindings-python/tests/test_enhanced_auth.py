"""MQTT 5.0 enhanced authentication (AUTH packets) against the shared
scripted broker (``midge-testkit scripted``, the one the Kotlin suite uses
too): mosquitto 2.0 has no enhanced-auth plugin here. The script's
``expect`` steps check what the client sent; its codec is midge-core's."""

from __future__ import annotations

import asyncio
import queue

import pytest

import midge
from conftest import ScriptedBroker

METHOD = "X-MIDGE-TEST"

# AUTH reason codes.
SUCCESS, CONTINUE_AUTHENTICATION, REAUTHENTICATE = 0x00, 0x18, 0x19
BAD_AUTHENTICATION_METHOD = 0x8C

M = f"authentication_method={METHOD}"
HANDSHAKE = f"""
expect CONNECT {M} authentication_data=client-first
send AUTH reason=0x18 {M} authentication_data=server-challenge
expect AUTH reason=0x18 {M} authentication_data=client-response
send CONNACK reason=0 {M} authentication_data=server-final
"""
HANDSHAKE_THEN_REAUTHENTICATE = HANDSHAKE + f"""
expect AUTH reason=0x19 {M} authentication_data=reauth-first
send AUTH reason=0x18 {M} authentication_data=re-challenge
expect AUTH reason=0x18 {M} authentication_data=re-response
send AUTH reason=0 {M} authentication_data=re-final
expect DISCONNECT
"""
DISCONNECT_AFTER_HANDSHAKE = HANDSHAKE + "expect DISCONNECT\n"
REFUSE = f"""
expect CONNECT {M}
send CONNACK reason=0x8c reason_string=unknown-method
"""


ANSWERS = {b"server-challenge": b"client-response", b"re-challenge": b"re-response"}
OPTIONS = dict(client_id="auth-client", auth_method=METHOD, auth_data=b"client-first", reconnect=False)


def test_enhanced_authentication_and_reauthentication():
    fake = ScriptedBroker(HANDSHAKE_THEN_REAUTHENTICATE)
    seen: "queue.Queue[midge.AuthEvent]" = queue.Queue()

    def on_event(event: midge.Event) -> None:
        if isinstance(event, midge.AuthEvent):
            seen.put(event)
            if event.needs_answer:
                client.auth(ANSWERS[event.authentication_data])

    client = midge.Client(fake.url, on_event=on_event, **OPTIONS)
    result = client.connect(timeout=10)  # the callback answers the challenge meanwhile
    assert result.properties["authentication_method"] == METHOD
    assert result.properties["authentication_data"] == b"server-final"
    challenge = seen.get(timeout=10)
    assert challenge == midge.AuthEvent(CONTINUE_AUTHENTICATION, METHOD, b"server-challenge")

    client.auth(b"reauth-first", reauthenticate=True)
    assert seen.get(timeout=10) == midge.AuthEvent(CONTINUE_AUTHENTICATION, METHOD, b"re-challenge")
    done = seen.get(timeout=10)
    assert (done.reason_code, done.authentication_data, done.needs_answer) == (SUCCESS, b"re-final", False)
    client.disconnect(timeout=5)
    fake.join()
    assert fake.log == [
        ("CONNECT", -1, b"client-first"),
        ("AUTH", CONTINUE_AUTHENTICATION, b"client-response"),
        ("AUTH", REAUTHENTICATE, b"reauth-first"),
        ("AUTH", CONTINUE_AUTHENTICATION, b"re-response"),
        ("DISCONNECT", -1, None),
    ]


async def test_async_enhanced_authentication():
    fake = ScriptedBroker(DISCONNECT_AFTER_HANDSHAKE)
    client = midge.AsyncClient(fake.url, **OPTIONS)
    connecting = asyncio.ensure_future(client.connect())
    async for event in client.events():
        if isinstance(event, midge.AuthEvent) and event.needs_answer:
            assert event.authentication_method == METHOD
            await client.auth(ANSWERS[event.authentication_data])
        elif isinstance(event, (midge.ConnectedEvent, midge.DisconnectedEvent)):
            break
    result = await connecting
    assert result.properties["authentication_data"] == b"server-final"
    await client.disconnect()
    await asyncio.get_running_loop().run_in_executor(None, fake.join)


def test_refused_authentication_method():
    fake = ScriptedBroker(REFUSE)
    client = midge.Client(fake.url, **OPTIONS)
    with pytest.raises(midge.ConnectionRefusedError) as e:
        client.connect(timeout=10)
    assert e.value.reason_code == BAD_AUTHENTICATION_METHOD
    assert "unknown-method" in str(e.value)
    fake.join()


def test_auth_argument_errors():
    client = midge.Client("mqtt://127.0.0.1:1", **OPTIONS)
    for kwargs, argument in [
        (dict(data=42), "data"),
        (dict(method=7), "method"),
        (dict(reauthenticate="yes"), "reauthenticate"),
    ]:
        with pytest.raises(midge.InvalidArgumentError) as e:
            client.auth(**kwargs)
        assert e.value.argument == argument
    with pytest.raises(midge.MqttError, match="not connected"):
        client.auth(b"too early")  # nothing to answer without a connection
    with pytest.raises(midge.InvalidArgumentError) as e:
        midge.Client("mqtt://127.0.0.1:1", auth_method=METHOD, authentication_method=METHOD)
    assert e.value.argument == "auth_method"
    with pytest.raises(midge.InvalidArgumentError) as e:
        midge.Client("mqtt://127.0.0.1:1", auth_method=5)
    assert e.value.argument == "auth_method"
    with pytest.raises(midge.InvalidArgumentError) as e:
        midge.Client("mqtt://127.0.0.1:1", protocol="3.1.1", auth_method=METHOD)
    assert (e.value.argument, e.value.rule) == ("auth_method", "enhanced authentication needs MQTT 5.0")
    with pytest.raises(midge.InvalidArgumentError) as e:
        midge.Client("mqtt://127.0.0.1:1", auth_data=b"no method")
    assert e.value.argument == "auth_data"
