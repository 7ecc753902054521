"""Protocol rules against the shared scripted broker (``midge-testkit
scripted``), where a real broker cannot be made to misbehave on cue."""

from __future__ import annotations

import pytest

import midge
from conftest import ScriptedBroker, client_id


def test_acks_for_unknown_packet_ids_are_counted_and_the_connection_kept():
    """A broker that sends PUBACK/PUBCOMP for ids with nothing waiting (as
    after a reconnect) no longer makes the client drop the connection: they
    are ignored and counted, and the real ack still completes the publish."""
    broker = ScriptedBroker(
        """
        expect CONNECT
        send CONNACK reason=0
        send PUBACK id=999
        send PUBCOMP id=998
        expect PUBLISH topic=conformance/acks qos=1 id=1
        send PUBACK id=1
        expect DISCONNECT
        """
    )
    c = midge.Client(broker.url, client_id=client_id("acks"), reconnect=False)
    c.connect(timeout=5)
    c.publish("conformance/acks", b"x", qos=1, timeout=5)
    assert c.unknown_acks == 2
    assert c.status == "connected"
    c.disconnect(timeout=5)
    broker.join()


@pytest.mark.parametrize("option,sent", [({}, "none"), ({"max_packet_size": 65536}, "65536")])
def test_connect_names_a_maximum_packet_size_only_when_one_is_set(option, sent):
    """A 5.0 server drops every message above the CONNECT's Maximum Packet
    Size for the client, silently: the default sends none."""
    broker = ScriptedBroker(
        f"""
        expect CONNECT maximum_packet_size={sent}
        send CONNACK reason=0
        expect DISCONNECT
        """
    )
    c = midge.Client(broker.url, client_id=client_id("max"), reconnect=False, **option)
    c.connect(timeout=5)
    c.disconnect(timeout=5)
    broker.join()


@pytest.mark.parametrize(
    "options,argument",
    [
        (dict(auth_method="M", auth_data=b"x" * 70_000), "auth_data"),
        (dict(auth_method="m" * 70_000), "auth_method"),
        (dict(user_properties={"k": "v" * 70_000}), "user_properties"),
        (dict(will=midge.Will("w", properties={"correlation_data": b"c" * 70_000})), "will.properties.correlation_data"),
        (dict(will=midge.Will("w", properties={"response_topic": "r" * 70_000})), "will.properties.response_topic"),
    ],
)
def test_connect_fields_over_65535_bytes_are_refused_at_construction(options, argument):
    """They used to pass the constructor; the CONNECT then failed to encode
    and the user waited 10 s for "no CONNACK"."""
    with pytest.raises(midge.InvalidArgumentError) as e:
        midge.Client("mqtt://127.0.0.1:1", **options)
    assert e.value.argument == argument
    assert "65,535" in str(e.value)


def test_packets_above_the_server_maximum_packet_size_are_not_sent():
    """[MQTT-3.2.2-15]: a SUBSCRIBE or UNSUBSCRIBE above the server's Maximum
    Packet Size is refused with a typed error; the DISCONNECT leaves its
    reason string out. The script fails if anything but DISCONNECT arrives."""
    broker = ScriptedBroker(
        """
        expect CONNECT
        send CONNACK reason=0 maximum_packet_size=64
        expect DISCONNECT reason_string=none
        """
    )
    c = midge.Client(broker.url, client_id=client_id("max"), reconnect=False)
    c.connect(timeout=5)
    long_filter = "sensors/" + "x" * 80 + "/#"
    with pytest.raises(midge.MqttError) as e:
        c.subscribe(long_filter, qos=1, timeout=5)
    assert "maximum packet size of 64 bytes" in str(e.value)
    with pytest.raises(midge.MqttError):
        c.unsubscribe(long_filter, timeout=5)
    c.disconnect(properties={"reason_string": "r" * 100}, timeout=5)
    broker.join()


