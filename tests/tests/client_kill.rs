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

/// Start the publisher and return it once it printed a line starting with `until`.
fn spawn(args: &[&str], until: &str) -> std::process::Child {
    let mut child = Command::new(PUBLISHER)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("publisher starts");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    loop {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_killed_with_file_store_loses_nothing() {
    let broker = Broker::mosquitto(MosquittoConfig::default()).expect("mosquitto");
    let url = broker.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("session.bin");
    let store = store.to_str().expect("utf-8 path");
    let client_id = format!("kill-pub-{}", std::process::id());

    let sub = persistent_client(&url, &format!("kill-sub-{}", std::process::id())).expect("sub");
    let mut messages = sub.messages(None).expect("stream");
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

    let mut seen: HashMap<(u8, u64), u32> = HashMap::new();
    let mut tally = |m: midge_core::packet::Publish| {
        let q = if m.topic == "kill/q1" { 1 } else { 2 };
        let seq = std::str::from_utf8(&m.payload)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
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
