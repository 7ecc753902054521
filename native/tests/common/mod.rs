//! A hand-written MQTT 5.0 broker for the tests that must hold back what a
//! real broker would read or answer at once.
#![allow(dead_code)] // each test file uses part of it

use midge_core::packet::{Packet, ProtocolVersion};
use midge_native::{NativeClient, NativeOptions};

/// A hand-written MQTT 5.0 broker's side of one connection, for the tests
/// that must hold back what a real broker would read or answer at once.
pub struct HandBroker {
    pub socket: std::net::TcpStream,
    decoder: midge_core::packet::Decoder,
    buf: Vec<u8>,
}

impl HandBroker {
    /// Accept one client, take its CONNECT and answer it (no session
    /// present, success, no properties). Reads give up after 10 s, so a
    /// client that never sends what a test waits for fails it.
    pub fn accept(listener: std::net::TcpListener) -> HandBroker {
        use std::io::Write;
        let (socket, _) = listener.accept().unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        // As a broker would (mosquitto's set_tcp_nodelay): a small write
        // after another would otherwise wait for the client's delayed ACK,
        // 40 ms per round in the tests that answer in steps.
        socket.set_nodelay(true).unwrap();
        let mut broker = HandBroker {
            socket,
            decoder: midge_core::packet::Decoder::new(ProtocolVersion::V5, u32::MAX),
            buf: vec![0u8; 64 * 1024],
        };
        assert!(matches!(broker.next_packet(), Packet::Connect(_)));
        broker
            .socket
            .write_all(&[0x20, 0x03, 0x00, 0x00, 0x00])
            .unwrap();
        broker
    }

    pub fn next_packet(&mut self) -> Packet {
        use std::io::Read;
        loop {
            if let Some(packet) = self
                .decoder
                .next_packet()
                .expect("the client's bytes decode")
            {
                return packet;
            }
            let n = self.socket.read(&mut self.buf).unwrap();
            assert!(n > 0, "the client closed the connection");
            self.decoder.feed(&self.buf[..n]);
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.socket.write_all(bytes).unwrap();
    }

    /// Hold the connection until the client leaves.
    pub fn wait_for_close(mut self) {
        use std::io::Read;
        let _ = self.socket.read(&mut self.buf);
    }
}

/// A listener for a [`HandBroker`], and an MQTT 5.0 client of it.
pub fn hand_broker_and_client(
    runtime: tokio::runtime::Handle,
) -> (std::net::TcpListener, NativeClient) {
    hand_broker_and_client_with(runtime, |_| {})
}

/// [`hand_broker_and_client`] with options of the test's own.
pub fn hand_broker_and_client_with(
    runtime: tokio::runtime::Handle,
    configure: impl FnOnce(&mut NativeOptions),
) -> (std::net::TcpListener, NativeClient) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut options = NativeOptions::new(&format!("mqtt://127.0.0.1:{port}")).unwrap();
    options.client.protocol = ProtocolVersion::V5;
    configure(&mut options);
    (
        listener,
        NativeClient::with_runtime(options, runtime).unwrap(),
    )
}

/// The bytes of a 5.0 PUBLISH from the broker, without properties: QoS 0,
/// or QoS 1 with packet id `id`.
pub fn publish_bytes(topic: &str, payload: &[u8], id: Option<u16>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    if let Some(id) = id {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.push(0); // no properties
    body.extend_from_slice(payload);
    let mut packet = vec![if id.is_some() { 0x32 } else { 0x30 }];
    let mut len = body.len();
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        packet.push(if len > 0 { byte | 0x80 } else { byte });
        if len == 0 {
            break;
        }
    }
    packet.extend_from_slice(&body);
    packet
}
