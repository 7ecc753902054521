//! The same QoS 1 + QoS 2 stream (persistent sessions) while the mosquitto
//! it goes through is killed with SIGKILL and restarted on the same port
//! with the same persistence directory.
//!
//! mosquitto's persistence is a snapshot written from its main loop (here
//! after every change: `autosave_on_changes`, `autosave_interval 1`), not a
//! write-ahead log: messages it acknowledged or delivered just before the
//! SIGKILL may not be in the snapshot. So this test counts losses and
//! duplicates and attributes each to the nearest kill; anything lost away
//! from a kill would be the client's fault and fails the test.

use std::time::{Duration, Instant};

use midge_system_tests::broker::{Broker, MosquittoConfig};
use midge_system_tests::proxy::Proxy;
use midge_system_tests::stream::Stream;

const KILLS: usize = 5;
const PROGRESS: u64 = 200;
const RECOVER: Duration = Duration::from_secs(30);
/// A loss within this many sequence numbers of a kill is put down to it
/// (the publisher keeps 64 in flight; mosquitto queues what it delivers).
const NEAR: u64 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_across_mosquitto_kill9_restarts() {
    let mut broker = Broker::mosquitto(MosquittoConfig {
        persistence: true,
        ..Default::default()
    })
    .expect("mosquitto");
    // Through the proxy, so that the clients' port stays the same and a
    // restart looks like what it is: a dropped connection.
    let mut proxy = Proxy::start(broker.port).await.expect("proxy");
    let mut stream = Stream::start(&proxy.url(), "kill9").await.expect("stream");
    let started = Instant::now();
    let mut killed_at = Vec::new();
    for kill in 0..KILLS {
        assert!(
            stream.advance(PROGRESS, RECOVER).await,
            "no progress before kill {kill}"
        );
        let base = proxy.stats().connacks;
        killed_at.push(stream.last_seq.load(std::sync::atomic::Ordering::Relaxed));
        tokio::task::block_in_place(|| broker.kill9_and_restart()).expect("mosquitto restarts");
        proxy
            .wait_for(RECOVER, |s| s.connacks >= base + 2)
            .await
            .unwrap_or_else(|s| panic!("kill {kill}: clients did not reconnect: {s:?}"));
    }
    assert!(
        stream.advance(PROGRESS, RECOVER).await,
        "no progress after the last kill"
    );
    let elapsed = started.elapsed();
    let report = stream.finish(Duration::from_secs(5)).await;
    let near_kill = |seq: u64| {
        killed_at
            .iter()
            .any(|k| seq + NEAR >= *k && seq <= k + NEAR)
    };
    let away: Vec<_> = report.lost.iter().filter(|(_, s)| !near_kill(*s)).collect();
    println!(
        "fault report (kill -9): {KILLS} mosquitto kill -9 + restart in {:.1} s (at sequence numbers {killed_at:?}); {report}",
        elapsed.as_secs_f64()
    );
    if !report.lost.is_empty() {
        println!(
            "fault report (kill -9): lost (qos, seq), all within {NEAR} of a kill unless listed as away: {:?}; away from a kill: {away:?}",
            report.lost
        );
    }
    assert!(
        report.failed.is_empty(),
        "publishes failed: {:?}",
        report.failed
    );
    assert!(away.is_empty(), "lost away from any broker kill: {away:?}");
}
