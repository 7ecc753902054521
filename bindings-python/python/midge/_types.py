"""The values midge hands back: operation results and connection events.

Events (``client.events()``, ``Client(on_event=...)``) report what no single
call waits for: a (re)connection, a lost connection, subscriptions restored
after the broker lost the session, a 5.0 AUTH exchange step, a session store
failure. Each is a frozen dataclass; test with ``isinstance``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ._errors import MqttError

__all__ = [
    "ConnectResult",
    "PublishResult",
    "SubscribeResult",
    "Event",
    "ConnectedEvent",
    "DisconnectedEvent",
    "SubscriptionsRestoredEvent",
    "AuthEvent",
    "StoreFailedEvent",
    "RedirectedEvent",
]


@dataclass(frozen=True)
class ConnectResult:
    """The broker's answer to CONNECT (CONNACK)."""

    session_present: bool
    """True when the broker resumed a session it kept for this client id."""
    reason_code: int
    """The CONNACK reason code: 0 (success)."""
    client_id: str
    """The client id in use (assigned by a 5.0 broker when you gave none)."""
    keep_alive: int
    """Keep-alive in use, in seconds (a 5.0 broker may override yours)."""
    properties: Dict[str, Any] = field(default_factory=dict)
    """The server's 5.0 CONNACK properties, e.g. ``assigned_client_identifier``,
    ``receive_maximum``, ``server_keep_alive``, ``topic_alias_maximum``."""
    server: str = ""
    """The broker URL this connection reached."""
    reconnected: bool = False
    """True for an automatic reconnect; False for a connection that ``connect()`` asked for."""

    @property
    def assigned_client_identifier(self) -> Optional[str]:
        """The client id a 5.0 broker assigned, when you gave none."""
        return self.properties.get("assigned_client_identifier")

    @property
    def receive_maximum(self) -> Optional[int]:
        """The broker's Receive Maximum: QoS 1/2 publishes it accepts in flight."""
        return self.properties.get("receive_maximum")

    @property
    def server_keep_alive(self) -> Optional[int]:
        """The keep-alive in seconds the broker imposes instead of yours, if it sent one."""
        return self.properties.get("server_keep_alive")


@dataclass(frozen=True)
class PublishResult:
    """Completion of a publish: PUBACK/PUBCOMP for QoS 1/2 (``reason_code``
    0 success or 0x10 no matching subscribers), acceptance for QoS 0."""

    reason_code: int = 0
    """0 (success) or 0x10 (no matching subscribers)."""
    properties: Mapping[str, Any] = field(default_factory=dict)
    """5.0 ``reason_string`` and ``user_properties`` of the PUBACK/PUBCOMP
    (read-only; empty for most publishes)."""


@dataclass(frozen=True)
class SubscribeResult:
    """The broker's answer for one filter of a SUBSCRIBE."""

    filter: str
    """The topic filter this result is for."""
    reason_code: int
    """0, 1 or 2 when granted, else the failure reason code (>= 0x80)."""

    @property
    def granted_qos(self) -> Optional[int]:
        """The QoS the broker granted, or None when it refused the filter."""
        return self.reason_code if self.reason_code < 0x80 else None

    @property
    def ok(self) -> bool:
        """True when the broker granted the filter."""
        return self.reason_code < 0x80


@dataclass(frozen=True)
class Event:
    """Base class of the connection events."""


@dataclass(frozen=True)
class ConnectedEvent(Event):
    """The broker accepted a connection: the first one, or an automatic
    reconnect (``result.reconnected``)."""

    result: ConnectResult
    """The broker's CONNACK, as ``connect()`` returns it."""


@dataclass(frozen=True)
class DisconnectedEvent(Event):
    """The connection ended or an attempt failed. ``error`` says why (a
    :class:`midge.MqttError` subclass); ``reconnecting`` is True when the
    client will try again by itself: in ``reconnect_in`` seconds, as attempt
    number ``attempt`` (1 for the first retry; the core counts it, so npm's
    ``offline`` event shows the same numbers). Not reconnecting:
    ``reconnect_in`` is None and ``attempt`` 0."""

    error: MqttError
    """Why the connection ended (a :class:`midge.MqttError` subclass)."""
    reconnecting: bool
    """True when the client will try again by itself."""
    reconnect_in: Optional[float] = None
    """Seconds until that attempt; None when not reconnecting."""
    attempt: int = 0
    """Number of that attempt since the last stable connection (1 for the first retry); 0 when not reconnecting."""


