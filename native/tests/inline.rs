//! Inline reads (`MessageStream::read_inline`): the thread that waits for a
//! stream reads the socket itself. Against a hand-written broker, so each
//! test decides what arrives when.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use midge_core::packet::{Packet, Publish, QoS, SubscribeFilter};
use midge_native::{ConnectionStatus, InlineRead, MessageStream, NativeClient};

mod common;
use common::{hand_broker_and_client, hand_broker_and_client_with, publish_bytes, HandBroker};

/// Up to `count` messages through `recv_many_messages_blocking`, giving up
/// `within` after the start; their payloads.
fn receive(stream: &mut MessageStream, count: usize, within: Duration) -> Vec<Vec<u8>> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut batch = Vec::new();
    while got.len() < count {
        let left = within.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        match stream.recv_many_messages_blocking(&mut batch, 64, left) {
            Some(0) => break,
            Some(_) => got.extend(batch.drain(..).map(|m| m.publish.payload.to_vec())),
            None => break,
        }
    }
    got
}

fn numbered(n: u32) -> Vec<u8> {
    format!("message {n}").into_bytes()
}

/// A stream's waiting thread asks for the socket, and the driver hands it
/// over the next time it parks.
fn hand_over(runtime: &tokio::runtime::Runtime, client: &NativeClient, stream: &mut MessageStream) {
    let mut none = Vec::new();
    assert_eq!(
        stream.recv_many_messages_blocking(&mut none, 1, Duration::ZERO),
        None,
        "nothing was sent yet"
    );
    // The request is queued before this command: the driver takes both in
    // one wake-up and parks with the socket handed over.
    runtime.block_on(client.sync()).unwrap();
}

/// Once the driver has handed the socket over, the waiting thread alone
/// receives (the runtime does not run at all here): every message, in
/// order, each QoS 1 one acknowledged by that thread.
#[test]
fn the_waiting_thread_reads_and_acknowledges_without_the_runtime() {
    const COUNT: u16 = 200;
    // A runtime that runs only inside `block_on` on this thread.
    let runtime = current_thread_runtime();
    let (listener, client) = hand_broker_and_client(runtime.handle().clone());
    let (go, wait_for_go) = mpsc::channel::<()>();
    let (acked, wait_for_acks) = mpsc::channel::<Vec<u16>>();
    let broker = std::thread::spawn(move || {
        let mut broker = HandBroker::accept(listener);
        wait_for_go.recv().unwrap();
        for id in 1..=COUNT {
            broker.write(&publish_bytes("t", &numbered(id.into()), Some(id)));
        }
        let mut ids = Vec::new();
        while ids.len() < usize::from(COUNT) {
            match broker.next_packet() {
                Packet::PubAck(ack) => ids.push(ack.packet_id),
                other => panic!("expected a PUBACK, got {}", other.name()),
            }
        }
        acked.send(ids).unwrap();
        broker.wait_for_close();
    });
    runtime.block_on(client.connect()).unwrap();
    let mut stream = client.messages(None).unwrap();
    hand_over(&runtime, &client, &mut stream);
    go.send(()).unwrap();
    let got = receive(&mut stream, COUNT.into(), Duration::from_secs(10));
    let expected: Vec<Vec<u8>> = (1..=COUNT.into()).map(numbered).collect();
    assert_eq!(
        got, expected,
        "every message, in order, with the runtime stopped"
    );
    assert_eq!(
        wait_for_acks.recv_timeout(Duration::from_secs(10)).unwrap(),
        (1..=COUNT).collect::<Vec<_>>(),
        "each acknowledged, in order"
    );
    disconnect(&runtime, &client);
    broker.join().unwrap();
}

/// While the socket is handed over, whatever waits for the broker's answer
/// (a QoS 1 publish, a subscribe) makes the driver read again; between them
/// the reader goes on, and no message is lost or reordered either way.
#[test]
fn answers_the_client_waits_for_are_read_while_a_reader_waits() {
    const ROUNDS: u32 = 10;
    const BURST: u32 = 20;
    let runtime = midge_native::runtime();
    let (listener, client) = hand_broker_and_client(runtime.handle().clone());
    let (send_burst, wait_for_burst) = mpsc::channel::<u32>();
    let broker = std::thread::spawn(move || {
        let mut broker = HandBroker::accept(listener);
        // Each round: the burst when the test asks, then the answers to the
        // publish and the subscribe the test makes after reading it.
        for round in 0..ROUNDS {
            wait_for_burst.recv().unwrap();
            let mut burst = Vec::new();
            for seq in 0..BURST {
                burst.extend(publish_bytes("t", &numbered(round * BURST + seq), None));
            }
            broker.write(&burst);
            match broker.next_packet() {
                Packet::Publish(p) => {
                    let [hi, lo] = p.packet_id.to_be_bytes();
                    broker.write(&[0x40, 0x02, hi, lo]);
                }
                other => panic!("round {round}: expected the PUBLISH, got {}", other.name()),
            }
            match broker.next_packet() {
                Packet::Subscribe(s) => {
                    let [hi, lo] = s.packet_id.to_be_bytes();
                    broker.write(&[0x90, 0x04, hi, lo, 0x00, 0x01]);
                }
                other => panic!(
                    "round {round}: expected the SUBSCRIBE, got {}",
                    other.name()
                ),
            }
        }
        assert!(matches!(broker.next_packet(), Packet::Disconnect(_)));
    });
    runtime.block_on(client.connect()).unwrap();
    let mut stream = client.messages(None).unwrap();
    hand_over(runtime, &client, &mut stream);
    for round in 0..ROUNDS {
        send_burst.send(round).unwrap();
        let got = receive(&mut stream, BURST as usize, Duration::from_secs(10));
        let expected: Vec<Vec<u8>> = (round * BURST..(round + 1) * BURST).map(numbered).collect();
        assert_eq!(got, expected, "round {round}");
        // Both need the broker's answer while this stream's thread is
        // not reading.
        runtime
            .block_on(client.publish(Publish::new("out", b"x".to_vec(), QoS::AtLeastOnce)))
            .unwrap();
        runtime
            .block_on(client.subscribe(
                vec![SubscribeFilter::new(format!("f{round}"), QoS::AtLeastOnce)],
                Default::default(),
            ))
            .unwrap();
    }
    disconnect(runtime, &client);
    broker.join().unwrap();
}

