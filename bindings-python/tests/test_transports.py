"""TCP, WebSocket and TLS (CA verification, rejection, mutual TLS)."""

from __future__ import annotations

import re
import subprocess

import pytest

import midge
from conftest import client_id


def roundtrip(url: str, topic: str, **options) -> None:
    with midge.Client(url, client_id=client_id(), **options) as c:
        c.subscribe(topic, qos=1)
        c.publish(topic, b"over " + url.split(":")[0].encode(), qos=1)
        m = next(iter(c.messages(timeout=5)))
        assert m.payload == b"over " + url.split(":")[0].encode()


def test_websocket(broker, topic):
    roundtrip(broker.url("ws"), topic)


def test_websocket_with_path(broker, topic):
    # mosquitto accepts any path; the client must send it in the handshake.
    roundtrip(broker.url("ws") + "/mqtt", topic)


def test_secure_websocket(broker, topic):
    roundtrip(broker.url("wss") + "/mqtt", topic, ca=broker.ca)


def test_tls_with_the_test_ca(broker, topic):
    roundtrip(broker.url("tls"), topic, ca=broker.ca)


def test_tls_with_the_ca_as_pem_text(broker, topic):
    with open(broker.ca) as f:
        roundtrip(broker.url("tls"), topic, ca=f.read())


def test_tls_rejects_a_server_it_cannot_verify(broker):
    c = midge.Client(broker.url("tls"), client_id=client_id())
    with pytest.raises(midge.TransportError) as info:
        c.connect(timeout=5)
    assert "certificate" in str(info.value).lower()


def test_tls_rejects_a_wrong_host_name(broker):
    c = midge.Client(broker.url("tls"), client_id=client_id(), ca=broker.ca, server_name="broker.example")
    with pytest.raises(midge.TransportError):
        c.connect(timeout=5)


def test_tls_insecure_switch(broker, topic):
    roundtrip(broker.url("tls"), topic, insecure_skip_verify=True)


def test_mutual_tls(broker, topic):
    certs = broker.certs
    roundtrip(broker.url("mtls"), topic, ca=broker.ca, client_cert=str(certs["client.crt"]),
              client_key=str(certs["client.key"]))


def test_mutual_tls_with_an_x509_v1_client_certificate(broker, topic, tmp_path):
    """`openssl x509 -req` without extensions makes an X.509 v1 certificate,
    as many IoT tutorials do. The broker verifies it, not midge; it used to be
    refused before connecting ("client_key: ... UnsupportedCertVersion")."""
    certs = broker.certs
    ca_dir = certs["ca.crt"].parent

    def openssl(*args: str) -> str:
        return subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout

    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=v1client", "-keyout", "v1.key", "-out", "v1.csr")
    openssl("x509", "-req", "-in", "v1.csr", "-CA", str(ca_dir / "ca.crt"), "-CAkey", str(ca_dir / "ca.key"),
            "-CAserial", "v1.srl", "-CAcreateserial", "-days", "2", "-out", "v1.crt")
    assert "Version: 1 (0x0)" in openssl("x509", "-in", "v1.crt", "-noout", "-text")
    roundtrip(broker.url("mtls"), topic, ca=broker.ca, client_cert=str(tmp_path / "v1.crt"),
              client_key=str(tmp_path / "v1.key"))


def test_a_broken_client_certificate_is_named_and_a_wrong_key_too(broker):
    """Readable PEM that is no certificate used to be blamed on `client_key`."""
    certs = broker.certs
    broken = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n"
    with pytest.raises(midge.InvalidArgumentError) as e:
        midge.Client(broker.url("mtls"), ca=broker.ca, client_cert=broken, client_key=str(certs["client.key"]))
    assert e.value.argument == "client_cert", str(e.value)
    with pytest.raises(midge.InvalidArgumentError) as e:
        midge.Client(broker.url("mtls"), ca=broker.ca, client_cert=str(certs["client.crt"]),
                     client_key=str(certs["server.key"]))
    assert e.value.argument == "client_key", str(e.value)
    assert "does not match client_cert" in str(e.value)


def test_mutual_tls_without_a_client_certificate_fails(broker):
    """Reads as what it is (it used to read as "the transport closed")."""
    c = midge.Client(broker.url("mtls"), client_id=client_id(), ca=broker.ca, reconnect=False)
    with pytest.raises(midge.TransportError) as e:
        c.connect(timeout=5)
    assert "requires a client certificate" in str(e.value), str(e.value)


def test_wss_url_with_tls_listener_is_refused_cleanly(broker):
    # A wss:// handshake against a plain MQTT TLS listener fails as a transport error.
    c = midge.Client(broker.url("tls").replace("mqtts", "wss"), client_id=client_id(), ca=broker.ca)
    with pytest.raises(midge.TransportError):
        c.connect(timeout=5)


def test_bad_ca_is_an_invalid_argument(broker, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(midge.InvalidArgumentError) as info:
        midge.Client(broker.url("tls"), ca=str(bad))
    assert info.value.argument == "ca"
    with pytest.raises(midge.InvalidArgumentError) as info:
        midge.Client(broker.url("tls"), ca=str(tmp_path / "missing.pem"))
    assert info.value.argument == "ca"


def test_failover_to_the_second_url(broker, topic):
    from conftest import free_port

    urls = [f"mqtt://127.0.0.1:{free_port()}", broker.url()]
    c = midge.Client(urls, client_id=client_id(), reconnect_on_initial_failure=True, reconnect_min_delay=0.05)
    result = c.connect(timeout=10)
    assert result.server.endswith(str(broker.ports["tcp"]))
    c.disconnect()


@pytest.mark.parametrize("damage", ["newlines lost", "encrypted", "not a key"])
def test_a_bad_client_key_is_named_and_never_quoted(broker, damage):
    """A PEM whose newlines were lost (as in an environment variable) used to
    be refused with "missing section end marker: [80, 82, ...]", a list of
    numbers that spells out the key. The error names the argument and the
    problem only."""
    certs = broker.certs
    key = certs["client.key"].read_text()
    body = "".join(key.strip().splitlines()[1:-1])
    if damage == "newlines lost":
        bad = key.replace("\n", " ")
    elif damage == "encrypted":
        bad = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + body[:64] + "\n-----END ENCRYPTED PRIVATE KEY-----\n"
    else:
        bad = certs["client.crt"].read_text()
    with pytest.raises(midge.InvalidArgumentError) as e:
        midge.Client(broker.url("mtls"), ca=broker.ca, client_cert=str(certs["client.crt"]), client_key=bad.encode())
    text = str(e.value)
    assert e.value.argument == "client_key"
    assert body[:16] not in text and body[-16:] not in text, text
    assert not re.search(r"\[\d+, \d+", text), text
    if damage == "encrypted":
        assert "encrypted keys are not supported" in text
