//! A QoS 1 + QoS 2 message stream between two clients with persistent
//! sessions, tallied so that losses and duplicates can be counted after
//! faults.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use midge_core::backoff::BackoffPolicy;
use midge_core::packet::{ProtocolVersion, Publish, QoS, SubscribeFilter};
use midge_native::{NativeClient, NativeError, NativeOptions};
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

/// Publishes awaiting their acknowledgement at once.
const WINDOW: usize = 64;

/// A client with a persistent 5.0 session (fixed id, Clean Start 0, session
/// expiry one hour), a 1 s keep-alive and quick reconnects, announcing the
/// largest Receive Maximum (65,535).
pub fn persistent_client(url: &str, id: &str) -> Result<NativeClient, NativeError> {
    // With the default Receive Maximum (100) mosquitto 2.0.11 overruns its
    // send quota on some resumes and the subscriber answers DISCONNECT 0x93;
    // `receive_maximum_overruns_are_the_brokers` (tests/tests/faults.rs)
    // shows it. The largest maximum keeps the fault figures about the faults.
    persistent_client_with(url, id, ProtocolVersion::V5, u16::MAX, false)
}

/// [`persistent_client`] with the given protocol version and Receive
/// Maximum (5.0 only; a 3.1.1 session is kept until a clean connect);
/// `strict`: disconnect with 0x93 when the broker overruns it.
pub fn persistent_client_with(
    url: &str,
    id: &str,
    protocol: ProtocolVersion,
    receive_maximum: u16,
    strict: bool,
) -> Result<NativeClient, NativeError> {
    let mut o = NativeOptions::new(url)?;
    o.client.client_id = id.into();
    o.client.protocol = protocol;
    o.client.clean_start = false;
    o.client.receive_maximum = receive_maximum;
    o.client.strict_receive_maximum = strict;
    o.client.connect_properties.session_expiry_interval = Some(3600);
    // A black hole must be noticed in seconds: PINGREQ after 1 s of silence,
    // dead after 1 s more without PINGRESP.
    o.client.keep_alive_secs = 1;
    o.client.ping_timeout_ms = 1_000;
    o.client.connect_timeout_ms = 2_000;
    o.client.reconnect = Some(BackoffPolicy {
        min_delay_ms: 10,
        max_delay_ms: 250,
        factor: 2.0,
        stable_after_ms: 1_000,
    });
    NativeClient::new(o)
}

/// Times each (qos, seq) arrived at the subscriber.
pub type Tally = HashMap<(u8, u64), u32>;

/// Highest sequence number, acknowledged (qos, seq), failed (qos, seq, error).
type Sent = (u64, Vec<(u8, u64)>, Vec<(u8, u64, String)>);

/// What a finished stream counted.
#[derive(Debug, Clone, Default)]
pub struct StreamReport {
    pub published: u64,
    pub acknowledged: usize,
    pub failed: Vec<(u8, u64, String)>,
    /// Arrivals, duplicates included.
    pub received: u32,
    pub distinct: usize,
    /// Acknowledged by the broker, never delivered.
    pub lost: Vec<(u8, u64)>,
    pub qos1_duplicates: u32,
    pub qos2_duplicates: u32,
    /// Sequence numbers of the QoS 2 messages that arrived more than once.
    pub qos2_duplicated: Vec<u64>,
}

/// The running stream: a publisher alternating QoS 1 (`<prefix>/q1`) and
/// QoS 2 (`<prefix>/q2`) messages whose payload is a sequence number, and a
/// subscriber tallying them.
pub struct Stream {
    pub publisher: NativeClient,
    pub subscriber: NativeClient,
    tally: Arc<Mutex<Tally>>,
    progress: watch::Receiver<u64>,
    /// Highest sequence number handed to the publisher so far.
    pub last_seq: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    sender: JoinHandle<Sent>,
    receiver: JoinHandle<()>,
}

impl Stream {
    /// Connect both clients through `url`, subscribe, and start publishing.
    pub async fn start(url: &str, prefix: &str) -> Result<Stream, NativeError> {
        Stream::start_with(url, prefix, ProtocolVersion::V5, u16::MAX, false).await
    }

