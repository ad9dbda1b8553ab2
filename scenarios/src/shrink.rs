//! `eddy shrink`: make a failing seed's scenario as small as it can be while it still fails
//! the same way, and write it as a scenario file that reproduces the failure.
//!
//! The seed's drawn fault schedule is first pinned (`faults.mode = scheduled`, the drawn
//! faults listed one by one, with the producers' drawn configuration): the same seed then
//! gives the same run. Then, keeping every step that still shows the target violation class:
//!
//! 1. **Faults**: delta debugging over the listed faults (drop halves, then quarters, …, then
//!    single faults), so what remains is 1-minimal up to the runs allowed: dropping any one
//!    of them makes the failure go away.
//! 2. **Other disturbances**: the spec's `crashes` schedule, `consumer_churn`, and BUGGIFY,
//!    each turned off once.
//! 3. **Time**: the chaos phase cut to just after the last fault that remains (then halved
//!    while it still fails), then the heal phase and the drain halved.
//!
//! Every candidate is a whole simulated run under the same seed; a run is deterministic, so
//! "still fails" is a fact, not a guess. The result says what it kept and how to reproduce
//! it: `eddy run <out> --seed <seed>`.

use std::path::Path;

use anyhow::{bail, Context};
use eddy_reports::Class;

use crate::commands::run_and_report;
use crate::spec::{FaultMode, Scenario};

/// What to shrink and how far.
pub struct ShrinkOptions {
    /// The violation class that must keep appearing (default: the first the seed shows).
    pub class: Option<String>,
    /// Most runs to spend after the first two.
    pub max_runs: usize,
}

/// What a shrink did.
#[derive(Debug, Clone)]
pub struct Shrunk {
    pub scenario: Scenario,
    pub class: Class,
    pub faults_before: usize,
    pub runs: usize,
}

struct Search {
    seed: u64,
    class: Class,
    runs: usize,
    max_runs: usize,
}

impl Search {
    /// Whether `s` still fails with the class; false once the run budget is spent.
    fn fails(&mut self, s: &Scenario) -> anyhow::Result<bool> {
        if self.runs >= self.max_runs || s.validate().is_err() {
            return Ok(false);
        }
        self.runs += 1;
        let (_, report) = run_and_report(s, self.seed)?;
        let shows = report
            .verdict
            .violations
            .iter()
            .any(|v| v.class == self.class);
        eprintln!(
            "  run {:>3}: {} fault(s), {:.1} s + {:.1} s heal + {:.1} s drain: {}",
            self.runs,
            s.faults.schedule.len(),
            s.duration_s,
            s.faults.heal_s,
            s.drain_s,
            if shows { "fails" } else { "passes" }
        );
        Ok(shows)
    }
}

