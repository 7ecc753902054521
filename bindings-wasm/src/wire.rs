//! The byte format between the wasm driver and `npm/index.js`.
//!
//! Options, properties and filters come in, and everything the core says
//! (transport commands, bytes to send, session snapshots, events) goes out,
//! as flat byte buffers instead of JS objects: reading and writing JS objects
//! field by field from wasm costs a glue function, a key string and an error
//! path per field, which made up about half of the package's size. The JS
//! side (`encodeFields` / `Reader` in `npm/index.js`) checks argument types
//! and names the argument in its errors; the core checks the rules of MQTT.
//!
//! A field list is a run of entries `tag: u8, kind: u8, value`, where kind 0
//! is a number (f64, little endian), 1 is bytes (u32 length, little endian,
//! then the bytes; strings are UTF-8) and 2 is a pair of byte strings (a user
//! property). Tags below 0x40 are the MQTT 5.0 property identifiers; the
//! others name options (see `npm/index.js`). An outbound field list ends
//! with tag 0.

use midge_core::packet::UserProperty;

// Options of `connect` (tags of the field list given to `RawClient::new`).
pub const CLIENT_ID: u8 = 0x40;
pub const PROTOCOL_VERSION: u8 = 0x41;
pub const CLEAN: u8 = 0x42;
pub const KEEPALIVE: u8 = 0x43;
pub const USERNAME: u8 = 0x44;
pub const PASSWORD: u8 = 0x45;
pub const SERVERS: u8 = 0x46;
pub const OFFLINE_QUEUE_LIMIT: u8 = 0x47;
pub const MAX_INFLIGHT: u8 = 0x48;
pub const CONNECT_TIMEOUT: u8 = 0x49;
pub const PING_TIMEOUT: u8 = 0x4A;
pub const MANUAL_ACKS: u8 = 0x4B;
pub const RECONNECT: u8 = 0x4C;
pub const MIN_DELAY: u8 = 0x4D;
pub const MAX_DELAY: u8 = 0x4E;
pub const FACTOR: u8 = 0x4F;
pub const STABLE_AFTER: u8 = 0x50;
pub const ON_INITIAL_FAILURE: u8 = 0x51;
pub const RANDOM_SEED: u8 = 0x52;
pub const WILL: u8 = 0x53;
pub const PROPERTIES: u8 = 0x54;
pub const WILL_TOPIC: u8 = 0x55;
pub const WILL_PAYLOAD: u8 = 0x56;
pub const WILL_QOS: u8 = 0x57;
pub const WILL_RETAIN: u8 = 0x58;
// One broker (a `SERVERS` value is a field list of these), split by `URL`
// in `npm/index.js`.
pub const SERVER_HOST: u8 = 0x59;
pub const SERVER_PORT: u8 = 0x5A;
pub const SERVER_PATH: u8 = 0x5B;
pub const SERVER_TLS: u8 = 0x5C;
pub const STRICT_RECEIVE_MAXIMUM: u8 = 0x5D;
pub const FOLLOW_REDIRECTS: u8 = 0x5E;
/// Set for `mqtt://` and `mqtts://` (Node only; `npm/node-socket.js`).
pub const SERVER_TCP: u8 = 0x5F;
// One entry of a subscribe list: TOPIC starts the next filter.
pub const TOPIC: u8 = 0x60;
pub const QOS: u8 = 0x61;
pub const NO_LOCAL: u8 = 0x62;
pub const RETAIN_AS_PUBLISHED: u8 = 0x63;
pub const RETAIN_HANDLING: u8 = 0x64;

/// One value of a field list.
pub enum Val {
    Num(f64),
    Bytes(Vec<u8>),
    Pair(String, String),
}

/// A field list read from JS, in order.
pub struct Fields(pub Vec<(u8, Val)>);

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn num(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        self.take(n as usize).map(<[u8]>::to_vec)
    }
    fn string(&mut self) -> Option<String> {
        self.bytes().map(utf8)
    }
}

