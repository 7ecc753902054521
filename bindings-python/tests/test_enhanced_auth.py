"""MQTT 5.0 enhanced authentication (AUTH packets) against a scripted fake
broker: mosquitto 2.0 has no enhanced-auth plugin here. The fake speaks the
bytes of the MQTT 5.0 specification (sections 3.1 CONNECT, 3.2 CONNACK,
3.15 AUTH, 2.2.2 properties)."""

from __future__ import annotations

import asyncio
import queue
import socket
import struct
import threading
from typing import Any, Callable, Dict, List, Tuple

import pytest

import midge

METHOD = "X-MIDGE-TEST"

# Packet types (first byte of the fixed header, flags 0).
CONNECT, CONNACK, AUTH, DISCONNECT = 0x10, 0x20, 0xF0, 0xE0
# Property identifiers.
AUTHENTICATION_METHOD, AUTHENTICATION_DATA, REASON_STRING, USER_PROPERTY = 0x15, 0x16, 0x1F, 0x26
# AUTH reason codes.
SUCCESS, CONTINUE_AUTHENTICATION, REAUTHENTICATE = 0x00, 0x18, 0x19
BAD_AUTHENTICATION_METHOD = 0x8C

_BYTE = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
_U16 = {0x13, 0x21, 0x22, 0x23}
_U32 = {0x02, 0x11, 0x18, 0x27}
_UTF8 = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
_BINARY = {0x09, 0x16}


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s: str) -> bytes:
    data = s.encode()
    return struct.pack(">H", len(data)) + data


def binary(b: bytes) -> bytes:
    return struct.pack(">H", len(b)) + b


def properties(*items: bytes) -> bytes:
    body = b"".join(items)
    return varint(len(body)) + body


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def auth_packet(reason: int, data: bytes) -> bytes:
    return packet(
        AUTH,
        bytes([reason])
        + properties(bytes([AUTHENTICATION_METHOD]) + utf8(METHOD), bytes([AUTHENTICATION_DATA]) + binary(data)),
    )


