"""A subscriber alone at a fixed rate: what receiving costs each client.

Layout: a publisher in another process (raw socket, pre-encoded QoS 0 or 1
PUBLISH packets, paced to --rate msg/s, so its cost is not counted) and the
subscriber in this process, through a local mosquitto this program starts.
For each client the CPU time of this process (all threads,
time.process_time) over the receive is divided by the messages received;
in square brackets the part midge's runtime thread ran
(/proc/self/task/*/schedstat). Clients run --rounds times, alternating; the
median is kept. The raw-socket reader (a blocking recv loop that counts
bytes and decodes nothing) is the floor: one wake-up of one thread per
message.

    .venv/bin/python bindings-python/bench/subscriber.py --count 6000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, cast

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench  # noqa: E402  (the broker launcher and helpers)
import midge  # noqa: E402

PUBLISHER = r"""
import socket, sys, time
port, count, rate, topic, qos = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4].encode(), int(sys.argv[5])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
cid = b"subbench-pub"
vh = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
s.sendall(bytes([0x10, len(vh)]) + vh)
assert s.recv(4)[:1] == b"\x20"
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.readline()
start = time.perf_counter()
for i in range(count):
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += (i % 65535 + 1).to_bytes(2, "big")
    body += b"x" * 64
    s.sendall(bytes([0x30 | (qos << 1), len(body)]) + body)
    delay = start + (i + 1) / rate - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
    if qos:
        s.setblocking(False)
        try:
            while s.recv(65536):
                pass
        except BlockingIOError:
            pass
        s.setblocking(True)
s.sendall(b"\xe0\x00")
s.close()
"""


class Publisher:
    """The paced publisher process, connected and waiting for `go`."""

    def __init__(self, port: int, count: int, rate: float, topic: str, qos: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(port), str(count), str(rate), topic, str(qos)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def wait(self) -> None:
        self.proc.wait(60)


def _measure(receive: Callable[[Callable[[], None]], None]) -> tuple[float, float]:
    """Runs `receive(start)`; `start` (called by it once it is subscribed
    and waiting) begins the count. CPU seconds of the process, and of
    midge's runtime thread, from `start` to the end of `receive`."""
    marks: dict[str, float] = {}

    def start() -> None:
        marks["cpu"] = time.process_time()
        marks["native"] = bench.thread_cpu_ns("midge-native") / 1e9

    receive(start)
    return (time.process_time() - marks["cpu"],
            bench.thread_cpu_ns("midge-native") / 1e9 - marks["native"])


def midge_client(port: int, topic: str, qos: int, count: int, publisher: Publisher) -> tuple[float, float]:
    level = cast(midge.QoS, qos)

    def receive(start: Callable[[], None]) -> None:
        with midge.Client(f"mqtt://127.0.0.1:{port}", client_id="subbench-c", protocol="3.1.1") as sub:
            messages = sub.messages(timeout=30)
            sub.subscribe(topic, qos=level)
            start()
            publisher.go()
            got = 0
            for _ in messages:
                got += 1
                if got == count:
                    break
            assert got == count, f"midge.Client: {got} of {count}"
    return _measure(receive)


def midge_async(port: int, topic: str, qos: int, count: int, publisher: Publisher) -> tuple[float, float]:
    level = cast(midge.QoS, qos)

    async def main(start: Callable[[], None]) -> None:
        async with midge.AsyncClient(f"mqtt://127.0.0.1:{port}", client_id="subbench-a",
                                     protocol="3.1.1") as sub:
            messages = sub.messages()
            await sub.subscribe(topic, qos=level)
            start()
            publisher.go()
            got = 0
            async for _ in messages:
                got += 1
                if got == count:
                    break

    return _measure(lambda start: asyncio.run(main(start)))