    /// [`Stream::start`] with clients speaking `protocol` and announcing
    /// `receive_maximum` (5.0), disconnecting with 0x93 on an overrun when
    /// `strict`.
    pub async fn start_with(
        url: &str,
        prefix: &str,
        protocol: ProtocolVersion,
        receive_maximum: u16,
        strict: bool,
    ) -> Result<Stream, NativeError> {
        let id = std::process::id();
        let client = |role: &str| {
            persistent_client_with(
                url,
                &format!("{prefix}-{role}-{id}"),
                protocol,
                receive_maximum,
                strict,
            )
        };
        let subscriber = client("sub")?;
        let publisher = client("pub")?;
        let mut messages = subscriber.messages(None)?;
        subscriber.connect().await?;
        let (q1, q2) = (format!("{prefix}/q1"), format!("{prefix}/q2"));
        subscriber
            .subscribe(
                vec![
                    SubscribeFilter::new(q1.clone(), QoS::AtLeastOnce),
                    SubscribeFilter::new(q2.clone(), QoS::ExactlyOnce),
                ],
                Default::default(),
            )
            .await?;
        publisher.connect().await?;

        let tally = Arc::new(Mutex::new(Tally::new()));
        let (progress_tx, progress) = watch::channel(0u64);
        let receiver = {
            let tally = tally.clone();
            let q1 = q1.clone();
            tokio::spawn(async move {
                while let Some(m) = messages.recv().await {
                    let qos = if m.topic == q1 { 1 } else { 2 };
                    let seq: u64 = std::str::from_utf8(&m.payload)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(u64::MAX);
                    *tally.lock().expect("tally").entry((qos, seq)).or_default() += 1;
                    progress_tx.send_modify(|n| *n += 1);
                }
            })
        };

        let stop = Arc::new(AtomicBool::new(false));
        let last_seq = Arc::new(AtomicU64::new(0));
        let sender = {
            let (stop, last_seq, publisher) = (stop.clone(), last_seq.clone(), publisher.clone());
            tokio::spawn(async move {
                let window = Arc::new(Semaphore::new(WINDOW));
                let mut pending = JoinSet::new();
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(permit) = window.clone().acquire_owned().await else {
                        break;
                    };
                    seq += 1;
                    let (topic, qos, q) = if seq % 2 == 1 {
                        (&q1, QoS::AtLeastOnce, 1u8)
                    } else {
                        (&q2, QoS::ExactlyOnce, 2u8)
                    };
                    let handle = publisher.publish(Publish::new(
                        topic.clone(),
                        seq.to_string().into_bytes(),
                        qos,
                    ));
                    last_seq.store(seq, Ordering::Relaxed);
                    pending.spawn(async move {
                        let result = handle.await;
                        drop(permit);
                        (q, seq, result)
                    });
                }
                let mut acked = Vec::new();
                let mut failed = Vec::new();
                while let Some(Ok((q, seq, result))) = pending.join_next().await {
                    match result {
                        Ok(_) => acked.push((q, seq)),
                        Err(e) => failed.push((q, seq, e.to_string())),
                    }
                }
                (seq, acked, failed)
            })
        };
        Ok(Stream {
            publisher,
            subscriber,
            tally,
            progress,
            last_seq,
            stop,
            sender,
            receiver,
        })
    }

    /// Messages received so far (duplicates included).
    pub fn received(&self) -> u64 {
        *self.progress.borrow()
    }

    /// Wait until `more` further messages have arrived; false on timeout.
    pub async fn advance(&mut self, more: u64, limit: Duration) -> bool {
        let target = self.received() + more;
        matches!(
            tokio::time::timeout(limit, self.progress.wait_for(|n| *n >= target)).await,
            Ok(Ok(_))
        )
    }

    /// Stop publishing, wait for every acknowledgement, then wait until every
    /// acknowledged message has arrived, or until nothing has arrived for
    /// `idle` (what a broker lost never comes), and count.
    pub async fn finish(mut self, idle: Duration) -> StreamReport {
        self.stop.store(true, Ordering::Relaxed);
        let (published, acked, failed) = (&mut self.sender).await.unwrap_or_default();
        let acked_set: HashSet<(u8, u64)> = acked.iter().copied().collect();
        loop {
            let complete = {
                let t = self.tally.lock().expect("tally");
                acked_set.iter().all(|k| t.contains_key(k))
            };
            if complete {
                break;
            }
            match tokio::time::timeout(idle, self.progress.changed()).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        self.receiver.abort();
        let t = self.tally.lock().expect("tally");
        let mut lost: Vec<_> = acked_set
            .iter()
            .filter(|k| !t.contains_key(k))
            .copied()
            .collect();
        lost.sort_unstable();
        let dup = |q: u8| -> u32 {
            t.iter()
                .filter(|((qos, _), _)| *qos == q)
                .map(|(_, n)| n - 1)
                .sum()
        };
        StreamReport {
            published,
            acknowledged: acked.len(),
            failed,
            received: t.values().sum(),
            distinct: t.len(),
            lost,
            qos1_duplicates: dup(1),
            qos2_duplicates: dup(2),
            qos2_duplicated: {
                let mut seqs: Vec<u64> = t
                    .iter()
                    .filter(|((qos, _), n)| *qos == 2 && **n > 1)
                    .map(|((_, seq), _)| *seq)
                    .collect();
                seqs.sort_unstable();
                seqs
            },
        }
    }
}

impl std::fmt::Display for StreamReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "published {}, acknowledged {}, failed {}, received {} ({} distinct), lost {}, \
             QoS 2 duplicates {}, QoS 1 duplicates {}",
            self.published,
            self.acknowledged,
            self.failed.len(),
            self.received,
            self.distinct,
            self.lost.len(),
            self.qos2_duplicates,
            self.qos1_duplicates
        )?;
        if !self.qos2_duplicated.is_empty() {
            let first: Vec<_> = self.qos2_duplicated.iter().take(20).collect();
            write!(f, " (QoS 2 sequence numbers delivered twice: {first:?})")?;
        }
        Ok(())
    }
}
