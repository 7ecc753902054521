"""The blocking :class:`Client` and the asyncio :class:`AsyncClient`.

Both are thin: every operation is a command to the native driver (a tokio
task in Rust that owns the connection and the MQTT state machine), and the
result is waited for without holding the GIL or blocking the event loop.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import collections
import logging
import sys
import threading
import traceback
import weakref
from types import MappingProxyType
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Callable,
    Deque,
    Dict,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    overload,
)

from . import _native
from ._errors import ClosedError, InvalidArgumentError
from ._native import Message
from ._options import invalid, normalize
from ._types import ConnectResult, Event, PublishResult, SubscribeResult, _event
from ._typing import QoS

if TYPE_CHECKING:
    # Only for the type checker (annotations are strings at run time):
    # `Unpack` of a TypedDict for **kwargs is in `typing` from 3.12.
    from typing_extensions import Unpack

    from ._typing import ClientOptions

#: A publish payload.
Payload = Union[bytes, bytearray, memoryview, str, None]

__all__ = [
    "Client",
    "AsyncClient",
    "ConnectResult",
    "PublishResult",
    "SubscribeResult",
    "PublishHandle",
]

# Messages taken per trip into Rust: large, so that a consumer thread that
# gets the GIL only now and then still drains everything that arrived.
_BATCH = 4096

TopicSpec = Union[str, Tuple[str, QoS], Sequence[Union[str, Tuple[str, QoS]]]]


def _connect_result(d: Dict[str, Any]) -> ConnectResult:
    return ConnectResult(**d)


# The answer of almost every publish, shared (frozen, read-only properties).
_PUBLISHED = PublishResult(0, MappingProxyType({}))


def _publish_result(d: Optional[Dict[str, Any]]) -> PublishResult:
    # None from the native layer: success without properties.
    if d is None:
        return _PUBLISHED
    return PublishResult(d["reason_code"], d["properties"])


def _filters(topic: TopicSpec, qos: int, no_local: bool, rap: bool, rh: int) -> List[Tuple[str, int, bool, bool, int]]:
    if isinstance(topic, str):
        items: Sequence[Any] = [topic]
    elif isinstance(topic, tuple) and len(topic) == 2 and isinstance(topic[0], str) and isinstance(topic[1], int):
        items = [topic]
    elif isinstance(topic, (list, tuple)):
        items = topic
    else:
        raise invalid("topic", "must be a filter, a (filter, qos) pair or a list of them")
    if not items:
        raise invalid("topic", "at least one filter is required")
    out = []
    for item in items:
        if isinstance(item, str):
            f, q = item, qos
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], int):
            f, q = item
        else:
            raise invalid("topic", "each filter must be a str or a (filter, qos) pair")
        if isinstance(q, bool) or not isinstance(q, int) or q not in (0, 1, 2):
            raise invalid("qos", "must be 0, 1 or 2")
        _check_text("topic", f)
        out.append((f, q, no_local, rap, rh))
    return out


def _unsub_filters(topic: Union[str, Sequence[str]]) -> List[str]:
    items = [topic] if isinstance(topic, str) else list(topic)
    if not items or not all(isinstance(t, str) for t in items):
        raise invalid("topic", "must be a filter or a non-empty list of filters")
    for t in items:
        _check_text("topic", t)
    return items


def _check_text(argument: str, value: str) -> None:
    """MQTT strings are UTF-8: a lone surrogate cannot be sent."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(argument, "must be valid Unicode text (it contains a lone surrogate)") from None


def _check_publish(topic: Any, qos: Any, retain: Any) -> None:
    if not isinstance(topic, str):
        raise invalid("topic", "must be a str")
    _check_text("topic", topic)
    # `1.0 in (0, 1, 2)` holds: ints only.
    if isinstance(qos, bool) or not isinstance(qos, int) or qos not in (0, 1, 2):
        raise invalid("qos", "must be 0, 1 or 2")
    if not isinstance(retain, bool):
        raise invalid("retain", "must be a bool")


def _check_int(argument: str, value: Any, low: int, high: int) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
        raise invalid(argument, f"must be an int from {low} to {high}")


def _check_flags(no_local: Any, rap: Any, rh: Any, subscription_identifier: Any) -> None:
    for name, value in (("no_local", no_local), ("retain_as_published", rap)):
        if not isinstance(value, bool):
            raise invalid(name, "must be a bool")
    _check_int("retain_handling", rh, 0, 2)
    _check_int("subscription_identifier", subscription_identifier, 1, 268_435_455)


def _check_timeout(timeout: Optional[float]) -> None:
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0):
        raise invalid("timeout", "must be a number of seconds >= 0, or None")


