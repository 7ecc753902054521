//! wasm-bindgen tests of the binding's own pieces (run in Node:
//! `cargo test -p midge-wasm --target wasm32-unknown-unknown` with
//! `wasm-bindgen-test-runner` as the runner; see scripts/test-wasm.sh).
//! The broker side is scripted bytes; the real broker is in `e2e/`.

use wasm_bindgen_test::wasm_bindgen_test;

use crate::wire::{self, Fields, Out};
use crate::RawClient;

/// A field list as `npm/index.js` writes it.
#[derive(Default)]
struct List(Out);

impl List {
    fn num(mut self, tag: u8, v: f64) -> Self {
        self.0.u8(tag);
        self.0.u8(0);
        self.0.num(v);
        self
    }
    fn bytes(mut self, tag: u8, v: &[u8]) -> Self {
        self.0.f_bytes(tag, Some(v));
        self
    }
    fn pair(mut self, k: &str, v: &str) -> Self {
        self.0.u8(0x26);
        self.0.u8(2);
        self.0.bytes(k.as_bytes());
        self.0.bytes(v.as_bytes());
        self
    }
    /// A broker, as `npm/index.js` splits its URL (no port: the scheme's).
    fn server(self, tls: bool, host: &str, port: Option<u16>, path: &str) -> Self {
        let mut s = List::default().bytes(wire::SERVER_HOST, host.as_bytes());
        if let Some(port) = port {
            s = s.num(wire::SERVER_PORT, port.into());
        }
        let s = s
            .bytes(wire::SERVER_PATH, path.as_bytes())
            .num(wire::SERVER_TLS, (tls as u8).into())
            .done();
        self.bytes(wire::SERVERS, &s)
    }
    fn done(self) -> Vec<u8> {
        self.0 .0
    }
}

/// `options` after the broker `ws://a.example:80/`.
fn with_server(options: &[u8]) -> Vec<u8> {
    let mut o = List::default().server(false, "a.example", None, "/").done();
    o.extend_from_slice(options);
    o
}

/// A record of `poll`'s buffer, as far as these tests look into it.
#[derive(Debug, PartialEq)]
enum Rec {
    Open(String),
    Close,
    Send(Vec<u8>),
    Persist,
    Timer,
    Connected(String),
    Disconnected(String),
    Message { topic: String, qos: u8, key: f64 },
    Published(f64, bool),
    Acked(u8, Vec<u8>),
    Restored(usize),
    Auth(u8),
    StoreFailed,
}

struct R<'a>(&'a [u8], usize);

impl R<'_> {
    fn u8(&mut self) -> u8 {
        self.1 += 1;
        self.0[self.1 - 1]
    }
    fn num(&mut self) -> f64 {
        self.1 += 8;
        f64::from_le_bytes(self.0[self.1 - 8..self.1].try_into().unwrap())
    }
    fn bytes(&mut self) -> Vec<u8> {
        let n = u32::from_le_bytes(self.0[self.1..self.1 + 4].try_into().unwrap()) as usize;
        self.1 += 4 + n;
        self.0[self.1 - n..self.1].to_vec()
    }
    fn str(&mut self) -> String {
        String::from_utf8(self.bytes()).unwrap()
    }
    fn props(&mut self) {
        loop {
            if self.u8() == 0 {
                return;
            }
            match self.u8() {
                0 => drop(self.num()),
                1 => drop(self.bytes()),
                _ => drop((self.bytes(), self.bytes())),
            }
        }
    }
    fn error(&mut self) -> String {
        let code = self.str();
        self.str();
        self.num();
        code
    }
}

