"""``python -m midge``: an interactive MQTT shell.

    midge> connect mqtt://localhost:1883 --client-id shell
    midge(mqtt://localhost:1883)> subscribe greenhouse/# --qos 1
    midge(mqtt://localhost:1883)> publish greenhouse/temp 21.5 --qos 1
    [greenhouse/temp] 21.5  (qos 1)

Type ``help`` for the commands, ``help <command>`` for its options.
"""

from __future__ import annotations

import argparse
import cmd
import shlex
import sys
import threading
from typing import Any, List, Optional

import midge


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors instead of exiting the shell."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}\nusage: {self.format_usage().split(':', 1)[1].strip()}")

    def exit(self, status: int = 0, message: Optional[str] = None) -> None:  # type: ignore[override]
        raise UsageError(message or "")


def _parser(prog: str, description: str) -> _Parser:
    return _Parser(prog=prog, description=description, add_help=False)


CONNECT = _parser("connect", "Connect to a broker: mqtt://, mqtts://, ws:// or wss://")
CONNECT.add_argument("url", help="broker URL, e.g. mqtt://localhost:1883")
CONNECT.add_argument("--client-id", default=None)
CONNECT.add_argument("--username", "-u", default=None)
CONNECT.add_argument("--password", "-P", default=None)
CONNECT.add_argument("--protocol", choices=["3.1.1", "5"], default="5")
CONNECT.add_argument("--keep-alive", type=int, default=60)
CONNECT.add_argument("--clean-start", choices=["yes", "no"], default="yes")
CONNECT.add_argument("--session-expiry", type=int, default=None)
CONNECT.add_argument("--ca", default=None, help="CA certificate file (PEM) for mqtts:// and wss://")
CONNECT.add_argument("--cert", default=None, help="client certificate (PEM) for mutual TLS")
CONNECT.add_argument("--key", default=None, help="client key (PEM) for mutual TLS")
CONNECT.add_argument("--insecure", action="store_true", help="do not verify the server certificate")

PUBLISH = _parser("publish", "Publish a message")
PUBLISH.add_argument("topic")
PUBLISH.add_argument("payload")
PUBLISH.add_argument("--qos", "-q", type=int, choices=[0, 1, 2], default=0)
PUBLISH.add_argument("--retain", "-r", action="store_true")

SUBSCRIBE = _parser("subscribe", "Subscribe to a topic filter; messages are printed as they arrive")
SUBSCRIBE.add_argument("filter")
SUBSCRIBE.add_argument("--qos", "-q", type=int, choices=[0, 1, 2], default=0)

UNSUBSCRIBE = _parser("unsubscribe", "Unsubscribe from a topic filter")
UNSUBSCRIBE.add_argument("filter")

DISCONNECT = _parser("disconnect", "Disconnect from the broker")


