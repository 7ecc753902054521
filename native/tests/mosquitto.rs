//! midge-native against a real mosquitto (required: the test command installs it).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use midge_core::packet::{Publish, QoS, SubscribeFilter};
use midge_native::{ConnectionStatus, NativeClient, NativeError, NativeEvent, NativeOptions};
use midge_system_tests::broker::{Broker, MosquittoConfig};

/// A mosquitto on a free loopback port, from the launcher every suite uses
/// (`midge-testkit`'s library). It is required: the README's test command
/// installs it, and a missing broker fails the tests rather than skipping them.
fn broker() -> Broker {
    Broker::mosquitto(MosquittoConfig::default())
        .expect("mosquitto starts (scripts/setup.sh installs it)")
}

#[test]
fn publish_and_receive_at_each_qos() {
    let b = broker();
    let rt = midge_native::runtime();
    let mut options = NativeOptions::new(&format!("mqtt://127.0.0.1:{}", b.port)).unwrap();
    options.client.client_id = "native-test".into();
    let client = NativeClient::new(options).unwrap();
    let connected = rt.block_on(client.connect()).unwrap();
    assert!(!connected.session_present);
    assert_eq!(*client.status().borrow(), ConnectionStatus::Connected);
    let mut stream = client.messages(Some("native/#".into())).unwrap();
    let granted = rt
        .block_on(client.subscribe(
            vec![SubscribeFilter::new("native/#", QoS::ExactlyOnce)],
            Default::default(),
        ))
        .unwrap();
    assert_eq!(granted.results, vec![Ok(QoS::ExactlyOnce)]);
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let payload = format!("qos {}", qos as u8);
        rt.block_on(client.publish(Publish::new("native/t", payload.clone().into_bytes(), qos)))
            .unwrap();
        let got = rt.block_on(stream.recv()).unwrap();
        assert_eq!(&got.payload[..], payload.as_bytes());
        assert_eq!(got.qos, qos);
    }
    rt.block_on(client.disconnect(Default::default(), Default::default()))
        .unwrap();
    assert_eq!(*client.status().borrow(), ConnectionStatus::Disconnected);
}

#[test]
fn unreachable_broker_is_a_transport_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = NativeOptions::new(&format!("mqtt://127.0.0.1:{port}")).unwrap();
    let client = NativeClient::new(options).unwrap();
    let err = midge_native::runtime()
        .block_on(client.connect())
        .unwrap_err();
    assert!(matches!(err, NativeError::Transport { .. }), "{err:?}");
}

#[test]
fn bad_topic_is_an_invalid_argument() {
    let client = NativeClient::new(NativeOptions::new("mqtt://127.0.0.1:1").unwrap()).unwrap();
    let err = midge_native::runtime()
        .block_on(client.publish(Publish::new("a/+", &b"x"[..], QoS::AtMostOnce)))
        .unwrap_err();
    assert!(
        matches!(err, NativeError::InvalidArgument { ref argument, .. } if argument == "topic")
    );
}

#[test]
fn pause_keeps_pending_publishes_until_resume() {
    let b = broker();
    let rt = midge_native::runtime();
    let mut options = NativeOptions::new(&format!("mqtt://127.0.0.1:{}", b.port)).unwrap();
    options.client.client_id = "native-pause".into();
    let client = NativeClient::new(options).unwrap();
    rt.block_on(client.connect()).unwrap();
    client.pause();
    let mut status = client.status();
    rt.block_on(status.wait_for(|s| *s == ConnectionStatus::Disconnected))
        .unwrap();
    // Made while paused: queued, answered after resume.
    let mut pending = client.publish(Publish::new("native/p", &b"x"[..], QoS::AtLeastOnce));
    assert!(pending.try_take().is_none());
    client.resume();
    let done = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), pending).await })
        .expect("publish completes after resume")
        .unwrap();
    assert!(!done.reason_code.is_error()); // NoMatchingSubscribers: nobody listens
}