fn records(buf: &[u8]) -> Vec<Rec> {
    let mut r = R(buf, 0);
    let mut out = Vec::new();
    while r.1 < buf.len() {
        out.push(match r.u8() {
            1 => {
                let scheme = r.str();
                let host = r.str();
                let port = r.num();
                Rec::Open(format!("{scheme}://{host}:{port}{}", r.str()))
            }
            2 => Rec::Close,
            3 => Rec::Send(r.bytes()),
            4 => {
                r.bytes();
                Rec::Persist
            }
            5 => {
                r.num();
                Rec::Timer
            }
            10 => {
                r.u8();
                r.u8();
                let id = r.str();
                r.props();
                Rec::Connected(id)
            }
            11 => {
                let code = r.error();
                r.num();
                r.num(); // reconnect attempt
                Rec::Disconnected(code)
            }
            12 => {
                let topic = r.str();
                r.bytes();
                let qos = r.u8();
                r.u8();
                let key = r.num();
                r.props();
                Rec::Message { topic, qos, key }
            }
            13 => {
                let token = r.num();
                let ok = r.u8() == 1;
                if ok {
                    r.num();
                    r.props();
                } else {
                    r.error();
                }
                Rec::Published(token, ok)
            }
            k @ (14 | 15) => {
                r.num();
                let codes = r.bytes();
                r.props();
                Rec::Acked(k, codes)
            }
            16 => {
                let n = r.num() as usize;
                for _ in 0..n {
                    r.str();
                    r.u8();
                }
                Rec::Restored(n)
            }
            17 => {
                let rc = r.num() as u8;
                r.props();
                Rec::Auth(rc)
            }
            18 => {
                r.error();
                Rec::StoreFailed
            }
            k => panic!("unknown record {k}"),
        });
    }
    out
}

fn poll(c: &mut RawClient, now: f64) -> Vec<Rec> {
    c.poll(now);
    records(c.output())
        .into_iter()
        .filter(|r| *r != Rec::Timer)
        .collect()
}

/// A client that has sent CONNECT and got CONNACK (`connack`).
fn connected(options: Vec<u8>, connack: &[u8]) -> RawClient {
    let mut o = List::default()
        .server(false, "broker.example", Some(8080), "/mqtt")
        .done();
    o.extend_from_slice(&options);
    let mut c = RawClient::new(&o, None, false).unwrap_or_else(|e| panic!("{:?}", e.as_string()));
    c.connect(0.0).unwrap();
    assert_eq!(
        poll(&mut c, 0.0),
        [Rec::Open("ws://broker.example:8080/mqtt".into())]
    );
    c.signal(0, 1.0);
    assert!(matches!(&poll(&mut c, 1.0)[..], [Rec::Send(b)] if b[0] == 0x10));
    c.received(2.0, connack);
    c
}

const CONNACK_V5: &[u8] = &[0x20, 3, 0, 0, 0];

fn thrown(e: wasm_bindgen::JsValue) -> String {
    e.as_string().unwrap()
}

#[wasm_bindgen_test]
fn options_are_read_from_the_field_list() {
    let will = List::default()
        .bytes(wire::WILL_TOPIC, b"w")
        .bytes(wire::WILL_PAYLOAD, b"bye")
        .num(wire::WILL_QOS, 1.0)
        .done();
    let props = List::default().num(0x11, 60.0).pair("app", "x").done();
    let o = List::default()
        .bytes(wire::CLIENT_ID, b"dash")
        .num(wire::KEEPALIVE, 30.0)
        .num(wire::CLEAN, 0.0)
        .num(wire::OFFLINE_QUEUE_LIMIT, 5.0)
        .num(wire::MANUAL_ACKS, 1.0)
        .num(wire::MIN_DELAY, 10.0)
        .num(wire::MAX_DELAY, 20.0)
        .server(false, "a.example", Some(8080), "/")
        .server(true, "b.example", None, "/mqtt")
        .bytes(wire::WILL, &will)
        .bytes(wire::PROPERTIES, &props)
        .done();
    let opts =
        crate::client_options(&Fields::parse(&o)).unwrap_or_else(|e| panic!("{:?}", e.as_string()));
    assert_eq!(opts.client_id, "dash");
    assert_eq!(opts.protocol.level(), 5);
    assert_eq!(opts.keep_alive_secs, 30);
    assert!(!opts.clean_start);
    assert!(opts.manual_acks);
    assert_eq!(opts.max_queued_messages, 5);
    assert_eq!(opts.servers.len(), 2);
    assert_eq!(opts.servers[0].port, 8080);
    // No port given: the core's default for wss.
    let b = &opts.servers[1];
    assert_eq!(
        (
            b.transport.scheme(),
            b.host.as_str(),
            b.port,
            b.path.as_str()
        ),
        ("wss", "b.example", 443, "/mqtt")
    );
    assert_eq!(opts.will.as_ref().unwrap().payload.as_ref(), b"bye");
    assert_eq!(opts.reconnect.as_ref().unwrap().max_delay_ms, 20);
    assert_eq!(opts.connect_properties.session_expiry_interval, Some(60));
    assert_eq!(
        opts.connect_properties.user_properties,
        [("app".to_string(), "x".to_string())]
    );
    let o = List::default().num(wire::PROTOCOL_VERSION, 4.0).done();
    let opts = crate::client_options(&Fields::parse(&with_server(&o))).unwrap();
    assert_eq!(opts.protocol.level(), 4);
}