@dataclass(frozen=True)
class SubscriptionsRestoredEvent(Event):
    """The broker had lost the session (e.g. it restarted without
    persistence, or the session expired), so the client subscribed again to
    every filter it had: the broker's answer per filter."""

    results: List[SubscribeResult]
    """The broker's answer for each filter subscribed again."""

    @property
    def ok(self) -> bool:
        """True when every filter was granted."""
        return all(r.ok for r in self.results)


#: AUTH reason codes (MQTT 5.0 section 3.15.2.1).
AUTH_SUCCESS = 0x00
AUTH_CONTINUE = 0x18
AUTH_REAUTHENTICATE = 0x19


@dataclass(frozen=True)
class AuthEvent(Event):
    """5.0 enhanced authentication: the broker sent AUTH. With
    ``reason_code`` 0x18 (continue authentication) it waits for your answer,
    ``client.auth(data)``; with 0x00 a re-authentication succeeded."""

    reason_code: int
    """0x18 (continue authentication: answer it) or 0x00 (re-authentication done)."""
    authentication_method: Optional[str] = None
    """The authentication method's name, e.g. ``SCRAM-SHA-256``."""
    authentication_data: Optional[bytes] = None
    """The broker's challenge data; its meaning is the method's."""
    reason_string: Optional[str] = None
    """Human-readable reason, for diagnostics only."""
    user_properties: List[Tuple[str, str]] = field(default_factory=list)
    """The AUTH packet's user properties as (name, value) pairs."""

    @property
    def needs_answer(self) -> bool:
        """True when the broker waits for ``client.auth(...)`` (reason 0x18)."""
        return self.reason_code == AUTH_CONTINUE


@dataclass(frozen=True)
class StoreFailedEvent(Event):
    """The session store could not record a change (e.g. the disk is full):
    the session goes on in memory but may not survive a restart."""

    error: MqttError
    """What failed (a :class:`midge.MqttError`)."""


#: Redirection reason codes (MQTT 5.0 section 4.11).
USE_ANOTHER_SERVER = 0x9C
SERVER_MOVED = 0x9D


@dataclass(frozen=True)
class RedirectedEvent(Event):
    """A 5.0 broker sent Use Another Server (``reason_code`` 0x9C: for the
    next connection) or Server Moved (0x9D: for good) with a Server
    Reference, in CONNACK or DISCONNECT; the :class:`DisconnectedEvent` of
    that connection follows. ``target`` is the first usable reference as a
    URL (a bare ``host[:port]`` keeps the scheme and port; never from TLS to
    plain text), None if none is usable. ``followed`` is True when the next
    attempt goes there at once: the client was made with
    ``follow_redirects=True`` and fewer than 5 redirects came in a row."""

    reason_code: int
    """0x9C (Use Another Server) or 0x9D (Server Moved)."""
    server_reference: str
    """The Server Reference as the broker sent it."""
    target: Optional[str]
    """The first usable reference as a URL, or None."""
    followed: bool
    """True when the next attempt goes to ``target`` at once."""

    @property
    def permanent(self) -> bool:
        """True for Server Moved (0x9D)."""
        return self.reason_code == SERVER_MOVED


def _event(item: Tuple[str, Dict[str, Any]]) -> Event:
    """A native ``(kind, dict)`` tuple as an event object."""
    kind, d = item
    if kind == "connected":
        return ConnectedEvent(ConnectResult(**d["result"]))
    if kind == "disconnected":
        return DisconnectedEvent(d["error"], d["reconnecting"], d["reconnect_in"], d["attempt"])
    if kind == "subscriptions_restored":
        return SubscriptionsRestoredEvent([SubscribeResult(f, code) for f, code in d["results"]])
    if kind == "auth":
        return AuthEvent(**d)
    if kind == "store_failed":
        return StoreFailedEvent(d["error"])
    if kind == "redirected":
        return RedirectedEvent(**d)
    raise AssertionError(f"unknown event kind {kind!r}")
