"""Types for the type checker: the client options as a ``TypedDict`` (so
that ``mypy --strict`` catches a misspelt option such as ``clientid=``) and
QoS as ``Literal[0, 1, 2]``. The runtime checks in ``_options`` stay: they
name the argument for callers without a type checker."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Literal, Mapping, Sequence, Tuple, TypedDict, Union

if TYPE_CHECKING:
    from ._options import Will

#: A QoS level.
QoS = Literal[0, 1, 2]

#: 5.0 user properties: a mapping or a list of (name, value) pairs.
UserPropertiesInput = Union[Mapping[str, str], Sequence[Tuple[str, str]]]

#: PEM given inline (text or bytes) or as a path to a PEM file.
PemInput = Union[str, bytes, "os.PathLike[str]"]


class Credentials(TypedDict, total=False):
    """What a ``credentials`` provider returns for one connection attempt;
    a key left out keeps the configured value."""

    username: str
    password: Union[str, bytes]
    auth_data: Union[str, bytes]
    #: A URL to open instead of the configured one for this attempt (a
    #: presigned WebSocket URL whose signature expires).
    url: str


#: Called with the broker URL before every connection attempt, reconnects
#: included; an async function with :class:`midge.AsyncClient`.
CredentialsProvider = Callable[[str], Union[Credentials, Awaitable[Credentials]]]


class ClientOptions(TypedDict, total=False):
    """The keyword options of :class:`midge.Client` and
    :class:`midge.AsyncClient` (see the README's option table)."""

    client_id: str
    clean_start: bool
    keep_alive: int
    username: str
    password: Union[str, bytes]
    session_expiry: int
    #: ``5`` (default) or ``"3.1.1"`` (also ``4``).
    protocol: Union[int, str]
    will: Union[Will, Mapping[str, Any]]
    user_properties: UserPropertiesInput
    reconnect: bool
    reconnect_min_delay: float
    reconnect_max_delay: float
    reconnect_on_initial_failure: bool
    follow_redirects: bool
    max_queued_messages: int
    max_inflight: int
    receive_maximum: int
    strict_receive_maximum: bool
    topic_alias_maximum: int
    outbound_topic_aliases: bool
    max_packet_size: int
    connect_timeout: float
    ping_timeout: float
    request_response_information: bool
    request_problem_information: bool
    authentication_method: str
    auth_method: str
    authentication_data: Union[str, bytes]
    auth_data: Union[str, bytes]
    #: ``"memory"`` (default) or a file path.
    session_store: Union[str, "os.PathLike[str]"]
    ca: PemInput
    client_cert: PemInput
    client_key: PemInput
    insecure_skip_verify: bool
    only_custom_ca: bool
    server_name: str
    #: ALPN protocols offered in the TLS handshake (e.g. ``["x-amzn-mqtt-ca"]``).
    alpn_protocols: Sequence[str]
    #: Tunnel every connection through an HTTP proxy (``CONNECT``):
    #: ``http://[user:password@]host:port``.
    proxy: str
    message_buffer: int
    manual_acks: bool
    #: Fresh credentials before every connection attempt (expiring tokens).
    credentials: CredentialsProvider
    #: Show payload bytes in the ``midge.packets`` DEBUG lines (off: sizes only).
    log_payloads: bool