def test_a_publish_the_server_does_not_allow_is_a_typed_rejection_while_connected():
    """Above the server's Maximum QoS, retained where retain is unavailable,
    or over its Maximum Packet Size: PublishRejectedError with 0x9B, 0x9A or
    0x95, as after a reconnect, not the base MqttError without a code."""
    broker = ScriptedBroker(
        """
        expect CONNECT
        send CONNACK reason=0 maximum_qos=0 retain_available=0 maximum_packet_size=64
        expect DISCONNECT
        """
    )
    c = midge.Client(broker.url, client_id=client_id("refused"), reconnect=False)
    c.connect(timeout=5)
    for kwargs, code in [
        (dict(payload=b"x", qos=1), 0x9B),
        (dict(payload=b"x", retain=True), 0x9A),
        (dict(payload=b"x" * 100), 0x95),
    ]:
        with pytest.raises(midge.PublishRejectedError) as e:
            c.publish("conformance/refused", timeout=5, **kwargs)
        assert e.value.reason_code == code, kwargs
    c.disconnect(timeout=5)
    broker.join()


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_payload_above_the_packet_limit_is_refused_before_it_is_copied():
    """A 300 MB payload used to cost +300 MB of memory before the refusal."""
    payload = bytes(300 * 1024 * 1024)
    c = midge.Client("mqtt://127.0.0.1:1", client_id=client_id("huge"))
    before = _rss_mib()
    with pytest.raises(midge.InvalidArgumentError) as e:
        c.publish("conformance/huge", payload, qos=0, wait=False)
    grown = _rss_mib() - before
    assert e.value.argument == "payload"
    assert "268,435,455" in str(e.value)
    assert grown < 50, f"RSS grew {grown:.0f} MiB"


def test_small_argument_gaps_are_invalid_arguments_named_as_written(tmp_path):
    """Issue 14 item 11: each of these raised another type, named the core's
    field, was accepted silently, or failed only later."""
    c = midge.Client("mqtt://127.0.0.1:1", client_id=client_id("args"))
    for call, argument in [
        (lambda: c.publish("a\ud800b", b"x", wait=False), "topic"),
        (lambda: c.publish("a", b"x", qos=1.0, wait=False), "qos"),
        (lambda: c.subscribe("a\ud800/#", timeout=1), "topic"),
        (lambda: midge.Client("mqtt://h", connect_timeout=0), "connect_timeout"),
        (lambda: midge.Client("mqtt://h", max_packet_size=1), "max_packet_size"),
        (lambda: midge.Client("mqtt://h\x00"), "url"),
        (lambda: midge.Client("mqtt://h", session_store=str(tmp_path / "missing" / "s.db")), "session_store"),
    ]:
        with pytest.raises(midge.InvalidArgumentError) as e:
            call()
        assert e.value.argument == argument, (argument, str(e.value))
    # Accepted: MQTT's own 0/1 for the format indicator, pairs as lists.
    c.publish("a", b"x", properties={"payload_format_indicator": 1}, wait=False)
    midge.Client("mqtt://h", will=midge.Will("w", properties={"user_properties": [["k", "v"]]}))


def test_an_explicit_connect_after_disconnect_is_not_a_reconnect(broker):
    """``reconnected`` marks automatic reconnects; it used to be True for a
    connect() the application made after disconnect()."""
    c = midge.Client(broker.url(), client_id=client_id("again"))
    assert not c.connect(timeout=5).reconnected
    c.disconnect(timeout=5)
    assert not c.connect(timeout=5).reconnected
    c.disconnect(timeout=5)


def _events_until(c: midge.Client, last: type) -> list:
    """The client's events up to the first of type ``last``."""
    events = []
    for event in c.events(timeout=10):
        events.append(event)
        if isinstance(event, last):
            return events
    raise AssertionError(f"no {last.__name__} in {events}")


