//! The publisher the client-kill test runs as a child process and kills with
//! SIGKILL: a `NativeClient` with a `FileStore` session.
//!
//! `midge-file-publisher <url> <store file> <client id> publish <count> [pad]`
//!   queues `count` messages (QoS 1 and 2 alternating, topics `kill/q1` and
//!   `kill/q2`, payload = sequence number, then `:` and `pad` bytes when
//!   given, to make the log grow to compaction) before connecting, prints
//!   `stored <count>` once they are all in the store, then connects and
//!   prints `acked <n>` as the broker acknowledges them.
//! `midge-file-publisher <url> <store file> <client id> resume`
//!   connects with the same store (which resends what was in flight), prints
//!   `resumed`, and stays connected until killed or stdin closes.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use midge_core::packet::{ProtocolVersion, Publish, QoS};
use midge_native::{NativeClient, NativeError, NativeOptions, StoreConfig};

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(
        "usage: midge-file-publisher <url> <store> <client id> publish <count> [pad] | resume"
    )]
    Usage,
    #[error(transparent)]
    Native(#[from] NativeError),
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, store, client_id, mode, rest @ ..] = args.as_slice() else {
        return Err(Error::Usage);
    };
    let mut options = NativeOptions::new(url)?;
    options.client.client_id = client_id.clone();
    options.client.protocol = ProtocolVersion::V5;
    options.client.clean_start = false;
    options.client.connect_properties.session_expiry_interval = Some(3600);
    options.store = StoreConfig::File(PathBuf::from(store));
    let client = NativeClient::new(options)?;
    let rt = midge_native::runtime();
    let mut out = std::io::stdout();
    match (mode.as_str(), rest) {
        ("publish", [count, pad @ ..]) => {
            let count: u32 = count.parse().map_err(|_| Error::Usage)?;
            let pad: usize = match pad {
                [] => 0,
                [pad] => pad.parse().map_err(|_| Error::Usage)?,
                _ => return Err(Error::Usage),
            };
            let handles: Vec<_> = (0..count)
                .map(|seq| {
                    let (topic, qos) = if seq % 2 == 0 {
                        ("kill/q1", QoS::AtLeastOnce)
                    } else {
                        ("kill/q2", QoS::ExactlyOnce)
                    };
                    let mut payload = seq.to_string().into_bytes();
                    if pad > 0 {
                        payload.push(b':');
                        payload.resize(payload.len() + pad, b'p');
                    }
                    client.publish(Publish::new(topic, payload, qos))
                })
                .collect();
            // Every publish has reached the core, so it is in the file.
            rt.block_on(client.sync())?;
            let _ = writeln!(out, "stored {count}");
            let _ = out.flush();
            rt.block_on(client.connect())?;
            for (n, handle) in handles.into_iter().enumerate() {
                rt.block_on(handle)?;
                let _ = writeln!(out, "acked {}", n + 1);
                let _ = out.flush();
            }
        }
        ("resume", []) => {
            let connected = rt.block_on(client.connect())?;
            let _ = writeln!(out, "resumed session_present={}", connected.session_present);
            let _ = out.flush();
            // Stay connected so that the store's in-flight messages are resent.
            for _ in std::io::stdin().lock().lines() {}
        }
        _ => return Err(Error::Usage),
    }
    Ok(())
}
