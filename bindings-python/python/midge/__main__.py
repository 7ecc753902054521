"""``python -m midge``: an interactive MQTT shell.

    midge> connect mqtt://localhost:1883 --client-id shell
    midge(mqtt://localhost:1883)> subscribe greenhouse/# --qos 1
    midge(mqtt://localhost:1883)> publish greenhouse/temp 21.5 --qos 1
    [greenhouse/temp] 21.5  (qos 1)

Type ``help`` for the commands, ``help <command>`` for its options.
"""

from __future__ import annotations

import argparse
import cmd
import datetime
import json
import logging
import os
import queue
import shlex
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, NoReturn, Optional, Tuple

import midge


# -- how a message is shown --------------------------------------------------


@dataclass
class MessageFormat:
    #: "text", "hex" (like mosquitto_sub -F %x) or "json" (pretty, like mqttx; text when not JSON).
    payload: str = "text"
    #: Local arrival time, ISO-8601 with milliseconds (mqttx shows one per message).
    timestamps: bool = False
    #: The topic before the payload (mosquitto_sub -v); the shell always shows it.
    topic: bool = True
    #: The shell's "[topic] payload  (qos 1)" layout; else mosquitto_sub's "topic payload".
    shell_style: bool = False


def format_payload(payload: bytes, how: str) -> str:
    if how == "hex":
        return payload.hex()
    text = payload.decode("utf-8", errors="replace")
    if how == "json":
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    return text


# 5.0 properties worth a reader's attention, in the order mqttx lists them.
_PROPERTY_LABELS = [
    ("content_type", "content-type"),
    ("payload_format_indicator", "payload-format"),
    ("message_expiry_interval", "message-expiry"),
    ("response_topic", "response-topic"),
    ("correlation_data", "correlation-data"),
    ("subscription_identifiers", "subscription-ids"),
]


def describe_properties(message: midge.Message) -> str:
    """The 5.0 properties present, e.g. ``content-type=application/json user-property:a=b``."""
    props = message.properties
    words: List[str] = []
    for key, label in _PROPERTY_LABELS:
        value = props.get(key)
        if value is None or value == []:
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif key == "payload_format_indicator":
            value = "utf-8" if value else "bytes"
        words.append(f"{label}={value}")
    words += [f"user-property:{name}={value}" for name, value in message.user_properties]
    return " ".join(words)


def timestamp() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="milliseconds")


def render_message(message: midge.Message, how: MessageFormat) -> str:
    payload = format_payload(message.payload, how.payload)
    props = describe_properties(message)
    if how.shell_style:
        flags = f"qos {message.qos}" + (", retained" if message.retain else "")
        text = f"[{message.topic}] {payload}  ({flags})" + (f"  {{{props}}}" if props else "")
    else:
        text = f"{message.topic} {payload}" if how.topic else payload
        if props and how.topic:
            text += f"  {{{props}}}"
    return f"[{timestamp()}] {text}" if how.timestamps else text


# -- mosquitto_sub's -F format strings ----------------------------------------