/// A reader that stops reading (its consumer is busy) leaves its messages
/// in the socket, but the keep-alive goes on: the driver reads when its
/// timer wakes it, so the connection stays up and nothing is lost.
#[test]
fn a_reader_that_stops_reading_does_not_stop_the_keep_alive() {
    let runtime = midge_native::runtime();
    let (listener, client) = hand_broker_and_client_with(runtime.handle().clone(), |options| {
        options.client.keep_alive_secs = 1;
    });
    let (pings, count_pings) = mpsc::channel::<()>();
    let (go, wait_for_go) = mpsc::channel::<()>();
    let broker = std::thread::spawn(move || {
        let mut broker = HandBroker::accept(listener);
        // Only once the socket is handed over.
        wait_for_go.recv().unwrap();
        broker.write(&publish_bytes("t", &numbered(1), None));
        loop {
            match broker.next_packet() {
                Packet::PingReq => {
                    // The second message waits unread behind the answer.
                    broker.write(&[0xd0, 0x00]);
                    broker.write(&publish_bytes("t", &numbered(2), None));
                    let _ = pings.send(());
                }
                Packet::Disconnect(_) => return,
                other => panic!("unexpected {}", other.name()),
            }
        }
    });
    runtime.block_on(client.connect()).unwrap();
    let mut stream = client.messages(None).unwrap();
    hand_over(runtime, &client, &mut stream);
    go.send(()).unwrap();
    assert_eq!(
        receive(&mut stream, 1, Duration::from_secs(5)),
        vec![numbered(1)]
    );
    // Now nobody reads the stream for three keep-alive periods: each PINGRESP
    // must still be read, or the client would give the connection up after
    // one and a half.
    for n in 0..3 {
        count_pings
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("ping {n} did not come"));
    }
    assert_eq!(*client.status().borrow(), ConnectionStatus::Connected);
    let got = receive(&mut stream, 3, Duration::from_secs(5));
    assert_eq!(got, vec![numbered(2), numbered(2), numbered(2)]);
    disconnect(runtime, &client);
    broker.join().unwrap();
}

/// The broker closes the connection while the reader waits on the socket:
/// the reader finds the end and the client learns of it at once (without
/// a reconnect policy: disconnected).
#[test]
fn a_connection_closed_under_the_reader_is_lost_at_once() {
    let runtime = midge_native::runtime();
    let (listener, client) = hand_broker_and_client_with(runtime.handle().clone(), |options| {
        options.client.reconnect = None;
    });
    let (close, wait_for_close) = mpsc::channel::<()>();
    let broker = std::thread::spawn(move || {
        let broker = HandBroker::accept(listener);
        wait_for_close.recv().unwrap();
        drop(broker);
    });
    runtime.block_on(client.connect()).unwrap();
    let mut stream = client.messages(None).unwrap();
    hand_over(runtime, &client, &mut stream);
    let mut status = client.status();
    let watcher = std::thread::spawn(move || {
        let lost = runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(5),
                status.wait_for(|s| *s == ConnectionStatus::Disconnected),
            )
            .await
            .is_ok()
        });
        // Dropping the client ends the stream, and the reader's wait.
        drop(client);
        lost
    });
    close.send(()).unwrap();
    // The reader is waiting on the socket when it closes.
    assert!(receive(&mut stream, 1, Duration::from_secs(10)).is_empty());
    assert!(
        watcher.join().unwrap(),
        "the client did not see the connection end"
    );
    broker.join().unwrap();
}

/// A blocking reader that is away (its consumer busy) while the broker
/// closes the connection: the client looks in on it (about once a second)
/// and reads the end itself, rather than at the next keep-alive a minute on.
#[test]
fn a_blocking_reader_that_is_away_does_not_hide_the_end_of_the_connection() {
    let runtime = midge_native::runtime();
    let (listener, client) = hand_broker_and_client_with(runtime.handle().clone(), |options| {
        options.client.reconnect = None;
        options.client.keep_alive_secs = 60;
    });
    let (close, wait_for_close) = mpsc::channel::<()>();
    let broker = std::thread::spawn(move || {
        let broker = HandBroker::accept(listener);
        wait_for_close.recv().unwrap();
        drop(broker);
    });
    runtime.block_on(client.connect()).unwrap();
    let mut stream = client.messages(None).unwrap();
    hand_over(runtime, &client, &mut stream);
    // The reader waits on the socket once (nothing comes), then goes away.
    assert!(receive(&mut stream, 1, Duration::from_millis(100)).is_empty());
    close.send(()).unwrap();
    let mut status = client.status();
    let seen = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            status.wait_for(|s| *s == ConnectionStatus::Disconnected),
        )
        .await
        .is_ok()
    });
    assert!(
        seen,
        "the end of the connection was not seen while the reader was away"
    );
    broker.join().unwrap();
}

/// A waker that counts its wakes.
struct CountWakes(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Wait until `socket` is readable, at most `ms` milliseconds.
fn wait_readable(socket: std::os::fd::RawFd, ms: i32) {
    let mut fd = libc::pollfd {
        fd: socket,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the call's length.
    unsafe { libc::poll(&mut fd, 1, ms) };
}

/// A broker that takes `count` QoS 1 PUBLISHes, acknowledging each at once,
/// then holds the connection until the client leaves; their packet ids.
fn acknowledging_broker(
    listener: std::net::TcpListener,
    count: usize,
) -> std::thread::JoinHandle<Vec<u16>> {
    // Nobody listens for the acknowledgements.
    acknowledging_broker_signalling(listener, count, mpsc::channel().0)
}

/// [`acknowledging_broker`] that tells `acked` after each acknowledgement
/// it wrote.
fn acknowledging_broker_signalling(
    listener: std::net::TcpListener,
    count: usize,
    acked: mpsc::Sender<u16>,
) -> std::thread::JoinHandle<Vec<u16>> {
    std::thread::spawn(move || {
        let mut broker = HandBroker::accept(listener);
        let mut ids = Vec::new();
        while ids.len() < count {
            match broker.next_packet() {
                Packet::Publish(p) => {
                    let [hi, lo] = p.packet_id.to_be_bytes();
                    broker.write(&[0x40, 0x02, hi, lo]);
                    ids.push(p.packet_id);
                    let _ = acked.send(p.packet_id);
                }
                other => panic!("expected a PUBLISH, got {}", other.name()),
            }
        }
        broker.wait_for_close();
        ids
    })
}

/// Wait until the broker acknowledged `count` more publishes; fails past
/// 5 s.
fn acknowledged(acks: &mpsc::Receiver<u16>, count: usize) {
    for _ in 0..count {
        acks.recv_timeout(Duration::from_secs(5))
            .expect("the broker got every publish");
    }
}

/// `took` is well under the client's look at an absent reader (a second).
fn assert_not_held_up(took: Duration, what: &str) {
    assert!(
        took < Duration::from_millis(500),
        "{what} took {took:?}: they waited for the client's look at an absent reader"
    );
}

/// The publish completes, successfully, within 10 s.
fn completes(runtime: &tokio::runtime::Runtime, handle: midge_native::PublishHandle) {
    let outcome =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(10), handle).await });
    assert!(
        matches!(outcome, Ok(Ok(_))),
        "the publish did not complete: {outcome:?}"
    );
}

