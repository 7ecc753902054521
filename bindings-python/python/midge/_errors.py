"""The exceptions midge raises. Every one is a :class:`MqttError`."""

from __future__ import annotations

import builtins
from typing import Optional

__all__ = [
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


class MqttError(Exception):
    """Base class of midge's errors.

    ``reason_code`` is the MQTT 5 reason code behind the error (an int), when
    the broker gave one, else ``None``.
    """

    reason_code: Optional[int] = None
    """The MQTT 5 reason code behind the error, when the broker gave one, else None."""


class InvalidArgumentError(MqttError, ValueError):
    """An argument broke a rule; nothing was sent. ``argument`` names it and
    ``rule`` says what it must be."""

    argument: str = ""
    """The argument, as the API spells it."""
    rule: str = ""
    """What the argument must be."""


class ConnectionRefusedError(MqttError):  # noqa: A001 - the MQTT meaning, in midge's namespace
    """The broker refused the connection; ``reason_code`` says why (e.g. 0x86
    bad user name or password, 0x87 not authorized)."""


class ProtocolError(MqttError):
    """The broker broke the protocol, or disconnected us with a reason code."""


class TransportError(MqttError, OSError):
    """The network failed: host unreachable, TLS certificate rejected,
    WebSocket handshake refused, connection reset."""


class TimeoutError(MqttError, builtins.TimeoutError):  # noqa: A001
    """No answer in time (CONNACK, PINGRESP, or the ``timeout`` you gave)."""


class ClosedError(MqttError):
    """The connection or the client closed before the operation finished.
    Unacknowledged QoS 1/2 publishes stay in the session and are resent on the
    next connect."""


class InterruptedOperationError(ClosedError):
    """The client stopped (``disconnect()``, or the reconnect policy gave up)
    while the operation was pending. A QoS 1/2 publish stays in the session
    and is sent again on the next ``connect()``; a subscribe or unsubscribe
    was dropped and is not. A :class:`ClosedError`, so code that catches
    that keeps working; a call made after the client closed raises plain
    :class:`ClosedError`."""


class PublishRejectedError(MqttError):
    """The broker rejected a publish (PUBACK/PUBREC with a failure reason
    code), or the connection does not allow its QoS, retain flag or size."""


class AckError(MqttError):
    """``client.ack(message)`` for a message that is not awaiting an
    acknowledgement: it was acknowledged already, or (QoS 1) it arrived on a
    connection that has closed since, so the broker sends it again (``dup``
    set) and that copy is the one to acknowledge."""
