"""The examples run as a user would run them."""

from __future__ import annotations

import subprocess
import sys

from conftest import PACKAGE_DIR


def test_sensor_publisher_and_subscriber(broker, topic, tmp_path):
    examples = PACKAGE_DIR / "examples"
    sub = subprocess.Popen([sys.executable, str(examples / "subscriber.py"), broker.url(), f"{topic}/#", "4"],
                           stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert sub.stdout.readline().startswith(f"subscribed to {topic}/#")
        pub = subprocess.run([sys.executable, str(examples / "sensor_publisher.py"), broker.url(), topic, "3"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert pub.returncode == 0, pub.stderr
        assert pub.stdout.count("published") == 3
        out, _ = sub.communicate(timeout=30)
    finally:
        sub.kill()
    lines = out.splitlines()
    assert f"{topic}/status: online (retained)" in lines or f"{topic}/status: online" in lines
    assert sum(1 for line in lines if line.startswith(f"{topic}: {{\"celsius\"")) == 3
    assert (tmp_path / "greenhouse-sensor-1.session").exists()
