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