async def _await_publish(pending: Any) -> PublishResult:
    # An answer that is already there needs no trip through the event loop.
    if pending.done():
        return _publish_result(pending.wait(None))
    return _publish_result(await pending.wait_async())


class PublishHandle:
    """A publish on its way (``publish(..., wait=False)``): lets you keep many
    in flight and collect the acknowledgements later."""

    __slots__ = ("_pending",)

    def __init__(self, pending: Any) -> None:
        self._pending = pending

    def done(self) -> bool:
        """True once acknowledged (or failed). Ask as often as you like; with
        a :class:`Client`, each call also reads the acknowledgements that
        have arrived (see :meth:`wait`)."""
        return bool(self._pending.done())

    def wait(self, timeout: Optional[float] = None) -> PublishResult:
        """Block until the broker acknowledged it; raises on failure. Can be
        called again: it gives the same result. A :class:`TimeoutError` does
        not cancel the publish (nothing can once it may have left): it still
        completes or fails later, so wait again rather than publish again.
        :class:`ClosedError` means the client stopped first; a QoS 1/2
        message then stays in the session and goes out on the next
        ``connect()``.

        With a :class:`Client` on plain TCP with the session in memory,
        that has no :meth:`~Client.messages` iterator or one without a
        filter, the waiting thread reads the broker's acknowledgements
        itself, so no other thread wakes per publish; the messages it reads
        meanwhile go to the iterator, whose thread it wakes. A client
        without an iterator whose thread publishes steadily (less than 50 ms
        apart, as a device reporting at a fixed rate) has that thread read
        them too, right after each QoS 1/2 publish, so handles collected
        later cost no other thread a wake-up either. Acknowledgements of
        handles nobody waits for are read by the next publish or wait, by
        :meth:`done`, by the iterator's thread while it waits, or by the
        client within about a second."""
        return _publish_result(self._pending.wait(timeout))

    def __await__(self) -> Any:
        return _await_publish(self._pending).__await__()


# Core option fields whose Python option has another name.
_CORE_OPTION_NAMES = {
    "connect_properties.authentication_method": "auth_method",
    "connect_properties.authentication_data": "auth_data",
    "connect_properties.user_properties": "user_properties",
    "connect_timeout_ms": "connect_timeout",
    "ping_timeout_ms": "ping_timeout",
    "max_incoming_packet_size": "max_packet_size",
}


def _check_message(message: Any) -> None:
    if not isinstance(message, Message):
        raise invalid("message", "must be a midge.Message received by this client")


def _check_auth(data: Any, method: Any, reauthenticate: Any, reason_string: Any) -> None:
    if data is not None and not isinstance(data, (bytes, bytearray, memoryview, str)):
        raise invalid("data", "must be bytes, bytearray, memoryview, str or None")
    if method is not None and not isinstance(method, str):
        raise invalid("method", "must be a str or None (None: the auth_method option)")
    if not isinstance(reauthenticate, bool):
        raise invalid("reauthenticate", "must be a bool")
    if reason_string is not None and not isinstance(reason_string, str):
        raise invalid("reason_string", "must be a str or None")


#: Connection changes: INFO (connecting, connected, an orderly disconnect,
#: subscriptions restored) and WARNING (connection lost or refused, store
#: failures, messages the broker sent that had to be dropped).
logger = logging.getLogger("midge")
#: One DEBUG line per packet sent and received (type, id, QoS, topic, sizes;
#: never a password or authentication data, payload bytes only with the
#: ``log_payloads`` option).
packet_logger = logging.getLogger("midge.packets")
# A library leaves output to the application (the logging HOWTO's advice):
# without this, Python's last-resort handler would print the warnings to
# stderr of every script that never configured logging.
logger.addHandler(logging.NullHandler())


def _trace_level() -> Optional[int]:
    """The lowest level the loggers would print: the core writes nothing below."""
    if packet_logger.isEnabledFor(logging.DEBUG):
        return logging.DEBUG
    for level in (logging.INFO, logging.WARNING):
        if logger.isEnabledFor(level):
            return level
    return None


def _log(level: int, message: str, is_packet: bool) -> None:
    # Called on midge's own completion thread, in the order the core wrote
    # the lines.
    (packet_logger if is_packet else logger).log(level, message)


def _credentials_adapter(provider: Callable[[str], Any], owner: "weakref.ref[_Base]") -> Callable[[str], Any]:
    """The provider as the native side calls it: on a worker thread, for a
    dict. An async provider runs on the event loop of the AsyncClient's last
    connect(), and its answer is waited for here."""

    def fetch(server_url: str) -> Any:
        answer = provider(server_url)
        if inspect.isawaitable(answer):
            client = owner()
            loop = getattr(client, "_loop", None)
            if loop is None or loop.is_closed():
                if inspect.iscoroutine(answer):
                    answer.close()
                raise TypeError("an async credentials provider needs midge.AsyncClient (a Client has no event loop)")

            async def wait() -> Any:
                return await answer

            answer = asyncio.run_coroutine_threadsafe(wait(), loop).result(timeout=60)
        if not isinstance(answer, Mapping):
            raise TypeError(f"the credentials provider returned {type(answer).__name__}, not a dict")
        return dict(answer)

    return fetch


