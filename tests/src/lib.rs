//! Helpers of the midge system tests: brokers started on free loopback ports
//! ([`broker`]), a fault-injecting TCP proxy ([`proxy`]) and a scripted
//! broker for one connection ([`scripted`]); `midge-testkit` runs them for
//! the suites of every runtime.

pub mod broker;
pub mod proxy;
pub mod scripted;
pub mod stream;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Why a helper could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A broker is not installed or not set up (run `scripts/setup-system-tests.sh`).
    #[error("{broker} is unavailable: {reason}")]
    Unavailable { broker: String, reason: String },
    /// A broker config template or command that cannot be used.
    #[error("{reason}")]
    Usage { reason: String },
    #[error("{broker} did not become ready within {secs} s; last output: {output}")]
    NotReady {
        broker: String,
        secs: u64,
        output: String,
    },
}

impl HarnessError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
        let what = what.into();
        move |source| HarnessError::Io { what, source }
    }
}

/// A free loopback TCP port for a server to bind a moment later.
///
/// Chosen below the kernel's ephemeral range, so no outgoing connection (a
/// client under test, a readiness probe) can take it in between, and never
/// the same port twice in one process: a broker's six listeners cannot
/// collide with each other. Bind-0 ports (the OS's pick) come from the
/// ephemeral range and once made a listener fail or land on a port another
/// socket had taken.
pub fn free_port() -> Result<u16, HarnessError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (low, high) = listener_port_range();
    let span = u32::from(high - low);
    // Each process starts elsewhere in the range, so suites run side by
    // side rarely probe the same ports.
    let start = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = low + (start.wrapping_add(step) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").map_err(HarnessError::io("binding port 0"))?;
    Ok(listener
        .local_addr()
        .map_err(HarnessError::io("local_addr"))?
        .port())
}

/// Ports from 20000 up to where the kernel's ephemeral range starts
/// (32768 by default on Linux).
fn listener_port_range() -> (u16, u16) {
    const LOW: u16 = 20_000;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    if ephemeral_start > LOW + 1_000 {
        (LOW, ephemeral_start)
    } else {
        // An unusual range: take ports above it instead.
        (49_152.max(LOW), 65_535)
    }
}

/// The `tests/` folder of the repository (for the broker scripts and venvs).
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Poll `condition` every few milliseconds until it holds or `limit` passes.
/// For conditions that have no event to wait on (a port accepting, a file
/// appearing); returns whether it held.
pub fn poll_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Resident set size of this process in KiB (Linux `/proc/self/status`).
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