#[wasm_bindgen_test]
fn bad_options_are_typed_errors_naming_the_argument() {
    // URLs are checked (and split) by `npm/index.js`; none at all is the core's call.
    let err = thrown(RawClient::new(&[], None, false).err().unwrap());
    assert!(err.starts_with("INVALID_ARGUMENT|"), "{err}");
    assert!(err.contains("servers"), "{err}");
    let o = List::default().num(wire::MIN_DELAY, 0.0).done();
    let err = thrown(RawClient::new(&with_server(&o), None, false).err().unwrap());
    assert!(err.contains("min_delay"), "{err}");
    // A truncated list is read up to the damage, never a panic.
    let mut o = List::default().bytes(wire::CLIENT_ID, b"abc").done();
    o.truncate(o.len() - 1);
    assert!(RawClient::new(&with_server(&o), None, false).is_ok());
    assert!(RawClient::new(
        &with_server(&[0x40, 1, 0xff, 0xff, 0xff, 0xff]),
        None,
        false
    )
    .is_ok());
}

#[wasm_bindgen_test]
fn connack_publish_and_completion_go_through_poll() {
    let mut c = connected(Vec::new(), CONNACK_V5);
    assert!(matches!(&poll(&mut c, 2.0)[..], [Rec::Connected(_)]));
    assert_eq!(c.state(), 3);
    let token = c
        .publish(3.0, "a/b".into(), b"x".to_vec(), 1, false, &[])
        .unwrap();
    let token2 = c
        .publish(3.0, "a/c".into(), b"y".to_vec(), 1, false, &[])
        .unwrap();
    // Both publishes leave in one SEND record.
    let recs = poll(&mut c, 3.0);
    assert!(
        matches!(&recs[..], [Rec::Send(b)] if b.iter().filter(|x| **x == 0x32).count() >= 2),
        "{recs:?}"
    );
    c.received(4.0, &[0x40, 2, 0, 1, 0x40, 2, 0, 2]);
    assert_eq!(
        poll(&mut c, 4.0),
        [Rec::Published(token, true), Rec::Published(token2, true)]
    );
    let err = thrown(
        c.publish(5.0, "a/#".into(), vec![], 0, false, &[])
            .unwrap_err(),
    );
    assert!(
        err.starts_with("INVALID_ARGUMENT|invalid argument `topic`"),
        "{err}"
    );
    c.disconnect(6.0, 0, &[]).unwrap();
    let recs = poll(&mut c, 6.0);
    assert!(
        matches!(&recs[..], [Rec::Send(_), Rec::Close, Rec::Disconnected(code)] if code == "CLIENT_DISCONNECT"),
        "{recs:?}"
    );
}

#[wasm_bindgen_test]
fn manual_acks_hold_the_puback_until_ack() {
    let o = List::default().num(wire::MANUAL_ACKS, 1.0).done();
    let mut c = connected(o, CONNACK_V5);
    poll(&mut c, 2.0);
    // QoS 1 PUBLISH, topic "t", packet id 7, no properties, payload "hi".
    c.received(3.0, &[0x32, 8, 0, 1, b't', 0, 7, 0, b'h', b'i']);
    let recs = poll(&mut c, 3.0);
    let [Rec::Message { topic, qos: 1, key }] = &recs[..] else {
        panic!("{recs:?}")
    };
    assert_eq!(topic, "t");
    assert!(*key > 0.0);
    c.ack(4.0, *key as u32).unwrap();
    assert_eq!(poll(&mut c, 4.0), [Rec::Send(vec![0x40, 2, 0, 7])]);
    let err = thrown(c.ack(5.0, *key as u32).unwrap_err());
    assert!(err.starts_with("ACK_NOT_PENDING|"), "{err}");
}

