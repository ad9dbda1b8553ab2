//! `eddy plant-report`: for each planted bug, fuzz a scenario with the bug switched on and
//! report the detection rate, the seeds it took to the first detection, and which checker
//! classes caught it. A plant nobody catches is a hole in the checkers or the fault model.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::Context;
use eddy_controlplane::Plant;

use crate::fuzz::judge;

struct PlantResult {
    plant: &'static str,
    seeds: u64,
    detected: u64,
    first: Option<u64>,
    classes: BTreeMap<String, u64>,
}

pub fn plant_report(
    scenario: &Path,
    seeds: u64,
    jobs: usize,
    only: &[String],
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the eddy binary")?;
    let plants: Vec<Plant> = if only.is_empty() {
        Plant::ALL.to_vec()
    } else {
        only.iter()
            .map(|n| Plant::parse(n).with_context(|| format!("unknown planted bug {n:?}")))
            .collect::<anyhow::Result<_>>()?
    };
    println!(
        "eddy plant-report {} — {} plant(s) × {seeds} seed(s), {jobs} job(s)",
        scenario.display(),
        plants.len()
    );
    let mut results = Vec::new();
    for plant in plants {
        let mut r = PlantResult {
            plant: plant.name(),
            seeds,
            detected: 0,
            first: None,
            classes: BTreeMap::new(),
        };
        let mut pending = 1..=seeds;
        let mut running: BTreeMap<u64, Child> = BTreeMap::new();
        loop {
            while running.len() < jobs.max(1) {
                let Some(seed) = pending.next() else { break };
                let dir = out.join(plant.name()).join(format!("seed-{seed}"));
                let child = Command::new(&exe)
                    .arg("run")
                    .arg(scenario)
                    .args([
                        "--plant",
                        plant.name(),
                        "--seed",
                        &seed.to_string(),
                        "--out",
                    ])
                    .arg(&dir)
                    // The report is read from the run's folder (a full pipe would block it).
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("starting eddy run")?;
                running.insert(seed, child);
            }
            if running.is_empty() {
                break;
            }
            let done: Vec<u64> = running
                .iter_mut()
                .filter_map(|(s, c)| c.try_wait().ok().flatten().map(|_| *s))
                .collect();
            if done.is_empty() {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            for seed in done {
                let mut child = running.remove(&seed).context("run vanished")?;
                let status = child.wait().context("collecting a run")?;
                let report = std::fs::read(
                    out.join(plant.name())
                        .join(format!("seed-{seed}"))
                        .join("report.json"),
                )
                .unwrap_or_default();
                let outcome = judge(seed, status.code(), &report);
                if outcome.status != "ok" {
                    r.detected += 1;
                    r.first = Some(r.first.map_or(seed, |f: u64| f.min(seed)));
                    let label = if outcome.status == "violation" {
                        outcome.detail.clone()
                    } else {
                        outcome.status.to_string()
                    };
                    for class in label.split_whitespace() {
                        let name = class.split('=').next().unwrap_or(class).to_string();
                        *r.classes.entry(name).or_default() += 1;
                    }
                } else {
                    let _ = std::fs::remove_dir_all(
                        out.join(plant.name()).join(format!("seed-{seed}")),
                    );
                }
            }
        }
        println!(
            "{:<28} detected in {:>3}/{} seeds  first at seed {}  by {}",
            r.plant,
            r.detected,
            r.seeds,
            r.first.map_or("—".to_string(), |s| s.to_string()),
            if r.classes.is_empty() {
                "—".to_string()
            } else {
                r.classes
                    .iter()
                    .map(|(k, v)| format!("{k}×{v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        results.push(r);
    }
    println!("\n| planted bug | detected | detection rate | seeds to first detection | caught by |\n|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {}/{} | {:.0}% | {} | {} |",
            r.plant,
            r.detected,
            r.seeds,
            100.0 * r.detected as f64 / r.seeds.max(1) as f64,
            r.first
                .map_or("not detected".to_string(), |s| s.to_string()),
            r.classes.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let missed = results.iter().filter(|r| r.detected == 0).count();
    Ok(if missed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
