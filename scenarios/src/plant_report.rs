//! `eddy plant-report`: for each planted bug, fuzz a scenario with the bug switched on and
//! report the detection rate, the seeds it took to the first detection, and which checker
//! classes caught it. A plant nobody catches is a hole in the checkers or the fault model.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use eddy_controlplane::Plant;

use crate::fuzz::judge_dir;
use crate::seedpool::{run_all, Task};

/// The scenario a plant is fuzzed with when none is named: the background-work bugs need
/// compaction and retention switched on; the efficiency bugs a fault-free run; the others
/// the fault-heavy plants scenario.
pub fn home_scenario(plant: Plant) -> PathBuf {
    match plant {
        Plant::CompactionDropsBatch
        | Plant::RetentionDeletesReferenced
        | Plant::CleanupDeletesCommitted
        | Plant::LeaseNeverLapses
        | Plant::DeleteKeepsLast => "scenarios/specs/compaction.json".into(),
        // Bugs of efficiency, not safety: judged against the tight bounds of a fault-free run.
        Plant::ZoneBlindMetadata | Plant::ZoneCacheBypass | Plant::FilePerRequest => {
            "scenarios/specs/basic-express.json".into()
        }
        // Needs zombie group members (`workload.zombies`), which groups.json turns on.
        Plant::ZombieCommitAccepted => "scenarios/specs/groups.json".into(),
        // Transaction bugs need transactional producers, pipelines and read_committed readers.
        Plant::AbortNotListed
        | Plant::LsoIgnoresOpen
        | Plant::ZombieTxnNotFenced
        | Plant::AbortAppliesOffsets => "scenarios/specs/transactions.json".into(),
        _ => "scenarios/specs/plants.json".into(),
    }
}

struct PlantResult {
    plant: &'static str,
    scenario: PathBuf,
    seeds: u64,
    detected: u64,
    first: Option<u64>,
    classes: BTreeMap<String, u64>,
}

pub fn plant_report(
    scenario: Option<&Path>,
    seeds: u64,
    jobs: usize,
    only: &[String],
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let plants: Vec<Plant> = if only.is_empty() {
        Plant::ALL.to_vec()
    } else {
        only.iter()
            .map(|n| Plant::parse(n).with_context(|| format!("unknown planted bug {n:?}")))
            .collect::<anyhow::Result<_>>()?
    };
    println!(
        "eddy plant-report {} — {} plant(s) × {seeds} seed(s), {jobs} job(s)",
        scenario.map_or("(each plant's own scenario)".to_string(), |s| s
            .display()
            .to_string()),
        plants.len()
    );
    let mut results = Vec::new();
    for plant in plants {
        let scenario = scenario.map_or_else(|| home_scenario(plant), Path::to_path_buf);
        let mut r = PlantResult {
            plant: plant.name(),
            scenario: scenario.clone(),
            seeds,
            detected: 0,
            first: None,
            classes: BTreeMap::new(),
        };
        let seed_dir = |seed: u64| out.join(plant.name()).join(format!("seed-{seed}"));
        let tasks: Vec<Task> = (1..=seeds)
            .map(|seed| {
                let mut t = Task::run([scenario.as_os_str()]);
                t.args.extend(
                    [
                        "--plant",
                        plant.name(),
                        "--seed",
                        &seed.to_string(),
                        "--out",
                    ]
                    .map(OsString::from),
                );
                t.args.push(seed_dir(seed).into());
                t
            })
            .collect();
        run_all(
            jobs,
            &tasks,
            |_| {},
            |i, status| {
                let seed = i as u64 + 1;
                let outcome = judge_dir(seed, status, &seed_dir(seed));
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
                    let _ = std::fs::remove_dir_all(seed_dir(seed));
                }
                Ok(())
            },
        )?;
        println!(
            "{:<28} {} detected in {:>3}/{} seeds  first at seed {}  by {}",
            r.plant,
            r.scenario.display(),
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
    println!("\n| planted bug | scenario | detected | detection rate | seeds to first detection | caught by |\n|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {} | {}/{} | {:.0}% | {} | {} |",
            r.plant,
            r.scenario.display(),
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