#[test]
fn manual_acks_and_events() {
    let b = broker();
    let rt = midge_native::runtime();
    let mut options = NativeOptions::new(&format!("mqtt://127.0.0.1:{}", b.port)).unwrap();
    options.client.client_id = "native-manual".into();
    options.client.manual_acks = true;
    if let Some(policy) = options.client.reconnect.as_mut() {
        policy.min_delay_ms = 10;
        policy.max_delay_ms = 50;
    }
    let client = NativeClient::new(options).unwrap();
    let mut events = client.events();
    rt.block_on(client.connect()).unwrap();
    let mut stream = client.messages(Some("native/m/#".into())).unwrap();
    rt.block_on(client.subscribe(
        vec![SubscribeFilter::new("native/m/#", QoS::ExactlyOnce)],
        Default::default(),
    ))
    .unwrap();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        rt.block_on(client.publish(Publish::new("native/m/t", &b"x"[..], qos)))
            .unwrap();
        let message = rt.block_on(stream.recv_message()).unwrap();
        assert_eq!(message.publish.qos, qos);
        match message.ack {
            None => assert_eq!(qos, QoS::AtMostOnce),
            Some(handle) => {
                rt.block_on(client.ack(handle)).unwrap();
                let again = rt.block_on(client.ack(handle)).unwrap_err();
                assert!(
                    matches!(again, NativeError::AckNotPending { .. }),
                    "{again:?}"
                );
            }
        }
    }

    // Session expiry 0: after a dropped link the broker has no session, and
    // the client subscribes again.
    client.drop_transport();
    let restored = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            let mut seen = Vec::new();
            while let Some(event) = events.recv().await {
                if let NativeEvent::SubscriptionsRestored { results } = event {
                    return (seen, results);
                }
                seen.push(event);
            }
            panic!("the client is gone");
        })
        .await
        .expect("subscriptions restored within 10 s")
    });
    let (seen, results) = restored;
    assert!(matches!(seen[0], NativeEvent::Connected(ref c) if !c.reconnected));
    assert!(matches!(
        seen[1],
        NativeEvent::Disconnected {
            reconnecting: true,
            ..
        }
    ));
    assert!(matches!(seen[2], NativeEvent::Connected(ref c) if c.reconnected));
    assert_eq!(results, vec![("native/m/#".into(), Ok(QoS::ExactlyOnce))]);
    assert_eq!(events.missed(), 0);
    rt.block_on(client.disconnect(Default::default(), Default::default()))
        .unwrap();
}

fn client_for(b: &Broker, id: &str, message_buffer: usize) -> NativeClient {
    let mut options = NativeOptions::new(&format!("mqtt://127.0.0.1:{}", b.port)).unwrap();
    options.client.client_id = id.into();
    options.message_buffer = message_buffer;
    NativeClient::new(options).unwrap()
}

/// A stream nobody reads holds delivery back (the driver stops reading the
/// socket), but commands and timers go on, and nothing is lost once it is read.
#[test]
fn a_full_stream_stops_reading_without_blocking_commands() {
    let b = broker();
    let rt = midge_native::runtime();
    let slow = client_for(&b, "native-slow-reader", 10);
    rt.block_on(slow.connect()).unwrap();
    let mut stream = slow.messages(Some("bp/data".into())).unwrap();
    rt.block_on(slow.subscribe(
        vec![SubscribeFilter::new("bp/data", QoS::AtLeastOnce)],
        Default::default(),
    ))
    .unwrap();
    let publisher = client_for(&b, "native-bp-publisher", 10);
    rt.block_on(publisher.connect()).unwrap();
    const N: usize = 500;
    let replies: Vec<_> = (0..N)
        .map(|i| {
            publisher.publish(Publish::new(
                "bp/data",
                i.to_string().into_bytes(),
                QoS::AtLeastOnce,
            ))
        })
        .collect();
    for reply in replies {
        rt.block_on(reply).unwrap();
    }
    // The reader has read nothing: the slow client must still answer.
    let started = Instant::now();
    rt.block_on(slow.publish(Publish::new("bp/other", &b"x"[..], QoS::AtLeastOnce)))
        .unwrap();
    rt.block_on(slow.subscribe(
        vec![SubscribeFilter::new("bp/extra", QoS::AtMostOnce)],
        Default::default(),
    ))
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "commands waited for the consumer"
    );
    // Now read: all N, in order.
    let mut got = Vec::new();
    while got.len() < N {
        let message = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), stream.recv()).await })
            .expect("a message within 10 s")
            .expect("stream open");
        got.push(String::from_utf8(message.payload.to_vec()).unwrap());
    }
    let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(got, want);
    rt.block_on(slow.disconnect(Default::default(), Default::default()))
        .unwrap();
    rt.block_on(publisher.disconnect(Default::default(), Default::default()))
        .unwrap();
}