/// Shrink `scenario` under `seed`. Errors when the seed passes or the pinned schedule does
/// not reproduce the failure.
pub fn shrink(scenario: &Scenario, seed: u64, options: &ShrinkOptions) -> anyhow::Result<Shrunk> {
    let (out, report) = run_and_report(scenario, seed)?;
    let shown: Vec<Class> = report.verdict.violations.iter().map(|v| v.class).collect();
    let class = match &options.class {
        Some(name) => *Class::ALL
            .iter()
            .find(|c| c.name() == name)
            .with_context(|| format!("no violation class named {name:?}"))?,
        None => *shown
            .first()
            .with_context(|| format!("seed {seed} passes: nothing to shrink"))?,
    };
    if !shown.contains(&class) {
        bail!(
            "seed {seed} shows no {class} violation (it shows: {})",
            if shown.is_empty() {
                "none".to_string()
            } else {
                shown
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    // The seed's own draws (a swarm seed's transactional workload) are kept as listed.
    let mut s = scenario.for_seed(seed);
    s.faults.mode = FaultMode::Scheduled;
    s.faults.schedule = out.schedule.clone();
    s.faults.producer = out.plan.producer.clone();
    let faults_before = s.faults.schedule.len();
    let mut search = Search {
        seed,
        class,
        runs: 0,
        max_runs: options.max_runs.saturating_add(1),
    };
    eprintln!(
        "shrinking {} seed {seed} for {class}: {faults_before} fault(s)",
        scenario.name
    );
    if !search.fails(&s)? {
        bail!(
            "the seed's drawn schedule, listed as faults.mode = scheduled, did not reproduce \
             {class}: the failure depends on something the listing does not hold"
        );
    }

    // 1. Faults: delta debugging (ddmin) over the list.
    let mut n = 2usize;
    while !s.faults.schedule.is_empty() {
        let len = s.faults.schedule.len();
        let chunk = len.div_ceil(n.min(len));
        let mut reduced = false;
        let mut start = 0;
        while start < s.faults.schedule.len() {
            let end = (start + chunk).min(s.faults.schedule.len());
            let mut candidate = s.clone();
            candidate.faults.schedule.drain(start..end);
            if search.fails(&candidate)? {
                s = candidate;
                reduced = true;
            } else {
                start = end;
            }
        }
        if reduced {
            n = n.saturating_sub(1).max(2);
        } else if chunk == 1 || search.runs >= search.max_runs {
            break;
        } else {
            n = (n * 2).min(s.faults.schedule.len());
        }
    }

    // 2. Other disturbances, one at a time.
    let mut candidate = s.clone();
    candidate.crashes = Default::default();
    if candidate.crashes != s.crashes && search.fails(&candidate)? {
        s = candidate;
    }
    let mut candidate = s.clone();
    candidate.consumer_churn.crashes = 0;
    if s.consumer_churn.crashes > 0 && search.fails(&candidate)? {
        s = candidate;
    }
    if s.buggify {
        let mut candidate = s.clone();
        candidate.buggify = false;
        if search.fails(&candidate)? {
            s = candidate;
        }
    }

    // 3. Time: end the chaos phase after the last fault, then halve what is left.
    let last_end_s = s
        .faults
        .schedule
        .iter()
        .map(|f| (f.at_ms + f.duration_ms) as f64 / 1000.0)
        .fold(0.0, f64::max);
    let floor_s = (last_end_s.ceil() + 1.0).max(s.verdicts.warmup_s + 1.0);
    let mut target = floor_s;
    while target < s.duration_s {
        let mut candidate = s.clone();
        candidate.duration_s = target;
        if search.fails(&candidate)? {
            s = candidate;
            break;
        }
        target = (target + s.duration_s) / 2.0;
        if s.duration_s - target < 1.0 {
            break;
        }
    }
    for field in [0usize, 1] {
        loop {
            let mut candidate = s.clone();
            let (current, min) = if field == 0 {
                (&mut candidate.faults.heal_s, 1.0)
            } else {
                (&mut candidate.drain_s, 5.0)
            };
            let half = (*current / 2.0).floor();
            if half < min {
                break;
            }
            *current = half;
            if !search.fails(&candidate)? {
                break;
            }
            s = candidate;
        }
    }
    Ok(Shrunk {
        scenario: s,
        class,
        faults_before,
        runs: search.runs,
    })
}

/// `eddy shrink`: shrink, write the scenario to `out`, and say how to reproduce it.
pub fn shrink_command(
    spec: &Path,
    seed: u64,
    options: &ShrinkOptions,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let scenario = Scenario::load(spec)?;
    let out = out.map_or_else(
        || std::path::PathBuf::from(format!("{}-shrunk-seed-{seed}.json", scenario.name)),
        Path::to_path_buf,
    );
    let out = out.as_path();
    let shrunk = shrink(&scenario, seed, options)?;
    let mut s = shrunk.scenario;
    s.name = format!("{}-shrunk-seed-{seed}", scenario.name);
    s.description = format!(
        "{} — shrunk by `eddy shrink {} --seed {seed}` to what still fails with {}: {} of {} \
         fault(s), {:.1} s of chaos, {:.1} s of heal, {:.1} s of drain.",
        scenario.description,
        spec.display(),
        shrunk.class,
        s.faults.schedule.len(),
        shrunk.faults_before,
        s.duration_s,
        s.faults.heal_s,
        s.drain_s
    );
    let json = serde_json::to_string_pretty(&s).context("serializing the shrunk scenario")?;
    std::fs::write(out, json + "\n").with_context(|| format!("writing {}", out.display()))?;
    println!(
        "shrunk {} seed {seed} ({}): {} → {} fault(s), chaos {:.1} → {:.1} s, heal {:.1} → \
         {:.1} s, drain {:.1} → {:.1} s, in {} runs",
        scenario.name,
        shrunk.class,
        shrunk.faults_before,
        s.faults.schedule.len(),
        scenario.duration_s,
        s.duration_s,
        scenario.faults.heal_s,
        s.faults.heal_s,
        scenario.drain_s,
        s.drain_s,
        shrunk.runs
    );
    for f in &s.faults.schedule {
        println!(
            "  {:>7} ms +{:>6} ms  {:?}",
            f.at_ms, f.duration_ms, f.fault
        );
    }
    println!("wrote {}", out.display());
    println!("reproduce: eddy run {} --seed {seed}", out.display());
    Ok(())
}