class _Base:
    _loop: Optional[asyncio.AbstractEventLoop] = None

    def __init__(self, url: Union[str, Sequence[str]], **options: Unpack[ClientOptions]) -> None:
        self._url = url
        native_options = normalize(url, options)
        native_options["_log"] = _log
        native_options["_trace_level"] = _trace_level()
        provider = native_options.pop("credentials", None)
        if provider is not None:
            native_options["_credentials"] = _credentials_adapter(provider, weakref.ref(self))
        try:
            self._native = _native.NativeClient(native_options)
        except InvalidArgumentError as e:
            # The core names its own fields; name the Python option instead.
            name = _CORE_OPTION_NAMES.get(e.argument)
            if name is None:
                raise
            raise invalid(name, e.rule) from None
        # Made with the client, so that events() sees everything from the
        # start (the AUTH challenge of the first CONNECT included); bounded
        # by the native buffer, so an unread one costs little.
        self._events = self._native.events()
        # Read ahead in batches; shared by every events() iterator, so one
        # that is left early loses nothing for the next. Made by the first
        # events() call: an idle client should cost little memory.
        self._event_buffer: Optional[Deque[Event]] = None
        self._subscriptions: Dict[str, int] = {}

    @property
    def status(self) -> str:
        """``"disconnected"``, ``"connecting"``, ``"connected"``,
        ``"waiting_to_reconnect"`` or ``"closing"``."""
        return self._native.status()

    @property
    def receive_maximum_overruns(self) -> int:
        """QoS 1/2 publishes the broker sent beyond our Receive Maximum,
        accepted because ``strict_receive_maximum`` is off (mosquitto 2.0
        overruns it while acks are held). Counted by the core.

        >>> midge.Client("mqtt://localhost").receive_maximum_overruns   # doctest: +SKIP
        0
        """
        return self._native.receive_maximum_overruns()

    @property
    def unknown_acks(self) -> int:
        """PUBACK, PUBREC and PUBCOMP the broker sent for packet ids with no
        publish waiting for them (e.g. acks resent after a reconnect). They
        are ignored and the connection stays up; counted by the core."""
        return self._native.unknown_acks()

    @property
    def subscriptions(self) -> Dict[str, int]:
        """Filters subscribed through this object, with their granted QoS."""
        return dict(self._subscriptions)

    def network_changed(self) -> None:
        """The network changed: reconnect now if waiting, else probe the link."""
        self._native.network_changed()

    def pause(self) -> None:
        """Close the connection (DISCONNECT) but keep every operation pending:
        nothing is interrupted, new publishes wait in the session, and
        :meth:`resume` reconnects and completes them. For an app that goes to
        the background; Kotlin and Swift have the same pair. Returns at once.

        >>> client.pause(); client.resume()   # doctest: +SKIP
        """
        self._native.pause()

    def resume(self) -> None:
        """Reconnect after :meth:`pause` (at once, also while the close is
        still under way); pending work completes on the new connection."""
        self._native.resume()

    def _record(self, filters: List[Tuple[str, int, bool, bool, int]], answer: Dict[str, Any]) -> List[SubscribeResult]:
        results = [SubscribeResult(f[0], code) for f, code in zip(filters, answer["reason_codes"])]
        for r in results:
            if r.ok:
                self._subscriptions[r.filter] = r.reason_code
        return results


class _MessageReceiverOwner:
    """What both message iterators do with their native receiver: fetch in
    batches into ``_buffer``, and hand back what was not yielded on close."""

    _receiver: Any
    _buffer: "Deque[Message]"

    def close(self) -> None:
        """Stop receiving. Without a filter, the messages this iterator
        fetched but did not yield go to the next ``messages()`` iterator."""
        unread = list(self._buffer)
        self._buffer.clear()
        self._receiver.close(unread)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to hand over
            pass


class _MessageIterator(_MessageReceiverOwner):
    """Blocking iterator over inbound messages, fetched in batches."""

    def __init__(self, receiver: Any, timeout: Optional[float]) -> None:
        self._receiver = receiver
        self._timeout = timeout
        self._buffer: Deque[Message] = collections.deque()

    def __iter__(self) -> "_MessageIterator":
        return self

    def __next__(self) -> Message:
        if self._buffer:
            return self._buffer.popleft()
        batch = self._receiver.try_recv_batch(_BATCH)
        if not batch:
            batch = self._receiver.recv_batch(_BATCH, self._timeout)
            if not batch:  # None: client gone; []: timeout
                raise StopIteration
        self._buffer.extend(batch)
        return self._buffer.popleft()


