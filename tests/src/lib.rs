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

/// A free loopback TCP port (the OS picks it; the listener is closed again).
pub fn free_port() -> Result<u16, HarnessError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(HarnessError::io("binding port 0"))?;
    Ok(listener
        .local_addr()
        .map_err(HarnessError::io("local_addr"))?
        .port())
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