/// A consumer that publishes at QoS 1 and waits for each PUBACK while a
/// burst arrives: the PUBACKs sit behind the burst on the socket, so the
/// driver must keep reading while they are owed (Client::awaiting_server).
#[test]
fn a_consumer_that_publishes_and_waits_does_not_deadlock() {
    let b = broker();
    let rt = midge_native::runtime();
    let handler = client_for(&b, "native-handler", 10);
    rt.block_on(handler.connect()).unwrap();
    let mut stream = handler.messages(Some("burst/in".into())).unwrap();
    rt.block_on(handler.subscribe(
        vec![SubscribeFilter::new("burst/in", QoS::AtMostOnce)],
        Default::default(),
    ))
    .unwrap();
    let publisher = client_for(&b, "native-burst", 10);
    rt.block_on(publisher.connect()).unwrap();
    const N: usize = 2_000;
    // Dropping a reply does not cancel the publish (QoS 0: already accepted).
    for i in 0..N {
        drop(publisher.publish(Publish::new(
            "burst/in",
            i.to_string().into_bytes(),
            QoS::AtMostOnce,
        )));
    }
    rt.block_on(publisher.sync()).unwrap();
    let handled = rt.block_on(async {
        let mut handled = 0;
        while handled < N {
            let next = tokio::time::timeout(Duration::from_secs(10), stream.recv()).await;
            let Ok(Some(_)) = next else { break };
            // The handler publishes and waits for the broker's PUBACK.
            tokio::time::timeout(
                Duration::from_secs(10),
                handler.publish(Publish::new("burst/out", &b"x"[..], QoS::AtLeastOnce)),
            )
            .await
            .expect("PUBACK within 10 s: the driver kept reading")
            .unwrap();
            handled += 1;
        }
        handled
    });
    assert_eq!(handled, N);
    rt.block_on(handler.disconnect(Default::default(), Default::default()))
        .unwrap();
}

/// After disconnect every command fails at once with Closed, the same error
/// the core gives every binding; connect opens the client again.
#[test]
fn commands_after_disconnect_fail_at_once() {
    let b = broker();
    let rt = midge_native::runtime();
    let client = client_for(&b, "native-closed", 10);
    rt.block_on(client.connect()).unwrap();
    rt.block_on(client.disconnect(Default::default(), Default::default()))
        .unwrap();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let result = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(1),
                client.publish(Publish::new("closed/t", &b"x"[..], qos)),
            )
            .await
        });
        assert!(
            matches!(result, Ok(Err(NativeError::Closed { .. }))),
            "{qos:?}: {result:?}"
        );
    }
    let sub = rt.block_on(client.subscribe(
        vec![SubscribeFilter::new("closed/t", QoS::AtMostOnce)],
        Default::default(),
    ));
    assert!(matches!(sub, Err(NativeError::Closed { .. })), "{sub:?}");
    rt.block_on(client.connect()).unwrap();
    rt.block_on(client.publish(Publish::new("closed/t", &b"x"[..], QoS::AtLeastOnce)))
        .unwrap();
    rt.block_on(client.disconnect(Default::default(), Default::default()))
        .unwrap();
}

/// An on-demand stream that is never read holds nothing back: a reading
/// stream gets every message, the idle one keeps the first `message_buffer`
/// it matched, and in manual-ack mode a QoS 1 message that only the idle
/// stream matched is acknowledged (the broker's in-flight window does not
/// fill with messages nobody can ack). mosquitto 2.0.11 overruns the
/// Receive Maximum here; the default (not strict) keeps the connection.
#[test]
fn an_unread_on_demand_stream_holds_nothing_back() {
    let b = broker();
    let rt = midge_native::runtime();
    let mut options = NativeOptions::new(&format!("mqtt://127.0.0.1:{}", b.port)).unwrap();
    options.client.client_id = "native-on-demand".into();
    options.message_buffer = 10;
    options.client.manual_acks = true;
    let client = NativeClient::new(options).unwrap();
    let mut events = client.events();
    rt.block_on(client.connect()).unwrap();
    let mut idle = client.messages_on_demand(None).unwrap();
    let mut reader = client.messages(Some("od/read".into())).unwrap();
    rt.block_on(client.subscribe(
        vec![SubscribeFilter::new("od/#", QoS::AtLeastOnce)],
        Default::default(),
    ))
    .unwrap();
    let publisher = client_for(&b, "native-od-publisher", 10);
    rt.block_on(publisher.connect()).unwrap();
    const N: usize = 300;
    // Messages only the idle stream matches: more than mosquitto's default
    // in-flight window (20), so they must be acknowledged by the driver.
    let replies: Vec<_> = (0..N)
        .map(|i| {
            publisher.publish(Publish::new(
                "od/ignored",
                i.to_string().into_bytes(),
                QoS::AtLeastOnce,
            ))
        })
        .collect();
    for reply in replies {
        rt.block_on(reply).unwrap();
    }
    let replies: Vec<_> = (0..N)
        .map(|i| {
            publisher.publish(Publish::new(
                "od/read",
                i.to_string().into_bytes(),
                QoS::AtLeastOnce,
            ))
        })
        .collect();
    for reply in replies {
        rt.block_on(reply).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < N {
        let message = rt
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(10), reader.recv_message()).await
            })
            .expect("a message within 10 s: the idle stream held delivery back")
            .expect("stream open");
        got.push(String::from_utf8(message.publish.payload.to_vec()).unwrap());
        if let Some(ack) = message.ack {
            if let Err(e) = rt.block_on(client.ack(ack)) {
                // A reconnect (the events say why) voids the handle.
                let seen: Vec<_> = std::iter::from_fn(|| events.try_recv()).collect();
                panic!("ack of message {}: {e}; events {seen:?}", got.len() - 1);
            }
        }
    }
    let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(got, want);
    // The idle stream kept the first 10 it matched, the earliest messages.
    let mut kept = Vec::new();
    while let Some(message) = idle.try_recv_message() {
        kept.push(String::from_utf8(message.publish.payload.to_vec()).unwrap());
        if let Some(ack) = message.ack {
            rt.block_on(client.ack(ack)).unwrap();
        }
    }
    let first: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(kept, first);
    rt.block_on(client.disconnect(Default::default(), Default::default()))
        .unwrap();
    rt.block_on(publisher.disconnect(Default::default(), Default::default()))
        .unwrap();
}

