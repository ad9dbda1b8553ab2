//! The `eddy run` and `eddy check` commands. `eddy run` exists only in the simulated build.
#![cfg_attr(not(madsim), allow(unused_imports))]

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use eddy_reports::{write_jsonl, CheckOptions, Prices, RunReport};
use serde::Serialize;

#[cfg(madsim)]
use crate::run::RunOutput;
#[cfg(madsim)]
use crate::spec::Scenario;
#[cfg(madsim)]
use crate::usage::usage;

/// The JSON report of `eddy run`: the reports crate's run report plus what only the
/// simulation knows.
#[cfg(madsim)]
#[derive(Serialize)]
pub struct RunJson<'a> {
    pub scenario: &'a str,
    #[serde(flatten)]
    pub report: &'a RunReport,
    /// Whether the final read-back reached every partition's high watermark.
    pub drain_complete: bool,
    /// Bytes per (source AZ, destination AZ) at the transport seam.
    pub az_traffic: &'a [eddy_sim::AzTraffic],
    /// Object-storage meters per bucket.
    pub storage: &'a eddy_sim::MetersSnapshot,
}

/// Run a scenario and assemble its report.
#[cfg(madsim)]
pub fn run_and_report(scenario: &Scenario, seed: u64) -> anyhow::Result<(RunOutput, RunReport)> {
    let out = crate::run::run(scenario, seed);
    let usage = usage(&out, scenario.workload.record_bytes);
    let parameters = serde_json::to_value(scenario).context("serializing the scenario")?;
    let report = RunReport::assemble(
        seed,
        parameters,
        out.sim_seconds,
        &out.ops,
        Some(&usage),
        &Prices::default(),
        &CheckOptions::default(),
    )
    .context("assembling the report")?;
    Ok((out, report))
}

#[cfg(madsim)]
pub fn report_json(
    scenario: &Scenario,
    out: &RunOutput,
    report: &RunReport,
) -> anyhow::Result<String> {
    let json = RunJson {
        scenario: &scenario.name,
        report,
        drain_complete: out.drained,
        az_traffic: &out.traffic,
        storage: &out.meters,
    };
    Ok(serde_json::to_string_pretty(&json)? + "\n")
}

#[cfg(madsim)]
pub fn run(
    path: &Path,
    seed: u64,
    out_dir: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::load(path)?;
    let out_dir = out_dir.unwrap_or_else(|| {
        PathBuf::from("out")
            .join(&scenario.name)
            .join(format!("seed-{seed}"))
    });
    if !json {
        println!("eddy run {} --seed {seed}", path.display());
    }
    let (out, report) = run_and_report(&scenario, seed)?;
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let text = report_json(&scenario, &out, &report)?;
    fs::write(out_dir.join("report.json"), &text).context("writing report.json")?;
    let history =
        fs::File::create(out_dir.join("history.jsonl")).context("creating history.jsonl")?;
    write_jsonl(std::io::BufWriter::new(history), &out.ops).context("writing history.jsonl")?;
    if json {
        print!("{text}");
    } else {
        print!("{}", eddy_reports::render_summary(&report));
        if !out.drained {
            println!("drain: INCOMPLETE — the final read-back did not reach every high watermark");
        }
        println!("report: {}", out_dir.join("report.json").display());
        println!("history: {}", out_dir.join("history.jsonl").display());
    }
    let failed = report.exit_code() != 0 || !out.drained;
    if failed && !json {
        println!("reproduce: eddy run {} --seed {seed}", path.display());
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn check(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let ops = eddy_reports::read_jsonl(BufReader::new(file))
        .with_context(|| format!("reading {}", path.display()))?;
    let verdict = eddy_reports::check(&ops);
    if json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        println!("{} operations checked", verdict.ops_checked);
        for (class, n) in &verdict.counts {
            if *n > 0 {
                println!("  {class:?}: {n}");
            }
        }
        for v in verdict.violations.iter().take(50) {
            println!("- [{:?}] {}", v.class, v.explanation);
        }
        println!(
            "{}",
            if verdict.is_valid() {
                "valid"
            } else {
                "INVALID"
            }
        );
    }
    Ok(if verdict.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
