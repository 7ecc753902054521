//! Idle connections (issue 16): memory per connection and the time to
//! connect them, midge-native against rumqttc 0.24 in the same run, each
//! library in a child process of its own (so that one's memory does not
//! count for the other), N clients against a local mosquitto this program
//! starts, all on one tokio runtime thread.
//!
//! RSS per connection = (RSS with N connected and idle for a second − RSS
//! before the first client) / N, from /proc/self/status.
//!
//! ```text
//! cargo bench -p midge-system-tests --bench native_idle [-- N]
//! ```

use std::process::Command;
use std::time::{Duration, Instant};

use midge_native::{NativeClient, NativeOptions};
use midge_system_tests::broker::{Broker, MosquittoConfig};

fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// In the child: connect `n` clients of `lib`, print `rss_per_conn_kib connect_s`.
fn child(lib: &str, n: usize, port: u16) {
    let runtime = midge_native::runtime();
    let before = rss_kib();
    let start = Instant::now();
    let mut keep: Vec<Box<dyn std::any::Any>> = Vec::with_capacity(n);
    match lib {
        "midge" => {
            let clients: Vec<NativeClient> = (0..n)
                .map(|i| {
                    let mut o =
                        NativeOptions::new(&format!("mqtt://127.0.0.1:{port}")).expect("url");
                    o.client.client_id = format!("idle-midge-{i}");
                    o.client.reconnect = None;
                    NativeClient::new(o).expect("client")
                })
                .collect();
            runtime.block_on(async {
                // mosquitto listens with a backlog of 100: more connections
                // at once overflow it and wait a second for the SYN resend.
                for chunk in clients.chunks(100) {
                    let connects: Vec<_> = chunk.iter().map(|c| c.connect()).collect();
                    for c in connects {
                        c.await.expect("connect");
                    }
                }
            });
            keep.extend(
                clients
                    .into_iter()
                    .map(|c| Box::new(c) as Box<dyn std::any::Any>),
            );
        }
        _ => {
            use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
            runtime.block_on(async {
                let mut waits = Vec::with_capacity(n);
                for i in 0..n {
                    let mut o = MqttOptions::new(format!("idle-rumqttc-{i}"), "127.0.0.1", port);
                    o.set_keep_alive(Duration::from_secs(60));
                    let (client, mut eventloop) = AsyncClient::new(o, 10);
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    tokio::spawn(async move {
                        let mut tx = Some(tx);
                        loop {
                            match eventloop.poll().await {
                                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                                    if let Some(tx) = tx.take() {
                                        let _ = tx.send(());
                                    }
                                }
                                Ok(_) => {}
                                Err(_) => return,
                            }
                        }
                    });
                    keep.push(Box::new(client));
                    waits.push(rx);
                }
                for w in waits {
                    w.await.expect("connack");
                }
            });
        }
    }
    let connect_s = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));
    let per_conn = (rss_kib() - before) / n as f64;
    println!("{per_conn:.2} {connect_s:.3}");
    drop(keep);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if let [lib, n, port] = args.as_slice() {
        child(lib, n.parse().expect("N"), port.parse().expect("port"));
        return;
    }
    let n: usize = args
        .first()
        .map_or(2_000, |a| a.parse().expect("N is a whole number"));
    // Each connection is a socket in the client and one in mosquitto.
    let limit = libc::rlimit {
        rlim_cur: 65_536,
        rlim_max: 65_536,
    };
    // SAFETY: setrlimit with a valid struct; failure leaves the old limit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    let broker = Broker::mosquitto(MosquittoConfig {
        persistence: false,
        extra: "max_connections -1".into(),
    })
    .expect("mosquitto");
    println!(
        "idle connections: {n} per library, one tokio runtime thread, mosquitto {}",
        broker.version()
    );
    println!("| library | RSS KiB per connection | connect all (s) |");
    println!("|---|---|---|");
    let mut rows = Vec::new();
    for lib in ["midge", "rumqttc"] {
        let out = Command::new(std::env::current_exe().expect("exe"))
            .args([lib, &n.to_string(), &broker.port.to_string()])
            .output()
            .expect("child runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<f64> = text
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        assert_eq!(
            fields.len(),
            2,
            "{lib} child: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!("| {lib} | {:.1} | {:.2} |", fields[0], fields[1]);
        rows.push(fields[0]);
    }
    println!(
        "midge / rumqttc RSS per connection: {:.2}x",
        rows[0] / rows[1]
    );
}
