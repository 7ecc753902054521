//! Writes what a blocking caller's burst of QoS 0 publishes left in the
//! lane ([`NativeClient::publish_batched`](crate::NativeClient::publish_batched)).
//!
//! A blocking publisher that publishes as fast as it can paid a `send` per
//! message: the system call, and the loopback delivery and broker wake-up
//! it starts, were most of its cost (Python's `Client` publishing QoS 0 at
//! full speed: 5.0 µs of its thread per message, 1.5 with its bursts
//! batched). An event loop writes a burst once per turn; a blocking caller
//! has no turn, and cannot know which publish is its last. So the first
//! publish a burst leaves in the lane asks this thread, one for the
//! process, to write the lane [`BATCH_WINDOW`] later: one wake-up of this
//! thread per window of a burst, however many publishes it holds. Whatever
//! comes first writes the bytes: this thread, the burst's own publish once
//! the bytes waited a window (`After::Batch`), a publish after a pause, a
//! QoS 1/2 publish, or the driver when it takes its core back. On two
//! busy cores this thread runs late: about every 0.85 ms at full speed
//! (1,190 wake-ups in a second of 85,000-100,000 messages, 949 of its
//! writes against the publisher's 338).

use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::lane::WeakCommands;

/// How long a burst's publishes wait in the lane at most (give or take
/// the wake-up of the thread that writes them).
pub(crate) const BATCH_WINDOW: Duration = Duration::from_micros(200);

/// The lanes to write, each at its time.
struct Flusher {
    due: Mutex<Vec<(Instant, WeakCommands)>>,
    wake: Condvar,
}

impl Flusher {
    fn due(&self) -> MutexGuard<'_, Vec<(Instant, WeakCommands)>> {
        // Nothing here can panic while holding it; a poisoned list is whole.
        self.due.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The thread's loop: writes each lane at its time.
    fn run(&'static self) {
        let mut due = self.due();
        loop {
            let now = Instant::now();
            let mut ready = Vec::new();
            due.retain(|(at, lane)| {
                let late = *at <= now;
                if late {
                    ready.push(lane.clone());
                }
                !late
            });
            if !ready.is_empty() {
                drop(due);
                for lane in ready {
                    if let Some(commands) = lane.upgrade() {
                        commands.flush();
                    }
                }
                due = self.due();
                continue;
            }
            // Every entry waits as long: the first is the earliest.
            due = match due.first() {
                None => self.wake.wait(due).unwrap_or_else(|e| e.into_inner()),
                Some(&(at, _)) => {
                    self.wake
                        .wait_timeout(due, at.saturating_duration_since(now))
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

/// The process's flusher, its thread started on first use; `None` if the
/// thread could not be started.
fn flusher() -> Option<&'static Flusher> {
    static FLUSHER: OnceLock<Option<&'static Flusher>> = OnceLock::new();
    *FLUSHER.get_or_init(|| {
        let flusher: &'static Flusher = Box::leak(Box::new(Flusher {
            due: Mutex::new(Vec::new()),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("midge-flush".into())
            .spawn(move || flusher.run())
            .ok()
            .map(|_| flusher)
    })
}

/// Write `lane` [`BATCH_WINDOW`] from now. `false`: no thread to do it (the
/// caller has the driver write it instead).
pub(crate) fn flush_later(lane: WeakCommands) -> bool {
    let Some(flusher) = flusher() else {
        return false;
    };
    let mut due = flusher.due();
    let sleeping = due.is_empty();
    due.push((Instant::now() + BATCH_WINDOW, lane));
    drop(due);
    // Entries come in the order they are due: a thread with a deadline
    // already wakes before this one's.
    if sleeping {
        flusher.wake.notify_one();
    }
    true
}