_ESCAPES = {"\\": b"\\", "0": b"\0", "a": b"\a", "e": b"\x1b", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v"}
#: Conversions after %, and which of them take a field width, a maximum width
#: (precision) and zero padding (mosquitto_sub(1), "Flag characters" ff.).
_CONVERSIONS = set("%ACDEFIJPRSUjlpqrtxX")
_WIDTH = set("ACEFIlpRStxX")
_PRECISION = set("CIRt")
_ZERO_PAD = set("AEFlSxX")
#: %m would need the packet id, which the Python API does not expose.
_UNAVAILABLE = {"m": "%m (the message id) is not available: midge's Python API does not expose packet ids"}


@dataclass
class _Field:
    conversion: str
    left: bool = False
    zero: bool = False
    width: int = 0
    precision: Optional[int] = None


class OutputFormat:
    """A mosquitto_sub ``-F`` format string, checked once and applied to each message.

    ``%`` sequences are message fields (``%t`` topic, ``%p`` payload, ``%j``
    JSON, ...; optional flags ``-``/``0``, a width and ``.max`` as mosquitto
    documents), ``@X`` is ``strftime`` ``%X`` of the arrival time (``@N`` its
    nanoseconds, ``@@`` an ``@``) and ``\\n``, ``\\t``, ``\\0``, ... are escapes.
    Output is bytes: ``%p`` and ``%D`` are written as received.
    """

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.parts: List[Any] = []  # bytes, _Field or ("@", char)
        literal = bytearray()
        i = 0
        while i < len(spec):
            ch = spec[i]
            if ch == "\\":
                if i + 1 >= len(spec):
                    raise ValueError("incomplete escape: a format string cannot end with \\")
                esc = spec[i + 1]
                if esc not in _ESCAPES:
                    raise ValueError(f"unknown escape '\\{esc}' (known: \\\\ \\0 \\a \\e \\n \\r \\t \\v)")
                literal += _ESCAPES[esc]
                i += 2
            elif ch == "@":
                if i + 1 >= len(spec):
                    raise ValueError("incomplete time specifier: a format string cannot end with @ (@@ is an @)")
                if spec[i + 1] == "@":
                    literal += b"@"
                else:
                    self._flush(literal)
                    self.parts.append(("@", spec[i + 1]))
                i += 2
            elif ch == "%":
                field, i = self._field(spec, i + 1)
                if field.conversion == "%":
                    literal += b"%"
                else:
                    self._flush(literal)
                    self.parts.append(field)
            else:
                literal += ch.encode()
                i += 1
        self._flush(literal)

    def _flush(self, literal: bytearray) -> None:
        if literal:
            self.parts.append(bytes(literal))
            literal.clear()

    @staticmethod
    def _field(spec: str, i: int) -> Tuple[_Field, int]:
        field = _Field("")
        while i < len(spec) and spec[i] in "-0":
            field.left, field.zero = field.left or spec[i] == "-", field.zero or spec[i] == "0"
            i += 1
        start = i
        while i < len(spec) and spec[i].isdigit():
            i += 1
        field.width = int(spec[start:i] or 0)
        if i < len(spec) and spec[i] == ".":
            start = i = i + 1
            while i < len(spec) and spec[i].isdigit():
                i += 1
            field.precision = int(spec[start:i] or 0)
        if i >= len(spec):
            raise ValueError("incomplete format specifier: a format string cannot end with % (%% is a %)")
        conversion = spec[i]
        if conversion in _UNAVAILABLE:
            raise ValueError(_UNAVAILABLE[conversion])
        if conversion not in _CONVERSIONS:
            raise ValueError(f"unknown format specifier '%{conversion}' (known: "
                             f"{' '.join('%' + c for c in sorted(_CONVERSIONS, key=lambda c: (c.lower(), c)))})")
        field.conversion = conversion
        return field, i + 1

    def render(self, message: midge.Message, now_ns: Optional[int] = None) -> bytes:
        ns = time.time_ns() if now_ns is None else now_ns
        when = datetime.datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
        out = bytearray()
        for part in self.parts:
            if isinstance(part, bytes):
                out += part
            elif isinstance(part, tuple):
                out += (f"{ns % 1_000_000_000:09d}" if part[1] == "N" else when.strftime("%" + part[1])).encode()
            else:
                value = _field_value(part.conversion, message, when, ns)
                if value is not None:  # an absent 5.0 property prints nothing, not even padding
                    out += _pad(part, value)
        return bytes(out)


def _pad(field: _Field, value: bytes) -> bytes:
    conv = field.conversion
    if field.precision is not None and conv in _PRECISION:
        value = value[:field.precision]
    if conv not in _WIDTH or len(value) >= field.width:
        return value
    if field.left:
        return value.ljust(field.width)
    return value.rjust(field.width, b"0" if field.zero and conv in _ZERO_PAD else b" ")


def _text(value: Any) -> Optional[bytes]:
    if value is None or value == []:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"1" if value else b"0"
    if isinstance(value, list):
        return ",".join(str(v) for v in value).encode()
    return str(value).encode()


def _field_value(conv: str, message: midge.Message, when: datetime.datetime, ns: int) -> Optional[bytes]:
    props = message.properties
    if conv == "t":
        return message.topic.encode()
    if conv == "p":
        return message.payload
    if conv == "x":
        return message.payload.hex().encode()
    if conv == "X":
        return message.payload.hex().upper().encode()
    if conv == "l":
        return str(len(message.payload)).encode()
    if conv == "q":
        return str(message.qos).encode()
    if conv == "r":
        return b"1" if message.retain else b"0"
    if conv == "I":
        return when.strftime("%Y-%m-%dT%H:%M:%S%z").encode()
    if conv == "U":
        return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}".encode()
    if conv in "jJ":
        return message_json(message, when, ns, payload_as_json=conv == "J").encode()
    if conv == "P":
        return " ".join(f"{k}:{v}" for k, v in message.user_properties).encode() or None
    key = {"A": "topic_alias", "C": "content_type", "D": "correlation_data", "E": "message_expiry_interval",
           "F": "payload_format_indicator", "R": "response_topic", "S": "subscription_identifiers"}[conv]
    return _text(props.get(key))


