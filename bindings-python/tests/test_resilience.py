"""Broker killed and restarted; client process killed with a file store."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import midge
from conftest import client_id

FAST = dict(reconnect_min_delay=0.05, reconnect_max_delay=0.2)


def receive_one_while_publishing(receiver_client, publisher, topic, deadline=15.0):
    """Publish until the receiver sees a message: subscriptions are restored
    asynchronously after a reconnect, so the first publishes may find none."""
    messages = receiver_client.messages(timeout=0.2)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        publisher.publish(topic, b"ping", qos=1)
        for m in messages:
            if m.topic == topic:
                return m
        messages = receiver_client.messages(timeout=0.2)
    raise AssertionError("no message after the broker restart")


def test_reconnect_and_resubscribe_after_broker_killed(own_broker, topic):
    c = midge.Client(own_broker.url(), client_id=client_id("re"), **FAST)
    c.connect(timeout=5)
    c.subscribe(topic, qos=1)
    own_broker.kill()  # SIGKILL: the broker forgets the session
    assert c._native.wait_status("waiting_to_reconnect", 10)
    own_broker.start()
    assert c.wait_connected(10)
    with midge.Client(own_broker.url(), client_id=client_id()) as pub:
        m = receive_one_while_publishing(c, pub, topic)
        assert m.payload == b"ping"
    c.disconnect()


def test_publishes_made_while_the_broker_is_down_are_delivered(own_broker, topic):
    sub_id = client_id("sub")
    sub = midge.Client(own_broker.url(), client_id=sub_id, clean_start=False, session_expiry=300, **FAST)
    sub.connect(timeout=5)
    sub.subscribe(topic, qos=1)
    pub = midge.Client(own_broker.url(), client_id=client_id("pub"), **FAST)
    pub.connect(timeout=5)
    own_broker.stop()  # SIGTERM: mosquitto saves the sessions (persistence true)
    assert pub._native.wait_status("waiting_to_reconnect", 10)
    handles = [pub.publish(topic, str(i), qos=1, wait=False) for i in range(20)]
    own_broker.start()
    assert all(h.wait(timeout=15).reason_code == 0 for h in handles)
    got = set()
    for m in sub.messages(timeout=10):
        got.add(int(m.payload))
        if len(got) == 20:
            break
    assert got == set(range(20))
    sub.disconnect(properties={"session_expiry_interval": 0})
    pub.disconnect()


CHILD = r"""
import sys, midge
url, store, topic, cid = sys.argv[1:5]
c = midge.Client(url, client_id=cid, clean_start=False, session_expiry=300, session_store=store,
                 reconnect_min_delay=0.05, reconnect_max_delay=0.2)
c.connect(timeout=5)
print("connected", flush=True)
sys.stdin.readline()                       # the parent stopped the broker
for i in range(30):
    c.publish(topic, str(i), qos=1 + i % 2, wait=False)
c.sync()                                   # every publish is in the file store
print("stored", flush=True)
sys.stdin.readline()                       # killed here with SIGKILL
"""


def test_resume_from_file_store_after_the_process_is_killed(own_broker, topic, tmp_path):
    store = tmp_path / "session.bin"
    cid = client_id("child")
    child = subprocess.Popen([sys.executable, "-c", CHILD, own_broker.url(), str(store), topic, cid],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "connected"
        own_broker.kill()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "stored"
    finally:
        child.kill()  # SIGKILL: no chance to save anything more
        child.wait()
    own_broker.start()
    with midge.Client(own_broker.url(), client_id=client_id("watch")) as watcher:
        messages = watcher.messages(topic)
        watcher.subscribe(topic, qos=2)
        # A new process (here: a new client object) resumes the same session.
        resumed = midge.Client(own_broker.url(), client_id=cid, clean_start=False, session_expiry=300,
                               session_store=str(store))
        resumed.connect(timeout=5)
        got = []
        for m in messages:
            got.append(int(m.payload))
            if set(got) == set(range(30)):
                break
        assert set(got) == set(range(30))  # nothing lost
        resumed.disconnect(properties={"session_expiry_interval": 0})


def test_a_damaged_store_file_is_refused_by_name_and_a_torn_tail_is_not(broker, topic, tmp_path):
    """Issue 15: a flipped payload byte used to be published as is. Each
    record of the log has a checksum: damage before the last record is
    refused, naming the file; a cut in the last record (a crash in the
    middle of a write) is recovered."""
    store = tmp_path / "session.log"
    c = midge.Client("mqtt://127.0.0.1:1", client_id=client_id("damaged"), session_store=str(store))
    for i in range(3):
        c.publish(topic, f"payload-{i}".encode(), qos=1, wait=False)
    c.sync()  # on disk
    c.disconnect(timeout=5)  # never connected: returns at once
    good = store.read_bytes()

    torn = tmp_path / "torn.log"
    torn.write_bytes(good[:-3])
    with midge.Client(broker.url(), client_id=client_id("watch")) as watcher:
        messages = watcher.messages(topic, timeout=10)
        watcher.subscribe(topic, qos=1)
        resumed = midge.Client(broker.url(), session_store=str(torn))
        resumed.connect(timeout=5)
        # The third record was cut: the first two publishes go out, then
        # the watcher's own marker is next.
        assert [next(messages).payload for _ in range(2)] == [b"payload-0", b"payload-1"]
        watcher.publish(topic, b"marker", qos=1)
        assert next(messages).payload == b"marker"
        resumed.disconnect(timeout=5)

    damaged = bytearray(good)
    damaged[good.index(b"payload-0")] ^= 1
    store.write_bytes(bytes(damaged))
    with pytest.raises(midge.MqttError) as e:
        midge.Client("mqtt://127.0.0.1:1", session_store=str(store))
    assert "checksum" in str(e.value) and "session.log" in str(e.value)


def test_in_flight_publishes_are_redelivered_after_a_dropped_connection(broker, topic):
    """QoS 2 publishes in flight when the link drops are resent on the
    reconnect and still arrive exactly once."""
    with midge.Client(broker.url(), client_id=client_id("watch")) as watcher:
        messages = watcher.messages(topic, timeout=10)
        watcher.subscribe(topic, qos=2)
        pub = midge.Client(broker.url(), client_id=client_id("pub"), clean_start=False, session_expiry=60, **FAST)
        pub.connect(timeout=5)
        handles = [pub.publish(topic, str(i), qos=2, wait=False) for i in range(50)]
        pub._native.drop_transport()  # most of them are still awaiting PUBREC/PUBCOMP
        assert all(h.wait(timeout=15).reason_code == 0 for h in handles)
        got = []
        for m in messages:
            got.append(int(m.payload))
            if len(got) == 50:
                break
        assert sorted(got) == list(range(50))  # all of them, none twice
        pub.disconnect(properties={"session_expiry_interval": 0})