/// A store that can be told to fail its writes (issue 15).
#[derive(Clone, Default)]
struct FailingStore {
    fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl midge_core::session::SessionStore for FailingStore {
    fn load(
        &mut self,
    ) -> Result<midge_core::session::SessionState, midge_core::session::StoreError> {
        Ok(Default::default())
    }
    fn persist(
        &mut self,
        _changes: &[midge_core::session::SessionChange],
    ) -> Result<(), midge_core::session::StoreError> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(midge_core::session::StoreError::Io {
                message: "told to fail".into(),
            });
        }
        Ok(())
    }
}

#[test]
fn a_store_that_fails_stops_what_depends_on_it() {
    use std::sync::atomic::Ordering::SeqCst;
    let b = broker();
    let rt = midge_native::runtime();
    let url = format!("mqtt://127.0.0.1:{}", b.port);
    // A plain subscriber sees what the durable publisher really sent.
    let sub = NativeClient::new(NativeOptions::new(&url).unwrap()).unwrap();
    rt.block_on(sub.connect()).unwrap();
    let mut received = sub.messages(None).unwrap();
    rt.block_on(sub.subscribe(
        vec![SubscribeFilter::new("store/#", QoS::AtLeastOnce)],
        Default::default(),
    ))
    .unwrap();

    let store = FailingStore::default();
    let mut options = NativeOptions::new(&url).unwrap();
    options.client.client_id = "native-failing-store".into();
    options.store =
        midge_native::StoreConfig::Custom(midge_native::CustomStore::new(store.clone()));
    let client = NativeClient::new(options).unwrap();
    let mut events = client.events();
    rt.block_on(client.connect()).unwrap();
    rt.block_on(client.publish(Publish::new("store/ok", &b"durable"[..], QoS::AtLeastOnce)))
        .unwrap();
    rt.block_on(client.sync()).unwrap();
    assert_eq!(rt.block_on(received.recv()).unwrap().topic, "store/ok");

    store.fail.store(true, SeqCst);
    let pending = client.publish(Publish::new("store/never", &b"x"[..], QoS::AtLeastOnce));
    // The application is told; the connection closes.
    let failed = rt.block_on(async {
        loop {
            match events.recv().await.unwrap() {
                NativeEvent::StoreFailed { error } => break error,
                _ => continue,
            }
        }
    });
    assert!(failed.to_string().contains("told to fail"), "{failed}");
    assert!(matches!(
        rt.block_on(client.sync()),
        Err(NativeError::Store { .. })
    ));
    // Nothing that depended on the failed write reached the broker: a
    // marker published by the subscriber itself arrives first.
    rt.block_on(sub.publish(Publish::new("store/marker", &b"m"[..], QoS::AtLeastOnce)))
        .unwrap();
    assert_eq!(rt.block_on(received.recv()).unwrap().topic, "store/marker");
    assert!(received.try_recv().is_none());

    // The store recovers: the next attempt writes the session, and the
    // publish goes out then.
    store.fail.store(false, SeqCst);
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), pending)
            .await
            .expect("the publish completes after the store recovers")
    })
    .unwrap();
    assert_eq!(rt.block_on(received.recv()).unwrap().topic, "store/never");
    for c in [client, sub] {
        rt.block_on(c.disconnect(Default::default(), Default::default()))
            .unwrap();
    }
}
