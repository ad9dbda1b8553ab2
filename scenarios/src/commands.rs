//! The `eddy run` and `eddy check` commands.

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use eddy_reports::{write_jsonl, CheckOptions, Prices, RunReport};
use serde::Serialize;

use crate::run::RunOutput;
use crate::spec::Scenario;
use crate::usage::usage;

/// The JSON report of `eddy run`: the reports crate's run report plus what only the
/// simulation knows.
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
    /// The fault plan of this seed, its schedule, and the faults as they happened.
    pub fault_plan: &'a eddy_faults::FaultPlan,
    pub fault_schedule: &'a [eddy_faults::ScheduledFault],
    pub fault_events: &'a [crate::chaos::FaultEvent],
    /// Recovery after the faults stopped (absent without faults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<&'a crate::liveness::Liveness>,
}

/// Run a scenario and assemble its report.
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
        fault_plan: &out.plan,
        fault_schedule: &out.schedule,
        fault_events: &out.fault_events,
        liveness: out.liveness.as_ref(),
    };
    Ok(serde_json::to_string_pretty(&json)? + "\n")
}

/// Parse `--plant` names into the scenario's set of planted bugs.
pub fn apply_plants(scenario: &mut Scenario, plants: &[String]) -> anyhow::Result<()> {
    for name in plants {
        let plant = eddy_controlplane::Plant::parse(name).with_context(|| {
            let known: Vec<&str> = eddy_controlplane::Plant::ALL
                .iter()
                .map(|p| p.name())
                .collect();
            format!("unknown planted bug {name:?}; known: {}", known.join(", "))
        })?;
        scenario.plants.0.insert(plant);
    }
    Ok(())
}

pub fn run(
    path: &Path,
    seed: u64,
    out_dir: Option<PathBuf>,
    json: bool,
    plants: &[String],
) -> anyhow::Result<ExitCode> {
    let mut scenario = Scenario::load(path)?;
    apply_plants(&mut scenario, plants)?;
    let out_dir = out_dir.unwrap_or_else(|| {
        PathBuf::from("out")
            .join(&scenario.name)
            .join(format!("seed-{seed}"))
    });
    if !json {
        // The seed and every expanded parameter first: a failure is a one-line reproduction.
        let plant_args: String = plants.iter().map(|p| format!(" --plant {p}")).collect();
        println!("eddy run {}{plant_args} --seed {seed}", path.display());
        let plan = scenario.faults.plan(seed);
        println!("parameters: {}", serde_json::to_string(&scenario)?);
        if !plan.is_empty() {
            println!("faults: {}", serde_json::to_string(&plan)?);
        }
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
        if !out.fault_events.is_empty() {
            println!(
                "faults: {} injected during the chaos phase",
                out.fault_events.len()
            );
        }
        if let Some(l) = &out.liveness {
            println!(
                "liveness: {} — {}",
                if l.ok { "OK" } else { "VIOLATION" },
                l.explanation
            );
        }
        println!("report: {}", out_dir.join("report.json").display());
        println!("history: {}", out_dir.join("history.jsonl").display());
    }
    let failed =
        report.exit_code() != 0 || !out.drained || out.liveness.as_ref().is_some_and(|l| !l.ok);
    if failed && !json {
        let plant_args: String = plants.iter().map(|p| format!(" --plant {p}")).collect();
        println!(
            "reproduce: eddy run {}{plant_args} --seed {seed}",
            path.display()
        );
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

/// `eddy run --check-determinism`: run the seed twice in fresh processes and compare the
/// histories and reports byte for byte; on a difference, name the first diverging event.
pub fn check_determinism(path: &Path, seed: u64, plants: &[String]) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the eddy binary")?;
    let base = std::env::temp_dir().join(format!("eddy-determinism-{}-{seed}", std::process::id()));
    let mut outputs = Vec::new();
    for run in ["a", "b"] {
        let dir = base.join(run);
        let out = std::process::Command::new(&exe)
            .arg("run")
            .arg(path)
            .args(plants.iter().flat_map(|p| ["--plant", p.as_str()]))
            .args(["--seed", &seed.to_string(), "--json", "--out"])
            .arg(&dir)
            .output()
            .context("running eddy")?;
        if !matches!(out.status.code(), Some(0) | Some(1)) {
            anyhow::bail!("run {run} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let history = fs::read_to_string(dir.join("history.jsonl")).context("reading a history")?;
        outputs.push((history, out.stdout));
    }
    let (ha, ra) = &outputs[0];
    let (hb, rb) = &outputs[1];
    let _ = fs::remove_dir_all(&base);
    if let Some((i, (a, b))) = ha
        .lines()
        .zip(hb.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        println!("NOT DETERMINISTIC: seed {seed} diverges at history event {}:\n  first run:  {a}\n  second run: {b}", i + 1);
        return Ok(ExitCode::from(1));
    }
    if ha.lines().count() != hb.lines().count() {
        println!("NOT DETERMINISTIC: seed {seed}: one history is a prefix of the other ({} vs {} events)", ha.lines().count(), hb.lines().count());
        return Ok(ExitCode::from(1));
    }
    if ra != rb {
        let (a, b) = (String::from_utf8_lossy(ra), String::from_utf8_lossy(rb));
        let (i, (la, lb)) = a
            .lines()
            .zip(b.lines())
            .enumerate()
            .find(|(_, (x, y))| x != y)
            .unwrap_or((0, ("", "")));
        println!("NOT DETERMINISTIC: seed {seed}: histories agree but reports differ at line {}:\n  {la}\n  {lb}", i + 1);
        return Ok(ExitCode::from(1));
    }
    println!("deterministic: seed {seed} gave byte-identical histories ({} events) and reports in two fresh processes", ha.lines().count());
    Ok(ExitCode::SUCCESS)
}
