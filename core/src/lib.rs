//! # midge-core
//!
//! The sans-IO protocol core of midge, an MQTT 3.1.1 and 5.0 client: codec,
//! session state, QoS tracking, keep-alive and reconnect policy. It takes
//! bytes and time in and gives bytes, events, transport commands and the next
//! deadline out. It never opens a socket, reads a clock, spawns or sleeps, so
//! it runs unchanged in a browser (wasm32), in Python, on the JVM and on
//! phones; each binding only moves bytes and keeps a timer.
//!
//! - [`packet`]: the packet model of both versions and its incremental codec.
//! - [`Client`]: the state machine a binding drives.
//! - [`session`]: the session as plain data and the store trait that persists it.
//! - [`topic`], [`router`]: topic rules and filter-to-handler routing.
//! - [`backoff`]: reconnect delays with caller-seeded jitter.
//! - [`server`]: broker URLs (`mqtt://`, `mqtts://`, `ws://`, `wss://`).
//!
//! ```
//! use midge_core::{Client, ClientOptions, Event, TransportCommand};
//!
//! let mut client = Client::new(ClientOptions::new("mqtt://localhost:1883").unwrap()).unwrap();
//! client.connect(0).unwrap();
//! let Some(TransportCommand::Open(server)) = client.poll_transport_command() else { panic!() };
//! assert_eq!(server.port, 1883);
//! ```

pub mod backoff;
mod client;
pub mod error;
pub mod event;
pub mod options;
pub mod packet;
pub mod router;
pub mod server;
pub mod session;
// Shared with the browser binding, which builds its error messages the same
// way (one copy of each helper in the package); not part of the API.
#[doc(hidden)]
pub mod text;
pub mod topic;
pub mod trace;

/// What becomes of pending work when the client stops, pauses, loses the
/// link or is used after close (the `core/SEMANTICS.md` table).
#[doc = include_str!("../SEMANTICS.md")]
pub mod semantics {}

pub use client::{Client, ConnectionState, PersistBatch};
pub use error::{
    ClientError, ConnectionError, ProtocolViolation, PublishError, TransportFailure,
    TransportFailureKind,
};
pub use event::{
    AckHandle, Connected, Event, Message, PublishDone, Redirect, RequestToken, TransportCommand,
    CLOSE_LINGER_MS, MAX_REDIRECTS,
};
pub use options::ClientOptions;
pub use session::PublishToken;

// The README's Rust quick start runs as a doc test.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
