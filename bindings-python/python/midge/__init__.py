"""midge: a fast MQTT 3.1.1 and 5.0 client on a Rust protocol core.

- :class:`Client`: blocking, thread-safe, context manager.
- :class:`AsyncClient`: asyncio (``async with``, ``async for``).

URLs pick the transport: ``mqtt://`` (TCP), ``mqtts://`` (TLS, certificates
verified), ``ws://`` and ``wss://`` (WebSocket, subprotocol ``mqtt``).
"""

from ._client import AsyncClient, Client, PublishHandle
from ._errors import (
    AckError,
    ClosedError,
    InterruptedOperationError,
    ConnectionRefusedError,
    InvalidArgumentError,
    MqttError,
    ProtocolError,
    PublishRejectedError,
    TimeoutError,
    TransportError,
)
from ._native import Message
from ._options import Will
from . import _typing
from ._typing import ClientOptions, Credentials
from ._types import (
    AuthEvent,
    ConnectedEvent,
    ConnectResult,
    DisconnectedEvent,
    Event,
    PublishResult,
    RedirectedEvent,
    StoreFailedEvent,
    SubscribeResult,
    SubscriptionsRestoredEvent,
)

QoS = _typing.QoS
"""A QoS level: ``0`` (at most once), ``1`` (at least once) or ``2`` (exactly once)."""

CredentialsProvider = _typing.CredentialsProvider
"""Called with the broker URL before every connection attempt, reconnects
included, and returns :class:`Credentials` for it; an async function with
:class:`AsyncClient`."""

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Client",
    "ConnectResult",
    "PublishHandle",
    "PublishResult",
    "SubscribeResult",
    "Message",
    "Will",
    "ClientOptions",
    "Credentials",
    "CredentialsProvider",
    "QoS",
    "Event",
    "ConnectedEvent",
    "DisconnectedEvent",
    "SubscriptionsRestoredEvent",
    "AuthEvent",
    "StoreFailedEvent",
    "RedirectedEvent",
    "MqttError",
    "InvalidArgumentError",
    "ConnectionRefusedError",
    "ProtocolError",
    "TransportError",
    "TimeoutError",
    "ClosedError",
    "InterruptedOperationError",
    "PublishRejectedError",
    "AckError",
]
