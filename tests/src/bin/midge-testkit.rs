//! The one broker launcher and fault proxy of every test suite (Rust,
//! Python, Node/Chromium, Kotlin): each suite runs this program and talks to
//! it over its stdin and stdout, one line at a time, so that a broker and a
//! fault behave the same in every runtime.
//!
//! ```text
//! midge-testkit mosquitto [--stopped] [TEMPLATE]
//! midge-testkit broker KIND
//! midge-testkit proxy UPSTREAM_PORT
//! midge-testkit scripted SCRIPT
//! ```
//!
//! `mosquitto`: a mosquitto config from `TEMPLATE` (default: one anonymous
//! TCP listener), where `{port:NAME}` becomes a free loopback port (the same
//! one for every mention of NAME) and `{dir}` the broker's temp dir. It
//! starts the broker (unless `--stopped`), waits until every port accepts
//! connections, and prints `ready NAME=PORT... dir=DIR log=LOG pid=PID`
//! (pid 0 while stopped). Commands: `start` (answers `ok pid=PID`), `stop`
//! (SIGTERM, wait), `kill` (SIGKILL, wait), each answering `ok`, or `error
//! MESSAGE`.
//!
//! `broker`: a broker of the interop matrix with its default test config
//! (`Broker::start`; KIND is its name there: `hivemq-ce`, `moquette`,
//! `aedes`, ...; `hivemq` for short), on free loopback ports. It waits until
//! the broker is ready (its ports accept connections, and a JVM broker's
//! launcher logged its ready line), then prints `ready tcp=PORT [ws=PORT]
//! version=VERSION dir=DIR log=LOG pid=PID` (`ws` where the broker has a
//! WebSocket listener, path `/mqtt`). No commands: it runs until stdin
//! closes. Needs what `scripts/setup-system-tests.sh` installs.
//!
//! `proxy`: the fault proxy (`midge_system_tests::proxy`) in front of
//! `127.0.0.1:UPSTREAM_PORT`; prints `ready port=PORT`, then a line
//! `stats accepted=N connacks=N cuts=N mid_packet_cuts=N blackholes=N open=N`
//! whenever a count changes. Commands: `cut`, `cut-mid-packet`, `blackhole`
//! (each answers `ok N`, the connections it hit), `delay MS` (`ok`).
//!
//! `scripted`: a broker for one MQTT 5.0 connection that follows `SCRIPT`
//! (`midge_system_tests::scripted`: `expect` and `send` steps); prints
//! `ready port=PORT`, a line `got NAME field=value...` for every packet the
//! client sent, then `done` (and keeps the connection open until the client
//! closes it) or `failed REASON` (and closes it).
//!
//! Each stops (the broker killed, its dir removed) when stdin closes, so a
//! test process that dies leaves nothing running.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use midge_system_tests::broker::{Broker, BrokerKind};
use midge_system_tests::proxy::{Proxy, ProxyStats};
use midge_system_tests::scripted;

const USAGE: &str = "usage: midge-testkit mosquitto [--stopped] [TEMPLATE] | \
     midge-testkit broker KIND | midge-testkit proxy UPSTREAM_PORT | midge-testkit scripted SCRIPT";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("mosquitto") => mosquitto(&args[1..]),
        Some("broker") => broker(&args[1..]),
        Some("proxy") => proxy(&args[1..]),
        Some("scripted") => scripted(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("midge-testkit: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Print one line and flush it (the reader waits for whole lines).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn mosquitto(args: &[String]) -> Result<(), String> {
    let stopped = args.iter().any(|a| a == "--stopped");
    let template = args.iter().find(|a| !a.starts_with("--")).map_or(
        "listener {port:tcp} 127.0.0.1\nallow_anonymous true\n",
        |t| t.as_str(),
    );
    let (mut broker, ports) =
        Broker::mosquitto_template(template, !stopped).map_err(|e| e.to_string())?;
    let mut ready = String::from("ready");
    for (name, port) in &ports {
        ready.push_str(&format!(" {name}={port}"));
    }
    ready.push_str(&format!(
        " dir={} log={} pid={}",
        broker.dir().display(),
        broker.log_path().display(),
        broker.pid().unwrap_or(0)
    ));
    say(&ready);
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let answer = match line.trim() {
            "start" => broker
                .start_again()
                .map(|()| format!(" pid={}", broker.pid().unwrap_or(0)))
                .map_err(|e| e.to_string()),
            "stop" => {
                broker.stop();
                Ok(String::new())
            }
            "kill" => {
                broker.kill9();
                Ok(String::new())
            }
            "" => continue,
            other => Err(format!("unknown command {other:?} (start, stop, kill)")),
        };
        match answer {
            Ok(detail) => say(&format!("ok{detail}")),
            Err(e) => say(&format!("error {}", e.replace('\n', " "))),
        }
    }
    // stdin closed: dropping the broker kills it and removes its dir.
    Ok(())
}

