//! The publish lane (publishes written on the caller's thread while the
//! driver waits) against a real mosquitto: it must keep the order of the
//! calls and never interleave bytes with the driver's own writes.

use std::time::Duration;

use midge_core::packet::{Packet, Publish, QoS, SubscribeFilter};
use midge_native::{MessageStream, NativeClient, NativeOptions};
use midge_system_tests::broker::{Broker, MosquittoConfig};
use midge_system_tests::proxy::Proxy;

mod common;
use common::{hand_broker_and_client, HandBroker};

fn broker() -> Broker {
    Broker::mosquitto(MosquittoConfig::default())
        .expect("mosquitto starts (scripts/setup.sh installs it)")
}

fn client(port: u16, id: &str) -> NativeClient {
    let mut options = NativeOptions::new(&format!("mqtt://127.0.0.1:{port}")).unwrap();
    options.client.client_id = id.into();
    options.message_buffer = 100_000;
    NativeClient::new(options).unwrap()
}

/// The next message, or `None` after `seconds` (or if the stream ended).
fn recv_within(stream: &mut MessageStream, seconds: u64) -> Option<Publish> {
    midge_native::runtime()
        .block_on(async { tokio::time::timeout(Duration::from_secs(seconds), stream.recv()).await })
        .ok()
        .flatten()
}

/// A payload that says who sent it and carries a pattern of its own length:
/// a message cut or mixed with another one does not decode.
fn payload(thread: u8, seq: u32, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(len.max(9));
    p.push(thread);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(len as u32).to_be_bytes());
    while p.len() < len {
        p.push((p.len() as u32 ^ seq) as u8);
    }
    p
}

fn check(p: &[u8]) -> (u8, u32) {
    let thread = p[0];
    let seq = u32::from_be_bytes(p[1..5].try_into().unwrap());
    let len = u32::from_be_bytes(p[5..9].try_into().unwrap()) as usize;
    assert_eq!(
        p,
        &payload(thread, seq, len)[..],
        "message {thread}/{seq} came back changed"
    );
    (thread, seq)
}

/// Four threads publish at once, with payloads from a few bytes to 256 KiB,
/// QoS 0 and QoS 1 mixed (each on the lane when the driver waits, through
/// the driver otherwise), through a proxy that reads slowly, so the lane's writes
/// and the driver's alternate on one socket: every message arrives whole,
/// each thread's in the order of its calls. (Partial writes on the lane:
/// `bytes_the_socket_did_not_take_go_out_first`.)
#[test]
fn concurrent_publishers_keep_their_order_and_their_bytes() {
    let b = broker();
    let rt = midge_native::runtime();
    let sub = client(b.port, "lane-sub");
    rt.block_on(sub.connect()).unwrap();
    let mut stream = sub.messages(Some("lane/#".into())).unwrap();
    rt.block_on(sub.subscribe(
        vec![SubscribeFilter::new("lane/#", QoS::AtLeastOnce)],
        Default::default(),
    ))
    .unwrap();
    let proxy = rt.block_on(Proxy::start(b.port)).unwrap();
    proxy.set_delay(Duration::from_millis(1));
    let publisher = client(proxy.port, "lane-pub");
    rt.block_on(publisher.connect()).unwrap();
    const THREADS: u8 = 4;
    const PER_THREAD: u32 = 100;
    let sizes = [10, 300, 70_000, 4_000, 262_144, 1];
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let publisher = publisher.clone();
            s.spawn(move || {
                let replies: Vec<_> = (0..PER_THREAD)
                    .map(|seq| {
                        let len = sizes[(seq as usize + thread as usize) % sizes.len()].max(9);
                        let qos = if seq % 2 == 0 {
                            QoS::AtLeastOnce
                        } else {
                            QoS::AtMostOnce
                        };
                        publisher.publish(Publish::new(
                            format!("lane/{thread}"),
                            payload(thread, seq, len),
                            qos,
                        ))
                    })
                    .collect();
                for reply in replies {
                    midge_native::runtime().block_on(reply).unwrap();
                }
            });
        }
    });
    let total = THREADS as usize * PER_THREAD as usize;
    let mut next = vec![0u32; THREADS as usize];
    for _ in 0..total {
        let message = recv_within(&mut stream, 20).expect("every message within 20 s");
        let (thread, seq) = check(&message.payload);
        assert_eq!(
            seq, next[thread as usize],
            "thread {thread}'s messages out of order"
        );
        next[thread as usize] += 1;
    }
    rt.block_on(publisher.disconnect(Default::default(), Default::default()))
        .unwrap();
    rt.block_on(sub.disconnect(Default::default(), Default::default()))
        .unwrap();
}