/// JS hands over `TextEncoder` output (always UTF-8); anything else becomes "".
pub fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_default()
}

impl Fields {
    /// Read a field list; a truncated or unknown entry ends it.
    pub fn parse(b: &[u8]) -> Fields {
        let mut r = Reader { b, i: 0 };
        let mut out = Vec::new();
        while let Some(tag) = r.u8() {
            let v = match r.u8() {
                Some(0) => r.num().map(Val::Num),
                Some(1) => r.bytes().map(Val::Bytes),
                Some(2) => match (r.string(), r.string()) {
                    (Some(k), Some(v)) => Some(Val::Pair(k, v)),
                    _ => None,
                },
                _ => None,
            };
            let Some(v) = v else { break };
            out.push((tag, v));
        }
        Fields(out)
    }

    pub fn num(&self, tag: u8) -> Option<f64> {
        self.0.iter().find_map(|(t, v)| match v {
            Val::Num(n) if *t == tag => Some(*n),
            _ => None,
        })
    }
    pub fn u16(&self, tag: u8) -> Option<u16> {
        self.num(tag).map(|n| n as u16)
    }
    pub fn u32(&self, tag: u8) -> Option<u32> {
        self.num(tag).map(|n| n as u32)
    }
    pub fn u64(&self, tag: u8) -> Option<u64> {
        self.num(tag).map(|n| n as u64)
    }
    pub fn flag(&self, tag: u8) -> Option<bool> {
        self.num(tag).map(|n| n != 0.0)
    }
    /// Every bytes value with this tag, in order.
    pub fn all_bytes(&self, tag: u8) -> impl Iterator<Item = &Vec<u8>> {
        self.0.iter().filter_map(move |(t, v)| match v {
            Val::Bytes(b) if *t == tag => Some(b),
            _ => None,
        })
    }
    pub fn bytes(&self, tag: u8) -> Option<Vec<u8>> {
        self.all_bytes(tag).next().cloned()
    }
    pub fn string(&self, tag: u8) -> Option<String> {
        self.bytes(tag).map(utf8)
    }
    /// A nested field list (the will, CONNECT properties).
    pub fn nested(&self, tag: u8) -> Option<Fields> {
        self.all_bytes(tag).next().map(|b| Fields::parse(b))
    }
    pub fn user(&self) -> Vec<UserProperty> {
        self.0
            .iter()
            .filter_map(|(_, v)| match v {
                Val::Pair(k, v) => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect()
    }
}

/// What goes out to JS: records `kind: u8, ...` (see `npm/index.js`).
#[derive(Default)]
pub struct Out(pub Vec<u8>);

impl Out {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn num(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(&(v.len() as u32).to_le_bytes());
        self.0.extend_from_slice(v);
    }
    /// A number field, when present.
    pub fn f_num(&mut self, tag: u8, v: Option<f64>) {
        if let Some(v) = v {
            self.u8(tag);
            self.u8(0);
            self.num(v);
        }
    }
    pub fn f_bool(&mut self, tag: u8, v: Option<bool>) {
        self.f_num(tag, v.map(|b| b as u8 as f64));
    }
    pub fn f_bytes(&mut self, tag: u8, v: Option<&[u8]>) {
        if let Some(v) = v {
            self.u8(tag);
            self.u8(1);
            self.bytes(v);
        }
    }
    pub fn f_str(&mut self, tag: u8, v: &Option<String>) {
        self.f_bytes(tag, v.as_ref().map(|s| s.as_bytes()));
    }
    /// User properties, then the end of the field list.
    pub fn f_user_end(&mut self, user: &[UserProperty]) {
        for (k, v) in user {
            self.u8(0x26);
            self.u8(2);
            self.bytes(k.as_bytes());
            self.bytes(v.as_bytes());
        }
        self.u8(0);
    }
}
