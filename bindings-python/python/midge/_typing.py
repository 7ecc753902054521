"""Types for the type checker: the client options as a ``TypedDict`` (so
that ``mypy --strict`` catches a misspelt option such as ``clientid=``) and
QoS as ``Literal[0, 1, 2]``. The runtime checks in ``_options`` stay: they
name the argument for callers without a type checker."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Literal, Mapping, Sequence, Tuple, TypedDict, Union

if TYPE_CHECKING:
    from ._options import Will

QoS = Literal[0, 1, 2]
"""A QoS level: 0 (at most once), 1 (at least once) or 2 (exactly once)."""

#: 5.0 user properties: a mapping or a list of (name, value) pairs.
UserPropertiesInput = Union[Mapping[str, str], Sequence[Tuple[str, str]]]

#: PEM given inline (text or bytes) or as a path to a PEM file.
PemInput = Union[str, bytes, "os.PathLike[str]"]


class Credentials(TypedDict, total=False):
    """What a ``credentials`` provider returns for one connection attempt;
    a key left out keeps the configured value."""

    username: str
    """A user name for this attempt."""
    password: Union[str, bytes]
    """A password for this attempt (a signed token, say)."""
    auth_data: Union[str, bytes]
    """5.0 enhanced authentication data for this attempt."""
    url: str
    """A URL to open instead of the configured one for this attempt (a
    presigned WebSocket URL whose signature expires)."""


CredentialsProvider = Callable[[str], Union[Credentials, Awaitable[Credentials]]]
"""Called with the broker URL before every connection attempt, reconnects included; an async function with :class:`midge.AsyncClient`."""


class ClientOptions(TypedDict, total=False):
    """The keyword options of :class:`midge.Client` and
    :class:`midge.AsyncClient` (see the README's option table)."""

    client_id: str
    """The client identifier; empty lets a 5.0 broker assign one."""
    clean_start: bool
    """Start a new session instead of resuming one (default True)."""
    keep_alive: int
    """Seconds between packets before a PINGREQ; 0 disables keep-alive (default 60)."""
    username: str
    """User name sent in CONNECT."""
    password: Union[str, bytes]
    """Password sent in CONNECT."""
    session_expiry: int
    """Seconds the broker keeps the session after the connection closes (5.0)."""
    protocol: Union[int, str]
    """``5`` (default) or ``"3.1.1"`` (also ``4``)."""
    will: Union[Will, Mapping[str, Any]]
    """The Last Will the broker publishes if the connection drops without DISCONNECT."""
    user_properties: UserPropertiesInput
    """5.0 user properties sent in CONNECT."""
    reconnect: bool
    """Reconnect automatically after a lost connection (default True)."""
    reconnect_min_delay: float
    """Seconds: the shortest backoff delay before a reconnect."""
    reconnect_max_delay: float
    """Seconds: the longest backoff delay before a reconnect."""
    reconnect_on_initial_failure: bool
    """Also retry when the first connection attempt fails."""
    follow_redirects: bool
    """Follow a 5.0 broker's Use Another Server / Server Moved at once."""
    max_queued_messages: int
    """How many publishes may wait for the connection or for room in flight."""
    max_inflight: int
    """How many QoS 1/2 publishes the client keeps in flight."""
    receive_maximum: int
    """How many QoS 1/2 publishes the broker may have in flight to us (5.0)."""
    strict_receive_maximum: bool
    """Close the connection when the broker exceeds our Receive Maximum."""
    topic_alias_maximum: int
    """Highest topic alias the broker may use towards us (5.0; 0: none)."""
    outbound_topic_aliases: bool
    """Replace repeated topics of our publishes with topic aliases (5.0)."""
    max_packet_size: int
    """Largest packet we accept, in bytes (5.0 Maximum Packet Size)."""
    connect_timeout: float
    """Seconds to wait for CONNACK before an attempt fails."""
    ping_timeout: float
    """Seconds to wait for PINGRESP before the connection counts as dead."""
    request_response_information: bool
    """Ask the broker for Response Information in CONNACK (5.0)."""
    request_problem_information: bool
    """False: the broker sends no reason strings on failures (5.0)."""
    authentication_method: str
    """5.0 enhanced authentication method, e.g. ``SCRAM-SHA-256``."""
    auth_method: str
    """Alias of ``authentication_method``."""
    authentication_data: Union[str, bytes]
    """Initial data of the 5.0 enhanced authentication exchange."""
    auth_data: Union[str, bytes]
    """Alias of ``authentication_data``."""
    session_store: Union[str, "os.PathLike[str]"]
    """``"memory"`` (default) or a file path."""
    ca: PemInput
    """CA certificates (PEM) that verify the broker, added to the system roots."""
    client_cert: PemInput
    """Client certificate chain (PEM) for mutual TLS."""
    client_key: PemInput
    """Private key (PEM) of ``client_cert``."""
    insecure_skip_verify: bool
    """Do not verify the broker's certificate (testing only)."""
    only_custom_ca: bool
    """Trust only ``ca``, not the system roots."""
    server_name: str
    """Name to verify the certificate against and send in SNI, instead of the URL host."""
    alpn_protocols: Sequence[str]
    """ALPN protocols offered in the TLS handshake (e.g. ``["x-amzn-mqtt-ca"]``)."""
    proxy: str
    """Tunnel every connection through an HTTP proxy (``CONNECT``):
    ``http://[user:password@]host:port``."""
    message_buffer: int
    """Messages buffered per ``messages()`` iterator before the client stops reading the socket."""
    manual_acks: bool
    """Acknowledge QoS 1/2 messages yourself with ``client.ack(message)``."""
    credentials: CredentialsProvider
    """Fresh credentials before every connection attempt (expiring tokens)."""
    log_payloads: bool
    """Show payload bytes in the ``midge.packets`` DEBUG lines (off: sizes only)."""