/// A publish right after a subscribe that was not awaited goes out after
/// the SUBSCRIBE (the lane never overtakes a queued command), so the
/// client receives its own message every time.
#[test]
fn a_publish_never_overtakes_a_queued_subscribe() {
    let b = broker();
    let rt = midge_native::runtime();
    let c = client(b.port, "lane-order");
    rt.block_on(c.connect()).unwrap();
    for round in 0..50 {
        let topic = format!("order/{round}");
        let mut stream = c.messages(Some(topic.clone())).unwrap();
        let subscribed = c.subscribe(
            vec![SubscribeFilter::new(topic.clone(), QoS::AtLeastOnce)],
            Default::default(),
        );
        let published = c.publish(Publish::new(topic, &b"mine"[..], QoS::AtMostOnce));
        rt.block_on(subscribed).unwrap();
        rt.block_on(published).unwrap();
        let got = recv_within(&mut stream, 5)
            .unwrap_or_else(|| panic!("round {round}: the publish went out before the SUBSCRIBE"));
        assert_eq!(&got.payload[..], b"mine");
    }
    rt.block_on(c.disconnect(Default::default(), Default::default()))
        .unwrap();
}

/// A broker that takes the CONNECT, answers it, then reads nothing until
/// told: the publishes fill the socket, so the lane writes only part of a
/// PUBLISH and leaves the rest to the driver, which must send it before any
/// other byte. Once the broker reads, every PUBLISH decodes whole, each
/// thread's in the order of its calls.
#[test]
fn bytes_the_socket_did_not_take_go_out_first() {
    const THREADS: u8 = 4;
    const PER_THREAD: u32 = 50;
    const SIZE: usize = 64 * 1024;
    let rt = midge_native::runtime();
    let (listener, c) = hand_broker_and_client(rt.handle().clone());
    let (go, wait_for_go) = std::sync::mpsc::channel::<()>();
    let broker = std::thread::spawn(move || {
        let mut broker = HandBroker::accept(listener);
        wait_for_go.recv().unwrap();
        let mut got = Vec::new();
        while got.len() < THREADS as usize * PER_THREAD as usize {
            match broker.next_packet() {
                Packet::Publish(p) => got.push(check(&p.payload)),
                other => panic!("expected a PUBLISH, got {}", other.name()),
            }
        }
        got
    });
    rt.block_on(c.connect()).unwrap();
    // Publishing does not wait for the socket (QoS 0 is done once the core
    // takes it), so every thread ends while the broker still reads nothing.
    let replies: Vec<_> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|thread| {
                let c = c.clone();
                s.spawn(move || {
                    (0..PER_THREAD)
                        .map(|seq| {
                            c.publish(Publish::new(
                                format!("stall/{thread}"),
                                payload(thread, seq, SIZE),
                                QoS::AtMostOnce,
                            ))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    go.send(()).unwrap();
    let got = broker.join().unwrap();
    let mut next = vec![0u32; THREADS as usize];
    for (thread, seq) in got {
        assert_eq!(
            seq, next[thread as usize],
            "thread {thread}'s messages out of order"
        );
        next[thread as usize] += 1;
    }
    for reply in replies {
        rt.block_on(reply).unwrap();
    }
}

/// A QoS 1 or 2 publish made while the driver waits goes out on the lane
/// and leaves its answer there: it completes when the broker's PUBACK (or
/// PUBCOMP, after the client's PUBREL) arrives, never before, and never
/// hangs. A hand-written broker holds each acknowledgement until the test
/// has seen the publish still pending.
#[test]
fn qos1_and_qos2_publishes_complete_on_the_acknowledgement() {
    use std::sync::mpsc::{channel, RecvTimeoutError};

    const ROUNDS: u32 = 40;
    let rt = midge_native::runtime();
    let (listener, c) = hand_broker_and_client(rt.handle().clone());
    let (seen, wait_for_seen) = channel::<(u16, QoS)>();
    let (go, wait_for_go) = channel::<()>();
    let broker = std::thread::spawn(move || {
        let mut broker = HandBroker::accept(listener);
        for _ in 0..ROUNDS {
            let Packet::Publish(p) = broker.next_packet() else {
                panic!("expected a PUBLISH");
            };
            let [hi, lo] = p.packet_id.to_be_bytes();
            seen.send((p.packet_id, p.qos)).unwrap();
            wait_for_go.recv().unwrap();
            // 5.0 acknowledgements with remaining length 2: success.
            if p.qos == QoS::AtLeastOnce {
                broker.write(&[0x40, 0x02, hi, lo]);
                continue;
            }
            broker.write(&[0x50, 0x02, hi, lo]);
            match broker.next_packet() {
                Packet::PubRel(r) => assert_eq!(r.packet_id, p.packet_id, "PUBREL's id"),
                other => panic!("expected a PUBREL, got {}", other.name()),
            }
            broker.write(&[0x70, 0x02, hi, lo]);
        }
        broker.wait_for_close();
    });
    rt.block_on(c.connect()).unwrap();
    for round in 0..ROUNDS {
        let qos = if round % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        let mut reply = c.publish(Publish::new("acked", payload(0, round, 64), qos));
        let (id, sent_qos) = match wait_for_seen.recv_timeout(Duration::from_secs(5)) {
            Ok(got) => got,
            Err(RecvTimeoutError::Timeout) => panic!("round {round}: no PUBLISH within 5 s"),
            Err(e) => panic!("round {round}: the broker thread ended: {e}"),
        };
        assert_eq!(sent_qos, qos, "round {round}: the PUBLISH's QoS");
        assert!(
            reply.try_take().is_none(),
            "round {round}: the publish (id {id}) completed before the broker acknowledged it"
        );
        go.send(()).unwrap();
        let done = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), reply).await });
        match done {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("round {round}: the publish failed: {e}"),
            Err(_) => panic!("round {round}: acknowledged, but not complete within 5 s"),
        }
    }
    rt.block_on(c.disconnect(Default::default(), Default::default()))
        .unwrap();
    broker.join().unwrap();
}

/// A QoS 1 publish waiting on the lane for its PUBACK when the runtime that
/// runs its driver shuts down ends with an error: it does not wait forever
/// in the lane the driver left.
#[test]
fn a_lane_publish_ends_when_its_driver_is_dropped() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (listener, c) = hand_broker_and_client(rt.handle().clone());
    let (seen, wait_for_seen) = std::sync::mpsc::channel::<()>();
    let broker = std::thread::spawn(move || {
        let mut broker = HandBroker::accept(listener);
        assert!(matches!(broker.next_packet(), Packet::Publish(_)));
        seen.send(()).unwrap();
        // No PUBACK: hold the connection until the client leaves.
        broker.wait_for_close();
    });
    rt.block_on(c.connect()).unwrap();
    let reply = c.publish(Publish::new("unacked", payload(0, 0, 64), QoS::AtLeastOnce));
    wait_for_seen
        .recv_timeout(Duration::from_secs(5))
        .expect("the PUBLISH reaches the broker");
    rt.shutdown_timeout(Duration::from_secs(5));
    let waiter = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let done = waiter.block_on(async { tokio::time::timeout(Duration::from_secs(5), reply).await });
    assert!(
        matches!(done, Ok(Err(_))),
        "the publish must fail once its driver is gone, got {done:?}"
    );
    drop(c);
    broker.join().unwrap();
}

