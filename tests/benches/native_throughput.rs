//! Throughput of midge-native (Rust, no Python in the way) against rumqttc
//! 0.24 in the same run: one publisher and one subscriber client in this
//! process, a local mosquitto this program starts, 64-byte payloads, MQTT
//! 3.1.1, at most WINDOW unacknowledged publishes, COUNT messages per QoS.
//! The layout of `bindings-python/bench/bench.py`, so that the two read
//! side by side: this is what the Python binding's figures would be without
//! Python, and how close any client gets to what the broker can forward.
//!
//! Both clients run their I/O on a tokio runtime with one worker thread (the
//! runtime `midge_native::runtime()` gives the bindings) and are driven from
//! the main thread. Each library runs ROUNDS times, alternating; the median
//! is kept. For every run it also reads mosquitto's scheduler statistics
//! (/proc/PID/schedstat): the CPU time it ran per message, and the share of
//! the run it was running or ready to run ("broker busy"). mosquitto is
//! single-threaded: near 100% busy, it always had work queued and set the
//! pace; the clients, whose threads share the machine's cores with it, then
//! only decide how long it waits for a core.
//!
//! ```text
//! cargo bench -p midge-system-tests --bench native_throughput [-- COUNT WINDOW ROUNDS]
//! ```

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use midge_core::packet::{ProtocolVersion, Publish, QoS, SubscribeFilter};
use midge_native::{NativeClient, NativeOptions};
use midge_system_tests::broker::{Broker, MosquittoConfig};
use tokio::sync::Notify;

struct Layout {
    port: u16,
    count: usize,
    window: usize,
    qos: u8,
    run: usize,
}

impl Layout {
    fn topic(&self, lib: &str) -> String {
        format!(
            "bench/{lib}/{}/{}/{}",
            self.qos,
            self.run,
            std::process::id()
        )
    }
}

fn midge_qos(qos: u8) -> QoS {
    match qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn run_midge(l: &Layout) -> f64 {
    let url = format!("mqtt://127.0.0.1:{}", l.port);
    let topic = l.topic("midge");
    let options = |id: &str| {
        let mut o = NativeOptions::new(&url).expect("url");
        o.client.client_id = format!("{id}-{}-{}", l.qos, l.run);
        o.client.protocol = ProtocolVersion::V311;
        o
    };
    let mut sub_options = options("midge-sub");
    sub_options.client.receive_maximum = 65535;
    let mut pub_options = options("midge-pub");
    pub_options.client.max_inflight = l.window as u16;
    let sub = NativeClient::new(sub_options).expect("client");
    let publisher = NativeClient::new(pub_options).expect("client");
    let (count, window, qos) = (l.count, l.window, midge_qos(l.qos));
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
                assert!(got > 0, "midge subscriber: stream ended at {n}/{count}");
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
        tokio::time::timeout(Duration::from_secs(120), consumer)
            .await
            .expect("midge subscriber got everything in time")
            .expect("consumer");
        let rate = count as f64 / start.elapsed().as_secs_f64();
        publisher
            .disconnect(Default::default(), Default::default())
            .await
            .expect("disconnect");
        sub.disconnect(Default::default(), Default::default())
            .await
            .expect("disconnect");
        rate
    })
}