def connack(reason: int, *props: bytes) -> bytes:
    return packet(CONNACK, bytes([0, reason]) + properties(*props))


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise AssertionError(f"packet too short: {self.data!r}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    def utf8(self) -> str:
        return self.take(self.u16()).decode()

    def binary(self) -> bytes:
        return self.take(self.u16())

    def properties(self) -> Dict[int, Any]:
        end = self.varint() + self.pos
        props: Dict[int, Any] = {}
        while self.pos < end:
            ident = self.byte()
            if ident in _BYTE:
                props[ident] = self.byte()
            elif ident in _U16:
                props[ident] = self.u16()
            elif ident in _U32:
                props[ident] = struct.unpack(">I", self.take(4))[0]
            elif ident == 0x0B:
                props[ident] = self.varint()
            elif ident in _UTF8:
                props[ident] = self.utf8()
            elif ident in _BINARY:
                props[ident] = self.binary()
            elif ident == USER_PROPERTY:
                props.setdefault(ident, []).append((self.utf8(), self.utf8()))
            else:
                raise AssertionError(f"unknown property 0x{ident:02x}")
        return props


class FakeBroker:
    """One connection on a free loopback port, handled by `script(self, conn)`
    on a thread. Failures are kept in `errors`; `log` records what the client
    sent as (packet, reason code, authentication data)."""

    def __init__(self, script: Callable[["FakeBroker", socket.socket], None]) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(20)
        self.url = f"mqtt://127.0.0.1:{self.listener.getsockname()[1]}"
        self.script = script
        self.errors: List[str] = []
        self.log: List[Tuple[str, int, Any]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(20)
            with conn:
                self.script(self, conn)
        except Exception as e:  # reported by join()
            self.errors.append(repr(e))
        finally:
            self.listener.close()

    def join(self) -> None:
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the fake broker's script did not finish"
        assert self.errors == []

    def read(self, conn: socket.socket) -> Tuple[int, bytes]:
        def exact(n: int) -> bytes:
            buf = b""
            while len(buf) < n:
                chunk = conn.recv(n - len(buf))
                if not chunk:
                    raise EOFError("the client closed the connection")
                buf += chunk
            return buf

        first = exact(1)[0]
        length, shift = 0, 0
        while True:
            b = exact(1)[0]
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return first, exact(length)

    def expect_connect(self, conn: socket.socket) -> Dict[int, Any]:
        first, body = self.read(conn)
        assert first == CONNECT, f"expected CONNECT, got 0x{first:02x}"
        r = Reader(body)
        assert r.utf8() == "MQTT" and r.byte() == 5, "not an MQTT 5.0 CONNECT"
        r.byte()  # connect flags
        r.u16()  # keep alive
        props = r.properties()
        self.log.append(("CONNECT", -1, props.get(AUTHENTICATION_DATA)))
        assert props.get(AUTHENTICATION_METHOD) == METHOD
        return props

    def expect_auth(self, conn: socket.socket, reason: int) -> bytes:
        first, body = self.read(conn)
        assert first == AUTH, f"expected AUTH, got 0x{first:02x}"
        got_reason = body[0] if body else SUCCESS
        props = Reader(body[1:]).properties() if len(body) > 1 else {}
        self.log.append(("AUTH", got_reason, props.get(AUTHENTICATION_DATA)))
        assert got_reason == reason, f"AUTH reason 0x{got_reason:02x}, expected 0x{reason:02x}"
        assert props.get(AUTHENTICATION_METHOD) == METHOD
        return props.get(AUTHENTICATION_DATA, b"")

    def expect_disconnect(self, conn: socket.socket) -> None:
        first, _ = self.read(conn)
        assert first == DISCONNECT, f"expected DISCONNECT, got 0x{first:02x}"
        self.log.append(("DISCONNECT", -1, None))


def handshake(fake: FakeBroker, conn: socket.socket) -> None:
    """CONNECT -> AUTH continue (challenge) -> AUTH continue (answer) -> CONNACK success."""
    props = fake.expect_connect(conn)
    assert props.get(AUTHENTICATION_DATA) == b"client-first"
    conn.sendall(auth_packet(CONTINUE_AUTHENTICATION, b"server-challenge"))
    assert fake.expect_auth(conn, CONTINUE_AUTHENTICATION) == b"client-response"
    conn.sendall(
        connack(
            SUCCESS,
            bytes([AUTHENTICATION_METHOD]) + utf8(METHOD),
            bytes([AUTHENTICATION_DATA]) + binary(b"server-final"),
        )
    )


def handshake_then_reauthenticate(fake: FakeBroker, conn: socket.socket) -> None:
    handshake(fake, conn)
    assert fake.expect_auth(conn, REAUTHENTICATE) == b"reauth-first"
    conn.sendall(auth_packet(CONTINUE_AUTHENTICATION, b"re-challenge"))
    assert fake.expect_auth(conn, CONTINUE_AUTHENTICATION) == b"re-response"
    conn.sendall(auth_packet(SUCCESS, b"re-final"))
    fake.expect_disconnect(conn)


ANSWERS = {b"server-challenge": b"client-response", b"re-challenge": b"re-response"}
OPTIONS = dict(client_id="auth-client", auth_method=METHOD, auth_data=b"client-first", reconnect=False)


def test_enhanced_authentication_and_reauthentication():
    fake = FakeBroker(handshake_then_reauthenticate)
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


def disconnect_after_handshake(fake: FakeBroker, conn: socket.socket) -> None:
    handshake(fake, conn)
    fake.expect_disconnect(conn)


async def test_async_enhanced_authentication():
    fake = FakeBroker(disconnect_after_handshake)
    client = midge.AsyncClient(fake.url, **OPTIONS)
    connecting = asyncio.ensure_future(client.connect())
    async for event in client.events():
        if isinstance(event, midge.AuthEvent) and event.needs_answer:
            assert event.authentication_method == METHOD
            await client.auth(ANSWERS[event.authentication_data])
        elif isinstance(event, midge.ConnectedEvent):
            break
    result = await connecting
    assert result.properties["authentication_data"] == b"server-final"
    await client.disconnect()
    await asyncio.get_running_loop().run_in_executor(None, fake.join)


def refuse(fake: FakeBroker, conn: socket.socket) -> None:
    fake.expect_connect(conn)
    conn.sendall(connack(BAD_AUTHENTICATION_METHOD, bytes([REASON_STRING]) + utf8("unknown method")))


def test_refused_authentication_method():
    fake = FakeBroker(refuse)
    client = midge.Client(fake.url, **OPTIONS)
    with pytest.raises(midge.ConnectionRefusedError) as e:
        client.connect(timeout=10)
    assert e.value.reason_code == BAD_AUTHENTICATION_METHOD
    assert "unknown method" in str(e.value)
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
