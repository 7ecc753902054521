"""The blocking client against a real mosquitto: connect, auth, QoS 0/1/2,
retained messages, will, persistent sessions, unsubscribe, keep-alive."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

import midge
from conftest import PASSWORD, USER, client_id


def test_connect_returns_the_brokers_answer(broker):
    with midge.Client(broker.url(), client_id=client_id()) as c:
        assert c.status == "connected"
    c = midge.Client(broker.url(), client_id=client_id())
    result = c.connect(timeout=5)
    assert isinstance(result, midge.ConnectResult)
    assert result.reason_code == 0 and result.session_present is False
    assert result.keep_alive == 60
    c.disconnect()
    assert c.status == "disconnected"


def test_server_assigns_a_client_id(broker):
    c = midge.Client(broker.url(), client_id="", protocol=5)
    result = c.connect(timeout=5)
    assert result.assigned_client_identifier
    assert result.client_id == result.assigned_client_identifier
    c.disconnect()


@pytest.mark.parametrize("protocol", [5, "3.1.1"])
def test_bad_password_is_refused_with_its_reason_code(broker, protocol):
    c = midge.Client(broker.url("auth"), client_id=client_id(), username=USER, password="wrong", protocol=protocol)
    with pytest.raises(midge.ConnectionRefusedError) as info:
        c.connect(timeout=5)
    # 0x86 Bad user name or password (5.0); 3.1.1 return code 4 maps to it,
    # mosquitto answers 3.1.1 with 5 (not authorized) -> 0x87.
    assert info.value.reason_code in (0x86, 0x87)
    assert isinstance(info.value, midge.MqttError)


def test_good_password_connects(broker, topic):
    with midge.Client(broker.url("auth"), client_id=client_id(), username=USER, password=PASSWORD) as c:
        c.subscribe(topic, qos=1)
        c.publish(topic, b"authenticated", qos=1)
        assert next(iter(c.messages(timeout=5))).payload == b"authenticated"


def test_unreachable_broker_is_a_transport_error():
    from conftest import free_port

    c = midge.Client(f"mqtt://127.0.0.1:{free_port()}", client_id=client_id())
    with pytest.raises(midge.TransportError):
        c.connect(timeout=5)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_and_subscribe_at_each_qos(broker, topic, qos):
    with midge.Client(broker.url(), client_id=client_id()) as c:
        granted = c.subscribe(topic, qos=qos)
        assert [g.granted_qos for g in granted] == [qos]
        handles = [c.publish(topic, f"m{i}".encode(), qos=qos, wait=False) for i in range(100)]
        for h in handles:
            assert h.wait(timeout=5).reason_code == 0
        got = []
        for m in c.messages(timeout=5):
            got.append(m)
            if len(got) == 100:
                break
        assert [m.payload for m in got] == [f"m{i}".encode() for i in range(100)]
        assert {m.qos for m in got} == {qos}
        assert all(m.topic == topic for m in got)


def test_retained_message_reaches_a_later_subscriber(broker, topic):
    with midge.Client(broker.url(), client_id=client_id()) as pub:
        pub.publish(topic, b"last value", qos=1, retain=True)
    with midge.Client(broker.url(), client_id=client_id()) as sub:
        sub.subscribe(topic, qos=1)
        m = next(iter(sub.messages(timeout=5)))
        assert (m.payload, m.retain) == (b"last value", True)
        sub.publish(topic, b"", qos=1, retain=True)  # clear it


def test_bad_arguments_never_reach_the_wire(broker):
    c = midge.Client(broker.url(), client_id=client_id())
    c.connect(timeout=5)
    with pytest.raises(midge.InvalidArgumentError) as info:
        c.publish("a/+/wildcard", b"x")
    assert info.value.argument == "topic" and "wildcard" in info.value.rule.lower() or "+" in info.value.rule
    with pytest.raises(midge.InvalidArgumentError) as info:
        c.publish("a", b"x", qos=3)
    assert info.value.argument == "qos"
    with pytest.raises(ValueError):  # InvalidArgumentError is also a ValueError
        c.subscribe("a/#/b")
    with pytest.raises(midge.InvalidArgumentError) as info:
        c.publish("a", 12345)
    assert info.value.argument == "payload"
    with pytest.raises(midge.InvalidArgumentError) as info:
        c.publish("a", b"x", properties={"nonsense": 1})
    assert info.value.argument == "properties"
    c.disconnect()
    with pytest.raises(midge.InvalidArgumentError) as info:
        midge.Client(broker.url(), kep_alive=3)
    assert info.value.argument == "kep_alive"
    with pytest.raises(midge.InvalidArgumentError) as info:
        midge.Client("http://127.0.0.1:1883")
    assert info.value.argument == "url"
    with pytest.raises(midge.InvalidArgumentError):
        midge.Client(broker.url(), client_id="x\0y")


def test_unsubscribe_stops_delivery(broker, topic):
    with midge.Client(broker.url(), client_id=client_id()) as c:
        c.subscribe([f"{topic}/a", f"{topic}/b"], qos=1)
        assert set(c.subscriptions) == {f"{topic}/a", f"{topic}/b"}
        assert c.unsubscribe(f"{topic}/a") == [0]
        c.publish(f"{topic}/a", b"nobody listens", qos=1)
        c.publish(f"{topic}/b", b"still subscribed", qos=1)
        m = next(iter(c.messages(timeout=5)))
        assert (m.topic, m.payload) == (f"{topic}/b", b"still subscribed")
        assert c.unsubscribe(f"{topic}/nothing") == [0x11]  # no subscription existed


def test_overlapping_subscriptions_and_filtered_iterators(broker, topic):
    with midge.Client(broker.url(), client_id=client_id()) as c:
        only_b = c.messages(f"{topic}/b/#")
        c.subscribe([(f"{topic}/#", 0), (f"{topic}/+/x", 1)])
        c.publish(f"{topic}/b/x", b"both", qos=1)
        c.publish(f"{topic}/a/y", b"first only", qos=1)
        seen = []
        for m in c.messages(timeout=5):
            seen.append((m.topic, m.payload))
            if (f"{topic}/a/y", b"first only") in seen:
                break
        assert (f"{topic}/b/x", b"both") in seen
        m = next(only_b)
        assert m.topic == f"{topic}/b/x"


def test_sys_topics_are_not_matched_by_hash(broker):
    with midge.Client(broker.url(), client_id=client_id()) as c:
        sys_messages = c.messages("$SYS/broker/uptime")
        c.subscribe("#")
        c.subscribe("$SYS/broker/uptime")
        first = next(sys_messages)  # sys_interval 1: within about a second
        assert first.topic == "$SYS/broker/uptime"
        marker = f"midge-test/marker/{client_id()}"
        c.publish(marker, b"end", qos=1)
        for m in c.messages(timeout=5):
            if m.topic == marker:
                break
            # Only the explicit $SYS subscription may deliver $SYS topics.
            assert not m.topic.startswith("$SYS") or m.topic == "$SYS/broker/uptime"


def test_last_will_on_abnormal_drop(broker, topic):
    with midge.Client(broker.url(), client_id=client_id()) as watcher:
        watcher.subscribe(f"{topic}/will", qos=1)
        c = midge.Client(broker.url(), client_id=client_id(), reconnect=False,
                         will=midge.Will(f"{topic}/will", b"gone", qos=1))
        c.connect(timeout=5)
        c._native.drop_transport()  # as if the network failed
        m = next(iter(watcher.messages(timeout=5)))
        assert (m.topic, m.payload) == (f"{topic}/will", b"gone")


def test_no_will_on_normal_disconnect(broker, topic):
    with midge.Client(broker.url(), client_id=client_id()) as watcher:
        watcher.subscribe(f"{topic}/#", qos=1)
        with midge.Client(broker.url(), client_id=client_id(), will=midge.Will(f"{topic}/will", b"gone")):
            pass
        watcher.publish(f"{topic}/after", b"marker", qos=1)
        m = next(iter(watcher.messages(timeout=5)))
        assert m.topic == f"{topic}/after"


def test_persistent_session_gets_messages_queued_while_offline(broker, topic):
    cid = client_id("persist")
    sub = midge.Client(broker.url(), client_id=cid, clean_start=False, session_expiry=300)
    sub.connect(timeout=5)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    with midge.Client(broker.url(), client_id=client_id()) as pub:
        for i in range(20):
            pub.publish(topic, f"offline {i}".encode(), qos=1)
    sub2 = midge.Client(broker.url(), client_id=cid, clean_start=False, session_expiry=300)
    messages = sub2.messages(timeout=5)
    assert sub2.connect(timeout=5).session_present is True
    got = [next(messages).payload for _ in range(20)]
    assert got == [f"offline {i}".encode() for i in range(20)]
    sub2.disconnect(properties={"session_expiry_interval": 0})


def test_keep_alive_pings_the_broker(broker):
    cid = client_id("ka")
    with midge.Client(broker.url(), client_id=cid, keep_alive=1):
        broker.wait_log(f"Received PINGREQ from {cid}", timeout=5)


def test_on_message_callback(broker, topic):
    got = []
    done = threading.Event()

    def on_message(m):
        got.append(m.payload)
        if len(got) == 3:
            done.set()

    with midge.Client(broker.url(), client_id=client_id(), on_message=on_message) as c:
        c.subscribe(topic, qos=1)
        for i in range(3):
            c.publish(topic, str(i), qos=1)
        assert done.wait(5)
    assert got == [b"0", b"1", b"2"]


def test_exit_with_a_live_on_message_client_is_clean(broker, topic):
    # A script that never disconnects: its on_message thread must be stopped
    # before the interpreter finalizes, or the process may abort ("FATAL:
    # exception not rethrown"; seen at the end of 3 of 5 runs of this suite
    # before the atexit hook). The abort is timing-dependent and this script
    # did not reproduce it alone; it checks the clean exit itself.
    script = (
        "import midge, threading, sys, time\n"
        # Finalization outlasts the thread's wait, as in a large program.
        "class SlowTeardown:\n"
        "    def __del__(self): time.sleep(0.6)\n"
        "keep = SlowTeardown()\n"
        "got = threading.Event()\n"
        f"c = midge.Client({broker.url()!r}, on_message=lambda m: got.set())\n"
        "c.connect()\n"
        f"c.subscribe({topic!r}, qos=1)\n"
        f"c.publish({topic!r}, b'x', qos=1)\n"
        "assert got.wait(5)\n"
    )
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "FATAL" not in done.stderr


def test_client_is_thread_safe(broker, topic):
    with midge.Client(broker.url(), client_id=client_id()) as c:
        c.subscribe(topic, qos=1)
        errors = []

        def worker(n):
            try:
                for i in range(50):
                    c.publish(topic, f"{n}-{i}", qos=1)
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        received = set()
        for m in c.messages(timeout=5):
            received.add(m.payload)
            if len(received) == 200:
                break
        for t in threads:
            t.join()
        assert not errors and len(received) == 200


def test_more_bad_arguments_name_themselves(broker):
    c = midge.Client(broker.url(), client_id=client_id())
    for kwargs, name in [
        (dict(subscription_identifier=0), "subscription_identifier"),
        (dict(subscription_identifier=-5), "subscription_identifier"),
        (dict(retain_handling=3), "retain_handling"),
        (dict(no_local="yes"), "no_local"),
        (dict(qos=5), "qos"),
        (dict(user_properties=5), "user_properties"),
    ]:
        with pytest.raises(midge.InvalidArgumentError) as info:
            c.subscribe("a/b", **kwargs)
        assert info.value.argument == name, kwargs
    with pytest.raises(midge.InvalidArgumentError) as info:
        c.disconnect(reason_code=300)
    assert info.value.argument == "reason_code"
    with pytest.raises(midge.InvalidArgumentError) as info:
        c.disconnect(reason_code=0x03)  # not a reason code at all
    assert info.value.argument == "reason_code"
    with pytest.raises(midge.InvalidArgumentError) as info:
        c.publish("a", b"x", timeout=-1)
    assert info.value.argument == "timeout"
    with pytest.raises(midge.InvalidArgumentError) as info:
        midge.Client(broker.url(), protocol=4.5)
    assert info.value.argument == "protocol"
    with pytest.raises(midge.InvalidArgumentError) as info:
        midge.Client(broker.url(), will={"payload": b"x"})
    assert info.value.argument == "will"


def test_ctrl_c_interrupts_a_blocking_wait(broker):
    import signal
    import subprocess
    import sys

    script = (
        "import sys, signal, faulthandler, midge\n"
        # On a hang the test asks for every thread's stack with SIGUSR1.
        "faulthandler.register(signal.SIGUSR1, all_threads=True)\n"
        f"c = midge.Client({broker.url()!r}, client_id='ctrl-c')\n"
        "c.connect(timeout=5)\n"
        "c.subscribe('nobody/publishes/here')\n"
        "print('ready', flush=True)\n"
        "for m in c.messages():\n"
        "    pass\n"
    )
    # A shell starts background jobs with SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: when the suite itself runs as
    # one (`./.ci/run &`), the child would never see Ctrl-C. Give it the
    # disposition a program started from a terminal has.
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGINT)
        try:
            # Generous: this failed once at 5 s in a CI run and passed in 14
            # runs since; a real hang still fails, with the child's stacks.
            _, err = child.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGUSR1)
            try:
                _, err = child.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                err = "(no stack dump)"
            pytest.fail(f"no exit within 30 s of SIGINT; child's threads:\n{err}")
    finally:
        child.kill()
    assert "KeyboardInterrupt" in err
