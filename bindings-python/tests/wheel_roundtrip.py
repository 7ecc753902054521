"""Round trip through a midge installed from a wheel file into a clean venv.

Run by scripts/build-wheels.sh with that venv's python, from outside the
source tree, so `import midge` can only find the installed wheel. Starts its
own mosquitto on a free loopback port and stops it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import midge


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mosquitto exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)  # polling a port: nothing to wait on but the connect itself
    raise SystemExit(f"mosquitto did not listen on {port} in {timeout} s")


def main() -> None:
    source_tree = Path(__file__).resolve().parents[1]
    where = Path(midge.__file__).resolve()
    if source_tree in where.parents:
        raise SystemExit(f"midge was imported from the source tree ({where}), not the wheel")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
        broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_listening(port, broker)
            with midge.Client(f"mqtt://127.0.0.1:{port}", client_id="wheel-check") as client:
                messages = client.messages(timeout=10)
                client.subscribe("wheel/check", qos=1)
                client.publish("wheel/check", b"from the wheel", qos=1)
                message = next(messages)
                assert message.topic == "wheel/check", message.topic
                assert message.payload == b"from the wheel", message.payload
                assert message.qos == 1, message.qos
        finally:
            broker.terminate()
            broker.wait(timeout=10)
    print(f"wheel round trip ok: midge {midge.__version__} from {where.parent}, "
          f"Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
