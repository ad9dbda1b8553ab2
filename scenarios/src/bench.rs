//! `eddy bench`: simulation speed (simulated seconds per wall-clock second) and checker
//! throughput. Wall-clock time is read here, outside the simulation, and only here.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use crate::run::run;
use crate::spec::Scenario;

/// CPU time this process has used, from Linux's /proc/self/schedstat (nanoseconds on CPU);
/// `None` elsewhere. On a shared machine CPU time is steadier than wall time.
fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

pub fn bench(path: &Path, seeds: u64, check_ops: Option<usize>) -> anyhow::Result<ExitCode> {
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
        let cpu0 = cpu_seconds();
        let out = run(&scenario, seed);
        let wall = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
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
    println!(
        "overall: {:.1}x real time (wall), {:.1}x per CPU second (one core)",
        sim_total / wall_total.max(1e-9),
        sim_total / cpu_total.max(1e-9)
    );
    if let Some(n) = check_ops {
        let ops = eddy_reports::synth_history(n, 7);
        let t = Instant::now();
        let verdict = eddy_reports::check(&ops);
        let wall = t.elapsed().as_secs_f64();
        println!(
            "checker: {} ops in {:.3} s = {:.0} ops/s ({} violations)",
            ops.len(),
            wall,
            ops.len() as f64 / wall.max(1e-9),
            verdict.total()
        );
    }
    Ok(ExitCode::SUCCESS)
}