#[wasm_bindgen_test]
fn auth_and_restored_subscriptions_are_records() {
    let props = List::default().bytes(0x15, b"SCRAM").done();
    let o = List::default().bytes(wire::PROPERTIES, &props).done();
    // AUTH, Continue authentication, method SCRAM.
    let mut c = connected(
        o,
        &[0xF0, 10, 0x18, 8, 0x15, 0, 5, b'S', b'C', b'R', b'A', b'M'],
    );
    assert_eq!(poll(&mut c, 2.0), [Rec::Auth(0x18)]);
    let answer = List::default()
        .bytes(0x15, b"SCRAM")
        .bytes(0x16, b"proof")
        .done();
    c.auth(3.0, &answer, false).unwrap();
    assert!(matches!(&poll(&mut c, 3.0)[..], [Rec::Send(b)] if b[0] == 0xF0));

    // A subscription, then a reconnect to a broker that lost the session.
    let mut c = connected(Vec::new(), CONNACK_V5);
    poll(&mut c, 2.0);
    let filters = List::default()
        .bytes(wire::TOPIC, b"a/#")
        .num(wire::QOS, 1.0)
        .done();
    let token = c.subscribe(3.0, &filters, &[]).unwrap();
    poll(&mut c, 3.0);
    c.received(4.0, &[0x90, 4, 0, 1, 0, 1]);
    assert_eq!(poll(&mut c, 4.0), [Rec::Acked(14, vec![1])]);
    assert!(token > 0.0);
    c.signal(1, 5.0);
    let recs = poll(&mut c, 5.0);
    assert!(
        matches!(&recs[..], [Rec::Disconnected(code)] if code == "TRANSPORT_CLOSED"),
        "{recs:?}"
    );
    c.signal(2, 120_000.0);
    assert!(matches!(&poll(&mut c, 120_000.0)[..], [Rec::Open(_)]));
    c.signal(0, 120_001.0);
    poll(&mut c, 120_001.0);
    c.received(120_002.0, CONNACK_V5); // session not present
    let recs = poll(&mut c, 120_002.0);
    assert!(
        matches!(&recs[..], [Rec::Send(b), Rec::Connected(_)] if b[0] == 0x82),
        "{recs:?}"
    );
    c.received(120_003.0, &[0x90, 4, 0, 2, 0, 1]);
    assert_eq!(poll(&mut c, 120_003.0), [Rec::Restored(1)]);
}

#[wasm_bindgen_test]
fn a_socket_failure_with_a_cause_reaches_the_core_and_a_configuration_one_is_final() {
    // Refused: the core retries after its backoff, as for a bare close.
    let mut c = connected(Vec::new(), CONNACK_V5);
    poll(&mut c, 2.0);
    c.failed(
        3.0,
        1,
        "connecting to ws://broker.example:8080/mqtt failed: refused",
    );
    let recs = poll(&mut c, 3.0);
    assert!(
        matches!(&recs[..], [Rec::Disconnected(code)] if code == "TRANSPORT_CLOSED"),
        "{recs:?}"
    );
    c.signal(2, 120_000.0);
    assert!(matches!(&poll(&mut c, 120_000.0)[..], [Rec::Open(_)]));

    // A setting the transport cannot use: no retry, however long we wait.
    let mut c = connected(Vec::new(), CONNACK_V5);
    poll(&mut c, 2.0);
    c.failed(3.0, 6, "the TLS options are not valid");
    let recs = poll(&mut c, 3.0);
    assert!(matches!(&recs[..], [Rec::Disconnected(_)]), "{recs:?}");
    c.signal(2, 120_000.0);
    assert!(
        !poll(&mut c, 120_000.0)
            .iter()
            .any(|r| matches!(r, Rec::Open(_))),
        "a configuration failure was retried"
    );
}