#: The 5.0 properties in %j/%J output, with mosquitto_sub's names.
_JSON_PROPERTIES = [
    ("content_type", "content-type"),
    ("correlation_data", "correlation-data"),
    ("payload_format_indicator", "payload-format-indicator"),
    ("response_topic", "response-topic"),
    ("message_expiry_interval", "message-expiry-interval"),
    ("subscription_identifiers", "subscription-identifier"),
    ("topic_alias", "topic-alias"),
]


def message_json(message: midge.Message, when: datetime.datetime, ns: int, payload_as_json: bool) -> str:
    """mosquitto_sub's %j (payload as a JSON string) or %J (payload as JSON
    when it parses; unlike mosquitto_sub, a JSON string when it does not)."""
    tst = f"{when.strftime('%Y-%m-%dT%H:%M:%S')}.{ns % 1_000_000_000 // 1000:06d}{when.strftime('%z')}"
    doc: Dict[str, Any] = {"tst": tst, "topic": message.topic, "qos": message.qos,
                           "retain": int(message.retain), "payloadlen": len(message.payload)}
    props: Dict[str, Any] = {}
    if message.user_properties:
        props["user-properties"] = dict(message.user_properties)
    for key, name in _JSON_PROPERTIES:
        value = message.properties.get(key)
        if value is None or value == []:
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        elif isinstance(value, bool):
            value = int(value)
        elif isinstance(value, list):
            value = value[0] if len(value) == 1 else value
        props[name] = value
    if props:
        doc["properties"] = props
    text = message.payload.decode("utf-8", errors="replace")
    doc["payload"] = text
    if payload_as_json:
        try:
            doc["payload"] = json.loads(text)
        except ValueError:
            pass
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def describe_event(event: midge.Event) -> Optional[str]:
    """A connection change as one line, or None for events a user need not see."""
    if isinstance(event, midge.ConnectedEvent) and event.result.reconnected:
        return f"* reconnected to {event.result.server} (session present: {event.result.session_present})"
    if isinstance(event, midge.DisconnectedEvent):
        line = f"* disconnected: {event.error}"
        if event.reconnecting:
            line += f"; reconnecting in {event.reconnect_in:.1f}s (attempt {event.attempt})"
        return line
    if isinstance(event, midge.SubscriptionsRestoredEvent):
        return "* the broker had lost the session: subscriptions restored"
    return None


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors instead of exiting the shell."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}\nusage: {self.format_usage().split(':', 1)[1].strip()}")

    def exit(self, status: int = 0, message: Optional[str] = None) -> None:  # type: ignore[override]
        raise UsageError(message or "")


def _parser(prog: str, description: str) -> _Parser:
    return _Parser(prog=prog, description=description, add_help=False)


CONNECT = _parser("connect", "Connect to a broker: mqtt://, mqtts://, ws:// or wss://")
CONNECT.add_argument("url", help="broker URL, e.g. mqtt://localhost:1883")
CONNECT.add_argument("--client-id", default=None)
CONNECT.add_argument("--username", "-u", default=None)
CONNECT.add_argument("--password", "-P", default=None)
CONNECT.add_argument("--protocol", choices=["3.1.1", "5"], default="5")
CONNECT.add_argument("--keep-alive", type=int, default=60)
CONNECT.add_argument("--clean-start", choices=["yes", "no"], default="yes")
CONNECT.add_argument("--session-expiry", type=int, default=None)
CONNECT.add_argument("--ca", default=None, help="CA certificate file (PEM) for mqtts:// and wss://")
CONNECT.add_argument("--cert", default=None, help="client certificate (PEM) for mutual TLS")
CONNECT.add_argument("--key", default=None, help="client key (PEM) for mutual TLS")
CONNECT.add_argument("--insecure", action="store_true", help="do not verify the server certificate")

PUBLISH = _parser("publish", "Publish a message")
PUBLISH.add_argument("topic")
PUBLISH.add_argument("payload")
PUBLISH.add_argument("--qos", "-q", type=int, choices=[0, 1, 2], default=0)
PUBLISH.add_argument("--retain", "-r", action="store_true")

SUBSCRIBE = _parser("subscribe", "Subscribe to a topic filter; messages are printed as they arrive")
SUBSCRIBE.add_argument("filter")
SUBSCRIBE.add_argument("--qos", "-q", type=int, choices=[0, 1, 2], default=0)

