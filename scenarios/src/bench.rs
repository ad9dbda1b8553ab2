//! `eddy bench`: simulation speed (simulated seconds per wall-clock second) and checker
//! throughput. Wall-clock time is read here, outside the simulation, and only here.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::run::run;
use crate::spec::Scenario;

/// CPU time the calling thread has used, from Linux's /proc/thread-self/schedstat
/// (nanoseconds on CPU); `None` elsewhere. The checker timings run on the calling thread.
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// CPU time (user + system) of the whole process, threads that have exited included, from
/// Linux's /proc/self/stat; `None` elsewhere. A run's simulation executes on a thread of
/// its own (see `run::run`), so the calling thread's CPU time would miss it. The figures are
/// in clock ticks of 1/100 s (Linux's USER_HZ), so they are good to about 10 ms.
fn process_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The second field, the command name, is in parentheses and may hold spaces.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state (field 3) ... utime (field 14), stime (field 15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Times the checkers on a JSONL history held in memory, three times: parsing it (what
/// `eddy check` does after reading the file), checking it, and both, in operations per
/// second of one core (CPU time where the platform reports it, else wall time).
fn time_checker(jsonl: &[u8]) -> anyhow::Result<()> {
    let mut rates = Vec::new();
    for rep in 1..=3 {
        let clock = || thread_cpu_seconds().unwrap_or_else(|| EPOCH.elapsed().as_secs_f64());
        let t0 = clock();
        let ops = eddy_reports::read_jsonl_bytes(jsonl)?;
        let t1 = clock();
        let verdict = eddy_reports::check(&ops);
        let t2 = clock();
        let n = ops.len() as f64;
        let rate = n / (t2 - t0).max(1e-9);
        println!(
            "  run {rep}: parse {:.3} s ({:.0} ops/s), check {:.3} s ({:.0} ops/s), parse + check {:.0} ops/s ({} violations)",
            t1 - t0,
            n / (t1 - t0).max(1e-9),
            t2 - t1,
            n / (t2 - t1).max(1e-9),
            rate,
            verdict.total()
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "checker: parse + check {:.0} ops/s (median of 3), best {:.0} ops/s",
        rates[1], rates[2]
    );
    Ok(())
}

static EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

pub fn bench(
    path: &Path,
    seeds: u64,
    check_ops: Option<usize>,
    check_history: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::load(path)?;
    println!(
        "scenario {} ({}), {} seed(s), {} build",
        scenario.name,
        path.display(),
        seeds,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let mut sim_total = 0.0;
    let mut wall_total = 0.0;
    let mut cpu_total = 0.0;
    for seed in 1..=seeds {
        let t = Instant::now();
        let cpu0 = process_cpu_seconds();
        let out = run(&scenario, seed);
        let wall = t.elapsed().as_secs_f64();
        let cpu = process_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
        let sends = out
            .ops
            .iter()
            .filter(|o| matches!(o.kind, eddy_reports::OpKind::Send { .. }))
            .count();
        println!(
            "seed {seed}: {:.1} simulated s in {:.2} wall s = {:.1}x real time{} ({} ops, {} sends)",
            out.sim_seconds,
            wall,
            out.sim_seconds / wall,
            cpu.map(|c| format!(", {:.2} CPU s = {:.1}x per CPU second", c, out.sim_seconds / c)).unwrap_or_default(),
            out.ops.len(),
            sends
        );
        sim_total += out.sim_seconds;
        wall_total += wall;
        cpu_total += cpu.unwrap_or(wall);
    }
    if seeds > 0 {
        println!(
            "overall: {:.1}x real time (wall), {:.1}x per CPU second (one core)",
            sim_total / wall_total.max(1e-9),
            sim_total / cpu_total.max(1e-9)
        );
    }
    if let Some(n) = check_ops {
        let ops = eddy_reports::synth_history(n, 7);
        let mut jsonl = Vec::new();
        eddy_reports::write_jsonl(&mut jsonl, &ops)?;
        println!(
            "checker: synthetic history of {} ops, {:.1} MB of JSONL",
            ops.len(),
            jsonl.len() as f64 / 1e6
        );
        time_checker(&jsonl)?;
    }
    if let Some(path) = check_history {
        let jsonl = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        println!(
            "checker: {} ({:.1} MB of JSONL)",
            path.display(),
            jsonl.len() as f64 / 1e6
        );
        time_checker(&jsonl)?;
    }
    Ok(ExitCode::SUCCESS)
}
