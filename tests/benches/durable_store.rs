//! What durability costs (issue 15): midge-native with its `FileStore`
//! (fsync on, an append-only log with group commit) against the same client
//! with the in-memory session, in the same run, through a local mosquitto
//! this program starts. One publisher (the store under test) and one
//! subscriber (in memory) in this process, 64-byte payloads, MQTT 5.0, at
//! most WINDOW unacknowledged publishes, COUNT messages per QoS and store;
//! ROUNDS runs alternating the stores, median kept.
//!
//! It prints, per QoS: msg/s with each store and the ratio, then the QoS 1
//! publish latency (publish to PUBACK, one at a time) p50 and p99 with each
//! store, and first what the disk does: atomic 4 KiB appends with
//! `fdatasync` per second, the ceiling of a store that syncs every change.
//!
//! ```text
//! cargo bench -p midge-system-tests --bench durable_store [-- COUNT WINDOW ROUNDS]
//! ```

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use midge_core::packet::{ProtocolVersion, Publish, QoS, SubscribeFilter};
use midge_native::{NativeClient, NativeOptions, StoreConfig};
use midge_system_tests::broker::{Broker, MosquittoConfig};

#[derive(Clone, Copy, PartialEq)]
enum Store {
    Memory,
    File,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::File => "file",
        }
    }
}

fn publisher(port: u16, store: Store, dir: &Path, id: &str, window: usize) -> NativeClient {
    let mut o = NativeOptions::new(&format!("mqtt://127.0.0.1:{port}")).expect("url");
    o.client.client_id = id.into();
    o.client.protocol = ProtocolVersion::V5;
    o.client.max_inflight = window as u16;
    o.client.max_queued_messages = 1_000_000;
    if store == Store::File {
        o.store = StoreConfig::File(dir.join(format!("{id}.log")));
    }
    NativeClient::new(o).expect("client")
}

/// Messages per second from the first publish to the last one received.
fn throughput(
    port: u16,
    store: Store,
    dir: &Path,
    qos: QoS,
    count: usize,
    window: usize,
    run: usize,
) -> f64 {
    let id = format!(
        "durable-{}-{}-{run}-{}",
        store.name(),
        qos as u8,
        std::process::id()
    );
    let topic = format!("bench/{id}");
    let publisher = publisher(port, store, dir, &id, window);
    let mut sub_options = NativeOptions::new(&format!("mqtt://127.0.0.1:{port}")).expect("url");
    sub_options.client.client_id = format!("{id}-sub");
    sub_options.client.receive_maximum = 65535;
    let sub = NativeClient::new(sub_options).expect("client");
    midge_native::runtime().block_on(async {
        sub.connect().await.expect("connect");
        publisher.connect().await.expect("connect");
        let mut messages = sub.messages(None).expect("messages");
        sub.subscribe(
            vec![SubscribeFilter::new(topic.clone(), qos)],
            Default::default(),
        )
        .await
        .expect("subscribe");
        let consumer = tokio::spawn(async move {
            let (mut n, mut batch) = (0, Vec::new());
            while n < count {
                batch.clear();
                let got = messages.recv_many(&mut batch, 1024).await;
                assert!(got > 0, "subscriber: stream ended at {n}/{count}");
                n += got;
            }
        });
        let payload = Bytes::from(vec![b'x'; 64]);
        let start = Instant::now();
        let mut inflight = VecDeque::with_capacity(window);
        for _ in 0..count {
            inflight.push_back(publisher.publish(Publish::new(
                topic.clone(),
                payload.clone(),
                qos,
            )));
            if inflight.len() >= window {
                inflight
                    .pop_front()
                    .expect("non-empty")
                    .await
                    .expect("publish");
            }
        }
        for handle in inflight {
            handle.await.expect("publish");
        }
        tokio::time::timeout(Duration::from_secs(300), consumer)
            .await
            .expect("the subscriber got everything in time")
            .expect("consumer");
        let rate = count as f64 / start.elapsed().as_secs_f64();
        for c in [&publisher, &sub] {
            c.disconnect(Default::default(), Default::default())
                .await
                .expect("disconnect");
        }
        rate
    })
}