class _AsyncMessageIterator(_MessageReceiverOwner):
    """Async iterator over inbound messages, fetched in batches."""

    def __init__(self, receiver: Any) -> None:
        self._receiver = receiver
        self._buffer: Deque[Message] = collections.deque()

    def __aiter__(self) -> "_AsyncMessageIterator":
        return self

    async def __anext__(self) -> Message:
        if self._buffer:
            return self._buffer.popleft()
        batch = self._receiver.try_recv_batch_async(_BATCH)
        if not batch:
            batch = await self._receiver.recv_batch_async(_BATCH)
            if batch is None:
                raise StopAsyncIteration
        self._buffer.extend(batch)
        return self._buffer.popleft()


class _EventIterator:
    """Blocking iterator over connection events."""

    def __init__(self, receiver: Any, buffer: Deque[Event], timeout: Optional[float]) -> None:
        self._receiver = receiver
        self._timeout = timeout
        self._buffer = buffer

    def __iter__(self) -> "_EventIterator":
        return self

    def __next__(self) -> Event:
        if not self._buffer:
            batch = self._receiver.try_recv_batch(64) or self._receiver.recv(self._timeout)
            if not batch:  # None: client gone; []: timeout
                raise StopIteration
            self._buffer.extend(_event(item) for item in batch)
        return self._buffer.popleft()


class _AsyncEventIterator:
    """Async iterator over connection events."""

    def __init__(self, receiver: Any, buffer: Deque[Event]) -> None:
        self._receiver = receiver
        self._buffer = buffer

    def __aiter__(self) -> "_AsyncEventIterator":
        return self

    async def __anext__(self) -> Event:
        if not self._buffer:
            batch = self._receiver.try_recv_batch(64) or await self._receiver.recv_async()
            if batch is None:
                raise StopAsyncIteration
            self._buffer.extend(_event(item) for item in batch)
        return self._buffer.popleft()


# Clients whose on_message / on_event threads run, and the flag that stops those threads.
_dispatching: "weakref.WeakSet[Client]" = weakref.WeakSet()
_exiting = threading.Event()
_DISPATCH_SLICE = 0.25


@atexit.register
def _stop_dispatch_threads() -> None:
    # A daemon thread that re-enters Python while the interpreter finalizes
    # is ended by CPython with pthread_exit, whose forced unwind cannot cross
    # the native extension's frames and aborts the process ("FATAL: exception
    # not rethrown"). atexit runs before finalization: stop and join them.
    _exiting.set()
    for client in list(_dispatching):
        for thread in (client._callback_thread, client._event_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=2 * _DISPATCH_SLICE + 1)


