"""Drive `python -m midge pub|sub` like a script would, and the interactive
shell in a pseudo-terminal, against the test session's mosquitto."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from typing import List

import midge
from conftest import PACKAGE_DIR, PASSWORD, USER, client_id


def midge_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "midge", *args], cwd=PACKAGE_DIR, capture_output=True,
                          text=True, timeout=timeout)


def hp(broker) -> List[str]:
    return ["-h", "127.0.0.1", "-p", str(broker.ports["tcp"])]


def test_pub_then_sub_retained_verbose(broker, topic):
    pub = midge_cli("pub", *hp(broker), "-t", topic, "-m", "hello", "-r", "-q", "1")
    assert pub.returncode == 0, pub.stderr
    sub = midge_cli("sub", *hp(broker), "-t", topic, "-C", "1", "-v")
    assert (sub.returncode, sub.stdout) == (0, f"{topic} hello\n"), sub.stderr
    plain = midge_cli("sub", "-L", f"mqtt://127.0.0.1:{broker.ports['tcp']}/{topic}", "-C", "1", "-V", "311")
    assert (plain.returncode, plain.stdout) == (0, "hello\n"), plain.stderr


def test_formats_timestamps_and_properties(broker, topic):
    pub = midge_cli("pub", *hp(broker), "-t", topic, "-m", '{"t": 21.5}', "-r",
                    "-D", "publish", "user-property", "unit", "C", "-D", "publish", "content-type", "application/json")
    assert pub.returncode == 0, pub.stderr
    hexed = midge_cli("sub", *hp(broker), "-t", topic, "-C", "1", "--format", "hex")
    assert hexed.stdout == b'{"t": 21.5}'.hex() + "\n"
    pretty = midge_cli("sub", *hp(broker), "-t", topic, "-C", "1", "-v", "--format", "json", "--timestamps")
    assert pretty.returncode == 0, pretty.stderr
    m = re.fullmatch(r"\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d)\] (\S+) (.*)  \{(.*)\}\n",
                     pretty.stdout, re.S)
    assert m, pretty.stdout
    assert m.group(2) == topic
    assert json.loads(m.group(3)) == {"t": 21.5} and "\n  \"t\": 21.5\n" in m.group(3)
    assert m.group(4) == "content-type=application/json user-property:unit=C"


def test_properties_from_the_python_api(broker, topic):
    with midge.Client(broker.url(), client_id=client_id()) as c:
        c.publish(topic, b"ping", qos=1, retain=True, properties={
            "response_topic": "replies", "correlation_data": b"42", "message_expiry_interval": 300})
    sub = midge_cli("sub", *hp(broker), "-t", topic, "-C", "1", "-v")
    line = sub.stdout
    assert line.startswith(f"{topic} ping  {{"), line
    assert "response-topic=replies" in line and "correlation-data=42" in line
    assert re.search(r"message-expiry=\d+", line)


def test_payload_sources_file_stdin_lines_and_null(broker, topic, tmp_path):
    # A subscriber through the API sees each payload as mosquitto_pub's
    # -f, -s, -l and -n would send it.
    payload_file = tmp_path / "reading.bin"
    payload_file.write_bytes(b"\x00\x01binary\xff")
    with midge.Client(broker.url(), client_id=client_id("src")) as c:
        c.subscribe(topic, qos=1)
        got = c.messages(timeout=10)

        def run(*args: str, stdin: str = "") -> None:
            done = subprocess.run([sys.executable, "-m", "midge", "pub", *hp(broker), "-t", topic, "-q", "1", *args],
                                  cwd=PACKAGE_DIR, input=stdin, capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, done.stderr

        run("-f", str(payload_file))
        assert next(got).payload == b"\x00\x01binary\xff"
        run("-s", stdin="all\nof stdin\n")
        assert next(got).payload == b"all\nof stdin\n"
        run("-l", stdin="first\nsecond\n\nfourth\n")
        # One message per line, without its newline; an empty line is an
        # empty message, as mosquitto_pub sends it.
        assert [next(got).payload for _ in range(4)] == [b"first", b"second", b"", b"fourth"]
        run("-n")
        assert next(got).payload == b""
    missing = midge_cli("pub", *hp(broker), "-t", topic, "-f", str(tmp_path / "absent"))
    assert missing.returncode == 2 and "argument -f/--file: cannot read" in missing.stderr


def test_sub_timeout_exits_27(broker, topic):
    sub = midge_cli("sub", *hp(broker), "-t", topic, "-W", "0.5")
    assert (sub.returncode, sub.stdout, sub.stderr.strip()) == (27, "", "Timed out")


def test_bad_flag_names_the_argument(broker, topic):
    bad = midge_cli("sub", *hp(broker), "-t", topic, "-q", "3")
    assert bad.returncode == 2
    assert "argument -q/--qos: invalid choice: 3" in bad.stderr
    missing = midge_cli("pub", *hp(broker), "-t", topic)
    assert missing.returncode == 2 and "-m/--message" in missing.stderr


def test_auth_failure_is_one_clear_line(broker, topic):
    auth = ["-h", "127.0.0.1", "-p", str(broker.ports["auth"]), "-t", topic, "-m", "x"]
    refused = midge_cli("pub", *auth, "-u", USER, "-P", "wrong")
    assert refused.returncode == 0x87, refused.stderr  # the CONNACK reason code, like mosquitto_pub
    assert refused.stderr.startswith("Error: ") and refused.stderr.count("\n") == 1
    assert midge_cli("pub", *auth, "-u", USER, "-P", PASSWORD).returncode == 0


class Terminal:
    """The reading end of a pseudo-terminal: wait for text, consume up to it."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer = fd, ""

    def expect(self, needle: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {needle!r} in {self.buffer!r}"
            if select.select([self.fd], [], [], left)[0]:
                self.buffer += os.read(self.fd, 4096).decode(errors="replace")
        head, _, self.buffer = self.buffer.partition(needle)
        return head + needle


def test_message_prints_above_the_partly_typed_line(broker, topic):
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(PACKAGE_DIR)
        os.execv(sys.executable, [sys.executable, "-m", "midge", broker.url()])
    term = Terminal(fd)
    prompt = f"midge({broker.url()})> "
    try:
        term.expect(prompt)
        os.write(fd, f"subscribe {topic}\r".encode())
        term.expect(f"subscribed to {topic}")
        term.expect(prompt)
        os.write(fd, b"publish half-typ")
        term.expect("half-typ")
        with midge.Client(broker.url(), client_id=client_id()) as c:
            c.publish(topic, b"incoming", qos=1)
        out = term.expect(f"[{topic}] incoming  (qos 0)\r\n{prompt}publish half-typ")
        assert "\r\x1b[K" in out
        os.write(fd, b"\x15exit\r")  # ^U clears the typed line first
        _, status = os.waitpid(pid, 0)
    except BaseException:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def sub_bytes(broker, *args: str) -> subprocess.CompletedProcess:
    """`python -m midge sub` with its output as bytes (-F %p and \\0 write raw bytes)."""
    return subprocess.run([sys.executable, "-m", "midge", "sub", *hp(broker), *args], cwd=PACKAGE_DIR,
                          capture_output=True, timeout=30)


def test_sub_format_string(broker, topic):
    with midge.Client(broker.url(), client_id=client_id()) as c:
        c.publish(topic, b'{"t": 21.5}', qos=1, retain=True, properties={
            "content_type": "application/json", "response_topic": "replies", "correlation_data": b"req-7",
            "message_expiry_interval": 300, "payload_format_indicator": True,
            "user_properties": [("unit", "C"), ("room", "2")]})
    before = time.time()
    fields = sub_bytes(broker, "-t", topic, "-C", "1", "-v", "-F",
                       r"%t\t%p|%x|%X|%l|%q|%r|%C|%R|%D|%F|%P|%A|%S|%%|%U|%I\0[%-8l][%08l][%.5t]\\")
    after = time.time()
    assert fields.returncode == 0, fields.stderr
    out = fields.stdout
    assert out.endswith(b"\\\n")  # \\ then the newline mosquitto_sub adds (-F wins over -v: no "topic ")
    head, _, tail = out[:-2].partition(b"\0")
    (topic_, rest) = head.split(b"\t")
    parts = rest.split(b"|")
    assert topic_.decode() == topic
    assert parts[:13] == [b'{"t": 21.5}', b'{"t": 21.5}'.hex().encode(), b'{"t": 21.5}'.hex().upper().encode(),
                          b"11", b"0", b"1", b"application/json", b"replies", b"req-7", b"1", b"unit:C room:2",
                          b"", b""]  # no topic alias, no subscription identifier: empty, as in mosquitto_sub
    assert parts[13] == b"%"
    assert re.fullmatch(rb"\d+\.\d{9}", parts[14]) and before <= float(parts[14]) <= after
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", parts[15]), parts[15]
    assert tail == b"[11      ][00000011][" + topic[:5].encode() + b"]"

    # %E is what is left of the expiry; -N leaves out the newline.
    expiry = sub_bytes(broker, "-t", topic, "-C", "1", "-N", "-F", "%E")
    assert expiry.returncode == 0 and 0 < int(expiry.stdout) <= 300, expiry

    quoted = sub_bytes(broker, "-t", topic, "-C", "1", "-F", "%j")
    doc = json.loads(quoted.stdout)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d{4}", doc.pop("tst"))
    assert 0 < doc["properties"].pop("message-expiry-interval") <= 300
    assert doc == {"topic": topic, "qos": 0, "retain": 1, "payloadlen": 11, "payload": '{"t": 21.5}',
                   "properties": {"user-properties": {"unit": "C", "room": "2"},
                                  "content-type": "application/json", "correlation-data": "req-7",
                                  "payload-format-indicator": 1, "response-topic": "replies"}}
    parsed = sub_bytes(broker, "-t", topic, "-C", "1", "-F", "%J", "-q", "1")
    assert json.loads(parsed.stdout)["payload"] == {"t": 21.5} and json.loads(parsed.stdout)["qos"] == 1

    # %J with a payload that is not JSON: a JSON string (mosquitto_sub prints an error instead).
    with midge.Client(broker.url(), client_id=client_id(), protocol="3.1.1") as c:
        c.publish(topic, b"21.5 C", qos=1, retain=True)
    not_json = sub_bytes(broker, "-t", topic, "-C", "1", "-V", "311", "-F", "%J")
    doc = json.loads(not_json.stdout)
    assert doc["payload"] == "21.5 C" and "properties" not in doc


def test_sub_format_string_errors(broker, topic):
    for spec, words in [("%t %Z", "unknown format specifier '%Z'"), ("%m", "%m (the message id) is not available"),
                        ("100%", "incomplete format specifier"), (r"%t\q", r"unknown escape '\q'"),
                        ("@", "incomplete time specifier")]:
        bad = midge_cli("sub", *hp(broker), "-t", topic, "-F", spec)
        assert bad.returncode == 2, (spec, bad.stderr)
        assert bad.stderr.startswith(f"python -m midge sub: error: argument -F: {words}"), bad.stderr
        assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_tls_version(broker, topic):
    tls = ["-h", "127.0.0.1", "-p", str(broker.ports["tls"]), "--cafile", broker.ca, "-t", topic]
    pub = midge_cli("pub", *tls, "-m", "over tls", "-r", "-q", "1", "--tls-version", "tlsv1.2")
    assert pub.returncode == 0, pub.stderr
    sub = midge_cli("sub", *tls, "-C", "1", "--tls-version", "tlsv1.2")
    assert (sub.returncode, sub.stdout) == (0, "over tls\n"), sub.stderr
    for version, words in [("tlsv1.3", "midge cannot refuse TLS 1.2"), ("tlsv1.1", "nothing older"),
                           ("sslv3", "nothing older")]:
        refused = midge_cli("sub", *tls, "-C", "1", "--tls-version", version)
        assert refused.returncode == 2, refused.stderr
        assert f"argument --tls-version: '{version}' is not supported" in refused.stderr
        assert words in refused.stderr and "only tlsv1.2" in refused.stderr and refused.stdout == ""
    refused = midge_cli("pub", *tls, "-m", "x", "--tls-version", "tlsv1.3")
    assert refused.returncode == 2 and "argument --tls-version" in refused.stderr


def test_shell_format_command(broker, topic):
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(PACKAGE_DIR)
        os.execv(sys.executable, [sys.executable, "-m", "midge", broker.url()])
    term = Terminal(fd)
    prompt = f"midge({broker.url()})> "
    try:
        term.expect(prompt)
        os.write(fd, f"subscribe {topic}\r".encode())
        term.expect(f"subscribed to {topic}")
        term.expect(prompt)
        os.write(fd, b"format --format hex --timestamps\r")
        term.expect("format hex, timestamps on")
        term.expect(prompt)
        with midge.Client(broker.url(), client_id=client_id()) as c:
            c.publish(topic, b"hi", qos=1)
            out = term.expect(f"[{topic}] 6869  (qos 0)")
            assert re.search(r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d\] \[" + re.escape(topic) + r"\]",
                             out), out
            os.write(fd, b"format --format json --no-timestamps\r")
            term.expect("format json, timestamps off")
            term.expect(prompt)
            c.publish(topic, b'{"a": [1, 2]}', qos=1)
            out = term.expect("  (qos 0)")
            assert f"[{topic}] {{\r\n  \"a\": [\r\n    1,\r\n    2\r\n  ]\r\n}}" in out, out
            assert not re.search(r"\[\d{4}-", out)
        os.write(fd, b"format --format yaml\r")
        term.expect("error: format: argument --format: invalid choice: 'yaml'")
        term.expect(prompt)
        os.write(fd, b"format\r")  # no options: shows the current settings
        term.expect("format json, timestamps off")
        os.write(fd, b"exit\r")
        _, status = os.waitpid(pid, 0)
    except BaseException:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
