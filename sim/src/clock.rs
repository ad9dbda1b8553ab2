//! The simulated wall clock: a fixed epoch plus the simulated time elapsed since the runtime
//! started. Object `last_modified` stamps, meter integration and reports use it so that the
//! same seed gives byte-identical timestamps. It never reads the host's clock in simulation.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// Unix seconds of the simulated epoch, 2026-01-01T00:00:00Z.
pub const SIM_EPOCH_UNIX_SECS: i64 = 1_767_225_600;

/// The simulated epoch, 2026-01-01T00:00:00Z: simulated time zero as a calendar date.
pub fn sim_epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(SIM_EPOCH_UNIX_SECS, 0).unwrap_or_default()
}

/// Simulated time elapsed since the simulation runtime started.
///
/// Under madsim this is the runtime's virtual clock (the same for every node and bucket);
/// outside a runtime it is zero. In a real-mode build (no `--cfg madsim`) it is the time
/// since the first call, which only matters for tools, never for a simulation.
pub fn sim_elapsed() -> Duration {
    #[cfg(madsim)]
    {
        madsim::time::TimeHandle::try_current()
            .map(|handle| handle.elapsed())
            .unwrap_or_default()
    }
    #[cfg(not(madsim))]
    {
        static START: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
        START.get_or_init(tokio::time::Instant::now).elapsed()
    }
}

/// The simulated calendar time: [`sim_epoch`] plus [`sim_elapsed`].
pub fn sim_now_utc() -> DateTime<Utc> {
    at_elapsed(sim_elapsed())
}

/// The calendar time `elapsed` after the simulated epoch.
pub fn at_elapsed(elapsed: Duration) -> DateTime<Utc> {
    let epoch = sim_epoch();
    TimeDelta::from_std(elapsed)
        .ok()
        .and_then(|delta| epoch.checked_add_signed(delta))
        .unwrap_or(epoch)
}

/// Converts milliseconds (possibly fractional, possibly garbage) to a `Duration`: negative
/// and NaN become zero, and anything above a day is capped at a day.
pub fn ms_to_duration(ms: f64) -> Duration {
    const MS_MAX: f64 = 86_400_000.0;
    if ms.is_nan() || ms <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(ms.min(MS_MAX) / 1000.0)
}

/// Sleeps for exactly `duration` of simulated time.
///
/// `tokio::time::sleep` under madsim rounds every sleep up to at least 1 ms; resetting the
/// deadline afterwards keeps sub-millisecond latencies (inter-AZ hops, Express first bytes)
/// exact.
pub async fn sleep_exact(duration: Duration) {
    if duration.is_zero() {
        return;
    }
    let deadline = tokio::time::Instant::now() + duration;
    let sleep = tokio::time::sleep_until(deadline);
    tokio::pin!(sleep);
    sleep.as_mut().reset(deadline);
    sleep.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_is_2026() {
        assert_eq!(sim_epoch().to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert_eq!(
            at_elapsed(Duration::from_millis(1500)).to_rfc3339(),
            "2026-01-01T00:00:01.500+00:00"
        );
    }

    #[test]
    fn ms_to_duration_never_panics() {
        assert_eq!(ms_to_duration(f64::NAN), Duration::ZERO);
        assert_eq!(ms_to_duration(-3.0), Duration::ZERO);
        assert_eq!(ms_to_duration(f64::INFINITY), Duration::from_secs(86_400));
        assert_eq!(ms_to_duration(2.5), Duration::from_micros(2500));
    }

    #[cfg(madsim)]
    #[madsim::test]
    async fn sleep_exact_keeps_sub_millisecond_precision() {
        let start = tokio::time::Instant::now();
        sleep_exact(Duration::from_micros(300)).await;
        // madsim advances its clock by a few tens of ns per scheduling step.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_micros(300) && elapsed < Duration::from_micros(310),
            "{elapsed:?}"
        );
    }
}