def gmqtt_client(port: int, topic: str, qos: int, count: int, publisher: Publisher) -> tuple[float, float]:
    import gmqtt  # type: ignore[import-untyped]

    async def main(start: Callable[[], None]) -> None:
        done = asyncio.get_running_loop().create_future()
        got = 0

        def on_message(client: Any, topic_: str, payload: bytes, qos_: int, properties: Any) -> int:
            nonlocal got
            got += 1
            if got == count and not done.done():
                done.set_result(None)
            return 0

        sub = gmqtt.Client("subbench-g")
        sub.on_message = on_message
        await sub.connect("127.0.0.1", port, version=gmqtt.constants.MQTTv311)
        subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_subscribe(*args: Any) -> None:
            if not subscribed.done():
                subscribed.set_result(None)

        sub.on_subscribe = on_subscribe
        sub.subscribe(topic, qos=qos)
        await asyncio.wait_for(subscribed, 10)
        start()
        publisher.go()
        await asyncio.wait_for(done, 60)
        await sub.disconnect()

    return _measure(lambda start: asyncio.run(main(start)))


def raw_socket(port: int, topic: str, qos: int, count: int, publisher: Publisher) -> tuple[float, float]:
    def receive(start: Callable[[], None]) -> None:
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = b"subbench-raw"
        vh = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
        s.sendall(bytes([0x10, len(vh)]) + vh)
        s.recv(4)
        t = topic.encode()
        body = b"\x00\x01" + len(t).to_bytes(2, "big") + t + b"\x00"  # QoS 0: no PUBACKs to send
        s.sendall(bytes([0x82, len(body)]) + body)
        s.recv(5)
        start()
        publisher.go()
        need = count * (2 + 2 + len(t) + 64)
        got = 0
        while got < need:
            chunk = s.recv(65536)
            assert chunk, "the broker closed the connection"
            got += len(chunk)
        s.close()
    return _measure(receive)


CLIENTS: dict[str, Callable[[int, str, int, int, Publisher], tuple[float, float]]] = {
    "midge.Client": midge_client,
    "midge.AsyncClient": midge_async,
    "gmqtt": gmqtt_client,
    "floor: raw socket reader (QoS 0)": raw_socket,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=6000)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--qos", type=int, nargs="*", default=[0, 1])
    args = parser.parse_args()
    broker = bench.Mosquitto(100)
    try:
        print(f"A subscriber alone at {args.rate:,.0f} msg/s, {args.count} messages of 64 bytes, "
              f"publisher in another process; client CPU µs per message, median of {args.rounds} "
              "alternating rounds (range); in square brackets the part midge's runtime thread ran:")
        print("| client | " + " | ".join(f"QoS {q}" for q in args.qos) + " |")
        print("|---|" + "---|" * len(args.qos))
        results: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            for qos in args.qos:
                for name, run in CLIENTS.items():
                    if name.startswith("floor") and qos:
                        continue
                    t = bench.topic()
                    publisher = Publisher(broker.port, args.count, args.rate, t, qos)
                    try:
                        cpu, native = run(broker.port, t, qos, args.count, publisher)
                    finally:
                        publisher.wait()
                    results.setdefault((name, qos), []).append(
                        (cpu / args.count * 1e6, native / args.count * 1e6))
        medians: dict[tuple[str, int], float] = {}
        for name in CLIENTS:
            cells = []
            for qos in args.qos:
                runs = results.get((name, qos))
                if not runs:
                    cells.append("")
                    continue
                spent = [r[0] for r in runs]
                native = statistics.median(r[1] for r in runs)
                medians[(name, qos)] = statistics.median(spent)
                extra = f" [{native:.1f}]" if name.startswith("midge") else ""
                cells.append(f"{statistics.median(spent):.1f} ({min(spent):.1f}-{max(spent):.1f}){extra}")
            print(f"| {name} | " + " | ".join(cells) + " |")
        for name in ("midge.Client", "midge.AsyncClient"):
            ratios = ", ".join(
                f"{medians[('gmqtt', q)] / medians[(name, q)]:.2f}x at QoS {q}"
                for q in args.qos if (name, q) in medians and ("gmqtt", q) in medians)
            print(f"{name}: gmqtt / midge CPU per message {ratios}")
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