class Shell(cmd.Cmd):
    intro = "midge MQTT shell. Type help for the commands, exit to leave."

    def __init__(self, stdin: Any = None, stdout: Any = None) -> None:
        super().__init__(stdin=stdin, stdout=stdout)
        if stdin is not None and not stdin.isatty():
            self.use_rawinput = False
        self.client: Optional[midge.Client] = None
        self.url: Optional[str] = None
        self.lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------

    @property
    def prompt(self) -> str:  # type: ignore[override]
        return f"midge({self.url})> " if self.client is not None else "midge> "

    def say(self, text: str) -> None:
        with self.lock:
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def _args(self, parser: _Parser, line: str) -> Optional[argparse.Namespace]:
        try:
            return parser.parse_args(shlex.split(line))
        except ValueError as e:
            self.say(f"error: {e}")
        except UsageError as e:
            self.say(f"error: {e}")
        return None

    def _need_client(self, command: str) -> Optional[midge.Client]:
        if self.client is None:
            self.say(f"error: {command}: not connected. Connect first: connect mqtt://HOST[:PORT]")
        return self.client

    def onecmd(self, line: str) -> bool:
        try:
            return super().onecmd(line)
        except midge.MqttError as e:
            self.say(f"error: {e}")
        except KeyboardInterrupt:
            self.say("interrupted")
        return False

    def emptyline(self) -> bool:
        return False

    def default(self, line: str) -> None:
        name = line.split()[0]
        self.say(f"error: unknown command {name!r}. Commands: {', '.join(self.commands())}")

    def commands(self) -> List[str]:
        return sorted(n[3:] for n in dir(self) if n.startswith("do_") and n not in ("do_EOF", "do_quit"))

    def _print_message(self, message: midge.Message) -> None:
        payload = message.payload.decode("utf-8", errors="replace")
        flags = f"qos {message.qos}" + (", retained" if message.retain else "")
        self.say(f"[{message.topic}] {payload}  ({flags})")

    # -- commands ----------------------------------------------------------

    def do_connect(self, line: str) -> None:
        """connect URL [--client-id ID] [--username U --password P] [--protocol 3.1.1|5]
        [--keep-alive S] [--clean-start yes|no] [--session-expiry S] [--ca FILE] [--cert FILE --key FILE] [--insecure]"""
        args = self._args(CONNECT, line)
        if args is None:
            return
        if self.client is not None:
            self.say(f"error: connect: already connected to {self.url}; disconnect first")
            return
        options = dict(
            client_id=args.client_id, username=args.username, password=args.password,
            protocol=args.protocol, keep_alive=args.keep_alive, clean_start=args.clean_start == "yes",
            session_expiry=args.session_expiry, ca=args.ca, client_cert=args.cert, client_key=args.key,
            insecure_skip_verify=args.insecure or None, on_message=self._print_message,
        )
        if args.client_id is None and args.protocol == "3.1.1":
            options["client_id"] = "midge-shell"
        client = midge.Client(args.url, **options)
        result = client.connect(timeout=15)
        self.client, self.url = client, args.url
        self.say(f"connected to {args.url} as {result.client_id!r} (session present: {result.session_present})")

    def do_disconnect(self, line: str) -> None:
        """disconnect: close the connection"""
        if self._args(DISCONNECT, line) is None:
            return
        client = self._need_client("disconnect")
        if client is None:
            return
        try:
            client.disconnect(timeout=5)
        finally:
            self.client = None
            self.say(f"disconnected from {self.url}")
            self.url = None

    def do_publish(self, line: str) -> None:
        """publish TOPIC PAYLOAD [--qos 0|1|2] [--retain]"""
        args = self._args(PUBLISH, line)
        if args is None:
            return
        client = self._need_client("publish")
        if client is None:
            return
        result = client.publish(args.topic, args.payload, qos=args.qos, retain=args.retain, timeout=15)
        note = "" if result.reason_code == 0 else f" (reason code 0x{result.reason_code:02x})"
        self.say(f"published to {args.topic}{note}")

    def do_subscribe(self, line: str) -> None:
        """subscribe FILTER [--qos 0|1|2]"""
        args = self._args(SUBSCRIBE, line)
        if args is None:
            return
        client = self._need_client("subscribe")
        if client is None:
            return
        [result] = client.subscribe(args.filter, qos=args.qos, timeout=15)
        if result.ok:
            self.say(f"subscribed to {args.filter} (granted qos {result.granted_qos})")
        else:
            self.say(f"error: subscribe: the broker refused {args.filter} (reason code 0x{result.reason_code:02x})")

    def do_subscriptions(self, line: str) -> None:
        """subscriptions: list the active subscriptions"""
        client = self._need_client("subscriptions")
        if client is None:
            return
        subs = client.subscriptions
        if not subs:
            self.say("no subscriptions")
        for f, qos in sorted(subs.items()):
            self.say(f"{f}  (qos {qos})")

    def do_unsubscribe(self, line: str) -> None:
        """unsubscribe FILTER"""
        args = self._args(UNSUBSCRIBE, line)
        if args is None:
            return
        client = self._need_client("unsubscribe")
        if client is None:
            return
        [code] = client.unsubscribe(args.filter, timeout=15)
        if code == 0x11:
            self.say(f"unsubscribed from {args.filter} (there was no such subscription)")
        else:
            self.say(f"unsubscribed from {args.filter}")

    def do_help(self, arg: str) -> None:
        """help [COMMAND]"""
        parsers = {"connect": CONNECT, "publish": PUBLISH, "subscribe": SUBSCRIBE, "unsubscribe": UNSUBSCRIBE}
        if arg:
            name = arg.strip()
            if name in parsers:
                self.say(parsers[name].format_help().rstrip())
            elif hasattr(self, "do_" + name):
                self.say((getattr(self, "do_" + name).__doc__ or name).strip())
            else:
                self.say(f"error: unknown command {name!r}. Commands: {', '.join(self.commands())}")
            return
        self.say("commands:")
        for name in self.commands():
            doc = (getattr(self, "do_" + name).__doc__ or "").strip().splitlines()[0]
            self.say(f"  {doc}")

    def do_exit(self, line: str) -> bool:
        """exit: disconnect and leave the shell"""
        if self.client is not None:
            try:
                self.client.disconnect(timeout=5)
            except midge.MqttError:
                pass
            self.client = None
        return True

    do_quit = do_exit

    def do_EOF(self, line: str) -> bool:
        return self.do_exit(line)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m midge", description="Interactive MQTT shell")
    parser.add_argument("url", nargs="?", help="connect to this broker at start")
    args = parser.parse_args(argv)
    shell = Shell(stdin=sys.stdin, stdout=sys.stdout)
    if not sys.stdin.isatty():
        shell.intro = ""
    if args.url:
        shell.onecmd(f"connect {shlex.quote(args.url)}")
    try:
        shell.cmdloop()
    except KeyboardInterrupt:
        shell.do_exit("")
    return 0


if __name__ == "__main__":
    sys.exit(main())