fn run_rumqttc(l: &Layout) -> f64 {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let topic = l.topic("rumqttc");
    let (count, window) = (l.count, l.window);
    let qos = match l.qos {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    };
    let options = |id: &str| {
        let mut o = MqttOptions::new(format!("{id}-{}-{}", l.qos, l.run), "127.0.0.1", l.port);
        o.set_keep_alive(Duration::from_secs(60));
        o.set_inflight(window as u16);
        o
    };
    runtime.block_on(async {
        let (sub, mut sub_loop) = AsyncClient::new(options("rumqttc-sub"), 1024);
        let (publisher, mut pub_loop) = AsyncClient::new(options("rumqttc-pub"), window);
        // The subscriber: count PUBLISHes until all are in (acks are sent by
        // the event loop as it is polled).
        let subscribed = Arc::new(Notify::new());
        let subscribed_tx = subscribed.clone();
        let consumer = tokio::spawn(async move {
            let mut n = 0;
            while n < count {
                match sub_loop.poll().await.expect("rumqttc subscriber") {
                    Event::Incoming(Packet::Publish(_)) => n += 1,
                    Event::Incoming(Packet::SubAck(_)) => subscribed_tx.notify_one(),
                    _ => {}
                }
            }
            // Let the last acknowledgements out.
            let _ = tokio::time::timeout(Duration::from_millis(50), async {
                loop {
                    let _ = sub_loop.poll().await;
                }
            })
            .await;
        });
        sub.subscribe(topic.clone(), qos).await.expect("subscribe");
        subscribed.notified().await;
        // The publisher's event loop counts completions (PUBACK / PUBCOMP).
        let acked = Arc::new(AtomicUsize::new(0));
        let progress = Arc::new(Notify::new());
        let (acked_tx, progress_tx) = (acked.clone(), progress.clone());
        let driver = tokio::spawn(async move {
            loop {
                match pub_loop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_))) => {
                        acked_tx.fetch_add(1, Ordering::Release);
                        progress_tx.notify_one();
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        let payload = Bytes::from(vec![b'x'; 64]);
        let start = Instant::now();
        for sent in 0..count {
            while l.qos > 0 && sent - acked.load(Ordering::Acquire) >= window {
                progress.notified().await;
            }
            publisher
                .publish_bytes(topic.clone(), qos, false, payload.clone())
                .await
                .expect("publish");
        }
        while l.qos > 0 && acked.load(Ordering::Acquire) < count {
            progress.notified().await;
        }
        tokio::time::timeout(Duration::from_secs(120), consumer)
            .await
            .expect("rumqttc subscriber got everything in time")
            .expect("consumer");
        let rate = count as f64 / start.elapsed().as_secs_f64();
        let _ = publisher.disconnect().await;
        let _ = sub.disconnect().await;
        driver.abort();
        rate
    })
}

/// mosquitto's (seconds run on a CPU, seconds ready but waiting for one) so
/// far, exact to the nanosecond (/proc/PID/schedstat; the utime and stime of
/// /proc/PID/stat are sampled at 100 Hz).
fn sched_seconds(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).expect("/proc schedstat");
    let mut fields = stat
        .split_whitespace()
        .map(|f| f.parse::<f64>().expect("schedstat field") / 1e9);
    (
        fields.next().expect("run time"),
        fields.next().expect("wait time"),
    )
}

#[derive(Default)]
struct Runs {
    rates: Vec<f64>,
    broker_us: Vec<f64>,
    /// Share of each run mosquitto spent running or ready to run.
    busy: Vec<f64>,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
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
        count > 0 && window > 0 && window <= 65_535 && rounds > 0,
        "COUNT, ROUNDS >= 1; WINDOW 1..=65535"
    );
    let broker = Broker::mosquitto(MosquittoConfig {
        persistence: false,
        extra: format!(
            "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages {window}\nset_tcp_nodelay true"
        ),
    })
    .expect("mosquitto");
    let pid = broker.pid().expect("mosquitto runs");
    println!(
        "midge-native vs rumqttc 0.24, mosquitto {}, {count} messages of 64 bytes per QoS, window {window}, {rounds} rounds (median kept)",
        broker.version()
    );
    println!("| QoS | midge msg/s | rumqttc msg/s | ratio | broker us/msg (midge / rumqttc) | broker busy (midge / rumqttc) |");
    println!("|---|---|---|---|---|---|");
    for qos in 0..=2u8 {
        let (mut ours, mut peer) = (Runs::default(), Runs::default());
        for run in 0..rounds {
            let layout = Layout {
                port: broker.port,
                count,
                window,
                qos,
                run,
            };
            for (runs, f) in [
                (&mut peer, run_rumqttc as fn(&Layout) -> f64),
                (&mut ours, run_midge),
            ] {
                let (ran0, waited0) = sched_seconds(pid);
                let rate = f(&layout);
                let (ran1, waited1) = sched_seconds(pid);
                runs.rates.push(rate);
                runs.broker_us.push((ran1 - ran0) / count as f64 * 1e6);
                // rate = count / elapsed, so (ran + waited) / elapsed:
                runs.busy
                    .push((ran1 - ran0 + waited1 - waited0) * rate / count as f64);
            }
        }
        let (m, r) = (median(&ours.rates), median(&peer.rates));
        let (mb, rb) = (median(&ours.broker_us), median(&peer.broker_us));
        let (mbusy, rbusy) = (median(&ours.busy), median(&peer.busy));
        println!(
            "| {qos} | {m:.0} | {r:.0} | {:.2}x | {mb:.1} / {rb:.1} | {:.0}% / {:.0}% |",
            m / r,
            100.0 * mbusy,
            100.0 * rbusy
        );
    }
}