FORMAT = _parser("format", "How incoming messages are shown (like mqttx's payload format and timestamps)")
FORMAT.add_argument("--format", choices=["text", "hex", "json"], default=None,
                    help="payload as text, hex, or pretty JSON (text when it is not JSON)")
FORMAT.add_argument("--timestamps", action=argparse.BooleanOptionalAction, default=None,
                    help="prefix each message with its local arrival time (ISO-8601, milliseconds)")

UNSUBSCRIBE = _parser("unsubscribe", "Unsubscribe from a topic filter")
UNSUBSCRIBE.add_argument("filter")

DISCONNECT = _parser("disconnect", "Disconnect from the broker")


class Shell(cmd.Cmd):
    intro = "midge MQTT shell. Type help for the commands, exit to leave."

    def __init__(self, stdin: Any = None, stdout: Any = None) -> None:
        super().__init__(stdin=stdin, stdout=stdout)
        if stdin is not None and not stdin.isatty():
            self.use_rawinput = False
        self.client: Optional[midge.Client] = None
        self.url: Optional[str] = None
        self.lock = threading.Lock()
        self.format = MessageFormat(shell_style=True)
        self.interactive = stdin is not None and stdin.isatty()

    # -- plumbing ----------------------------------------------------------

    @property
    def prompt(self) -> str:  # type: ignore[override]
        return f"midge({self.url})> " if self.client is not None else "midge> "

    def say(self, text: str) -> None:
        with self.lock:
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def say_async(self, text: str) -> None:
        """Print from a midge thread above the prompt, keeping the half-typed line."""
        if not self.interactive:
            self.say(text)
            return
        with self.lock:
            typed = _typed_line()
            self.stdout.write("\r\x1b[K" + text + "\n" + self.prompt + typed)
            self.stdout.flush()

    def _args(self, parser: _Parser, line: str) -> Optional[argparse.Namespace]:
        try:
            return parser.parse_args(shlex.split(line))
        except ValueError as e:
            self.say(f"error: {e}")
        except UsageError as e:
            self.say(f"error: {e}")
        return None

    def _need_client(self, command: str) -> Optional[midge.Client]:
        if self.client is None:
            self.say(f"error: {command}: not connected. Connect first: connect mqtt://HOST[:PORT]")
        return self.client

    def onecmd(self, line: str) -> bool:
        try:
            return super().onecmd(line)
        except midge.MqttError as e:
            self.say(f"error: {e}")
        except KeyboardInterrupt:
            self.say("interrupted")
        return False

    def emptyline(self) -> bool:
        return False

    def default(self, line: str) -> None:
        name = line.split()[0]
        self.say(f"error: unknown command {name!r}. Commands: {', '.join(self.commands())}")

    def commands(self) -> List[str]:
        return sorted(n[3:] for n in dir(self) if n.startswith("do_") and n not in ("do_EOF", "do_quit"))

    def _print_message(self, message: midge.Message) -> None:
        self.say_async(render_message(message, self.format))

    def _print_event(self, event: midge.Event) -> None:
        text = describe_event(event)
        if text is not None:
            self.say_async(text)

    # -- commands ----------------------------------------------------------

    def do_connect(self, line: str) -> None:
        """connect URL [--client-id ID] [--username U --password P] [--protocol 3.1.1|5]
        [--keep-alive S] [--clean-start yes|no] [--session-expiry S] [--ca FILE] [--cert FILE --key FILE] [--insecure]"""
        args = self._args(CONNECT, line)
        if args is None:
            return
        if self.client is not None:
            self.say(f"error: connect: already connected to {self.url}; disconnect first")
            return
        options = dict(
            client_id=args.client_id, username=args.username, password=args.password,
            protocol=args.protocol, keep_alive=args.keep_alive, clean_start=args.clean_start == "yes",
            session_expiry=args.session_expiry, ca=args.ca, client_cert=args.cert, client_key=args.key,
            insecure_skip_verify=args.insecure or None, on_message=self._print_message,
            on_event=self._print_event,
        )
        if args.client_id is None and args.protocol == "3.1.1":
            options["client_id"] = "midge-shell"
        client = midge.Client(args.url, **options)
        result = client.connect(timeout=15)
        self.client, self.url = client, args.url
        self.say(f"connected to {args.url} as {result.client_id!r} (session present: {result.session_present})")

    def do_disconnect(self, line: str) -> None:
        """disconnect: close the connection"""
        if self._args(DISCONNECT, line) is None:
            return
        client = self._need_client("disconnect")
        if client is None:
            return
        try:
            client.on_event = None  # the line below says it
            client.disconnect(timeout=5)
        finally:
            self.client = None
            self.say(f"disconnected from {self.url}")
            self.url = None

    def do_publish(self, line: str) -> None:
        """publish TOPIC PAYLOAD [--qos 0|1|2] [--retain]"""
        args = self._args(PUBLISH, line)
        if args is None:
            return
        client = self._need_client("publish")
        if client is None:
            return
        result = client.publish(args.topic, args.payload, qos=args.qos, retain=args.retain, timeout=15)
        note = "" if result.reason_code == 0 else f" (reason code 0x{result.reason_code:02x})"
        self.say(f"published to {args.topic}{note}")

    def do_subscribe(self, line: str) -> None:
        """subscribe FILTER [--qos 0|1|2]"""
        args = self._args(SUBSCRIBE, line)
        if args is None:
            return
        client = self._need_client("subscribe")
        if client is None:
            return
        [result] = client.subscribe(args.filter, qos=args.qos, timeout=15)
        if result.ok:
            self.say(f"subscribed to {args.filter} (granted qos {result.granted_qos})")
        else:
            self.say(f"error: subscribe: the broker refused {args.filter} (reason code 0x{result.reason_code:02x})")

    def do_format(self, line: str) -> None:
        """format [--format text|hex|json] [--timestamps|--no-timestamps]: how messages are shown"""
        args = self._args(FORMAT, line)
        if args is None:
            return
        if args.format is not None:
            self.format.payload = args.format
        if args.timestamps is not None:
            self.format.timestamps = args.timestamps
        self.say(f"format {self.format.payload}, timestamps {'on' if self.format.timestamps else 'off'}")

    def do_subscriptions(self, line: str) -> None:
        """subscriptions: list the active subscriptions"""
        client = self._need_client("subscriptions")
        if client is None:
            return
        subs = client.subscriptions
        if not subs:
            self.say("no subscriptions")
        for f, qos in sorted(subs.items()):
            self.say(f"{f}  (qos {qos})")

    def do_unsubscribe(self, line: str) -> None:
        """unsubscribe FILTER"""
        args = self._args(UNSUBSCRIBE, line)
        if args is None:
            return
        client = self._need_client("unsubscribe")
        if client is None:
            return
        [code] = client.unsubscribe(args.filter, timeout=15)
        if code == 0x11:
            self.say(f"unsubscribed from {args.filter} (there was no such subscription)")
        else:
            self.say(f"unsubscribed from {args.filter}")

    def do_help(self, arg: str) -> None:
        """help [COMMAND]"""
        parsers = {"connect": CONNECT, "publish": PUBLISH, "subscribe": SUBSCRIBE, "unsubscribe": UNSUBSCRIBE,
                   "format": FORMAT}
        if arg:
            name = arg.strip()
            if name in parsers:
                self.say(parsers[name].format_help().rstrip())
            elif hasattr(self, "do_" + name):
                self.say((getattr(self, "do_" + name).__doc__ or name).strip())
            else:
                self.say(f"error: unknown command {name!r}. Commands: {', '.join(self.commands())}")
            return
        self.say("commands:")
        for name in self.commands():
            doc = (getattr(self, "do_" + name).__doc__ or "").strip().splitlines()[0]
            self.say(f"  {doc}")

    def do_exit(self, line: str) -> bool:
        """exit: disconnect and leave the shell"""
        if self.client is not None:
            try:
                self.client.on_event = None
                self.client.disconnect(timeout=5)
            except midge.MqttError:
                pass
            self.client = None
        return True

    do_quit = do_exit

    def do_EOF(self, line: str) -> bool:
        return self.do_exit(line)