/// A clean disconnect.
fn disconnect(runtime: &tokio::runtime::Runtime, client: &NativeClient) {
    runtime
        .block_on(client.disconnect(Default::default(), Default::default()))
        .unwrap();
}

/// A runtime that runs only inside `block_on` on this thread, and a client
/// of it connected to an [`acknowledging_broker`] for `count` publishes.
fn connected_to_acknowledging_broker(
    count: usize,
) -> (
    tokio::runtime::Runtime,
    NativeClient,
    std::thread::JoinHandle<Vec<u16>>,
) {
    let runtime = current_thread_runtime();
    let (listener, client) = hand_broker_and_client(runtime.handle().clone());
    let broker = acknowledging_broker(listener, count);
    runtime.block_on(client.connect()).unwrap();
    (runtime, client, broker)
}

/// A loop that waits for a client's publishes asks for the socket, and the
/// driver hands it over the next time it parks.
fn hand_over_acks(
    runtime: &tokio::runtime::Runtime,
    client: &NativeClient,
    buf: &mut Vec<u8>,
) -> std::os::fd::RawFd {
    // Woken when the driver hands the socket over.
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    assert_eq!(
        client.read_acknowledgements(buf, &waker),
        InlineRead::Unavailable,
        "the driver has the socket until it parks"
    );
    runtime.block_on(client.sync()).unwrap();
    // The driver parks right after it answered the sync (on another thread
    // with a multi-threaded runtime).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client.read_acknowledgements(buf, &waker) {
            InlineRead::Wait { socket, .. } => return socket,
            other => {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(!left.is_zero(), "the socket was not handed over: {other:?}");
                std::thread::park_timeout(left);
            }
        }
    }
}

/// A waker that unparks a thread.
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// A client without streams hands its socket to the loop that waits for
/// its publishes: with the runtime stopped, QoS 1 publishes go out on the
/// lane and complete from the acknowledgements that loop reads, in order.
#[test]
fn a_loop_without_streams_completes_its_publishes_from_the_acknowledgements_it_reads() {
    const COUNT: u16 = 100;
    let (runtime, client, broker) = connected_to_acknowledging_broker(COUNT.into());
    let wakes = std::sync::Arc::new(CountWakes(Default::default()));
    let waker = std::task::Waker::from(wakes.clone());
    let mut buf = Vec::new();
    let socket = hand_over_acks(&runtime, &client, &mut buf);
    let mut handles: Vec<_> = (0..COUNT)
        .map(|i| client.publish(Publish::new("t", numbered(i.into()), QoS::AtLeastOnce)))
        .collect();
    // The runtime does not run from here on: only these reads complete them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut done = 0;
    while done < handles.len() && Instant::now() < deadline {
        match client.read_acknowledgements(&mut buf, &waker) {
            InlineRead::Read => {}
            InlineRead::Wait { .. } => wait_readable(socket, 100),
            InlineRead::Unavailable => panic!("the driver took the socket back"),
        }
        while done < handles.len() {
            match handles[done].try_take() {
                Some(result) => {
                    result.expect("the broker acknowledged it");
                    done += 1;
                }
                None => break,
            }
        }
    }
    assert_eq!(done, handles.len(), "publishes left waiting");
    assert!(handles.iter_mut().all(|h| h.try_take().is_none()));
    disconnect(&runtime, &client);
    assert_eq!(
        broker.join().unwrap(),
        (1..=COUNT).collect::<Vec<_>>(),
        "each PUBLISH once, in order"
    );
    assert!(
        wakes.0.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "taking the socket back for the disconnect wakes the loop"
    );
}

/// A loop that asked for the socket and then stopped reading (it ended):
/// the client notices (about once a second) and reads the acknowledgement
/// itself, so the publish still completes.
#[test]
fn a_loop_that_stops_reading_acknowledgements_is_replaced_by_the_driver() {
    let runtime = midge_native::runtime();
    let (listener, client) = hand_broker_and_client_with(runtime.handle().clone(), |options| {
        options.client.keep_alive_secs = 60;
    });
    let broker = acknowledging_broker(listener, 1);
    runtime.block_on(client.connect()).unwrap();
    let mut buf = Vec::new();
    hand_over_acks(runtime, &client, &mut buf);
    let started = Instant::now();
    let handle = client.publish(Publish::new("t", b"x".to_vec(), QoS::AtLeastOnce));
    completes(runtime, handle);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it took {:?}",
        started.elapsed()
    );
    disconnect(runtime, &client);
    broker.join().unwrap();
}

/// A client with a message stream leaves acknowledgements to the driver:
/// the loop is never handed the socket, and publishes complete as usual.
#[test]
fn a_client_with_a_stream_reads_acknowledgements_itself() {
    let runtime = midge_native::runtime();
    let (listener, client) = hand_broker_and_client(runtime.handle().clone());
    let broker = acknowledging_broker(listener, 1);
    runtime.block_on(client.connect()).unwrap();
    let _stream = client.messages(None).unwrap();
    let mut buf = Vec::new();
    let waker = std::task::Waker::noop();
    assert_eq!(
        client.read_acknowledgements(&mut buf, waker),
        InlineRead::Unavailable
    );
    runtime.block_on(client.sync()).unwrap();
    assert_eq!(
        client.read_acknowledgements(&mut buf, waker),
        InlineRead::Unavailable,
        "a client with a stream does not hand its socket to an acknowledgement reader"
    );
    let handle = client.publish(Publish::new("t", b"x".to_vec(), QoS::AtLeastOnce));
    completes(runtime, handle);
    disconnect(runtime, &client);
    broker.join().unwrap();
}

