"""An HTTP CONNECT proxy in front of mosquitto (mqtt://, mqtts://, ws://),
proxy authentication, and ALPN protocols offered in the TLS handshake."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from typing import List, Optional

import pytest

import midge
from conftest import client_id


class ConnectProxy:
    """A small HTTP proxy that only tunnels (CONNECT), on a free loopback port."""

    def __init__(self, credentials: Optional[str] = None) -> None:
        self.expected = None if credentials is None else "Basic " + base64.b64encode(credentials.encode()).decode()
        self.targets: List[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(1)
            if not chunk:
                client.close()
                return
            head += chunk
        lines = head.decode().split("\r\n")
        method, target, _ = lines[0].split(" ")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            client.close()
            return
        if self.expected is not None and headers.get("proxy-authorization") != self.expected:
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n")
            client.close()
            return
        self.targets.append(target)
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def proxy():
    p = ConnectProxy()
    yield p
    p.close()


@pytest.mark.parametrize("kind", ["tcp", "tls", "ws"])
def test_round_trip_through_an_http_connect_proxy(broker, proxy, topic, kind):
    tls = {"ca": broker.ca} if kind == "tls" else {}
    c = midge.Client(broker.url(kind), client_id=client_id("px"), proxy=proxy.url, **tls)
    c.connect(timeout=10)
    c.subscribe(topic, qos=1, timeout=10)
    c.publish(topic, b"through the proxy", qos=1, timeout=10)
    message = next(iter(c.messages(timeout=10)))
    assert message.payload == b"through the proxy"
    c.disconnect(timeout=10)
    assert proxy.targets == [f"127.0.0.1:{broker.ports[kind]}"]


def test_proxy_authentication(broker):
    p = ConnectProxy(credentials="alice:proxy-secret")
    try:
        refused = midge.Client(broker.url(), proxy=f"http://alice:wrong@127.0.0.1:{p.port}", reconnect=False)
        with pytest.raises(midge.TransportError, match="407") as e:
            refused.connect(timeout=10)
        assert "wrong" not in str(e.value)
        c = midge.Client(broker.url(), proxy=f"http://alice:proxy-secret@127.0.0.1:{p.port}")
        c.connect(timeout=10)
        c.disconnect(timeout=10)
    finally:
        p.close()
    with pytest.raises(midge.InvalidArgumentError, match="proxy"):
        midge.Client(broker.url(), proxy="socks5://127.0.0.1:1080")


def test_alpn_protocols_are_offered_in_the_handshake(certs):
    # A TLS server that records what the client offered (not an MQTT broker:
    # the connection fails after the handshake, which is all this looks at).
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certs["server.crt"]), str(certs["server.key"]))
    context.set_alpn_protocols(["x-amzn-mqtt-ca", "mqtt"])
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    chosen: List[Optional[str]] = []

    def serve() -> None:
        conn, _ = server.accept()
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                chosen.append(tls.selected_alpn_protocol())
        except (ssl.SSLError, OSError):
            chosen.append("handshake failed")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    c = midge.Client(f"mqtts://127.0.0.1:{port}", ca=str(certs["ca.crt"]), alpn_protocols=["x-amzn-mqtt-ca"],
                     reconnect=False, connect_timeout=5)
    with pytest.raises(midge.MqttError):
        c.connect(timeout=10)
    thread.join(10)
    server.close()
    assert chosen == ["x-amzn-mqtt-ca"]
    with pytest.raises(midge.InvalidArgumentError, match="alpn_protocols"):
        midge.Client("mqtts://127.0.0.1:1", alpn_protocols=[""])