# -- one-shot commands: python -m midge pub|sub, with mosquitto_pub/sub's flags --

#: mosquitto_sub's exit status when -W ran out (MOSQ_ERR_TIMEOUT).
EXIT_TIMED_OUT = 27


class OneShotParser(argparse.ArgumentParser):
    """argparse that prints one clear line for a bad argument (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    """The flags mosquitto_pub and mosquitto_sub share (-h is the host, as there)."""
    parser.add_argument("--help", action="help", help="show this help and exit")
    parser.add_argument("-h", "--host", default="localhost", help="broker host (default localhost)")
    parser.add_argument("-p", "--port", type=int, default=None, help="broker port (default 1883, 8883 with TLS)")
    parser.add_argument("-L", "--url", default=None,
                        help="mqtt(s)://[user[:password]@]host[:port]/topic or ws(s)://...; replaces -h/-p/-t")
    parser.add_argument("-i", "--id", default=None, help="client id (default midge-pub-/midge-sub- + random)")
    parser.add_argument("-u", "--username", default=None)
    parser.add_argument("-P", "--password", default=None)
    parser.add_argument("-V", "--protocol-version", default="5", choices=["mqttv5", "mqttv311", "5", "311"],
                        help="MQTT version (default 5, like mqttx; mosquitto's default is 311)")
    parser.add_argument("-k", "--keepalive", type=int, default=60, help="keep-alive seconds (default 60)")
    parser.add_argument("-c", "--disable-clean-session", action="store_true",
                        help="keep the session (needs -i); with 5.0 also give -x")
    parser.add_argument("-x", "--session-expiry-interval", type=int, default=None, help="5.0 session expiry, s")
    parser.add_argument("-q", "--qos", type=int, choices=[0, 1, 2], default=0)
    parser.add_argument("--cafile", default=None, help="CA certificate (PEM); turns TLS on")
    parser.add_argument("--cert", default=None, help="client certificate (PEM) for mutual TLS")
    parser.add_argument("--key", default=None, help="client key (PEM) for mutual TLS")
    parser.add_argument("--insecure", action="store_true", help="do not verify the server certificate")
    parser.add_argument("--tls-version", default=None, metavar="VERSION",
                        help="tlsv1.2: TLS 1.2 or newer, which is what midge (rustls) always negotiates: "
                             "1.3 when the broker has it, else 1.2. Other values (tlsv1.3 meaning 1.3 only, "
                             "tlsv1.1) are refused: midge cannot enforce them. Does not turn TLS on")
    parser.add_argument("-d", "--debug", action="store_true", help="midge's DEBUG log on stderr")


def _broker_url(args: argparse.Namespace) -> Tuple[str, Optional[str]]:
    """The broker URL and the topic a -L URL names, if any."""
    if args.url:
        parts = urllib.parse.urlsplit(args.url)
        if parts.username:
            args.username = args.username or urllib.parse.unquote(parts.username)
        if parts.password:
            args.password = args.password or urllib.parse.unquote(parts.password)
        host = parts.hostname or "localhost"
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        topic = urllib.parse.unquote(parts.path[1:]) if len(parts.path) > 1 else None
        return f"{parts.scheme}://{netloc}", topic
    tls = bool(args.cafile or args.cert or args.insecure)
    port = args.port or (8883 if tls else 1883)
    host = f"[{args.host}]" if ":" in args.host else args.host
    return f"{'mqtts' if tls else 'mqtt'}://{host}:{port}", None


def _client_options(args: argparse.Namespace, role: str) -> Dict[str, Any]:
    options: Dict[str, Any] = dict(
        # A random id like mosquitto's "mosq-...": 3.1.1 brokers may refuse an empty one.
        client_id=args.id or f"midge-{role}-{uuid.uuid4().hex[:10]}",
        protocol="3.1.1" if args.protocol_version in ("311", "mqttv311") else 5,
        keep_alive=args.keepalive, clean_start=not args.disable_clean_session,
        # A script wants an answer, not retries: fail at once like mosquitto_pub.
        reconnect=role == "sub",
    )
    optional = dict(username=args.username, password=args.password, session_expiry=args.session_expiry_interval,
                    ca=args.cafile, client_cert=args.cert, client_key=args.key,
                    insecure_skip_verify=args.insecure or None)
    options.update({k: v for k, v in optional.items() if v is not None})
    return options


def _connect(parser: argparse.ArgumentParser, args: argparse.Namespace, role: str,
             **callbacks: Any) -> Tuple[midge.Client, Optional[str]]:
    if args.disable_clean_session and not args.id:
        parser.error("argument -c/--disable-clean-session: needs a client id (-i), like mosquitto")
    if args.debug:
        logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        logging.getLogger("midge").setLevel(logging.DEBUG)
    if args.tls_version is not None and args.tls_version != "tlsv1.2":
        hint = ""
        if args.tls_version == "tlsv1.3":
            hint = " (TLS 1.3 only): midge cannot refuse TLS 1.2 to a broker without 1.3"
        parser.error(f"argument --tls-version: {args.tls_version!r} is not supported{hint}; midge's TLS is "
                     "rustls, which negotiates TLS 1.3 or 1.2 and nothing older: only tlsv1.2 "
                     "(TLS 1.2 or newer, always in effect) is accepted")
    url, url_topic = _broker_url(args)
    client = midge.Client(url, **_client_options(args, role), **callbacks)
    client.connect(timeout=30)
    return client, url_topic


def _user_properties(parser: argparse.ArgumentParser, specs: List[List[str]]) -> Dict[str, Any]:
    """mosquitto's ``-D publish NAME VALUE`` (user-property takes a name and a value)."""
    props: Dict[str, Any] = {}
    for spec in specs:
        if len(spec) < 3 or spec[0] != "publish":
            parser.error(f"argument -D/--property: expected 'publish IDENTIFIER VALUE', got {' '.join(spec)!r}")
        name, values = spec[1], spec[2:]
        if name == "user-property" and len(values) == 2:
            props.setdefault("user_properties", []).append((values[0], values[1]))
        elif name in ("content-type", "response-topic") and len(values) == 1:
            props[name.replace("-", "_")] = values[0]
        elif name == "correlation-data" and len(values) == 1:
            props["correlation_data"] = values[0].encode()
        elif name == "message-expiry-interval" and len(values) == 1 and values[0].isdigit():
            props["message_expiry_interval"] = int(values[0])
        elif name == "payload-format-indicator" and len(values) == 1 and values[0] in ("0", "1"):
            props["payload_format_indicator"] = values[0] == "1"
        else:
            parser.error(f"argument -D/--property: unsupported publish property {' '.join(spec[1:])!r}")
    return props