/// A thread that blocks until its publishes complete reads their
/// acknowledgements itself once the client handed it the socket: with the
/// runtime stopped, each publish completes in its `block_on`.
#[test]
fn a_waiting_thread_reads_the_acknowledgements_of_its_publishes() {
    const COUNT: u16 = 100;
    let (runtime, client, broker) = connected_to_acknowledging_broker(COUNT.into());
    let reader = client.acknowledgement_reader();
    // The first read asks for the socket; the driver hands it over when it
    // next parks (after this sync).
    reader.read_available();
    runtime.block_on(client.sync()).unwrap();
    // A first wait on the socket tells the client its readers block (a
    // command it takes at the next sync).
    assert!(reader
        .block_on(&mut std::future::pending::<()>(), Duration::from_millis(10))
        .is_none());
    runtime.block_on(client.sync()).unwrap();
    for i in 0..COUNT {
        let mut handle = client.publish(Publish::new("t", numbered(i.into()), QoS::AtLeastOnce));
        match reader.block_on(&mut handle, Duration::from_secs(10)) {
            Some(Ok(_)) => {}
            other => panic!("publish {i}: {other:?}"),
        }
    }
    disconnect(&runtime, &client);
    assert_eq!(broker.join().unwrap(), (1..=COUNT).collect::<Vec<_>>());
}

/// Wait (at most 5 s) until the client has handed its socket to
/// acknowledgement readers.
fn wait_for_acks_handover(client: &NativeClient, buf: &mut Vec<u8>) {
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !matches!(
        client.read_acknowledgements(buf, &waker),
        InlineRead::Wait { .. }
    ) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the socket was not handed over");
        std::thread::park_timeout(left);
    }
}

/// Publishes that wait for room in the window while the socket is with
/// the waiting threads and none waits: the driver reads the
/// acknowledgements that make the room at once (not at its next look, a
/// second on), so the publishes flow as if nobody had taken the socket.
#[test]
fn publishes_waiting_for_room_do_not_wait_for_an_absent_thread() {
    const COUNT: usize = 20;
    let runtime = midge_native::runtime();
    let (listener, client) = hand_broker_and_client_with(runtime.handle().clone(), |options| {
        options.client.max_inflight = 2;
        options.client.keep_alive_secs = 60;
    });
    let (acked, acks) = mpsc::channel();
    let broker = acknowledging_broker_signalling(listener, COUNT, acked);
    runtime.block_on(client.connect()).unwrap();
    let reader = client.acknowledgement_reader();
    let mut buf = Vec::new();
    // A thread waits on the socket once (the client learns that its
    // readers block), and the socket is with the waiting threads again.
    assert_eq!(
        client.read_acknowledgements(&mut buf, std::task::Waker::noop()),
        InlineRead::Unavailable
    );
    wait_for_acks_handover(&client, &mut buf);
    assert!(reader
        .block_on(&mut std::future::pending::<()>(), Duration::from_millis(20))
        .is_none());
    wait_for_acks_handover(&client, &mut buf);
    // Nobody waits from here on.
    let started = Instant::now();
    let handles: Vec<_> = (0..COUNT)
        .map(|i| client.publish(Publish::new("t", numbered(i as u32), QoS::AtLeastOnce)))
        .collect();
    acknowledged(&acks, COUNT);
    assert_not_held_up(started.elapsed(), "the publishes");
    for handle in handles {
        completes(runtime, handle);
    }
    disconnect(runtime, &client);
    assert_eq!(broker.join().unwrap().len(), COUNT);
}

/// A broker that takes `count` QoS 1 PUBLISHes, then acknowledges each and
/// sends it back at QoS 0 (as to a subscriber of its topic), all in one
/// write, and holds the connection until the client leaves.
fn echoing_broker(listener: std::net::TcpListener, count: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut broker = HandBroker::accept(listener);
        let mut answer = Vec::new();
        for _ in 0..count {
            match broker.next_packet() {
                Packet::Publish(p) => {
                    let [hi, lo] = p.packet_id.to_be_bytes();
                    answer.extend([0x40, 0x02, hi, lo]);
                    answer.extend(publish_bytes(&p.topic, &p.payload, None));
                }
                other => panic!("expected a PUBLISH, got {}", other.name()),
            }
        }
        broker.write(&answer);
        broker.wait_for_close();
    })
}

/// A stream whose event loop watches the socket all along
/// (`LoopReader::watch`) keeps it while QoS 1 publishes wait for their
/// acknowledgements: with the runtime stopped, the publishes go out on the
/// lane, and the loop's reads (with no receive waiting) complete them and
/// put the messages in the stream, in order.
#[test]
fn a_watched_stream_completes_the_publishes_whose_acknowledgements_it_reads() {
    const COUNT: u32 = 100;
    let runtime = current_thread_runtime();
    let (listener, client) = hand_broker_and_client(runtime.handle().clone());
    let broker = echoing_broker(listener, COUNT as usize);
    runtime.block_on(client.connect()).unwrap();
    let mut stream = client.messages(None).unwrap();
    let reader = stream.loop_reader();
    reader.watch(true);
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    assert_eq!(reader.held(&waker), None, "the driver has the socket");
    assert_eq!(
        stream.read_inline(&waker),
        InlineRead::Unavailable,
        "asks for the socket"
    );
    runtime.block_on(client.sync()).unwrap();
    reader
        .held(&waker)
        .expect("handed over when the driver parked");
    let mut handles: Vec<_> = (0..COUNT - 1)
        .map(|i| client.publish(Publish::new("t", numbered(i), QoS::AtLeastOnce)))
        .collect();
    // The driver wakes with all of them owed, and hands the socket over
    // again.
    runtime.block_on(client.sync()).unwrap();
    let held = reader
        .held(&waker)
        .expect("handed over while acknowledgements are owed");
    handles.push(client.publish(Publish::new("t", numbered(COUNT - 1), QoS::AtLeastOnce)));
    // The runtime does not run from here on: only these reads complete them.
    let mut buf = Vec::new();
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while messages.len() < COUNT as usize && Instant::now() < deadline {
        match reader.read(&mut buf, &waker) {
            InlineRead::Read => {}
            InlineRead::Wait { socket, handover } => {
                assert_eq!((socket, handover), held, "the socket `held` told of");
                wait_readable(socket, 100);
            }
            InlineRead::Unavailable => panic!("the driver took the socket back"),
        }
        while let Some(message) = stream.try_recv_message() {
            messages.push(message.publish.payload.to_vec());
        }
    }
    assert_eq!(messages, (0..COUNT).map(numbered).collect::<Vec<_>>());
    for handle in &mut handles {
        let outcome = handle.try_take().expect("completed by the loop's reads");
        outcome.expect("the broker acknowledged it");
    }
    disconnect(&runtime, &client);
    broker.join().unwrap();
}

