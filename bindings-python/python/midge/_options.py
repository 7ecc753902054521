"""Keyword options -> the plain dict the native module reads.

Types are checked here so that errors name the Python argument; the rules of
MQTT (string lengths, topic syntax, ranges) are checked by the core.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._errors import InvalidArgumentError
from ._typing import QoS

UserProperties = Union[Mapping[str, str], Sequence[Tuple[str, str]]]


def invalid(argument: str, rule: str) -> InvalidArgumentError:
    e = InvalidArgumentError(f"invalid argument `{argument}`: {rule}")
    e.argument = argument
    e.rule = rule
    return e


@dataclass
class Will:
    """The Last Will: published by the broker when the connection drops
    without a DISCONNECT."""

    topic: str
    """Topic the broker publishes the will to."""
    payload: Union[bytes, str] = b""
    """The will's payload (``str`` is sent as UTF-8)."""
    qos: QoS = 0
    """QoS the will is published with."""
    retain: bool = False
    """Whether the broker retains the will."""
    properties: Dict[str, Any] = field(default_factory=dict)
    """5.0 will properties: will_delay_interval, message_expiry_interval,
    content_type, response_topic, correlation_data, user_properties, ..."""


# name -> (type check, rule) for the options passed straight through.
_PASS: Dict[str, Tuple[Any, str]] = {
    "client_id": (str, "must be a str"),
    "clean_start": (bool, "must be a bool"),
    "keep_alive": (int, "must be an int number of seconds (0 disables keep-alive)"),
    "username": (str, "must be a str"),
    "session_expiry": (int, "must be an int number of seconds"),
    "reconnect": (bool, "must be a bool"),
    "reconnect_min_delay": ((int, float), "must be a number of seconds"),
    "reconnect_max_delay": ((int, float), "must be a number of seconds"),
    "reconnect_on_initial_failure": (bool, "must be a bool"),
    "follow_redirects": (bool, "must be a bool"),
    "max_queued_messages": (int, "must be an int"),
    "max_inflight": (int, "must be an int"),
    "receive_maximum": (int, "must be an int"),
    "strict_receive_maximum": (bool, "must be a bool"),
    "topic_alias_maximum": (int, "must be an int"),
    "outbound_topic_aliases": (bool, "must be a bool"),
    "max_packet_size": (int, "must be an int number of bytes"),
    "connect_timeout": ((int, float), "must be a number of seconds"),
    "ping_timeout": ((int, float), "must be a number of seconds"),
    "request_response_information": (bool, "must be a bool"),
    "request_problem_information": (bool, "must be a bool"),
    "authentication_method": (str, "must be a str"),
    "insecure_skip_verify": (bool, "must be a bool"),
    "only_custom_ca": (bool, "must be a bool"),
    "server_name": (str, "must be a str"),
    "alpn_protocols": ((list, tuple), "must be a list of str (ALPN protocol names)"),
    "proxy": (str, "must be an http://[user:password@]host:port URL"),
    "message_buffer": (int, "must be an int"),
    "manual_acks": (bool, "must be a bool"),
    "log_payloads": (bool, "must be a bool"),
}

# Short names accepted for options (and the name the native layer reads).
_ALIASES: Dict[str, str] = {
    "auth_method": "authentication_method",
    "auth_data": "authentication_data",
}

OPTION_NAMES = sorted(
    list(_PASS)
    + list(_ALIASES)
    + [
        "protocol",
        "password",
        "will",
        "user_properties",
        "authentication_data",
        "session_store",
        "credentials",
        "ca",
        "client_cert",
        "client_key",
    ]
)


def _pem(argument: str, value: Any) -> bytes:
    """PEM given inline (bytes or str) or as a file path."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, os.PathLike) or (isinstance(value, str) and "-----BEGIN" not in value):
        try:
            with open(value, "rb") as f:
                return f.read()
        except OSError as e:
            raise invalid(argument, f"cannot read PEM file {value!r}: {e.strerror}") from None
    if isinstance(value, str):
        return value.encode()
    raise invalid(argument, "must be PEM text (str or bytes) or a path to a PEM file")


def _protocol(value: Any) -> int:
    if value in (5, "5", "5.0", 5.0):
        return 5
    if value in (4, "4", "3.1.1", "311", 311):
        return 4
    raise invalid("protocol", 'must be "3.1.1" or 5')


def _bytes(argument: str, value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise invalid(argument, "must be str or bytes")


def normalize(url: Union[str, Sequence[str]], options: Mapping[str, Any]) -> Dict[str, Any]:
    """Check option names and types; return the dict for ``_native.NativeClient``."""
    if isinstance(url, str):
        urls: List[str] = [url]
    elif isinstance(url, (list, tuple)) and url and all(isinstance(u, str) for u in url):
        urls = list(url)
    else:
        raise invalid("url", "must be a broker URL (mqtt://, mqtts://, ws://, wss://) or a non-empty list of them")
    out: Dict[str, Any] = {"urls": urls}
    for short, long in _ALIASES.items():
        if options.get(short) is not None and options.get(long) is not None:
            raise invalid(short, f"give either `{short}` or `{long}`, not both")
    for given, value in options.items():
        if value is None:
            continue
        name = _ALIASES.get(given, given)
        if name in _PASS:
            types, rule = _PASS[name]
            # bool is an int subclass: reject True where a number is meant.
            if not isinstance(value, types) or (isinstance(value, bool) and types is not bool):
                raise invalid(given, rule)
            out[name] = value
        elif name == "protocol":
            out["protocol"] = _protocol(value)
        elif name in ("password", "authentication_data"):
            out[name] = _bytes(given, value)
        elif name == "will":
            if isinstance(value, Will):
                value = {
                    "topic": value.topic,
                    "payload": value.payload,
                    "qos": value.qos,
                    "retain": value.retain,
                    "properties": value.properties,
                }
            if not isinstance(value, Mapping):
                raise invalid("will", "must be a midge.Will or a dict with topic, payload, qos, retain")
            out["will"] = dict(value)
        elif name == "user_properties":
            out[name] = value
        elif name == "session_store":
            if not isinstance(value, (str, os.PathLike)):
                raise invalid("session_store", 'must be "memory" or a file path')
            out[name] = os.fspath(value)
        elif name in ("ca", "client_cert", "client_key"):
            out[name] = _pem(name, value)
        elif name == "credentials":
            if not callable(value):
                raise invalid("credentials", "must be a function (server_url) -> dict (or an async one, with AsyncClient)")
            out[name] = value
        else:
            raise invalid(given, f"is not an option of midge clients (options: {', '.join(OPTION_NAMES)})")
    return out
