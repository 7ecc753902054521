//! Runs the round-trip example against a real mosquitto that the test starts
//! on a free loopback port (and stops when done), with the launcher every
//! suite uses (`midge-testkit`'s library).

use std::net::TcpListener;
use std::process::Command;

use midge_system_tests::broker::{Broker, MosquittoConfig};

#[test]
fn round_trip_at_every_qos_through_mosquitto() {
    let broker = Broker::mosquitto(MosquittoConfig::default())
        .expect("mosquitto starts (scripts/setup.sh installs it)");
    let output = Command::new(env!("CARGO_BIN_EXE_midge-example-roundtrip"))
        .arg(format!("mqtt://127.0.0.1:{}", broker.port))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "example failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for qos in 0..3 {
        assert!(stdout.contains(&format!("hello at QoS {qos}")), "{stdout}");
    }
    assert!(stdout.contains("round trip complete"), "{stdout}");
}

#[test]
fn unreachable_broker_is_a_clear_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(env!("CARGO_BIN_EXE_midge-example-roundtrip"))
        .arg(format!("mqtt://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("transport closed"), "{stderr}");
}