/// Without the loop's word that it watches, a stream's reader may stop
/// reading while a publish waits: the client keeps the socket while an
/// acknowledgement is owed.
#[test]
fn an_unwatched_stream_is_not_handed_the_socket_while_an_acknowledgement_is_owed() {
    let runtime = current_thread_runtime();
    let (listener, client) = hand_broker_and_client(runtime.handle().clone());
    let broker = echoing_broker(listener, 1);
    runtime.block_on(client.connect()).unwrap();
    let mut stream = client.messages(None).unwrap();
    let reader = stream.loop_reader();
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    assert_eq!(stream.read_inline(&waker), InlineRead::Unavailable);
    runtime.block_on(client.sync()).unwrap();
    assert!(reader.held(&waker).is_some(), "nothing owed: handed over");
    let handle = client.publish(Publish::new("t", numbered(0), QoS::AtLeastOnce));
    runtime.block_on(client.sync()).unwrap();
    assert_eq!(
        reader.held(&waker),
        None,
        "the driver reads while the acknowledgement is owed"
    );
    completes(&runtime, handle);
    disconnect(&runtime, &client);
    broker.join().unwrap();
}

/// A broker that answers each of `count` QoS 1 PUBLISHes at once with its
/// PUBACK and the message back at QoS 0 (as to a subscriber of its topic),
/// then holds the connection until the client leaves.
fn echo_each_broker(listener: std::net::TcpListener, count: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut broker = HandBroker::accept(listener);
        for _ in 0..count {
            match broker.next_packet() {
                Packet::Publish(p) => {
                    let [hi, lo] = p.packet_id.to_be_bytes();
                    let mut answer = vec![0x40, 0x02, hi, lo];
                    answer.extend(publish_bytes(&p.topic, &p.payload, None));
                    broker.write(&answer);
                }
                other => panic!("expected a PUBLISH, got {}", other.name()),
            }
        }
        broker.wait_for_close();
    })
}

/// A runtime that runs only inside `block_on`, a client of it, its stream
/// and its broker's thread.
type BlockingClient = (
    tokio::runtime::Runtime,
    NativeClient,
    MessageStream,
    std::thread::JoinHandle<()>,
);

/// A client with a blocking stream, on a runtime that runs only inside
/// `block_on`, connected to an [`echo_each_broker`] for `count` publishes,
/// once its blocking threads have told it how they wait: the stream's
/// thread on the socket (if `consumer_asks`), a thread on a publish (with
/// an `AcknowledgementReader`). The driver has then parked with the socket
/// left to the stream's reader.
fn blocking_echo_client(count: usize, consumer_asks: bool) -> BlockingClient {
    blocking_client_with(|listener| echo_each_broker(listener, count), consumer_asks)
}

/// [`blocking_echo_client`] with the broker `broker` makes.
fn blocking_client_with(
    broker: impl FnOnce(std::net::TcpListener) -> std::thread::JoinHandle<()>,
    consumer_asks: bool,
) -> BlockingClient {
    let runtime = current_thread_runtime();
    let (listener, client) = hand_broker_and_client(runtime.handle().clone());
    let broker = broker(listener);
    runtime.block_on(client.connect()).unwrap();
    let mut stream = client.messages(None).unwrap();
    if consumer_asks {
        hand_over(&runtime, &client, &mut stream);
        let mut none = Vec::new();
        assert_eq!(
            stream.recv_many_messages_blocking(&mut none, 1, Duration::from_millis(10)),
            None,
            "nothing was sent yet"
        );
    }
    assert!(client
        .acknowledgement_reader()
        .block_on(&mut std::future::pending::<()>(), Duration::from_millis(10))
        .is_none());
    // Both are commands the driver takes here; it parks again after them.
    runtime.block_on(client.sync()).unwrap();
    (runtime, client, stream, broker)
}

/// Publish `numbered(i)` at QoS 1 and wait (at most 10 s) until it
/// completes, successfully, with an `AcknowledgementReader`.
fn publish_waited(client: &NativeClient, reader: &midge_native::AcknowledgementReader, i: u32) {
    let mut handle = client.publish(Publish::new("t", numbered(i), QoS::AtLeastOnce));
    match reader.block_on(&mut handle, Duration::from_secs(10)) {
        Some(Ok(_)) => {}
        other => panic!("publish {i}: {other:?}"),
    }
}

/// `count` round trips through an [`echo_each_broker`] with the runtime
/// stopped: each QoS 1 publish waited for with an `AcknowledgementReader`,
/// then its echo taken from the stream, where that wait (or a
/// `read_available`) put it.
fn round_trips_read_by_waits(client: &NativeClient, stream: &mut MessageStream, count: u32) {
    round_trips_read_by_waits_from(client, stream, 0, count);
}

/// [`round_trips_read_by_waits`] of messages `from..to`.
fn round_trips_read_by_waits_from(
    client: &NativeClient,
    stream: &mut MessageStream,
    from: u32,
    to: u32,
) {
    let reader = client.acknowledgement_reader();
    for i in from..to {
        publish_waited(client, &reader, i);
        // The echo follows the acknowledgement at once.
        let deadline = Instant::now() + Duration::from_secs(10);
        let message = loop {
            if let Some(message) = stream.try_recv_message() {
                break message;
            }
            assert!(Instant::now() < deadline, "round trip {i}: no message");
            reader.read_available();
        };
        assert_eq!(
            message.publish.payload.to_vec(),
            numbered(i),
            "round trip {i}"
        );
    }
}

/// A blocking consumer that answers each message with a QoS 1 publish it
/// waits for (one thread that receives and publishes): the client leaves
/// the socket to the stream's reader while the acknowledgements are owed,
/// since the waiting thread reads too; its reads complete the publish and
/// put the echoed message in the stream. With the runtime stopped, every
/// round trip completes on this thread.
#[test]
fn a_blocking_consumer_reads_the_acknowledgements_of_the_publishes_it_waits_for() {
    const COUNT: u32 = 100;
    let (runtime, client, mut stream, broker) = blocking_echo_client(COUNT as usize, true);
    let reader = client.acknowledgement_reader();
    // The runtime does not run from here on.
    for i in 0..COUNT {
        publish_waited(&client, &reader, i);
        assert_eq!(
            receive(&mut stream, 1, Duration::from_secs(10)),
            [numbered(i)],
            "round trip {i}"
        );
    }
    disconnect(&runtime, &client);
    broker.join().unwrap();
}

