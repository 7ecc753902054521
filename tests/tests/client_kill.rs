//! A publisher process with a `FileStore` session is killed with SIGKILL in
//! the middle of a QoS 1 + QoS 2 stream, then started again on the same
//! store: every message it had stored arrives, no QoS 2 message twice.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use midge_core::packet::{QoS, SubscribeFilter};
use midge_system_tests::broker::{Broker, MosquittoConfig};
use midge_system_tests::stream::persistent_client;

const COUNT: u64 = 400;
const PUBLISHER: &str = env!("CARGO_BIN_EXE_midge-file-publisher");

/// Start the publisher and return it once it printed a line starting with
/// `until` (at once for an empty `until`).
fn spawn(args: &[&str], until: &str) -> std::process::Child {
    let mut child = Command::new(PUBLISHER)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("publisher starts");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    // An empty `until`: return at once (a kill before it even connected).
    while !until.is_empty() {
        match lines.next() {
            Some(Ok(line)) if line.starts_with(until) => break,
            Some(_) => {}
            None => panic!("publisher exited before printing {until:?}"),
        }
    }
    // Keep draining so that the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

/// The sequence number at the start of a payload (`17` or `17:pppp`).
fn seq_of(payload: &[u8]) -> u64 {
    let digits = payload.split(|b| *b == b':').next().unwrap_or(&[]);
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

/// A persistent subscriber to the publisher's two topics, and its stream.
async fn subscriber(
    url: &str,
    prefix: &str,
) -> (midge_native::NativeClient, midge_native::MessageStream) {
    let sub = persistent_client(url, &format!("{prefix}-{}", std::process::id())).expect("sub");
    let messages = sub.messages(None).expect("stream");
    sub.connect().await.expect("connect");
    sub.subscribe(
        vec![
            SubscribeFilter::new("kill/q1", QoS::AtLeastOnce),
            SubscribeFilter::new("kill/q2", QoS::ExactlyOnce),
        ],
        Default::default(),
    )
    .await
    .expect("subscribe");
    (sub, messages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_killed_with_file_store_loses_nothing() {
    let broker = Broker::mosquitto(MosquittoConfig::default()).expect("mosquitto");
    let url = broker.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("session.bin");
    let store = store.to_str().expect("utf-8 path");
    let client_id = format!("kill-pub-{}", std::process::id());

    let (_sub, mut messages) = subscriber(&url, "kill-sub").await;

    let mut seen: HashMap<(u8, u64), u32> = HashMap::new();
    let mut tally = |m: midge_core::packet::Publish| {
        let q = if m.topic == "kill/q1" { 1 } else { 2 };
        let seq = seq_of(&m.payload);
        *seen.entry((q, seq)).or_default() += 1;
        seen.len() as u64
    };

    // All COUNT messages are in the file before the publisher connects; it
    // is killed once a quarter of them has arrived.
    let count = COUNT.to_string();
    let mut first = tokio::task::block_in_place(|| {
        spawn(&[&url, store, &client_id, "publish", &count], "stored")
    });
    let mut distinct = 0;
    while distinct < COUNT / 4 {
        let m = tokio::time::timeout(Duration::from_secs(30), messages.recv())
            .await
            .expect("messages before the kill")
            .expect("stream open");
        distinct = tally(m);
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    // What was already on its way still counts.
    while let Some(m) = messages.try_recv() {
        distinct = tally(m);
    }
    let at_kill = distinct;

    let mut second =
        tokio::task::block_in_place(|| spawn(&[&url, store, &client_id, "resume"], "resumed"));
    while distinct < COUNT {
        match tokio::time::timeout(Duration::from_secs(30), messages.recv()).await {
            Ok(Some(m)) => distinct = tally(m),
            _ => break,
        }
    }
    second.kill().expect("kill");
    second.wait().expect("reaped");

    let lost: Vec<u64> = (1..=COUNT)
        .map(|i| i - 1)
        .filter(|seq| !seen.contains_key(&(if seq % 2 == 0 { 1 } else { 2 }, *seq)))
        .collect();
    let dup = |q: u8| -> u32 {
        seen.iter()
            .filter(|((qos, _), _)| *qos == q)
            .map(|(_, n)| n - 1)
            .sum()
    };
    println!(
        "fault report (client kill -9): {COUNT} stored, {at_kill} delivered when the publisher was killed, \
         {distinct} distinct after the restart, lost {}, QoS 2 duplicates {}, QoS 1 duplicates {}",
        lost.len(),
        dup(2),
        dup(1)
    );
    assert!(at_kill < COUNT, "the kill came after the whole stream");
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert_eq!(dup(2), 0, "QoS 2 delivered twice");
}

/// Issue 15: the publisher is killed with SIGKILL 50 times at random points
/// of a QoS 1 + QoS 2 stream whose 2 KiB payloads make the log compact
/// every few hundred messages, and started again on the same store each
/// time; then it runs to the end. Nothing is lost, no QoS 2 message
/// arrives twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_killed_fifty_times_at_random_points_loses_nothing() {
    const TOTAL: u64 = 3_000;
    const KILLS: usize = 50;
    let broker = Broker::mosquitto(MosquittoConfig::default()).expect("mosquitto");
    let url = broker.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("session.log");
    let store = path.to_str().expect("utf-8 path");
    let temp = dir.path().join("session.log.tmp");
    let client_id = format!("kill50-pub-{}", std::process::id());

    let (_sub, mut messages) = subscriber(&url, "kill50-sub").await;
    let mut seen: HashMap<(u8, u64), u32> = HashMap::new();
    fn count(seen: &mut HashMap<(u8, u64), u32>, m: midge_core::packet::Publish) {
        let q = if m.topic == "kill/q1" { 1 } else { 2 };
        *seen.entry((q, seq_of(&m.payload))).or_default() += 1;
    }
    fn drain(seen: &mut HashMap<(u8, u64), u32>, messages: &mut midge_native::MessageStream) {
        while let Some(m) = messages.try_recv() {
            count(seen, m);
        }
    }

    // A reproducible pseudo-random kill schedule (xorshift), its seed printed.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let mut x = seed;
    let mut random_ms = |max: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % max
    };
    let total = TOTAL.to_string();
    let mut during_compaction = 0;
    for kill in 0..KILLS {
        let args: Vec<&str> = if kill == 0 {
            vec![&url, store, &client_id, "publish", &total, "2048"]
        } else {
            vec![&url, store, &client_id, "resume"]
        };
        let until = if kill == 0 { "stored" } else { "" };
        // A temp file left by a compaction a kill cut short is garbage (the
        // store removes it too): gone, `exists` below sees this run's only.
        let _ = std::fs::remove_file(&temp);
        let mut child = tokio::task::block_in_place(|| spawn(&args, until));
        if kill % 3 == 2 {
            // Aim at a compaction: kill as soon as its temp file appears
            // (within a second; else at a random point like the others).
            let start = std::time::Instant::now();
            while !temp.exists() && start.elapsed() < Duration::from_secs(1) {
                std::thread::yield_now();
            }
        } else {
            tokio::time::sleep(Duration::from_millis(random_ms(120))).await;
        }
        if temp.exists() {
            during_compaction += 1;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        drain(&mut seen, &mut messages);
    }
    // The last run goes to the end.
    let mut last =
        tokio::task::block_in_place(|| spawn(&[&url, store, &client_id, "resume"], "resumed"));
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while (seen.len() as u64) < TOTAL && std::time::Instant::now() < deadline {
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(5), messages.recv()).await {
            count(&mut seen, m);
        }
        drain(&mut seen, &mut messages);
    }
    last.kill().expect("kill");
    last.wait().expect("reaped");

    let lost: Vec<u64> = (0..TOTAL)
        .filter(|seq| !seen.contains_key(&(if seq % 2 == 0 { 1 } else { 2 }, *seq)))
        .collect();
    let dup = |q: u8| -> u32 {
        seen.iter()
            .filter(|((qos, _), _)| *qos == q)
            .map(|(_, n)| n - 1)
            .sum()
    };
    println!(
        "fault report (client kill -9 x{KILLS}, seed {seed}): {TOTAL} stored with 2 KiB payloads, \
         {during_compaction} kills while a compaction's temp file existed, lost {}, \
         QoS 2 duplicates {}, QoS 1 duplicates {}",
        lost.len(),
        dup(2),
        dup(1)
    );
    assert!(
        lost.is_empty(),
        "lost {} (seed {seed}): {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    assert_eq!(dup(2), 0, "QoS 2 delivered twice (seed {seed})");
    assert!(
        during_compaction > 0,
        "no kill landed in a compaction (seed {seed})"
    );
}
