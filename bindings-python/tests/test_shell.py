"""Drive `python -m midge` like a user would: type a line, read the answer."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from conftest import PACKAGE_DIR


class ShellDriver:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "midge", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=PACKAGE_DIR, bufsize=0)
        self.output = ""
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            ch = self.proc.stdout.read(1)
            if not ch:
                return
            with self.cond:
                self.output += ch
                self.cond.notify_all()

    def expect(self, text: str, timeout: float = 10.0) -> str:
        """Wait until `text` appears in the output after the last expectation."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while text not in self.output:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"shell never printed {text!r}; output so far:\n{self.output}")
                self.cond.wait(left)
            head, _, self.output = self.output.partition(text)
            return head + text

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()


def test_shell_session(broker, topic):
    sh = ShellDriver()
    sh.expect("midge> ")
    sh.send(f"publish {topic} early")
    sh.expect("not connected. Connect first: connect mqtt://HOST[:PORT]")
    sh.send("connect")
    sh.expect("connect: the following arguments are required: url")
    url = broker.url()
    sh.send(f"connect {url} --client-id shell-test")
    sh.expect(f"connected to {url} as 'shell-test'")
    sh.expect(f"midge({url})> ")
    sh.send(f"subscribe {topic}/# --qos 1")
    sh.expect(f"subscribed to {topic}/# (granted qos 1)")
    sh.send("subscriptions")
    sh.expect(f"{topic}/#  (qos 1)")
    sh.send(f"publish {topic}/a 'hello shell' --qos 1")
    sh.expect(f"[{topic}/a] hello shell  (qos 1)")
    sh.send(f"publish {topic}/a")
    sh.expect("publish: the following arguments are required: payload")
    sh.send("publish a/+/b x")
    sh.expect("invalid argument `topic`")
    sh.send("frobnicate")
    sh.expect("unknown command 'frobnicate'")
    sh.send("help")
    sh.expect("commands:")
    sh.expect("unsubscribe FILTER")
    sh.send("help publish")
    sh.expect("--qos")
    sh.send(f"unsubscribe {topic}/#")
    sh.expect(f"unsubscribed from {topic}/#")
    sh.send("subscriptions")
    sh.expect("no subscriptions")
    sh.send("disconnect")
    sh.expect(f"disconnected from {url}")
    sh.expect("midge> ")
    sh.send("exit")
    assert sh.proc.wait(timeout=10) == 0


def test_shell_connect_errors(broker):
    sh = ShellDriver()
    sh.expect("midge> ")
    sh.send(f"connect {broker.url('auth')} --username alice --password wrong")
    sh.expect("error: connection refused by the server")
    sh.send("connect http://nowhere")
    sh.expect("invalid argument `url`")
    sh.send("exit")
    assert sh.proc.wait(timeout=10) == 0
