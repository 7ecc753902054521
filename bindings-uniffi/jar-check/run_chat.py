"""Two users of the chat example, run from the jar-check project's classpath
with no jna.library.path: bob sees what alice says. Starts its own mosquitto
on a free loopback port. Usage: run_chat.py <classpath file>
"""

from __future__ import annotations

import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MAIN = "io.midge.examples.chat.MainKt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_listener(port: int, broker: "subprocess.Popen[bytes]") -> None:
    """Returns once mosquitto accepts connections on the port."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if broker.poll() is not None:
            raise SystemExit(f"mosquitto exited with {broker.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"mosquitto never listened on port {port}")


class Chat:
    def __init__(self, classpath: str, url: str, user: str) -> None:
        # jna.debug_load prints where JNA found the library: it must be the jar.
        self.proc = subprocess.Popen(
            ["java", "-Djna.debug_load=true", "-cp", classpath, MAIN, url, user, "lobby"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.seen: list = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"never saw {text!r}; output:\n" + "\n".join(self.seen))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line

    def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def quit(self) -> None:
        self.say("/quit")
        self.proc.wait(timeout=30)


def main() -> None:
    classpath = Path(sys.argv[1]).read_text().strip() + ":" + sys.argv[2]
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
        broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_for_listener(port, broker)
            url = f"mqtt://127.0.0.1:{port}"
            bob = Chat(classpath, url, "bob")
            # JNA's debug line naming where it found the library: the jar, nowhere else.
            # (Earlier lines list the places JNA tried, and JNA's own
            # libjnidispatch found in JNA's jar.)
            loaded = bob.expect("Found library resource at", timeout=60)
            while "libmidge_uniffi.so" not in loaded:
                loaded = bob.expect("Found library resource at", timeout=60)
            if "jar:" not in loaded or "midge-kotlin" not in loaded:
                raise SystemExit(f"JNA did not load the library from the midge-kotlin jar: {loaded}")
            bob.expect("joined #lobby as bob")
            alice = Chat(classpath, url, "alice")
            alice.expect("joined #lobby as alice")
            bob.expect("* alice is online")
            alice.say("hello from the installed jar")
            bob.expect("[lobby] alice: hello from the installed jar")
            alice.quit()
            bob.expect("* alice is offline")
            bob.quit()
        finally:
            broker.terminate()
            broker.wait(timeout=10)
    print(f"chat over the installed jar ok; JNA: {loaded.strip()}")


if __name__ == "__main__":
    main()