def test_a_redirect_on_connack_is_followed_when_asked(broker, topic):
    """CONNACK Use Another Server (0x9C) naming the real broker: with
    ``follow_redirects`` the client goes there at once and ``connect()``
    returns its CONNACK; a round trip then runs through it."""
    target = broker.url().removeprefix("mqtt://")
    scripted = ScriptedBroker(
        f"""
        expect CONNECT
        send CONNACK reason=0x9C server_reference={target}
        """
    )
    c = midge.Client(scripted.url, client_id=client_id("redir"), follow_redirects=True)
    result = c.connect(timeout=10)
    scripted.join()
    assert result.server == broker.url() and not result.reconnected
    events = _events_until(c, midge.ConnectedEvent)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["RedirectedEvent", "DisconnectedEvent", "ConnectedEvent"], kinds
    redirect = events[0]
    assert (redirect.reason_code, redirect.server_reference, redirect.target, redirect.followed) == (
        0x9C, target, broker.url(), True)
    assert not redirect.permanent
    assert events[1].reconnecting and events[1].reconnect_in == 0
    assert isinstance(events[1].error, midge.ConnectionRefusedError)
    messages = c.messages(topic, timeout=5)
    c.subscribe(topic, qos=1, timeout=5)
    c.publish(topic, b"via the redirect", qos=1, timeout=5)
    assert next(messages).payload == b"via the redirect"
    c.disconnect(timeout=5)


def test_a_redirect_is_reported_and_not_followed_by_default(broker):
    target = broker.url().removeprefix("mqtt://")
    scripted = ScriptedBroker(
        f"""
        expect CONNECT
        send CONNACK reason=0x9D server_reference={target}
        """
    )
    c = midge.Client(scripted.url, client_id=client_id("redir"))
    with pytest.raises(midge.ConnectionRefusedError) as e:
        c.connect(timeout=10)
    assert e.value.reason_code == 0x9D
    scripted.join()
    redirect = _events_until(c, midge.RedirectedEvent)[-1]
    assert (redirect.target, redirect.followed, redirect.permanent) == (broker.url(), False, True)


def test_a_server_moved_disconnect_moves_a_connected_client(broker, topic):
    """DISCONNECT Server Moved (0x9D) while connected: the client reconnects
    at once to the new server (and stays with it); queued work goes there."""
    target = broker.url().removeprefix("mqtt://")
    scripted = ScriptedBroker(
        f"""
        expect CONNECT
        send CONNACK reason=0
        expect SUBSCRIBE
        send DISCONNECT reason=0x9D server_reference={target}
        """
    )
    c = midge.Client(scripted.url, client_id=client_id("moved"), follow_redirects=True,
                     clean_start=True)
    c.connect(timeout=10)
    messages = c.messages(topic, timeout=5)
    # The SUBSCRIBE is cut off by the DISCONNECT; the client sends it again
    # to the new server, which answers it.
    c.subscribe(topic, qos=1, timeout=10)
    scripted.join()
    c.publish(topic, b"moved", qos=1, timeout=5)
    assert next(messages).payload == b"moved"
    _events_until(c, midge.ConnectedEvent)  # the first connection
    events = _events_until(c, midge.ConnectedEvent)
    redirect = events[0]
    assert isinstance(redirect, midge.RedirectedEvent), events
    assert redirect.followed and redirect.permanent and redirect.target == broker.url()
    assert events[-1].result.server == broker.url() and events[-1].result.reconnected
    c.disconnect(timeout=5)


def test_a_publish_cut_off_by_the_servers_disconnect_carries_its_reason_code():
    """The server's DISCONNECT 0x94 ends the connection while a QoS 1
    publish waits for PUBACK (reconnecting off): its ClosedError carries
    0x94, as does a pending subscribe's."""
    broker = ScriptedBroker(
        """
        expect CONNECT
        send CONNACK reason=0
        expect PUBLISH topic=conformance/cut qos=1 id=1
        expect SUBSCRIBE
        send DISCONNECT reason=0x94
        """
    )
    c = midge.Client(broker.url, client_id=client_id("cut"), reconnect=False)
    c.connect(timeout=5)
    handle = c.publish("conformance/cut", b"x", qos=1, wait=False)
    with pytest.raises(midge.ClosedError) as e:
        c.subscribe("conformance/f", qos=1, timeout=5)
    assert e.value.reason_code == 0x94
    with pytest.raises(midge.InterruptedOperationError) as e:
        handle.wait(timeout=5)
    assert e.value.reason_code == 0x94
    assert "the server closed the connection" in str(e.value)
    broker.join()