def pub_parser() -> OneShotParser:
    parser = OneShotParser(prog="python -m midge pub", add_help=False,
                           description="Publish one message (or one per stdin line) and exit, "
                                       "like mosquitto_pub")
    _connection_flags(parser)
    parser.add_argument("-t", "--topic", default=None)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("-m", "--message", default=None, help="the payload")
    source.add_argument("-f", "--file", default=None, help="the payload is this file's content")
    source.add_argument("-s", "--stdin-file", action="store_true", help="the payload is all of stdin")
    source.add_argument("-l", "--stdin-line", action="store_true", help="one message per stdin line")
    source.add_argument("-n", "--null-message", action="store_true", help="an empty payload")
    parser.add_argument("-r", "--retain", action="store_true")
    parser.add_argument("-D", "--property", nargs="+", action="append", default=[], metavar="ARG",
                        help="publish user-property NAME VALUE | publish content-type T | publish "
                             "response-topic T | publish correlation-data D | publish message-expiry-interval S")
    return parser


def _payloads(parser: argparse.ArgumentParser, args: argparse.Namespace) -> List[bytes]:
    if args.message is not None:
        return [args.message.encode()]
    if args.file is not None:
        try:
            with open(args.file, "rb") as f:
                return [f.read()]
        except OSError as e:
            parser.error(f"argument -f/--file: cannot read {args.file}: {e.strerror}")
    if args.stdin_file:
        return [sys.stdin.buffer.read()]
    if args.stdin_line:
        return [line.rstrip(b"\r\n") for line in sys.stdin.buffer]
    if args.null_message:
        return [b""]
    parser.error("one of the arguments -m/--message -f/--file -s/--stdin-file -l/--stdin-line "
                 "-n/--null-message is required")
    return []


