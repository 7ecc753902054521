"""Idle connections (issue 16): midge.AsyncClient against gmqtt 0.8.0 and
aiomqtt 2.4.0, same run.

Layout (identical for each library): N clients in one Python process, one
asyncio loop, each connected to a local mosquitto this program starts (a
fresh one per library, max_connections -1), MQTT 3.1.1 (aiomqtt's default;
midge and gmqtt are told to use it too), keep-alive 60 s, no automatic
reconnect. The clients are made and connected in batches of --batch, each
batch at once with asyncio.gather. The default batch is 100, mosquitto's
listen backlog: a larger one overflows the broker's accept queue, the kernel
drops the excess handshakes and the clients retry a second later, so "connect
all" would measure those retries rather than the client. The program counts
such drops (ListenOverflows in /proc/net/netstat) for every library and
warns of them.

Each library runs in a child process of its own (this program with
--child), so that one library's memory does not count for another; the child
imports its library, then measures:

- RSS per connection: (VmRSS from /proc/self/status with all N connected and
  idle for 2 s, minus VmRSS before the first client was made) / N, in KiB;
- connect all: seconds from making the first client to the last CONNACK;
- idle CPU: CPU time of the whole child (every thread: midge's I/O runs on
  native threads) over the next --idle seconds, from
  CLOCK_PROCESS_CPUTIME_ID (nanoseconds; /proc/self/schedstat would count
  the main thread only, /proc/self/stat only in 10 ms ticks).

A line per library also gives the threads alive when RSS was read and, after
the idle window, the connections still up, RSS and threads again (threads a
library starts while connecting count in the RSS; some exit while idle). A
row is marked (!) with a warning when connections were lost, mosquitto
exited, handshakes were dropped or the library logged anything (its stderr
is summarised, not shown).

The issue's target for midge: 10,000 idle connections at 16 KiB RSS or less
each, all connected in under 3 s; printed as met or not met. Each connection
is a socket in the child and one in mosquitto: the program raises its soft
open-files limit to the hard one, which both inherit, and stops if
mosquitto's (/proc/PID/limits) is too low for N.

    python bench/idle.py [--connections 10000] [--idle 30] [--only midge|gmqtt|aiomqtt]

Build the wheel in release mode first (maturin develop --release -m
bindings-python/Cargo.toml, from the repository root): a debug build uses
more memory and CPU. The broker comes from the test suites' launcher: cargo
build -p midge-system-tests --bin midge-testkit.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import importlib
import json
import os
import re
import resource
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List

LIBRARIES = ["midge", "gmqtt", "aiomqtt"]
SETTLE_S = 2.0
KEEP_ALIVE_S = 60
# The target for midge at 10,000 connections.
TARGET_CONNECTIONS = 10_000
TARGET_RSS_KIB = 16.0
TARGET_CONNECT_S = 3.0
# File descriptors beyond one per connection (stdio, the listener, epoll, ...).
FD_SLACK = 64

# A connected-clients counter, evaluated after the idle window.
Connected = Callable[[], int]


# --------------------------------------------------------------------------
# the child: one library, N connections


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def batches(n: int, size: int) -> List[range]:
    return [range(i, min(n, i + size)) for i in range(0, n, size)]


async def connect_midge(n: int, port: int, batch: int, keep: List[Any]) -> Connected:
    import midge

    url = f"mqtt://127.0.0.1:{port}"
    for ids in batches(n, batch):
        clients = [midge.AsyncClient(url, client_id=f"idle-midge-{i}", protocol="3.1.1",
                                     keep_alive=KEEP_ALIVE_S, reconnect=False) for i in ids]
        await asyncio.gather(*(c.connect() for c in clients))
        keep.extend(clients)
    return lambda: sum(c.status == "connected" for c in keep)


async def connect_gmqtt(n: int, port: int, batch: int, keep: List[Any]) -> Connected:
    import gmqtt  # type: ignore[import-untyped]
    from gmqtt.mqtt.constants import MQTTv311  # type: ignore[import-untyped]

    for ids in batches(n, batch):
        clients = [gmqtt.Client(f"idle-gmqtt-{i}") for i in ids]
        for c in clients:
            c.set_config({"reconnect_retries": 0})
        await asyncio.gather(*(c.connect("127.0.0.1", port, keepalive=KEEP_ALIVE_S, version=MQTTv311)
                               for c in clients))
        keep.extend(clients)
    return lambda: sum(c.is_connected for c in keep)


async def connect_aiomqtt(n: int, port: int, batch: int, keep: List[Any]) -> Connected:
    import aiomqtt

    # aiomqtt connects only as an async context manager; the stack holds
    # them open without nesting 10,000 `async with`.
    stack = contextlib.AsyncExitStack()
    keep.append(stack)
    clients: List[aiomqtt.Client] = []
    for ids in batches(n, batch):
        chunk = [aiomqtt.Client("127.0.0.1", port, identifier=f"idle-aiomqtt-{i}", keepalive=KEEP_ALIVE_S,
                                protocol=aiomqtt.ProtocolVersion.V311) for i in ids]
        await asyncio.gather(*(stack.enter_async_context(c) for c in chunk))
        clients.extend(chunk)
    keep.extend(clients)
    # aiomqtt has no public connection state; ask the paho client under it.
    return lambda: sum(c._client.is_connected() for c in clients)


CONNECT = {"midge": connect_midge, "gmqtt": connect_gmqtt, "aiomqtt": connect_aiomqtt}


async def child_run(lib: str, n: int, port: int, batch: int, idle_s: float) -> Dict[str, Any]:
    keep: List[Any] = []
    before = rss_kib()
    start = time.perf_counter()
    connected = await CONNECT[lib](n, port, batch, keep)
    connect_s = time.perf_counter() - start
    await asyncio.sleep(SETTLE_S)
    after = rss_kib()
    threads = thread_count()
    cpu0 = time.process_time_ns()
    await asyncio.sleep(idle_s)
    idle_cpu_ns = time.process_time_ns() - cpu0
    return {
        "library": lib,
        "version": version_of(lib),
        "connections": n,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_kib_per_conn": (after - before) / n,
        "connect_s": connect_s,
        "idle_s": idle_s,
        "idle_cpu_ms": idle_cpu_ns / 1e6,
        "connected_after_idle": connected(),
        # Threads a library starts while connecting (and their stacks) count
        # in the RSS above; some exit while idle, so both are reported.
        "threads": threads,
        "rss_after_idle_kib": rss_kib(),
        "threads_after_idle": thread_count(),
    }


def thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def version_of(lib: str) -> str:
    from importlib.metadata import version

    return version("midge-mqtt" if lib == "midge" else lib)


def raise_open_files() -> int:
    """Soft open-files limit := the hard one (one file per connection);
    returns it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        # The kernel refuses an infinite soft limit for files.
        hard = 1 << 20
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def child(lib: str, n: int, port: int, batch: int, idle_s: float) -> None:
    raise_open_files()
    # Imported before the baseline: the library's code is not per connection.
    importlib.import_module(lib)
    result = asyncio.run(child_run(lib, n, port, batch, idle_s))
    print(json.dumps(result), flush=True)
    # Closing N clients politely takes longer than the measurement, and the
    # broker is discarded anyway.
    os._exit(0)