/// The same when the consumer never asks for the socket (it finds each
/// message waiting, read by the wait for the publish): the client leaves
/// the socket to the stream's reading for the threads that wait for
/// publishes. With the runtime stopped, each wait puts the echoed message
/// in the stream.
#[test]
fn waiting_threads_read_for_a_consumer_that_finds_its_messages_waiting() {
    const COUNT: u32 = 100;
    let (runtime, client, mut stream, broker) = blocking_echo_client(COUNT as usize, false);
    round_trips_read_by_waits(&client, &mut stream, COUNT);
    disconnect(&runtime, &client);
    broker.join().unwrap();
}

/// The same with two threads: a consumer blocked in the stream and a
/// publisher blocked on each publish both wait on the socket, and whichever
/// reads completes the other's work (waking it: a consumer that waits on
/// the socket is woken for messages the publisher's thread read). With the
/// runtime stopped, every publish completes and every message arrives, in
/// order, at once.
#[test]
fn a_blocking_consumer_and_a_waiting_publisher_share_the_socket() {
    const COUNT: u32 = 200;
    let (runtime, client, mut stream, broker) = blocking_echo_client(COUNT as usize, true);
    let consumer =
        std::thread::spawn(move || receive(&mut stream, COUNT as usize, Duration::from_secs(10)));
    let reader = client.acknowledgement_reader();
    for i in 0..COUNT {
        publish_waited(&client, &reader, i);
    }
    let published = Instant::now();
    assert_eq!(
        consumer.join().unwrap(),
        (0..COUNT).map(numbered).collect::<Vec<_>>()
    );
    // Its last message was echoed with the last acknowledgement: a consumer
    // left waiting on the socket would give up only at its 10 s deadline.
    let late = published.elapsed();
    assert!(
        late < Duration::from_secs(3),
        "the consumer had its last message {late:?} after the last publish completed"
    );
    disconnect(&runtime, &client);
    broker.join().unwrap();
}

/// A stream's reader that asked for the socket and was then paused (away
/// while bytes waited) comes back only when it asks again, which a consumer
/// that finds its messages waiting never does: a thread that waits for a
/// publish brings the socket back for it. With the runtime stopped after
/// that, each wait puts the echoed message in the stream.
#[test]
fn a_waiting_thread_ends_the_pause_of_a_consumer_that_no_longer_asks() {
    const COUNT: u32 = 20;
    let (runtime, client, mut stream, broker) = blocking_echo_client(COUNT as usize, true);
    stream.loop_reader().pause();
    runtime.block_on(client.sync()).unwrap();
    // This wait asks for the socket; the driver hands it over at the sync.
    assert!(client
        .acknowledgement_reader()
        .block_on(&mut std::future::pending::<()>(), Duration::from_millis(10))
        .is_none());
    runtime.block_on(client.sync()).unwrap();
    round_trips_read_by_waits(&client, &mut stream, COUNT);
    disconnect(&runtime, &client);
    broker.join().unwrap();
}

/// A broker that answers each of `count` QoS 1 PUBLISHes with the message
/// back at QoS 0 first, and with its PUBACK only once `go` says so; then
/// holds the connection until the client leaves.
fn message_then_ack_broker(
    listener: std::net::TcpListener,
    count: usize,
    go: mpsc::Receiver<()>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut broker = HandBroker::accept(listener);
        for _ in 0..count {
            match broker.next_packet() {
                Packet::Publish(p) => {
                    broker.write(&publish_bytes(&p.topic, &p.payload, None));
                    go.recv().unwrap();
                    let [hi, lo] = p.packet_id.to_be_bytes();
                    broker.write(&[0x40, 0x02, hi, lo]);
                }
                other => panic!("expected a PUBLISH, got {}", other.name()),
            }
        }
        broker.wait_for_close();
    })
}

/// A thread that waits for a publish while the stream's thread watches the
/// socket leaves the socket to it (it waits on its own wake-up alone, so an
/// arrival wakes one thread, not two). When the stream's thread leaves with
/// a message that came before the acknowledgement, and its consumer stays
/// busy, the waiting thread must watch the socket again: with the runtime
/// stopped nobody else reads the acknowledgement.
#[test]
fn a_publish_left_to_the_consumer_is_read_when_the_consumer_leaves() {
    const ROUNDS: u32 = 20;
    let (go, wait_for_go) = mpsc::channel();
    let (runtime, client, mut stream, broker) = blocking_client_with(
        |listener| message_then_ack_broker(listener, ROUNDS as usize, wait_for_go),
        true,
    );
    let (ready, wait_for_ready) = mpsc::channel();
    let (next, wait_for_next) = mpsc::channel::<()>();
    let consumer = std::thread::spawn(move || {
        for i in 0..ROUNDS {
            ready.send(()).unwrap();
            assert_eq!(
                receive(&mut stream, 1, Duration::from_secs(10)),
                [numbered(i)],
                "round {i}"
            );
            // Busy with the message until the round ends; the broker sends
            // the acknowledgement now.
            go.send(()).unwrap();
            wait_for_next.recv().unwrap();
        }
    });
    let reader = client.acknowledgement_reader();
    for i in 0..ROUNDS {
        // The consumer is (most likely) waiting on the socket by the time
        // this wait starts.
        wait_for_ready.recv().unwrap();
        let started = Instant::now();
        let mut handle = client.publish(Publish::new("t", numbered(i), QoS::AtLeastOnce));
        match reader.block_on(&mut handle, Duration::from_secs(10)) {
            Some(Ok(_)) => {}
            other => panic!("round {i}: {other:?}"),
        }
        // A wait left asleep would read the acknowledgement only at the end
        // of its 10 s.
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(3),
            "round {i} took {took:?}: the acknowledgement was left unread"
        );
        next.send(()).unwrap();
    }
    consumer.join().unwrap();
    disconnect(&runtime, &client);
    broker.join().unwrap();
}

