//! Runs the round-trip example against a real mosquitto that the test starts
//! on a free loopback port (and stops when done).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

struct Mosquitto {
    child: Child,
    port: u16,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Mosquitto {
    fn start() -> Mosquitto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("midge-mosquitto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            ),
        )
        .unwrap();
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mosquitto is installed (scripts/setup.sh installs it)");
        // Wait for the broker to say it is running; it prints this after its
        // listeners are open.
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("running") => break,
                Some(Ok(line)) if line.contains("Error") => panic!("mosquitto failed: {line}"),
                Some(Ok(_)) => continue,
                _ => panic!("mosquitto exited before it was running"),
            }
        }
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Mosquitto {
            child,
            port,
            _dir: TempDir(dir),
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn round_trip_at_every_qos_through_mosquitto() {
    let broker = Mosquitto::start();
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