# --------------------------------------------------------------------------
# the parent: a broker per library, a child per library, the table


class Broker:
    """mosquitto from the test suites' launcher (see bench.py's Mosquitto),
    configured for any number of connections."""

    def __init__(self, testkit: str) -> None:
        import getpass

        template = (
            f"user {getpass.getuser()}\n"
            "listener {port:tcp} 127.0.0.1\nallow_anonymous true\n"
            "max_connections -1\n"
            "persistence false\n"
        )
        self.kit = subprocess.Popen([testkit, "mosquitto", template], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
        assert self.kit.stdout is not None
        ready = self.kit.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise RuntimeError(f"mosquitto did not start: {ready}")
        fields = dict(w.split("=", 1) for w in ready[1:])
        self.port = int(fields["tcp"])
        self.pid = int(fields["pid"])
        self.log = fields["log"]

    def open_files_limit(self) -> int:
        with open(f"/proc/{self.pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
        raise RuntimeError(f"no open-files limit for mosquitto (pid {self.pid})")

    def version(self) -> str:
        with open(self.log) as f:
            m = re.search(r"mosquitto version (\S+)", f.read())
        return m.group(1) if m else "?"

    def alive(self) -> bool:
        """False once mosquitto has exited (a zombie until the launcher reaps it)."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        return state not in ("Z", "X")

    def stop(self) -> None:
        # Its stdin closed, the launcher stops mosquitto and removes its dir.
        assert self.kit.stdin is not None
        self.kit.stdin.close()
        self.kit.wait()


def listen_overflows() -> int:
    """Handshakes the kernel dropped because an accept queue was full (the
    whole machine; on a quiet one that is mosquitto's)."""
    with open("/proc/net/netstat") as f:
        lines = [line.split() for line in f if line.startswith("TcpExt:")]
    return int(dict(zip(lines[0], lines[1]))["ListenOverflows"])


def run_child(testkit: str, lib: str, args: argparse.Namespace) -> Dict[str, Any]:
    broker = Broker(testkit)
    try:
        limit = broker.open_files_limit()
        if limit < args.connections + FD_SLACK:
            raise SystemExit(f"mosquitto may open {limit} files, too few for {args.connections} connections: "
                             "raise the hard limit (ulimit -Hn) first")
        command = [sys.executable, os.path.abspath(__file__), "--child", lib, str(args.connections),
                   str(broker.port), "--batch", str(args.batch), "--idle", str(args.idle)]
        overflows = listen_overflows()
        # stderr captured: a library that logs per connection would bury the table.
        out = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=args.idle + SETTLE_S + 600)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode != 0 or not lines:
            raise SystemExit(f"{lib} child failed (exit {out.returncode}): {out.stdout.strip()}\n"
                             + "\n".join(out.stderr.splitlines()[-20:]))
        result: Dict[str, Any] = json.loads(lines[-1])
        result["broker"] = broker.version()
        result["warnings"] = warnings(result, listen_overflows() - overflows, broker.alive(), out.stderr)
        return result
    finally:
        broker.stop()


def warnings(r: Dict[str, Any], overflows: int, broker_alive: bool, stderr: str) -> List[str]:
    """What makes a row doubtful: connections lost while idle, the broker
    gone, handshakes retried after a full accept queue, the library's logs."""
    found = []
    lost = r["connections"] - r["connected_after_idle"]
    if lost:
        found.append(f"{lost:,} connections lost while idle (their idle CPU includes the losing)")
    if not broker_alive:
        found.append("mosquitto exited during the run")
    if overflows:
        found.append(f"{overflows} handshakes dropped by a full accept queue: 1 s retries in connect all "
                     "(a smaller --batch, or another program on the machine)")
    logged = stderr.splitlines()
    if logged:
        common = collections.Counter(logged).most_common(2)
        found.append(f"the child logged {len(logged):,} lines, most often: "
                     + "; ".join(f"{n:,}x {line[:100]!r}" for line, n in common))
    return found


def ratio(ours: float, peer: float) -> str:
    if peer <= 0:
        return "n/a"
    r = ours / peer
    # Two significant digits below 0.1, where idle CPU ratios fall.
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(results: List[Dict[str, Any]], args: argparse.Namespace) -> None:
    idle = f"{args.idle:g}"
    print(f"\n| library | connections | RSS KiB/conn | connect all (s) | idle CPU ms per {idle} s |")
    print("|---|---|---|---|---|")
    for r in results:
        mark = " (!)" if r["warnings"] else ""
        print(f"| {r['library']} {r['version']}{mark} | {r['connections']:,} | {r['rss_kib_per_conn']:.1f} | "
              f"{r['connect_s']:.2f} | {r['idle_cpu_ms']:.1f} |")
    if any(r["warnings"] for r in results):
        print("(!): see the warnings above; that row may not measure the library alone.")
    by_lib = {r["library"]: r for r in results}
    ours = by_lib.get("midge")
    if ours is None:
        return
    peers = [by_lib[lib] for lib in LIBRARIES if lib != "midge" and lib in by_lib]
    if peers:
        print("\nmidge / peer (lower is better for all three):")
    for peer in peers:
        print(f"- vs {peer['library']}: RSS {ratio(ours['rss_kib_per_conn'], peer['rss_kib_per_conn'])}, "
              f"connect all {ratio(ours['connect_s'], peer['connect_s'])}, "
              f"idle CPU {ratio(ours['idle_cpu_ms'], peer['idle_cpu_ms'])}")
    scale = "" if ours["connections"] == TARGET_CONNECTIONS else \
        f" (the target is set for {TARGET_CONNECTIONS:,} connections; this run had {ours['connections']:,})"
    doubt = " (the midge row has warnings: see above)" if ours["warnings"] else ""
    print(f"\nmidge against the issue's target{scale}{doubt}:")
    print(f"- RSS per connection {ours['rss_kib_per_conn']:.1f} KiB, target <= {TARGET_RSS_KIB:g} KiB: "
          f"{verdict(ours['rss_kib_per_conn'] <= TARGET_RSS_KIB)}")
    print(f"- connect all {ours['connect_s']:.2f} s, target < {TARGET_CONNECT_S:g} s: "
          f"{verdict(ours['connect_s'] < TARGET_CONNECT_S)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=TARGET_CONNECTIONS,
                        help=f"idle connections per library (default {TARGET_CONNECTIONS})")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measured (default 30)")
    parser.add_argument("--batch", type=int, default=100,
                        help="connections started at once (default 100, mosquitto's listen backlog)")
    parser.add_argument("--only", choices=LIBRARIES, default=None)
    parser.add_argument("--child", nargs=3, metavar=("LIB", "N", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.connections < 1 or args.batch < 1 or args.idle <= 0:
        parser.error("--connections and --batch must be at least 1, --idle above 0")
    if args.child:
        lib, n, port = args.child
        if lib not in LIBRARIES:
            parser.error(f"--child: unknown library {lib}")
        child(lib, int(n), int(port), args.batch, args.idle)
        return

    # Raised here so that the launcher's mosquitto and every child inherit it.
    limit = raise_open_files()
    if limit < args.connections + FD_SLACK:
        parser.error(f"the hard open-files limit {limit} is too low for {args.connections} connections "
                     "(each needs a socket in the client and one in mosquitto)")
    from bench import TESTKIT  # the launcher path and its MIDGE_TESTKIT override

    if not os.path.exists(TESTKIT):
        raise SystemExit(f"{TESTKIT} is missing: cargo build -p midge-system-tests --bin midge-testkit")
    libs = [args.only] if args.only else LIBRARIES
    print(f"python {sys.version.split()[0]}, {args.connections:,} idle connections per library, "
          f"MQTT 3.1.1, keep-alive {KEEP_ALIVE_S} s, batches of {args.batch}, idle CPU over {args.idle:g} s, "
          f"open files {limit}, one child process and one fresh mosquitto per library", flush=True)
    results: List[Dict[str, Any]] = []
    for lib in libs:
        r = run_child(TESTKIT, lib, args)
        results.append(r)
        print(f"{lib} {r['version']} (mosquitto {r['broker']}): RSS {r['rss_before_kib']:,} -> "
              f"{r['rss_after_kib']:,} KiB, connect all {r['connect_s']:.2f} s, idle CPU {r['idle_cpu_ms']:.1f} ms, "
              f"threads {r['threads']}; after idle: {r['connected_after_idle']:,} connected, "
              f"RSS {r['rss_after_idle_kib']:,} KiB "
              f"({(r['rss_after_idle_kib'] - r['rss_before_kib']) / r['connections']:.1f} KiB/conn), "
              f"threads {r['threads_after_idle']}", flush=True)
        for w in r["warnings"]:
            print(f"  WARNING: {w}", flush=True)
    report(results, args)


if __name__ == "__main__":
    main()