def run_pub(argv: List[str]) -> int:
    parser = pub_parser()
    args = parser.parse_args(argv)
    properties = _user_properties(parser, args.property)
    payloads = _payloads(parser, args)
    client, url_topic = _connect(parser, args, "pub")
    topic = args.topic or url_topic
    try:
        if topic is None:
            parser.error("argument -t/--topic is required")
        for payload in payloads:
            client.publish(topic, payload, qos=args.qos, retain=args.retain, properties=properties or None,
                           timeout=30)
    finally:
        client.disconnect(timeout=10)
    return 0


def sub_parser() -> OneShotParser:
    parser = OneShotParser(prog="python -m midge sub", add_help=False,
                           description="Subscribe and print messages as they arrive, like mosquitto_sub")
    _connection_flags(parser)
    parser.add_argument("-t", "--topic", action="append", default=[], help="topic filter (repeatable)")
    parser.add_argument("-C", "--count", type=int, default=None, help="exit after this many messages")
    parser.add_argument("-W", "--timeout", type=float, default=None,
                        help=f"exit with status {EXIT_TIMED_OUT} after this many seconds from connecting, "
                             "unless -C was reached first (mosquitto_sub's -W)")
    parser.add_argument("-R", "--no-stale", action="store_true", help="skip retained messages")
    parser.add_argument("--retained-only", action="store_true", help="exit at the first non-retained message")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the topic before the payload")
    parser.add_argument("--format", choices=["text", "hex", "json"], default="text",
                        help="payload as text, hex or pretty JSON (text when not JSON)")
    parser.add_argument("--timestamps", action="store_true",
                        help="prefix each message with its local arrival time (ISO-8601, ms)")
    parser.add_argument("-F", dest="format_string", default=None, metavar="FORMAT",
                        help="mosquitto_sub's output format: %%t topic, %%p payload, %%x/%%X hex, %%l length, "
                             "%%q QoS, %%r retained, %%I ISO-8601 time, %%U Unix time.ns, %%j/%%J JSON, "
                             "%%A %%C %%D %%E %%F %%P %%R %%S 5.0 properties, %%%% a %%; @X strftime, @N ns; "
                             "\\n \\t \\0 \\e ... escapes; flags/width like %%-10t. Wins over -v, "
                             "--format and --timestamps, as -F wins over -v in mosquitto_sub")
    parser.add_argument("-N", "--no-eol", action="store_true", help="no newline after each message")
    return parser