/// A message that a publisher's wait reads just as a consumer on a new
/// thread starts its receive (after the consumer looked at the stream,
/// before its own read) is received at once. That delivery wakes the waker
/// registered before the consumer's (the previous round's thread, gone), so
/// the consumer must look at the stream again after its read finds the
/// socket empty; otherwise it waits on the socket while the publisher waits
/// for it to read the acknowledgement, and both sleep until their timeout.
#[test]
fn a_message_read_by_a_publisher_as_a_new_consumer_starts_is_received() {
    const ROUNDS: u32 = 100;
    let (go, wait_for_go) = mpsc::channel();
    let (runtime, client, stream, broker) = blocking_client_with(
        |listener| message_then_ack_broker(listener, ROUNDS as usize, wait_for_go),
        true,
    );
    let reader = client.acknowledgement_reader();
    let mut stream = Some(stream);
    for i in 0..ROUNDS {
        let (ready, wait_for_ready) = mpsc::channel();
        let mut mine = stream.take().expect("the stream is back");
        let go = go.clone();
        let consumer = std::thread::spawn(move || {
            ready.send(()).unwrap();
            let got = receive(&mut mine, 1, Duration::from_secs(10));
            // The broker acknowledges the publish now.
            go.send(()).unwrap();
            (mine, got)
        });
        wait_for_ready.recv().unwrap();
        let started = Instant::now();
        let mut handle = client.publish(Publish::new("t", numbered(i), QoS::AtLeastOnce));
        let outcome = reader.block_on(&mut handle, Duration::from_secs(10));
        let (mine, got) = consumer.join().unwrap();
        let took = started.elapsed();
        assert_eq!(got, [numbered(i)], "round {i}");
        assert!(matches!(outcome, Some(Ok(_))), "round {i}: {outcome:?}");
        assert!(took < Duration::from_secs(3), "round {i} took {took:?}");
        stream = Some(mine);
    }
    disconnect(&runtime, &client);
    broker.join().unwrap();
}

/// A runtime that runs only inside `block_on` on this thread.
fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A QoS 1 [`NativeClient::publish_reading`] of message `i`.
fn publish_reading_numbered(client: &NativeClient, i: usize) -> midge_native::PublishHandle {
    client.publish_reading(Publish::new("t", numbered(i as u32), QoS::AtLeastOnce))
}

/// A publisher's connected client on `runtime`, with a window of `window`
/// publishes (the default if `None`), and its hand broker, which
/// acknowledges `count` publishes and signals each on the receiver.
fn signalled_publisher(
    runtime: &tokio::runtime::Runtime,
    count: usize,
    window: Option<u16>,
) -> (
    NativeClient,
    mpsc::Receiver<u16>,
    std::thread::JoinHandle<Vec<u16>>,
) {
    let (listener, client) = hand_broker_and_client_with(runtime.handle().clone(), |options| {
        if let Some(window) = window {
            options.client.max_inflight = window;
            options.client.keep_alive_secs = 60;
        }
    });
    let (acked, acks) = mpsc::channel();
    let broker = acknowledging_broker_signalling(listener, count, acked);
    runtime.block_on(client.connect()).unwrap();
    (client, acks, broker)
}

/// The gap between a paced publisher's publishes: more than a burst's
/// (100 µs), less than the 50 ms a steady stream's publishes come within.
/// The pace is the behaviour under test, not a wait for a condition.
const PACE: Duration = Duration::from_millis(1);

/// A blocking publisher that publishes at a steady pace and collects its
/// handles later reads the acknowledgements itself, each right after its
/// next publish: here the runtime does not run while it publishes (a
/// current-thread runtime outside `block_on`), and the publishes complete
/// all the same. The acknowledgement of the last one, which no publish
/// follows, is read by the client at its look at an absent reader, about
/// a second later.
#[test]
fn a_steady_publisher_reads_its_acknowledgements_as_it_publishes() {
    const COUNT: usize = 50;
    let runtime = current_thread_runtime();
    let (client, acks, broker) = signalled_publisher(&runtime, COUNT, None);
    let publish = |i: usize| publish_reading_numbered(&client, i);
    // The second publish, a steady pace after the first, asks for the
    // socket; the driver hands it over when it next runs.
    let mut handles = vec![publish(0)];
    acknowledged(&acks, 1);
    std::thread::sleep(PACE);
    handles.push(publish(1));
    acknowledged(&acks, 1);
    runtime.block_on(client.sync()).unwrap();
    for i in 2..COUNT {
        std::thread::sleep(PACE);
        handles.push(publish(i));
        acknowledged(&acks, 1);
    }
    let done = handles[..COUNT - 1]
        .iter_mut()
        .map(|handle| handle.try_take())
        .filter(|outcome| matches!(outcome, Some(Ok(_))))
        .count();
    // An acknowledgement whose arrival a read just missed is read by the
    // next publish's: all but the last are done, or all but one more.
    assert!(
        done >= COUNT - 2,
        "{done} of {} publishes completed while the runtime did not run",
        COUNT - 1
    );
    let last = handles.pop().unwrap();
    let started = Instant::now();
    completes(&runtime, last);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "the last acknowledgement took {took:?}"
    );
    disconnect(&runtime, &client);
    assert_eq!(broker.join().unwrap().len(), COUNT);
}

/// A steady publisher holds the socket, then bursts past its window
/// without waiting: the publishes the window holds back are not left for
/// its next read, the driver reads the acknowledgements that make room at
/// once, and the burst flows.
#[test]
fn a_steady_publisher_bursting_past_its_window_is_not_held_up() {
    const PACED: usize = 3;
    const BURST: usize = 20;
    let runtime = midge_native::runtime();
    let (client, acks, broker) = signalled_publisher(runtime, PACED + BURST, Some(2));
    let publish = |i: usize| publish_reading_numbered(&client, i);
    let mut handles = Vec::new();
    for i in 0..PACED {
        std::thread::sleep(PACE);
        handles.push(publish(i));
        acknowledged(&acks, 1);
    }
    let mut buf = Vec::new();
    wait_for_acks_handover(&client, &mut buf);
    let started = Instant::now();
    handles.extend((PACED..PACED + BURST).map(publish));
    acknowledged(&acks, BURST);
    assert_not_held_up(started.elapsed(), "the burst's publishes");
    for handle in handles {
        completes(runtime, handle);
    }
    disconnect(runtime, &client);
    assert_eq!(broker.join().unwrap().len(), PACED + BURST);
}

