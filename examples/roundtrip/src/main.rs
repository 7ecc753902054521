//! The smallest complete driver of `midge-core`: one blocking TCP socket and
//! the socket's read timeout as the timer. It connects to the broker given on
//! the command line, subscribes to a topic, publishes one message at each QoS
//! and waits until all three come back and every publish is acknowledged.
//!
//! ```text
//! cargo run -p midge-example-roundtrip -- mqtt://127.0.0.1:1883
//! ```
//!
//! The bindings (Python, browser, Kotlin) drive the core the same way with
//! their own runtimes; none of the protocol logic lives here.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use midge_core::packet::{
    DisconnectProperties, Publish, QoS, ReasonCode, SubscribeFilter, SubscribeProperties,
};
use midge_core::server::Transport;
use midge_core::{Client, ClientOptions, ConnectionState, Event, TransportCommand};

fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mqtt://127.0.0.1:1883".into());
    match run(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roundtrip failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: &str) -> Result<(), String> {
    let mut options = ClientOptions::new(url).map_err(|e| e.to_string())?;
    options.client_id = format!("midge-roundtrip-{}", std::process::id());
    options.keep_alive_secs = 10;
    options.reconnect = None;
    let mut client = Client::new(options).map_err(|e| e.to_string())?;

    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    let deadline = Duration::from_secs(10);
    let topic = format!("midge/demo/{}", std::process::id());

    client.connect(now()).map_err(|e| e.to_string())?;
    let mut socket: Option<TcpStream> = None;
    let mut received = Vec::new();
    let mut acknowledged = 0;
    let mut read_buf = vec![0u8; 64 * 1024];

    loop {
        if start.elapsed() > deadline {
            return Err("timed out".into());
        }
        // 1. What the core wants done with the transport.
        while let Some(command) = client.poll_transport_command() {
            match command {
                TransportCommand::Open(server) => {
                    if server.transport != Transport::Tcp {
                        return Err(format!("this example speaks mqtt:// only, not {server}"));
                    }
                    match TcpStream::connect((server.host.as_str(), server.port)) {
                        Ok(stream) => {
                            stream.set_nodelay(true).map_err(|e| e.to_string())?;
                            socket = Some(stream);
                            client.handle_transport_open(now());
                        }
                        Err(e) => {
                            eprintln!("cannot reach {server}: {e}");
                            client.handle_transport_closed(now());
                        }
                    }
                }
                TransportCommand::Close => {
                    if let Some(mut s) = socket.take() {
                        if let Some(bytes) = client.poll_transmit() {
                            let _ = s.write_all(&bytes);
                        }
                    }
                    client.handle_transport_closed(now());
                }
            }
        }
        // 2. Events for the application (which may issue new commands).
        while let Some(event) = client.poll_event() {
            match event {
                Event::Connected(info) => {
                    println!(
                        "connected to {} (session present: {}, keep-alive {} s)",
                        info.server, info.session_present, info.keep_alive_secs
                    );
                    client
                        .subscribe(
                            now(),
                            vec![SubscribeFilter::new(topic.clone(), QoS::ExactlyOnce)],
                            SubscribeProperties::default(),
                        )
                        .map_err(|e| e.to_string())?;
                }
                Event::Subscribed { results, .. } => {
                    println!("subscribed to {topic}: {results:?}");
                    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                        let payload = format!("hello at QoS {}", qos as u8);
                        client
                            .publish(
                                now(),
                                Publish::new(topic.clone(), payload.into_bytes(), qos),
                            )
                            .map_err(|e| e.to_string())?;
                    }
                }
                Event::PublishComplete { token, result } => {
                    let done = result.map_err(|e| e.to_string())?;
                    println!("publish {} acknowledged: {}", token.0, done.reason_code);
                    acknowledged += 1;
                }
                Event::Message(message) => {
                    let text = String::from_utf8_lossy(&message.publish.payload).into_owned();
                    println!(
                        "received on {} at QoS {}: {text}",
                        message.publish.topic, message.publish.qos as u8
                    );
                    received.push(text);
                }
                Event::Disconnected { error, .. } => {
                    if client.state() == ConnectionState::Disconnected && received.len() < 3 {
                        return Err(error.to_string());
                    }
                }
                other => println!("event: {other:?}"),
            }
        }
        if received.len() == 3 && acknowledged == 2 && client.state() == ConnectionState::Connected
        {
            client
                .disconnect(now(), ReasonCode::Success, DisconnectProperties::default())
                .map_err(|e| e.to_string())?;
            continue;
        }
        if client.state() == ConnectionState::Disconnected && received.len() == 3 {
            println!(
                "round trip complete: 3 messages out and back in {} ms",
                now()
            );
            return Ok(());
        }
        // 3. Bytes to write: last before waiting, so that what the commands
        // above produced goes out now rather than after the next read.
        if let (Some(s), Some(bytes)) = (socket.as_mut(), client.poll_transmit()) {
            if s.write_all(&bytes).is_err() {
                socket = None;
                client.handle_transport_closed(now());
                continue;
            }
        }
        // 4. Wait for bytes or the core's next deadline.
        let Some(stream) = socket.as_mut() else {
            continue;
        };
        let wait = client
            .poll_timeout()
            .map(|at| at.saturating_sub(now()).max(1))
            .unwrap_or(1_000);
        stream
            .set_read_timeout(Some(Duration::from_millis(wait)))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut read_buf) {
            Ok(0) => {
                socket = None;
                client.handle_transport_closed(now());
            }
            Ok(n) => client.handle_bytes(now(), &read_buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                client.handle_timeout(now());
            }
            Err(e) => {
                eprintln!("read failed: {e}");
                socket = None;
                client.handle_transport_closed(now());
            }
        }
    }
}
