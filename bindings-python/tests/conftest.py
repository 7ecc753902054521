"""A real mosquitto per test session (and per test where one gets killed).

The broker runs from a generated config on free loopback ports: plain TCP,
WebSocket, TLS, mutual TLS and a password-protected listener, started by the
shared launcher ``midge-testkit`` (the one every suite uses). Certificates
are generated here with openssl. Readiness is observed (TCP connects succeed),
never assumed after a sleep.
"""

from __future__ import annotations

import getpass
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

USER, PASSWORD = "alice", "s3cret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d: Path) -> Dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=midge test CA",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    # Extensions make these X.509 v3 certificates, which webpki requires.
    (d / "client.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=d)
    return {n: d / n for n in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


REPO = Path(__file__).resolve().parents[2]
TESTKIT = Path(os.environ.get("MIDGE_TESTKIT", REPO / "target" / "debug" / "midge-testkit"))


class Testkit:
    """The shared broker launcher (``tests/src/bin/midge-testkit.rs``), the
    one the Rust, npm and Kotlin suites use too, as a child process: one
    command line on its stdin, one answer (``ok ...`` or ``error ...``) on
    its stdout. It stops what it runs when its stdin closes."""

    def __init__(self, *args: str) -> None:
        if not TESTKIT.exists():
            raise RuntimeError(f"{TESTKIT} is missing: cargo build -p midge-system-tests --bin midge-testkit "
                               "(scripts/test-python.sh does)")
        self.proc = subprocess.Popen([str(TESTKIT), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"midge-testkit {args[0]} failed (exit {self.proc.wait()}): {line}")
        self.ready = dict(w.split("=", 1) for w in line.split()[1:])

    def command(self, line: str) -> Dict[str, str]:
        """Send one command; the fields of its ``ok`` answer."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer != "ok" and not answer.startswith("ok "):
            raise RuntimeError(f"midge-testkit {line}: {answer or 'no answer'}")
        return dict(w.split("=", 1) for w in answer.split()[1:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


class ScriptedBroker:
    """The shared scripted broker (``midge-testkit scripted``) for one MQTT
    5.0 connection: ``expect`` steps check what the client sends, ``send``
    steps answer (see ``tests/src/scripted.rs``). ``join()`` waits for the
    script's end and fails with its reason; ``log`` then holds what the
    client sent as (packet, AUTH reason code or -1, authentication data)."""

    def __init__(self, script: str) -> None:
        self._kit = Testkit("scripted", script)
        self.url = f"mqtt://127.0.0.1:{self._kit.ready['port']}"
        self.log: List[Tuple[str, int, Optional[bytes]]] = []
        self._end: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._kit.proc.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "got":
                name, *words = rest.split(" ")
                fields = dict(w.split("=", 1) for w in words)
                reason = int(fields["reason"], 16) if name == "AUTH" else -1
                data = fields.get("authentication_data")
                self.log.append((name, reason, data.encode() if data is not None else None))
            elif kind in ("done", "failed"):
                self._end.put(line.strip())

    def join(self, timeout: float = 30) -> None:
        try:
            end = self._end.get(timeout=timeout)
        finally:
            self._kit.close()
        assert end == "done", f"the scripted broker {end}"


class Broker:
    """One mosquitto and its ports, run by the shared launcher."""

    def __init__(self, workdir: Path, certs: Dict[str, Path], persistence: bool = False, extra: str = "") -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.certs = certs
        self.persistence = persistence
        passwd = self.dir / "passwd"
        subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), USER, PASSWORD], check=True,
                       capture_output=True)
        tls = f"cafile {certs['ca.crt']}\ncertfile {certs['server.crt']}\nkeyfile {certs['server.key']}\n"
        self._kit = Testkit(
            "mosquitto",
            "per_listener_settings true\n"
            # Run as the test's user: mosquitto started by root would switch
            # to `mosquitto`, who cannot read pytest's private temp dirs.
            f"user {getpass.getuser()}\n"
            f"persistence {'true' if persistence else 'false'}\n"
            "persistence_location {dir}/\n"
            # A file: mosquitto flushes each line (stdout to a file is buffered).
            "log_dest file {dir}/mosquitto.log\n"
            "log_type all\n"
            "sys_interval 1\n"
            "max_queued_messages 0\n"
            f"{extra}\n"
            "listener {port:tcp} 127.0.0.1\nallow_anonymous true\n"
            "listener {port:ws} 127.0.0.1\nprotocol websockets\nallow_anonymous true\n"
            f"listener {{port:tls}} 127.0.0.1\nallow_anonymous true\n{tls}"
            f"listener {{port:mtls}} 127.0.0.1\nallow_anonymous true\n{tls}require_certificate true\n"
            f"listener {{port:auth}} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n"
            f"listener {{port:wss}} 127.0.0.1\nprotocol websockets\nallow_anonymous true\n{tls}",
        )
        ready = self._kit.ready
        self.ports = {name: int(ready[name]) for name in ("tcp", "ws", "tls", "mtls", "auth", "wss")}
        self.log = Path(ready["dir"]) / "mosquitto.log"
        self.pid: Optional[int] = int(ready["pid"]) or None

    def start(self) -> None:
        """Start it again on the same ports (returns once every port accepts connections)."""
        self.pid = int(self._kit.command("start")["pid"])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM (mosquitto saves its persistence) or SIGKILL, and wait."""
        self._kit.command("kill" if sig == signal.SIGKILL else "stop")
        self.pid = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def close(self) -> None:
        self._kit.close()

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, needle: str, timeout: float = 10.0) -> str:
        """Wait until the broker logged `needle` (observed in its log file)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            if needle in text:
                return text
            time.sleep(0.02)
        raise AssertionError(f"mosquitto never logged {needle!r}")

    def url(self, kind: str = "tcp") -> str:
        scheme = {"tcp": "mqtt", "ws": "ws", "tls": "mqtts", "mtls": "mqtts", "auth": "mqtt", "wss": "wss"}[kind]
        return f"{scheme}://127.0.0.1:{self.ports[kind]}"

    @property
    def ca(self) -> str:
        return str(self.certs["ca.crt"])


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory, certs: Dict[str, Path]) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("mosquitto"), certs)
    yield b
    b.close()


@pytest.fixture
def own_broker(tmp_path: Path, certs: Dict[str, Path]) -> Iterator[Broker]:
    """A broker of this test alone (to kill and restart), with persistence."""
    b = Broker(tmp_path / "mosquitto", certs, persistence=True)
    yield b
    b.kill()
    b.close()


class HiveMq:
    """HiveMQ CE (embedded, ``tests/brokers/hivemq``), the second real broker
    of the binding suites, run by the shared launcher (``midge-testkit
    broker hivemq``) on free loopback ports: TCP and WebSocket (``/mqtt``),
    in-memory, anonymous usage statistics off. The launcher returns once
    both ports accept connections and the broker logged that it is ready;
    closing it kills the broker. Needs ``scripts/setup-system-tests.sh``
    (``scripts/setup.sh`` runs it before any test)."""

    def __init__(self) -> None:
        started = time.monotonic()
        self._kit = Testkit("broker", "hivemq")
        self.start_seconds = time.monotonic() - started
        self.version = self._kit.ready["version"]
        self.ports = {"tcp": int(self._kit.ready["tcp"]), "ws": int(self._kit.ready["ws"])}

    def url(self, kind: str = "tcp") -> str:
        if kind == "ws":
            return f"ws://127.0.0.1:{self.ports['ws']}/mqtt"
        return f"mqtt://127.0.0.1:{self.ports['tcp']}"

    def close(self) -> None:
        self._kit.close()


@pytest.fixture(scope="session")
def hivemq() -> Iterator[HiveMq]:
    """One HiveMQ CE for the whole session, started by the first test that
    asks for it (2-5 s, ~200 MiB)."""
    b = HiveMq()
    yield b
    b.close()


@pytest.fixture
def topic() -> str:
    """A topic no other test uses."""
    return f"midge-test/{uuid.uuid4().hex[:12]}"


def client_id(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


PACKAGE_DIR = Path(__file__).resolve().parents[1]
ENV = dict(os.environ)


def runtime_thread_switches() -> int:
    """Voluntary context switches of midge's runtime thread so far (it
    sleeps each time it has nothing to do, so each of its wake-ups counts
    one). Involuntary switches are left out: they count the times other
    processes preempted it, which a busy machine adds without any wake-up."""
    total = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                if f.read().strip() != "midge-native":
                    continue
            with open(f"/proc/self/task/{tid}/status") as f:
                total += sum(
                    int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches")
                )
        except OSError:
            continue
    return total