/// QoS 1 publish-to-PUBACK latencies, one publish at a time, in µs.
fn latencies(port: u16, store: Store, dir: &Path, count: usize) -> Vec<f64> {
    let id = format!("latency-{}-{}", store.name(), std::process::id());
    let publisher = publisher(port, store, dir, &id, 1);
    midge_native::runtime().block_on(async {
        publisher.connect().await.expect("connect");
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let start = Instant::now();
            publisher
                .publish(Publish::new(
                    format!("bench/{id}"),
                    i.to_string().into_bytes(),
                    QoS::AtLeastOnce,
                ))
                .await
                .expect("publish");
            out.push(start.elapsed().as_secs_f64() * 1e6);
        }
        publisher
            .disconnect(Default::default(), Default::default())
            .await
            .expect("disconnect");
        out.sort_by(|a, b| a.total_cmp(b));
        out
    })
}

/// 4 KiB appends with `fdatasync` per second, for one second.
fn disk_syncs_per_second(dir: &Path) -> f64 {
    let path = dir.join("disk-probe");
    let mut file = std::fs::File::create(&path).expect("probe file");
    let block = [0u8; 4096];
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(1) {
        file.write_all(&block).expect("write");
        file.sync_data().expect("fdatasync");
        n += 1;
    }
    let _ = std::fs::remove_file(&path);
    n as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.parse().expect("COUNT WINDOW ROUNDS are whole numbers"))
        .collect();
    let count = args.first().copied().unwrap_or(20_000);
    let window = args.get(1).copied().unwrap_or(100);
    let rounds = args.get(2).copied().unwrap_or(3);
    assert!(
        count > 0 && (1..=65_535).contains(&window) && rounds > 0,
        "COUNT, ROUNDS >= 1; WINDOW 1..=65535"
    );
    // The store's directory on the disk the tests use (not a tmpfs).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let broker = Broker::mosquitto(MosquittoConfig {
        persistence: false,
        extra: format!(
            "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages {window}\nset_tcp_nodelay true"
        ),
    })
    .expect("mosquitto");
    println!(
        "midge-native FileStore (fsync on) vs the in-memory session, mosquitto {}, {count} messages of 64 bytes per QoS, window {window}, {rounds} rounds (median kept)",
        broker.version()
    );
    println!(
        "disk: {:.0} atomic 4 KiB appends (write + fdatasync) per second",
        disk_syncs_per_second(dir.path())
    );
    println!("| QoS | memory msg/s | file msg/s | file / memory | target (file) |");
    println!("|---|---|---|---|---|");
    for (qos, target) in [(QoS::AtLeastOnce, 5_000.0), (QoS::ExactlyOnce, 3_000.0)] {
        let (mut memory, mut file) = (Vec::new(), Vec::new());
        for run in 0..rounds {
            memory.push(throughput(
                broker.port,
                Store::Memory,
                dir.path(),
                qos,
                count,
                window,
                run,
            ));
            file.push(throughput(
                broker.port,
                Store::File,
                dir.path(),
                qos,
                count,
                window,
                run,
            ));
        }
        let (m, f) = (median(memory), median(file));
        println!(
            "| {} | {m:.0} | {f:.0} | {:.2} | >= {target:.0} and >= 0.30 of memory: {} |",
            qos as u8,
            f / m,
            if f >= target && f / m >= 0.30 {
                "met"
            } else {
                "NOT met"
            }
        );
    }
    let n = 1_000;
    let memory = latencies(broker.port, Store::Memory, dir.path(), n);
    let file = latencies(broker.port, Store::File, dir.path(), n);
    println!("QoS 1 publish latency, one at a time ({n} publishes):");
    println!("| store | p50 µs | p99 µs |");
    println!("|---|---|---|");
    for (name, l) in [("memory", &memory), ("file", &file)] {
        println!(
            "| {name} | {:.0} | {:.0} |",
            percentile(l, 0.5),
            percentile(l, 0.99)
        );
    }
    println!(
        "added by durability: p50 +{:.0} µs, p99 +{:.0} µs",
        percentile(&file, 0.5) - percentile(&memory, 0.5),
        percentile(&file, 0.99) - percentile(&memory, 0.99)
    );
}
