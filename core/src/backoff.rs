//! Reconnect delays: exponential backoff with full jitter, randomness seeded
//! by the caller (the core never asks the OS for entropy).
//!
//! Attempt `n` (from 0) waits a uniformly random delay in
//! `[min_delay_ms, min(max_delay_ms, min_delay_ms * factor^n)]`. Spreading
//! over the whole range ("full jitter") keeps a fleet of clients that lost
//! the same broker from reconnecting in lockstep; the floor keeps a client
//! from hammering a broker that refuses at once. A connection that stays up
//! for `stable_after_ms` resets the attempt count.
//!
//! ```
//! use midge_core::backoff::{Backoff, BackoffPolicy};
//!
//! let policy = BackoffPolicy { min_delay_ms: 100, max_delay_ms: 1_000, factor: 2.0, stable_after_ms: 5_000 };
//! let mut backoff = Backoff::new(policy, 42);
//! let delays: Vec<u64> = (0..6).map(|_| backoff.next_delay_ms()).collect();
//! assert_eq!(delays[0], 100);
//! assert!(delays.iter().all(|d| (100..=1_000).contains(d)));
//!
//! backoff.connection_stable(6_000); // stayed up long enough
//! assert_eq!(backoff.next_delay_ms(), 100);
//! ```

/// When to retry after a connection is lost or refused.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffPolicy {
    /// Shortest wait, and the first attempt's wait.
    pub min_delay_ms: u64,
    /// Longest wait.
    pub max_delay_ms: u64,
    /// Growth of the ceiling per attempt (at least 1.0).
    pub factor: f64,
    /// A connection that lasted this long resets the backoff.
    pub stable_after_ms: u64,
}

impl Default for BackoffPolicy {
    /// 1 s, doubling, up to 60 s; reset after 30 s connected.
    fn default() -> Self {
        BackoffPolicy {
            min_delay_ms: 1_000,
            max_delay_ms: 60_000,
            factor: 2.0,
            stable_after_ms: 30_000,
        }
    }
}

/// A [`BackoffPolicy`] field that breaks a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum BackoffError {
    /// `min_delay_ms` is 0: the first retry would not wait at all.
    MinDelayZero,
    /// `max_delay_ms` is below `min_delay_ms`.
    MaxBelowMin {
        /// The minimum delay given, in milliseconds.
        min: u64,
        /// The maximum delay given, in milliseconds.
        max: u64,
    },
    /// The value is kept here but not printed: formatting an `f64` would
    /// link `core`'s float printing (5 KB) into the browser package.
    Factor(f64),
}

// `Display` by hand rather than with `thiserror` (see `text`).
impl std::fmt::Display for BackoffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl BackoffError {
    /// The rule broken, as `Display` prints it (built without `core::fmt`,
    /// which `to_string` would link into the browser package).
    pub(crate) fn message(&self) -> String {
        use crate::text::{cat, dec};
        match self {
            BackoffError::MinDelayZero => "min_delay_ms must be at least 1".into(),
            BackoffError::MaxBelowMin { min, max } => cat(&[
                "max_delay_ms (",
                &dec(*max),
                ") must not be below min_delay_ms (",
                &dec(*min),
                ")",
            ]),
            BackoffError::Factor(_) => "factor must be a finite number of at least 1.0".into(),
        }
    }
}

impl std::error::Error for BackoffError {}

impl BackoffPolicy {
    /// Check the rules; the error names the field.
    pub fn validate(&self) -> Result<(), BackoffError> {
        if self.min_delay_ms == 0 {
            return Err(BackoffError::MinDelayZero);
        }
        if self.max_delay_ms < self.min_delay_ms {
            return Err(BackoffError::MaxBelowMin {
                min: self.min_delay_ms,
                max: self.max_delay_ms,
            });
        }
        if !self.factor.is_finite() || self.factor < 1.0 {
            return Err(BackoffError::Factor(self.factor));
        }
        Ok(())
    }
}

/// The running state of a [`BackoffPolicy`]: attempt count and random source.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
    rng: SplitMix64,
}

