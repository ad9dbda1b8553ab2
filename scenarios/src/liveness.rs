//! Liveness after the faults stop: acknowledged throughput must come back to a fraction of
//! the offered load within a bound. Judged from the history alone.

use eddy_reports::{Op, OpKind, Outcome};
use serde::Serialize;

/// Width of the throughput windows, seconds.
pub const WINDOW_S: f64 = 2.0;

#[derive(Debug, Clone, Serialize)]
pub struct Liveness {
    /// When the heal phase started, seconds since the run started.
    pub heal_start_s: f64,
    /// Records per second the producers offer.
    pub offered_per_s: f64,
    /// Acknowledged sends per second needed to count as recovered.
    pub needed_per_s: f64,
    /// Seconds from the heal start to the end of the first window that reached it.
    pub recovered_after_s: Option<f64>,
    pub bound_s: f64,
    pub ok: bool,
    pub explanation: String,
}

/// Judge recovery from the acknowledged sends (bucketed by invoke time, so a send counts for
/// the moment it was offered) in `[heal_start, heal_end)`.
pub fn judge(
    ops: &[Op],
    heal_start_s: f64,
    heal_end_s: f64,
    offered_per_s: f64,
    fraction: f64,
    bound_s: f64,
) -> Liveness {
    let needed = offered_per_s * fraction;
    let windows = (((heal_end_s - heal_start_s) / WINDOW_S).floor() as usize).max(1);
    let mut counts = vec![0u64; windows];
    for o in ops {
        if o.outcome != Outcome::Ok || !matches!(o.kind, OpKind::Send { .. }) {
            continue;
        }
        let t = o.invoke_us as f64 / 1e6;
        if t >= heal_start_s && t < heal_end_s {
            let w = ((t - heal_start_s) / WINDOW_S) as usize;
            if let Some(c) = counts.get_mut(w) {
                *c += 1;
            }
        }
    }
    let recovered = counts
        .iter()
        .position(|c| *c as f64 / WINDOW_S >= needed)
        .map(|w| (w + 1) as f64 * WINDOW_S);
    let ok = needed <= 0.0 || recovered.is_some_and(|r| r <= bound_s);
    let explanation = match recovered {
        Some(r) if ok => format!("throughput back to ≥ {needed:.0}/s {r:.0} s after the faults stopped"),
        Some(r) => format!("throughput came back to ≥ {needed:.0}/s only after {r:.0} s (bound {bound_s:.0} s)"),
        None => format!(
            "throughput never came back to ≥ {needed:.0}/s in {:.0} s of heal (best window {:.0}/s)",
            heal_end_s - heal_start_s,
            counts.iter().max().copied().unwrap_or(0) as f64 / WINDOW_S
        ),
    };
    Liveness {
        heal_start_s,
        offered_per_s,
        needed_per_s: needed,
        recovered_after_s: recovered,
        bound_s,
        ok,
        explanation,
    }
}
