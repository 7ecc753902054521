//! wasm-bindgen tests of the binding's own pieces (run in Node:
//! `cargo test -p midge-wasm --target wasm32-unknown-unknown` with
//! `wasm-bindgen-test-runner` as the runner; see scripts/test-wasm.sh).

use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::convert;
use crate::RawClient;

fn js(src: &str) -> JsValue {
    Function::new_no_args(src).call0(&JsValue::NULL).unwrap()
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

#[wasm_bindgen_test]
fn options_are_read_in_camel_case() {
    let o = js(
        "return { clientId: 'dash', protocolVersion: 4, keepalive: 30, clean: false, \
                username: 'u', password: 'p', offlineQueueLimit: 5, \
                will: { topic: 'w', payload: 'bye', qos: 1, retain: true }, \
                reconnect: { minDelay: 10, maxDelay: 20 }, servers: ['wss://b.example/mqtt'] }",
    );
    let opts = convert::client_options("ws://a.example:8080", &o).unwrap();
    assert_eq!(opts.client_id, "dash");
    assert_eq!(opts.protocol.level(), 4);
    assert_eq!(opts.keep_alive_secs, 30);
    assert!(!opts.clean_start);
    assert_eq!(opts.max_queued_messages, 5);
    assert_eq!(opts.servers.len(), 2);
    assert_eq!(opts.will.as_ref().unwrap().payload.as_ref(), b"bye");
    assert_eq!(opts.reconnect.as_ref().unwrap().max_delay_ms, 20);
}

#[wasm_bindgen_test]
fn bad_options_name_the_argument() {
    for (src, needle) in [
        ("return { keepalive: -1 }", "keepalive"),
        ("return { protocolVersion: 3 }", "protocolVersion"),
        ("return { clientId: 7 }", "clientId"),
        ("return { will: { qos: 1 } }", "will.topic"),
    ] {
        let err = convert::client_options("ws://a.example", &js(src)).unwrap_err();
        assert_eq!(get(&err, "code"), "INVALID_ARGUMENT");
        let message = get(&err, "message").as_string().unwrap();
        assert!(message.contains(needle), "{message}");
    }
    let err = convert::client_options("mqtt://a.example", &Object::new()).unwrap_err();
    assert!(get(&err, "message").as_string().unwrap().contains("ws://"));
}

#[wasm_bindgen_test]
fn bytes_from_strings_and_views() {
    assert_eq!(
        convert::bytes_of(&"hé".into(), "p").unwrap(),
        "hé".as_bytes()
    );
    let a = Uint8Array::from(&[1u8, 2, 3][..]);
    assert_eq!(convert::bytes_of(&a, "p").unwrap(), [1, 2, 3]);
    let view = js("return new DataView(new Uint8Array([7, 8, 9]).buffer, 1, 2)");
    assert_eq!(convert::bytes_of(&view, "p").unwrap(), [8, 9]);
    assert!(convert::bytes_of(&JsValue::from(5), "payload").is_err());
}

#[wasm_bindgen_test]
fn the_driver_opens_a_socket_and_sends_connect() {
    // A fake WebSocket class and host that record what the driver does.
    let ctor = js(
        "return class { constructor(url, protocol) { globalThis.__sock = this; \
                   this.url = url; this.protocol = protocol; this.sent = []; } \
                   send(b) { this.sent.push(Array.from(b)); } close() { this.closed = true; } }",
    );
    let host = js("return { events: [], onConnected(...a) { this.events.push(['connected', ...a]); }, \
                   onClosed() {}, onMessage() {}, onPublished() {}, onAcked() {}, onPersist() {}, onError() {} }");
    let client = RawClient::new(
        "ws://127.0.0.1:9/mqtt",
        js("return { clientId: 'c1' }"),
        host.clone().unchecked_into(),
        ctor,
        None,
        false,
    )
    .unwrap();
    client.connect().unwrap();
    let sock = js("return globalThis.__sock");
    assert_eq!(get(&sock, "url"), "ws://127.0.0.1:9/mqtt");
    assert_eq!(get(&sock, "protocol"), "mqtt");
    assert_eq!(get(&sock, "binaryType"), "arraybuffer");
    // The socket opens: CONNECT (packet type 1) goes out.
    let onopen: Function = get(&sock, "onopen").dyn_into().unwrap();
    onopen.call0(&sock).unwrap();
    let sent: Array = get(&sock, "sent").dyn_into().unwrap();
    let first: Array = sent.get(0).dyn_into().unwrap();
    assert_eq!(first.get(0).as_f64(), Some(16.0));
    // CONNACK (5.0, success) arrives as an ArrayBuffer: onConnected fires.
    let onmessage: Function = get(&sock, "onmessage").dyn_into().unwrap();
    let ev = js("return { data: new Uint8Array([0x20, 3, 0, 0, 0]).buffer }");
    onmessage.call1(&sock, &ev).unwrap();
    let events: Array = get(&host, "events").dyn_into().unwrap();
    assert_eq!(events.length(), 1);
    assert_eq!(client.state(), "connected");
    // A bad QoS is refused with the argument named.
    let err = client
        .publish("t".into(), vec![1], 3, false, JsValue::UNDEFINED)
        .unwrap_err();
    assert!(get(&err, "message").as_string().unwrap().contains("qos"));
    client.shutdown();
}