def run_sub(argv: List[str]) -> int:
    parser = sub_parser()
    args = parser.parse_args(argv)
    if args.count is not None and args.count < 1:
        parser.error("argument -C/--count: must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        parser.error("argument -W/--timeout: must be more than 0")
    if args.format_string is not None:
        try:
            args.output_format = OutputFormat(args.format_string)
        except ValueError as e:
            parser.error(f"argument -F: {e}")
    else:
        args.output_format = None
    inbox: "queue.Queue[midge.Message]" = queue.Queue()
    client, url_topic = _connect(parser, args, "sub", on_message=inbox.put, on_event=_print_event_to_stderr)
    filters = args.topic or ([url_topic] if url_topic else [])
    try:
        if not filters:
            parser.error("argument -t/--topic is required")
        for result in client.subscribe([(f, args.qos) for f in filters], timeout=30):
            if not result.ok:
                print(f"Error: the broker refused {result.filter} (reason code 0x{result.reason_code:02x})",
                      file=sys.stderr)
                return 1
        return _print_messages(inbox, args)
    finally:
        client.on_event = None  # our own disconnect is no news
        client.disconnect(timeout=10)


def _print_event_to_stderr(event: midge.Event) -> None:
    text = describe_event(event)
    if text is not None:
        print(text, file=sys.stderr, flush=True)


def _print_messages(inbox: "queue.Queue[midge.Message]", args: argparse.Namespace) -> int:
    how = MessageFormat(payload=args.format, timestamps=args.timestamps, topic=args.verbose)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    printed = 0
    while args.count is None or printed < args.count:
        try:
            message = inbox.get(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            print("Timed out", file=sys.stderr)
            return EXIT_TIMED_OUT
        if message.retain and args.no_stale:
            continue
        if args.retained_only and not message.retain:
            return 0
        if args.output_format is not None:
            # Bytes: %p and %D are written as received, \0 as a NUL.
            sys.stdout.buffer.write(args.output_format.render(message) + (b"" if args.no_eol else b"\n"))
            sys.stdout.buffer.flush()
        else:
            print(render_message(message, how), end="" if args.no_eol else "\n", flush=True)
        printed += 1
    return 0


def run_oneshot(command: str, argv: List[str]) -> int:
    """``pub`` or ``sub``: exit 0 on success; a refused connection exits with
    the CONNACK reason code (as mosquitto_pub/sub do), another failure with 1."""
    try:
        return run_pub(argv) if command == "pub" else run_sub(argv)
    except midge.ConnectionRefusedError as e:
        print(f"Error: {e}", file=sys.stderr)
        return e.reason_code or 1
    except midge.MqttError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _typed_line() -> str:
    """What the user has typed so far at the prompt (readline's buffer)."""
    try:
        import readline
    except ImportError:  # no readline (Windows): nothing to redraw
        return ""
    return readline.get_line_buffer()


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["pub"], ["sub"]):
        return run_oneshot(argv[0], argv[1:])
    parser = argparse.ArgumentParser(prog="python -m midge", description="Interactive MQTT shell; "
                                     "'python -m midge pub --help' and 'sub --help' for one-shot commands")
    parser.add_argument("url", nargs="?", help="connect to this broker at start")
    parser.add_argument("--format", choices=["text", "hex", "json"], default="text", help="payload display")
    parser.add_argument("--timestamps", action="store_true", help="show each message's local arrival time")
    args = parser.parse_args(argv)
    shell = Shell(stdin=sys.stdin, stdout=sys.stdout)
    shell.format.payload, shell.format.timestamps = args.format, args.timestamps
    if not sys.stdin.isatty():
        shell.intro = ""
    if args.url:
        shell.onecmd(f"connect {shlex.quote(args.url)}")
    try:
        shell.cmdloop()
    except KeyboardInterrupt:
        shell.do_exit("")
    return 0


if __name__ == "__main__":
    sys.exit(main())