fn broker(args: &[String]) -> Result<(), String> {
    let name = args.first().ok_or_else(|| USAGE.to_string())?;
    let name = if name == "hivemq" { "hivemq-ce" } else { name };
    let kind = BrokerKind::ALL
        .into_iter()
        .find(|k| k.to_string() == name)
        .ok_or_else(|| {
            let names: Vec<String> = BrokerKind::ALL.iter().map(|k| k.to_string()).collect();
            format!("unknown broker {name:?} ({})", names.join(", "))
        })?;
    let broker = Broker::start(kind).map_err(|e| e.to_string())?;
    let mut ready = format!("ready tcp={}", broker.port);
    if let Some(ws) = broker.ws_port() {
        ready.push_str(&format!(" ws={ws}"));
    }
    ready.push_str(&format!(
        " version={} dir={} log={} pid={}",
        broker.version(),
        broker.dir().display(),
        broker.log_path().display(),
        broker.pid().unwrap_or(0)
    ));
    say(&ready);
    // Until stdin closes; then dropping the broker kills it (its whole
    // process group, at once: a JVM's orderly shutdown takes seconds) and
    // removes its dir.
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    Ok(())
}

fn proxy(args: &[String]) -> Result<(), String> {
    let upstream: u16 = args
        .first()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| USAGE.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(async move {
        let proxy = Proxy::start(upstream).await.map_err(|e| e.to_string())?;
        say(&format!("ready port={}", proxy.port));
        let proxy = std::sync::Arc::new(proxy);
        // Report every change of the counts, so that a suite waits on
        // events rather than polling.
        let watcher = {
            let proxy = proxy.clone();
            let mut changed = proxy.subscribe();
            tokio::spawn(async move {
                let mut last = None;
                loop {
                    let line = stats_line(&proxy.stats(), proxy.open_connections());
                    if last.as_ref() != Some(&line) {
                        say(&line);
                        last = Some(line);
                    }
                    if changed.changed().await.is_err() {
                        return;
                    }
                }
            })
        };
        let (tx, mut commands) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = commands.recv().await {
            let mut words = line.split_whitespace();
            let answer = match (words.next(), words.next()) {
                (Some("cut"), None) => format!("ok {}", proxy.cut()),
                (Some("cut-mid-packet"), None) => format!("ok {}", proxy.cut_mid_packet()),
                (Some("blackhole"), None) => format!("ok {}", proxy.blackhole()),
                (Some("delay"), Some(ms)) => match ms.parse() {
                    Ok(ms) => {
                        proxy.set_delay(Duration::from_millis(ms));
                        "ok".to_string()
                    }
                    Err(_) => format!("error delay: {ms:?} is not a whole number of ms"),
                },
                (None, _) => continue,
                _ => format!(
                    "error unknown command {line:?} (cut, cut-mid-packet, blackhole, delay MS)"
                ),
            };
            say(&answer);
        }
        watcher.abort();
        Ok(())
    })
}

fn scripted(args: &[String]) -> Result<(), String> {
    let script = args.first().ok_or_else(|| USAGE.to_string())?;
    let steps = scripted::parse(script).map_err(|e| e.to_string())?;
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    // Whatever the connection does, a closed stdin ends the program.
    std::thread::spawn(|| {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
        }
        std::process::exit(0);
    });
    say(&format!("ready port={port}"));
    let (mut stream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let result = scripted::run(&steps, &mut stream, |name, fields| {
        let mut line = format!("got {name}");
        for (k, v) in fields {
            line.push_str(&format!(" {k}={v}"));
        }
        say(&line);
    });
    if let Err(e) = result {
        say(&format!("failed {e}"));
        // The client fails at once rather than waiting for what never comes.
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return Ok(());
    }
    say("done");
    // Until the client closes the connection (its DISCONNECT, or a refusal).
    let mut sink = [0u8; 4096];
    while matches!(std::io::Read::read(&mut stream, &mut sink), Ok(n) if n > 0) {}
    Ok(())
}

fn stats_line(s: &ProxyStats, open: usize) -> String {
    format!(
        "stats accepted={} connacks={} cuts={} mid_packet_cuts={} blackholes={} open={open}",
        s.accepted, s.connacks, s.cuts, s.mid_packet_cuts, s.blackholes
    )
}