class Client(_Base):
    """A blocking, thread-safe MQTT client.

    ``url`` is ``mqtt://host[:port]`` (TCP), ``mqtts://`` (TLS), ``ws://`` or
    ``wss://`` (WebSocket, path allowed), or a list of them to fail over
    between. Options: ``client_id``, ``protocol`` ("3.1.1" or 5), ``clean_start``,
    ``keep_alive``, ``username``, ``password``, ``will`` (:class:`midge.Will`),
    ``session_expiry``, ``reconnect`` (default True), ``reconnect_min_delay``,
    ``reconnect_max_delay``, ``max_queued_messages``, ``session_store``
    ("memory" or a file path), ``ca``, ``client_cert``, ``client_key``,
    ``insecure_skip_verify``, ``user_properties``, ``manual_acks``,
    ``auth_method``, ``auth_data`` and the other 5.0 CONNECT options (see the
    README). ``on_message`` and ``on_event`` are callables run on a midge
    thread for each message / :class:`midge.Event`.

    >>> with midge.Client("mqtt://localhost:1883") as client:   # doctest: +SKIP
    ...     client.subscribe("greenhouse/#", qos=1)
    ...     client.publish("greenhouse/temp", b"21.5", qos=1)
    ...     for message in client.messages(timeout=5):
    ...         print(message.topic, message.payload)
    ...         break
    """

    def __init__(
        self,
        url: Union[str, Sequence[str]],
        *,
        on_message: Optional[Callable[[Message], Any]] = None,
        on_event: Optional[Callable[[Event], Any]] = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(url, **options)
        self._callback: Optional[Callable[[Message], Any]] = None
        self._callback_thread: Optional[threading.Thread] = None
        self._event_callback: Optional[Callable[[Event], Any]] = None
        self._event_thread: Optional[threading.Thread] = None
        if on_message is not None:
            self.on_message = on_message
        if on_event is not None:
            self.on_event = on_event

    @property
    def on_event(self) -> Optional[Callable[[Event], Any]]:
        """A callable run (on a midge thread of its own) for every
        :class:`midge.Event`: connected, disconnected, subscriptions restored,
        5.0 AUTH, store failure. It may call the client, e.g. ``auth()`` to
        answer an AUTH challenge while ``connect()`` waits. It sees the events
        from when it is first set, independently of :meth:`events`."""
        return self._event_callback

    @on_event.setter
    def on_event(self, callback: Optional[Callable[[Event], Any]]) -> None:
        if callback is not None and not callable(callback):
            raise invalid("on_event", "must be callable or None")
        self._event_callback = callback
        if callback is not None and self._event_thread is None:
            receiver = self._native.events()
            thread = threading.Thread(
                target=self._dispatch_events, args=(receiver,), name="midge-on-event", daemon=True
            )
            self._event_thread = thread
            thread.start()

    def _dispatch_events(self, receiver: Any) -> None:
        _dispatching.add(self)
        while not _exiting.is_set():
            batch = receiver.recv(_DISPATCH_SLICE)
            if batch is None:
                return
            for item in batch:
                callback = self._event_callback
                if callback is None:
                    continue
                try:
                    callback(_event(item))
                except Exception:  # a failing callback must not stop delivery
                    traceback.print_exc(file=sys.stderr)

    @property
    def on_message(self) -> Optional[Callable[[Message], Any]]:
        """A callable run (on a midge thread) for every inbound message. It
        may call the client, including ``publish(..., qos=1)`` and waiting
        for it, ``ack()`` and ``disconnect()``: the client keeps reading the
        broker's answers while the handler waits. Iterators from
        ``messages()`` get the same messages independently."""
        return self._callback

    @on_message.setter
    def on_message(self, callback: Optional[Callable[[Message], Any]]) -> None:
        if callback is not None and not callable(callback):
            raise invalid("on_message", "must be callable or None")
        self._callback = callback
        if callback is not None and self._callback_thread is None:
            receiver = self._native.messages(None)
            thread = threading.Thread(target=self._dispatch, args=(receiver,), name="midge-on-message", daemon=True)
            self._callback_thread = thread
            thread.start()

    def _dispatch(self, receiver: Any) -> None:
        _dispatching.add(self)
        while not _exiting.is_set():
            # Bounded waits, so that the interpreter's exit hook can stop
            # this thread (see _stop_dispatch_threads).
            batch = receiver.recv_batch(_BATCH, _DISPATCH_SLICE)
            if batch is None:
                return
            for message in batch:
                callback = self._callback
                if callback is None:
                    continue
                try:
                    callback(message)
                except Exception:  # a failing callback must not stop delivery
                    traceback.print_exc(file=sys.stderr)

    def connect(self, timeout: Optional[float] = None) -> ConnectResult:
        """Connect and wait for CONNACK. Raises :class:`ConnectionRefusedError`
        (with ``reason_code``), :class:`TransportError` or :class:`TimeoutError`."""
        _check_timeout(timeout)
        # Logging configured after the client was made counts from here.
        self._native.set_trace_level(_trace_level())
        return _connect_result(self._native.connect().wait(timeout))

    @overload
    def publish(
        self,
        topic: str,
        payload: Payload = ...,
        qos: QoS = ...,
        retain: bool = ...,
        properties: Optional[Dict[str, Any]] = ...,
        *,
        wait: Literal[True] = ...,
        timeout: Optional[float] = ...,
    ) -> PublishResult: ...

    @overload
    def publish(
        self,
        topic: str,
        payload: Payload = ...,
        qos: QoS = ...,
        retain: bool = ...,
        properties: Optional[Dict[str, Any]] = ...,
        *,
        wait: Literal[False],
        timeout: Optional[float] = ...,
    ) -> PublishHandle: ...

    def publish(
        self,
        topic: str,
        payload: Payload = b"",
        qos: QoS = 0,
        retain: bool = False,
        properties: Optional[Dict[str, Any]] = None,
        *,
        wait: bool = True,
        timeout: Optional[float] = None,
    ) -> Union[PublishResult, PublishHandle]:
        """Publish. With ``wait=True`` (default) returns a :class:`PublishResult`
        once the broker acknowledged (QoS 1/2) or the client accepted it
        (QoS 0); with ``wait=False`` returns a :class:`PublishHandle` at once.
        The thread that waits reads the acknowledgement itself when it can
        (see :meth:`PublishHandle.wait`). QoS 0 publishes made in a burst
        (less than 100 µs apart) leave together, a few writes for the whole
        burst: each waits at most about 200 µs for the next ones (more when
        the machine's cores are all busy), and anything the client does next
        (a QoS 1/2 publish, a subscribe, :meth:`disconnect`) follows them.
        ``properties``: 5.0 publish properties (``user_properties``,
        ``response_topic``, ``correlation_data``, ``content_type``,
        ``message_expiry_interval``, ``topic_alias``, ``payload_format_indicator``)."""
        _check_publish(topic, qos, retain)
        # Every argument is checked before the message can leave.
        _check_timeout(timeout)
        pending = self._native.publish(topic, payload, qos, retain, properties, False, bool(wait))
        if not wait:
            return PublishHandle(pending)
        return _publish_result(pending.wait(timeout))

    def subscribe(
        self,
        topic: TopicSpec,
        qos: QoS = 0,
        *,
        no_local: bool = False,
        retain_as_published: bool = False,
        retain_handling: int = 0,
        subscription_identifier: Optional[int] = None,
        user_properties: Any = None,
        timeout: Optional[float] = None,
    ) -> List[SubscribeResult]:
        """Subscribe to a filter, a ``(filter, qos)`` pair or a list of them;
        returns the broker's answer per filter (granted QoS or reason code)."""
        _check_flags(no_local, retain_as_published, retain_handling, subscription_identifier)
        filters = _filters(topic, qos, no_local, retain_as_published, retain_handling)
        _check_timeout(timeout)
        answer = self._native.subscribe(filters, subscription_identifier, user_properties).wait(timeout)
        return self._record(filters, answer)

    def unsubscribe(
        self,
        topic: Union[str, Sequence[str]],
        *,
        user_properties: Any = None,
        timeout: Optional[float] = None,
    ) -> List[int]:
        """Unsubscribe; returns the reason code per filter (0 success, 0x11 no
        subscription existed)."""
        filters = _unsub_filters(topic)
        _check_timeout(timeout)
        answer = self._native.unsubscribe(filters, user_properties).wait(timeout)
        for f in filters:
            self._subscriptions.pop(f, None)
        return list(answer["reason_codes"])

    def messages(self, topic: Optional[str] = None, timeout: Optional[float] = None) -> Iterator[Message]:
        """Iterate over inbound messages (all, or those matching ``topic``).
        Stops when no message arrives within ``timeout`` seconds (None: never)
        or the client is closed.

        Every iterator gets every message that matches it, from when it was
        made, in arrival order; two iterators each see all of them. Each
        holds at most ``message_buffer`` unread messages: while one is full
        the client stops reading from the broker (which then slows down), so
        close iterators you no longer read (``it.close()``, or let them be
        garbage). Messages that match no iterator wait (up to
        ``message_buffer``, oldest dropped) for the next iterator without a
        filter, so ``subscribe()`` then ``messages()`` misses no retained
        message; a filtered iterator sees only what arrives after it was
        made, so make it before subscribing.

        While an iterator without a filter is the only one (and over plain
        ``mqtt://`` with the session in memory), the thread that waits in it
        reads the connection itself, so a message wakes no other thread; if
        that thread stays busy elsewhere while data waits, the client reads
        for it again within about a second. A thread that waits for a QoS 1/2
        publish reads for it too (a handler that answers each message with a
        publish, on this thread or another, wakes no third thread)."""
        _check_timeout(timeout)
        return _MessageIterator(self._native.messages(topic), timeout)

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Iterate over connection events (:class:`midge.ConnectedEvent`,
        :class:`midge.DisconnectedEvent`, :class:`midge.SubscriptionsRestoredEvent`,
        :class:`midge.AuthEvent`, :class:`midge.StoreFailedEvent`,
        :class:`midge.RedirectedEvent`) since the client was made. Stops when none arrives within ``timeout`` seconds
        (None: never) or the client is gone. Every call shares one queue (of
        the last 256 unread events). ::

            for event in client.events(timeout=0):
                if isinstance(event, midge.SubscriptionsRestoredEvent):
                    print([(r.filter, r.granted_qos) for r in event.results])
        """
        _check_timeout(timeout)
        if self._event_buffer is None:
            self._event_buffer = collections.deque()
        return _EventIterator(self._events, self._event_buffer, timeout)

    def ack(self, message: Message, timeout: Optional[float] = None) -> None:
        """With ``manual_acks=True``: acknowledge a QoS 1/2 message; its
        PUBACK (QoS 1) or PUBREC (QoS 2) goes to the broker now, not when the
        message arrived. Raises :class:`midge.AckError` if it is not awaiting
        an acknowledgement (acknowledged already; or a QoS 1 message from a
        connection that has closed since: the broker sends it again, with
        ``dup`` set, and that copy is the one to acknowledge), and
        :class:`midge.InvalidArgumentError` for a QoS 0 message or a client
        without ``manual_acks``. ::

            for message in client.messages():
                store(message.payload)
                client.ack(message)   # only now may the broker forget it
        """
        _check_message(message)
        _check_timeout(timeout)
        self._native.ack(message).wait(timeout)

    def auth(
        self,
        data: Union[bytes, bytearray, memoryview, str, None] = None,
        *,
        method: Optional[str] = None,
        reauthenticate: bool = False,
        reason_string: Optional[str] = None,
        user_properties: Any = None,
        timeout: Optional[float] = None,
    ) -> None:
        """5.0 enhanced authentication: send AUTH with ``data``. By default
        it answers the broker's challenge (an :class:`midge.AuthEvent` with
        ``needs_answer``, reason 0x18), also while ``connect()`` waits; with
        ``reauthenticate=True`` it starts a re-authentication of the live
        connection (reason 0x19), answered by AuthEvents. ``method`` defaults
        to the ``auth_method`` option. ::

            def on_event(event):
                if isinstance(event, midge.AuthEvent) and event.needs_answer:
                    client.auth(answer_to(event.authentication_data))
            client = midge.Client(url, auth_method="SCRAM-SHA-256", auth_data=first, on_event=on_event)
            client.connect()
        """
        _check_auth(data, method, reauthenticate, reason_string)
        _check_timeout(timeout)
        self._native.auth(data, method, reason_string, user_properties, reauthenticate).wait(timeout)

    def disconnect(
        self,
        reason_code: int = 0,
        properties: Optional[Dict[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> None:
        """Send DISCONNECT (5.0: ``reason_code`` and ``properties`` such as a
        new ``session_expiry_interval``) and close. ``reason_code=4`` asks the
        broker to publish the will."""
        _check_timeout(timeout)
        _check_int("reason_code", reason_code, 0, 255)
        self._native.disconnect(reason_code, properties).wait(timeout)

    def sync(self, timeout: Optional[float] = None) -> None:
        """Wait until every earlier call reached the protocol core: publishes
        made with ``wait=False`` are then in the session (and, with a file
        ``session_store``, on disk), so they survive a crash."""
        _check_timeout(timeout)
        self._native.sync().wait(timeout)

    def wait_connected(self, timeout: Optional[float] = None) -> bool:
        """Block until connected (e.g. after an automatic reconnect); False on timeout."""
        _check_timeout(timeout)
        return self._native.wait_status("connected", timeout)

    def __enter__(self) -> "Client":
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.disconnect(timeout=5)
        except ClosedError:
            pass

    def __repr__(self) -> str:
        return f"midge.Client({self._url!r}, status={self.status!r})"


class AsyncClient(_Base):
    """The asyncio client: the same operations as :class:`Client`, as
    coroutines. It never blocks the event loop.

    >>> async with midge.AsyncClient("mqtt://localhost") as client:   # doctest: +SKIP
    ...     await client.subscribe("greenhouse/#", qos=1)
    ...     await client.publish("greenhouse/temp", b"21.5", qos=1)
    ...     async for message in client.messages():
    ...         print(message.topic, message.payload)
    """

    async def connect(self) -> ConnectResult:
        """Connect and wait for CONNACK."""
        # An async credentials provider runs on this loop.
        self._loop = asyncio.get_running_loop()
        self._native.set_trace_level(_trace_level())
        return _connect_result(await self._native.connect().wait_async())

    async def publish(
        self,
        topic: str,
        payload: Payload = b"",
        qos: QoS = 0,
        retain: bool = False,
        properties: Optional[Dict[str, Any]] = None,
    ) -> PublishResult:
        """Publish; returns once the broker acknowledged (QoS 1/2) or the
        client accepted it (QoS 0). Run many at once with ``asyncio.gather``
        or :meth:`publish_nowait` to pipeline. A QoS 0 publish made less than
        100 µs after the previous one is written with the rest of its burst
        when the event loop next turns (one write for the burst), so code
        that publishes and then computes without awaiting may hold it until
        its next ``await`` that yields to the loop.

        The event loop reads the broker's acknowledgements itself (on plain
        TCP with the session in memory): no other thread wakes per
        acknowledgement. Without a :meth:`messages` iterator, the loop that
        awaits QoS 1/2 publishes reads them, and a loop kept busy for over a
        second by blocking code hands that reading back to the client
        meanwhile; with one iterator (no filter) consumed on a loop, that
        loop reads the socket whenever it is readable, messages and
        acknowledgements alike, also while the iterator's consumer is busy
        awaiting a publish."""
        _check_publish(topic, qos, retain)
        return await _await_publish(self._native.publish(topic, payload, qos, retain, properties, True))

    def publish_nowait(
        self,
        topic: str,
        payload: Payload = b"",
        qos: QoS = 0,
        retain: bool = False,
        properties: Optional[Dict[str, Any]] = None,
    ) -> PublishHandle:
        """Send a publish without waiting; await the returned handle for the
        acknowledgement. Publishes go out in the order of the calls; a QoS 0
        burst goes out when the event loop next turns (see :meth:`publish`)."""
        _check_publish(topic, qos, retain)
        return PublishHandle(self._native.publish(topic, payload, qos, retain, properties, True))

    async def subscribe(
        self,
        topic: TopicSpec,
        qos: QoS = 0,
        *,
        no_local: bool = False,
        retain_as_published: bool = False,
        retain_handling: int = 0,
        subscription_identifier: Optional[int] = None,
        user_properties: Any = None,
    ) -> List[SubscribeResult]:
        """Subscribe; returns the broker's answer per filter."""
        _check_flags(no_local, retain_as_published, retain_handling, subscription_identifier)
        filters = _filters(topic, qos, no_local, retain_as_published, retain_handling)
        pending = self._native.subscribe(filters, subscription_identifier, user_properties)
        return self._record(filters, await pending.wait_async())

    async def unsubscribe(self, topic: Union[str, Sequence[str]], *, user_properties: Any = None) -> List[int]:
        """Unsubscribe; returns the reason code per filter."""
        filters = _unsub_filters(topic)
        answer = await self._native.unsubscribe(filters, user_properties).wait_async()
        for f in filters:
            self._subscriptions.pop(f, None)
        return list(answer["reason_codes"])

    def messages(self, topic: Optional[str] = None) -> "_AsyncMessageIterator":
        """``async for message in client.messages()``: every inbound message,
        or those matching ``topic``. Each iterator gets every message that
        matches it; see :meth:`Client.messages` for the buffering rules. A
        filtered iterator is registered when this is called, so make it
        before subscribing to see retained messages.

        While an iterator without a filter is the only one (and over plain
        ``mqtt://`` with the session in memory), the event loop watches the
        connection and reads it on its own thread while a receive waits;
        when none waits for 50 ms while data is there, the client reads for
        it again."""
        return _AsyncMessageIterator(self._native.messages(topic))

    def events(self) -> AsyncIterator[Event]:
        """``async for event in client.events()``: connection events
        (:class:`midge.ConnectedEvent`, :class:`midge.DisconnectedEvent`,
        :class:`midge.SubscriptionsRestoredEvent`, :class:`midge.AuthEvent`,
        :class:`midge.StoreFailedEvent`, :class:`midge.RedirectedEvent`) since
        the client was made. Every
        call shares one queue (of the last 256 unread events). ::

            connecting = asyncio.ensure_future(client.connect())
            async for event in client.events():
                if isinstance(event, midge.AuthEvent) and event.needs_answer:
                    await client.auth(answer_to(event.authentication_data))
                elif isinstance(event, midge.ConnectedEvent):
                    break
            await connecting
        """
        if self._event_buffer is None:
            self._event_buffer = collections.deque()
        return _AsyncEventIterator(self._events, self._event_buffer)

    async def ack(self, message: Message) -> None:
        """With ``manual_acks=True``: acknowledge a QoS 1/2 message (PUBACK
        or PUBREC goes out now). Raises :class:`midge.AckError` if it is not
        awaiting an acknowledgement; see :meth:`Client.ack`. ::

            async for message in client.messages():
                await store(message.payload)
                await client.ack(message)
        """
        _check_message(message)
        await self._native.ack(message).wait_async()

    async def auth(
        self,
        data: Union[bytes, bytearray, memoryview, str, None] = None,
        *,
        method: Optional[str] = None,
        reauthenticate: bool = False,
        reason_string: Optional[str] = None,
        user_properties: Any = None,
    ) -> None:
        """5.0 enhanced authentication: answer the broker's AUTH challenge
        with ``data`` or, with ``reauthenticate=True``, start a
        re-authentication; see :meth:`Client.auth` and :meth:`events`.
        ``await client.auth(b"client-final")``"""
        _check_auth(data, method, reauthenticate, reason_string)
        await self._native.auth(data, method, reason_string, user_properties, reauthenticate).wait_async()

    async def disconnect(self, reason_code: int = 0, properties: Optional[Dict[str, Any]] = None) -> None:
        """Send DISCONNECT (5.0: with ``reason_code`` and ``properties``) and close."""
        _check_int("reason_code", reason_code, 0, 255)
        await self._native.disconnect(reason_code, properties).wait_async()

    async def __aenter__(self) -> "AsyncClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.disconnect()
        except ClosedError:
            pass

    def __repr__(self) -> str:
        return f"midge.AsyncClient({self._url!r}, status={self.status!r})"