impl Backoff {
    /// Start at attempt 0 with jitter drawn from `seed`.
    pub fn new(policy: BackoffPolicy, seed: u64) -> Backoff {
        Backoff {
            policy,
            attempt: 0,
            rng: SplitMix64(seed),
        }
    }

    /// The policy in use.
    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
    }

    /// Attempts since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The wait before the next attempt; counts the attempt.
    pub fn next_delay_ms(&mut self) -> u64 {
        let ceiling = self.ceiling_ms();
        self.attempt = self.attempt.saturating_add(1);
        let min = self.policy.min_delay_ms;
        let span = ceiling.saturating_sub(min);
        if span == 0 {
            return min;
        }
        // `span + 1` values: both ends included. The modulo bias is at most
        // span / 2^64, far below anything a reconnect could notice.
        match span.checked_add(1) {
            Some(values) => min + self.rng.next() % values,
            None => min + self.rng.next(), // min == 0 and max == u64::MAX: every value
        }
    }

    /// Upper bound of the next delay.
    pub fn ceiling_ms(&self) -> u64 {
        let BackoffPolicy {
            min_delay_ms: min,
            max_delay_ms: max,
            factor,
            ..
        } = self.policy;
        // f64 saturates to infinity instead of overflowing; `as` clamps.
        let grown = (min as f64) * factor.powi(self.attempt.min(1_000) as i32);
        if grown >= max as f64 {
            max
        } else {
            (grown as u64).clamp(min, max)
        }
    }

    /// A connection lasted `duration_ms`: reset when that counts as stable.
    pub fn connection_stable(&mut self, duration_ms: u64) {
        if duration_ms >= self.policy.stable_after_ms {
            self.reset();
        }
    }

    /// Start over from the first delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for
/// jitter; not for anything secret.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackoffPolicy {
        BackoffPolicy {
            min_delay_ms: 10,
            max_delay_ms: 10_000,
            factor: 3.0,
            stable_after_ms: 1_000,
        }
    }

    #[test]
    fn delays_stay_in_bounds_and_spread() {
        for seed in 0..50 {
            let mut b = Backoff::new(policy(), seed);
            for attempt in 0..40u32 {
                let ceiling = (10.0 * 3f64.powi(attempt as i32)).min(10_000.0) as u64;
                let d = b.next_delay_ms();
                assert!(
                    (10..=ceiling).contains(&d),
                    "seed {seed} attempt {attempt}: {d}"
                );
            }
        }
        // At the cap, delays spread over the range rather than sitting at the top.
        let mut b = Backoff::new(policy(), 7);
        let capped: Vec<u64> = (0..200).map(|_| b.next_delay_ms()).skip(20).collect();
        assert!(capped.iter().any(|d| *d < 5_000) && capped.iter().any(|d| *d > 5_000));
    }

    #[test]
    fn same_seed_same_delays_other_seed_other_delays() {
        let run = |seed| {
            let mut b = Backoff::new(policy(), seed);
            (0..10).map(|_| b.next_delay_ms()).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn resets_only_after_a_stable_connection() {
        let mut b = Backoff::new(policy(), 3);
        for _ in 0..5 {
            b.next_delay_ms();
        }
        b.connection_stable(999);
        assert_eq!(b.attempt(), 5);
        b.connection_stable(1_000);
        assert_eq!(b.attempt(), 0);
        assert_eq!(b.next_delay_ms(), 10);
    }

    #[test]
    fn extreme_policies_do_not_overflow() {
        let mut b = Backoff::new(
            BackoffPolicy {
                min_delay_ms: 1,
                max_delay_ms: u64::MAX,
                factor: 1e300,
                stable_after_ms: 0,
            },
            9,
        );
        for _ in 0..100 {
            b.next_delay_ms();
        }
        assert_eq!(b.ceiling_ms(), u64::MAX);
    }

    #[test]
    fn validation_names_the_field() {
        let mut p = policy();
        p.min_delay_ms = 0;
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("min_delay_ms"));
        let mut p = policy();
        p.max_delay_ms = 1;
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("max_delay_ms"));
        let mut p = policy();
        p.factor = f64::NAN;
        assert!(p.validate().unwrap_err().to_string().contains("factor"));
        p.factor = 0.5;
        assert!(p.validate().is_err());
    }
}