/// Deferred QoS 0 publishes (`publish_deferred`, what Python's asyncio
/// client uses) leave the lane on `flush`, or, with no flush, before the
/// command made after them: a hand-written broker reads every burst whole
/// and in order, and in the rounds without a flush it reads the SUBSCRIBE
/// only after the burst. A client that never sent them would stall the
/// broker's read, which times out and fails the test.
#[test]
fn deferred_publishes_go_out_on_flush_or_before_the_next_command() {
    const ROUNDS: u8 = 20;
    const BURST: u32 = 50;
    let rt = midge_native::runtime();
    let (listener, c) = hand_broker_and_client(rt.handle().clone());
    let (burst_read, wait_for_burst) = std::sync::mpsc::channel::<u8>();
    let broker = std::thread::spawn(move || {
        let mut broker = HandBroker::accept(listener);
        for round in 0..ROUNDS {
            for seq in 0..BURST {
                match broker.next_packet() {
                    Packet::Publish(p) => {
                        assert_eq!(check(&p.payload), (round, seq), "round {round}: order")
                    }
                    other => panic!("round {round}: expected a PUBLISH, got {}", other.name()),
                }
            }
            burst_read.send(round).unwrap();
            if round % 2 == 1 {
                match broker.next_packet() {
                    Packet::Subscribe(s) => {
                        let [hi, lo] = s.packet_id.to_be_bytes();
                        // 5.0 SUBACK: no properties, QoS 0 granted.
                        broker.write(&[0x90, 0x04, hi, lo, 0x00, 0x00]);
                    }
                    other => panic!(
                        "round {round}: expected the SUBSCRIBE, got {}",
                        other.name()
                    ),
                }
            }
        }
        broker.wait_for_close();
    });
    rt.block_on(c.connect()).unwrap();
    let mut deferred_rounds = 0;
    for round in 0..ROUNDS {
        let mut flush_due = false;
        for seq in 0..BURST {
            let (done, first) = c.publish_deferred(Publish::new(
                "burst",
                payload(round, seq, 64),
                QoS::AtMostOnce,
            ));
            flush_due |= first;
            // QoS 0: done once the core took it.
            rt.block_on(done).unwrap();
        }
        deferred_rounds += usize::from(flush_due);
        if round % 2 == 0 {
            if flush_due {
                c.flush();
            }
        } else {
            rt.block_on(c.subscribe(
                vec![SubscribeFilter::new("other", QoS::AtMostOnce)],
                Default::default(),
            ))
            .unwrap();
        }
        // After a flush nothing else is sent: the burst must get there on
        // its own.
        assert_eq!(
            wait_for_burst.recv_timeout(Duration::from_secs(5)),
            Ok(round),
            "round {round}: the burst did not reach the broker"
        );
    }
    rt.block_on(c.disconnect(Default::default(), Default::default()))
        .unwrap();
    broker.join().expect("the broker read every burst in order");
    assert!(
        deferred_rounds > 0,
        "no burst was deferred: the test did not exercise the deferral"
    );
}