/// The window fills while the driver runs and no thread waits: the
/// driver does not hand the socket to the steady publisher that asked for
/// it (which reads only when it publishes again) but keeps it and reads the
/// acknowledgements that make room, so the publishes the window held back
/// go out at once. The runtime runs only inside `block_on` here, so the
/// order is fixed: the second publish asks for the socket (a command), the
/// burst after it finds the lane shut behind that command and goes to the
/// driver, which takes them all in one wake-up and then parks.
#[test]
fn the_driver_keeps_the_socket_while_the_window_of_an_absent_reader_is_full() {
    const COUNT: usize = 8;
    let runtime = current_thread_runtime();
    let (client, acks, broker) = signalled_publisher(&runtime, COUNT, Some(2));
    let publish = |i: usize| publish_reading_numbered(&client, i);
    let mut handles = vec![publish(0)];
    acknowledged(&acks, 1);
    std::thread::sleep(PACE);
    // Asks for the socket; then a burst past the window of 2, nobody
    // waiting.
    handles.extend((1..COUNT).map(publish));
    let started = Instant::now();
    // The runtime runs (the driver with it) until the broker has them all.
    runtime
        .block_on(async {
            tokio::task::spawn_blocking(move || acknowledged(&acks, COUNT - 1)).await
        })
        .unwrap();
    assert_not_held_up(started.elapsed(), "the held-back publishes");
    // Their outcomes, read by a waiting thread.
    let reader = client.acknowledgement_reader();
    for mut handle in handles {
        let outcome = reader.block_on(&mut handle, Duration::from_secs(10));
        assert!(matches!(outcome, Some(Ok(_))), "{outcome:?}");
    }
    disconnect(&runtime, &client);
    assert_eq!(broker.join().unwrap().len(), COUNT);
}

/// Run the runtime (the driver with it) in steps of a millisecond until
/// the echo of a publish is in `stream`; fails past 5 s.
fn run_until_echoed(runtime: &tokio::runtime::Runtime, stream: &mut MessageStream) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while stream.try_recv_message().is_none() {
        assert!(
            Instant::now() < deadline,
            "the driver did not read the echo"
        );
        runtime.block_on(async { tokio::time::sleep(Duration::from_millis(1)).await });
    }
}

/// The driver's look at an absent blocking reader pauses it (no thread
/// waited while bytes waited), and reads from then on. A wait whose
/// outcome the driver read meanwhile (ready at once) ends the pause, as a
/// wait that reads does: the round trips after it are read by the waiting
/// thread again, with the runtime stopped.
#[test]
fn a_wait_that_finds_its_outcome_read_ends_the_pause_of_its_readers() {
    const COUNT: usize = 12;
    let (runtime, client, mut stream, broker) = blocking_echo_client(COUNT, false);
    let reader = client.acknowledgement_reader();
    // Nobody waits while the answer to this publish arrives: the driver's
    // look (about a second on) pauses the readers and reads it.
    let mut first = client.publish(Publish::new("t", numbered(0), QoS::AtLeastOnce));
    run_until_echoed(&runtime, &mut stream);
    assert!(matches!(first.try_take(), Some(Ok(_))));
    // Paused: the driver reads this one's answer too, before the wait.
    let mut second = client.publish(Publish::new("t", numbered(1), QoS::AtLeastOnce));
    run_until_echoed(&runtime, &mut stream);
    assert!(matches!(
        reader.block_on(&mut second, Duration::from_secs(1)),
        Some(Ok(_))
    ));
    // The driver takes what that wait told it, and parks.
    runtime.block_on(client.sync()).unwrap();
    round_trips_read_by_waits_from(&client, &mut stream, 2, COUNT as u32);
    disconnect(&runtime, &client);
    broker.join().unwrap();
}

/// A hand broker that takes `count` publishes (acknowledging those of QoS
/// 1) and tells `got` each one's payload, in the order they came.
fn collecting_broker(
    listener: std::net::TcpListener,
    count: usize,
    got: mpsc::Sender<Vec<u8>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut broker = HandBroker::accept(listener);
        for _ in 0..count {
            match broker.next_packet() {
                Packet::Publish(p) => {
                    if p.qos != QoS::AtMostOnce {
                        let [hi, lo] = p.packet_id.to_be_bytes();
                        broker.write(&[0x40, 0x02, hi, lo]);
                    }
                    let _ = got.send(p.payload.to_vec());
                }
                other => panic!("expected a PUBLISH, got {}", other.name()),
            }
        }
        broker.wait_for_close();
    })
}

/// A blocking caller's burst of QoS 0 publishes
/// ([`NativeClient::publish_batched`]) leaves the lane in a few writes, and
/// its last ones do not wait for the runtime: here the runtime does not run
/// while it publishes (a current-thread runtime outside `block_on`), and
/// the process's flusher thread writes what the burst left. A QoS 1 publish
/// made right after a burst goes out after it.
#[test]
fn a_burst_of_batched_publishes_reaches_the_broker_in_order_without_the_runtime() {
    const BURST: u32 = 50;
    let runtime = current_thread_runtime();
    let (listener, client) = hand_broker_and_client(runtime.handle().clone());
    let (got_tx, got) = mpsc::channel();
    let broker = collecting_broker(listener, 2 * BURST as usize + 1, got_tx);
    runtime.block_on(client.connect()).unwrap();
    // The driver parks, with its core in the lane.
    runtime.block_on(client.sync()).unwrap();
    let burst = |from: u32| {
        for i in from..from + BURST {
            let mut done = client.publish_batched(Publish::new("t", numbered(i), QoS::AtMostOnce));
            assert!(matches!(done.try_take(), Some(Ok(_))), "publish {i}");
        }
    };
    let received = |count: u32| -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| {
                got.recv_timeout(Duration::from_secs(5))
                    .unwrap_or_else(|_| panic!("message {i} did not reach the broker"))
            })
            .collect()
    };
    burst(0);
    assert_eq!(
        received(BURST),
        (0..BURST).map(numbered).collect::<Vec<_>>()
    );
    burst(BURST);
    let last = client.publish_batched(Publish::new("t", numbered(2 * BURST), QoS::AtLeastOnce));
    assert_eq!(
        received(BURST + 1),
        (BURST..=2 * BURST).map(numbered).collect::<Vec<_>>()
    );
    completes(&runtime, last);
    disconnect(&runtime, &client);
    broker.join().unwrap();
}
