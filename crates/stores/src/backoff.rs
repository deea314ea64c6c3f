//! The one backoff Waybill waits with between attempts (an unreachable remote, a store that stays
//! unreachable, a locked branch): exponential from `min`, capped at `max`, with jitter so that many
//! stores failing together do not retry in step.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// How long to wait before attempt `attempt + 1` (`attempt` 0 is the first retry): about
/// `min * 2^attempt`, never more than `max`.
pub fn delay(attempt: usize, min: Duration, max: Duration) -> Duration {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(max)
        .with_jitter()
        .with_max_times(attempt + 1)
        .build();
    delays.nth(attempt).unwrap_or(max).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_the_minimum_and_never_pass_the_cap() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(300));
        for attempt in 0..20 {
            let exact = min.saturating_mul(1 << attempt.min(20)).min(max);
            let d = delay(attempt, min, max);
            assert!(d >= exact.min(max) && d <= max && d <= exact * 2, "attempt {attempt}: {d:?} (about {exact:?})");
        }
        assert_eq!(delay(30, min, max), max, "far attempts wait the cap");
    }
}
