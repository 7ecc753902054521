//! Opening a connection: the cause of a failure reaches the core, and the
//! core's timers and the application's commands act while a connection is
//! still being opened (the driver polls the attempt beside them).

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use midge_core::packet::{DisconnectProperties, ReasonCode};
use midge_native::{ConnectionStatus, NativeClient, NativeError, NativeEvent, NativeOptions};

mod common;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A listener that accepts connections and never answers: a WebSocket
/// handshake to it waits forever, like a black-holed broker.
struct Silent {
    port: u16,
    _accepted: std::sync::mpsc::Receiver<TcpStream>,
}

fn silent_listener() -> Silent {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // Kept open, never read: the handshake gets no answer.
            if tx.send(stream).is_err() {
                break;
            }
        }
    });
    Silent {
        port,
        _accepted: rx,
    }
}

#[test]
fn a_refused_connection_says_refused() {
    let port = free_port();
    let client =
        NativeClient::new(NativeOptions::new(&format!("mqtt://127.0.0.1:{port}")).unwrap())
            .unwrap();
    let mut events = client.events();
    let rt = midge_native::runtime();
    let err = rt.block_on(client.connect()).unwrap_err();
    let NativeError::Transport { message } = &err else {
        panic!("not a transport error: {err:?}");
    };
    assert!(
        message.contains(&format!("connecting to mqtt://127.0.0.1:{port} failed"))
            && message.to_lowercase().contains("refused"),
        "{message}"
    );
    // The event carries the same cause: it came from the core, not from a
    // copy the driver kept.
    let event = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some(NativeEvent::Disconnected { error, .. }) = events.recv().await {
                    return error;
                }
            }
        })
        .await
    });
    assert_eq!(event.expect("a Disconnected event"), err);
}

#[test]
fn the_core_times_out_an_open_that_hangs() {
    let silent = silent_listener();
    let mut options = NativeOptions::new(&format!("ws://127.0.0.1:{}/mqtt", silent.port)).unwrap();
    options.client.connect_timeout_ms = 300;
    let client = NativeClient::new(options).unwrap();
    let started = Instant::now();
    let err = midge_native::runtime()
        .block_on(client.connect())
        .unwrap_err();
    // The core's connect timer, which now covers opening as well.
    assert!(
        matches!(&err, NativeError::Timeout { message } if message.contains("no CONNACK within 300 ms")),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn disconnect_while_opening_returns_at_once() {
    let silent = silent_listener();
    let mut options = NativeOptions::new(&format!("ws://127.0.0.1:{}/mqtt", silent.port)).unwrap();
    options.client.connect_timeout_ms = 60_000;
    let client = NativeClient::new(options).unwrap();
    let rt = midge_native::runtime();
    let mut status = client.status();
    let connecting = client.connect();
    rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            status.wait_for(|s| *s == ConnectionStatus::Connecting),
        )
        .await
        .expect("connecting within 5 s")
        .expect("status channel open");
    });
    let started = Instant::now();
    let disconnected = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            client.disconnect(ReasonCode::Success, DisconnectProperties::default()),
        )
        .await
    });
    assert!(
        matches!(disconnected, Ok(Ok(()))),
        "disconnect while opening: {disconnected:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let connect =
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), connecting).await });
    assert!(
        matches!(connect, Ok(Err(NativeError::Closed { .. }))),
        "the connect call: {connect:?}"
    );
}

/// The line that tells of a disconnect the application asked for is
/// written before `disconnect()` returns, so a program that ends right
/// after it (Python's exit hook waits only for the lines handed over) has
/// it logged. The sink here is a slow one: it marks the line only after a
/// while, so a reply sent before the line was written comes back first.
#[test]
fn the_disconnect_line_is_written_before_disconnect_returns() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let runtime = midge_native::runtime();
    let logged = Arc::new(AtomicBool::new(false));
    let mark = logged.clone();
    let (listener, client) = common::hand_broker_and_client_with(runtime.handle().clone(), |o| {
        o.trace = Some(midge_native::TraceSink::new(
            Some(midge_core::trace::Severity::Info),
            move |record| {
                if record.message == "disconnected by the application" {
                    // A logging handler that takes its time (a file, a socket).
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    mark.store(true, Ordering::SeqCst);
                }
            },
        ));
    });
    let broker = std::thread::spawn(move || common::HandBroker::accept(listener).wait_for_close());
    runtime.block_on(client.connect()).unwrap();
    runtime
        .block_on(client.disconnect(Default::default(), Default::default()))
        .unwrap();
    assert!(
        logged.load(Ordering::SeqCst),
        "disconnect() returned before its line was written"
    );
    broker.join().unwrap();
}
