//! The `eddy run` and `eddy check` commands. `eddy run` writes report.json, history.jsonl
//! and report.html (the self-contained page a person reads) into its output folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use eddy_reports::baseline::retained_object_storage_dollars_per_day;
use eddy_reports::{
    render_html, CheckOptions, HtmlReport, KafkaBaseline, KafkaWorkload, Prices, RunReport, Usage,
};
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
    /// The part of `az_traffic` on Kafka connections (clients ↔ agents).
    pub client_az_traffic: &'a [eddy_sim::AzTraffic],
    /// Object-storage meters per bucket.
    pub storage: &'a eddy_sim::MetersSnapshot,
    /// The fault plan of this seed (with the producer configuration a swarm seed drew, as
    /// `fault_plan.producer`), its schedule, and the faults as they happened.
    pub fault_plan: &'a eddy_faults::FaultPlan,
    pub fault_schedule: &'a [eddy_faults::ScheduledFault],
    pub fault_events: &'a [crate::chaos::FaultEvent],
    /// Recovery after the faults stopped (absent without faults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<&'a crate::liveness::Liveness>,
    /// Commit stalls around control-plane leader crashes.
    pub failover: crate::failover::FailoverStats,
    /// The latency bounds judged (verdict classes `produce_latency`, `delivery_latency`).
    pub latency_verdict: &'a LatencyVerdict,
    /// Stored bytes and accrued GB·hours per storage class, sampled over the run.
    pub stored_over_time: &'a [eddy_reports::StoredSample],
    /// Zone locality and object-storage requests against the model (verdict classes
    /// `cross_az_traffic`, `storage_requests`).
    pub efficiency_verdict: crate::efficiency::EfficiencyVerdict,
    /// Whether consumer groups settled after the last fault (verdict class
    /// `rebalance_incomplete`).
    pub rebalance_verdict: crate::rebalance::RebalanceVerdict,
    /// Whether background work (compaction, jobs, deletions, retention, orphan cleanup)
    /// kept up (verdict class `background_stalled`; absent when maintenance is off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_verdict: Option<crate::progress::ProgressVerdict>,
    /// The share of time partitions could be written and read, unharmed and during each
    /// fault family (verdict class `unavailable`).
    pub availability: crate::availability::AvailabilityVerdict,
    /// Hits of every coverage probe in this run, by name, zeros included.
    pub probes: &'a std::collections::BTreeMap<String, u64>,
}

pub use crate::prices::PricePreset;

/// Hours of retention assumed for steady-state storage (Kafka block volumes and eddy's
/// object storage) when a run's own window is too short to reach it.
pub const RETENTION_HOURS_DEFAULT: f64 = 24.0;

/// Run a scenario and assemble its report, priced at AWS us-east-1 list prices.
pub fn run_and_report(scenario: &Scenario, seed: u64) -> anyhow::Result<(RunOutput, RunReport)> {
    run_and_report_with(scenario, seed, &Prices::default())
}

/// Run a scenario and assemble its report with the given prices.
pub fn run_and_report_with(
    scenario: &Scenario,
    seed: u64,
    prices: &Prices,
) -> anyhow::Result<(RunOutput, RunReport)> {
    let (out, report, _) = run_and_judge_with(scenario, seed, prices)?;
    Ok((out, report))
}

/// The verdicts a run's report is judged with beyond the history checkers, computed once
/// per run: the report's verdict, report.json and the summary all show these.
pub struct Judged {
    pub efficiency: crate::efficiency::EfficiencyVerdict,
    pub rebalance: crate::rebalance::RebalanceVerdict,
    pub progress: Option<crate::progress::ProgressVerdict>,
    pub availability: crate::availability::AvailabilityVerdict,
}

/// [`run_and_report_with`], keeping the verdicts applied to the report.
pub fn run_and_judge_with(
    scenario: &Scenario,
    seed: u64,
    prices: &Prices,
) -> anyhow::Result<(RunOutput, RunReport, Judged)> {
    let scenario = &scenario.for_seed(seed);
    let out = crate::run::run(scenario, seed);
    let usage = usage(&out, scenario.workload.record_bytes);
    let parameters = serde_json::to_value(scenario).context("serializing the scenario")?;
    let options = CheckOptions {
        latency: latency_bounds(scenario, &out),
        ..CheckOptions::default()
    };
    let mut report = RunReport::assemble(
        seed,
        parameters,
        out.sim_seconds,
        &out.ops,
        Some(&usage),
        prices,
        &options,
    )
    .context("assembling the report")?;
    report.reads = crate::usage::reads(&out, scenario);
    if let (Some(t), Some((commands, ended))) = (report.transactions.as_mut(), out.txn_commands) {
        t.journal_commands_per_txn = (ended > 0).then(|| commands as f64 / ended as f64);
    }
    let judged = Judged {
        // Reads the report's window and ingested bytes only, which the verdicts below
        // leave as they are.
        efficiency: crate::efficiency::judge(scenario, &out, &report),
        rebalance: rebalance_verdict(scenario, &out),
        progress: progress_verdict(&out),
        availability: availability_verdict(scenario, &out),
    };
    judged.efficiency.apply(&mut report.verdict);
    judged.rebalance.apply(&mut report.verdict);
    if let Some(p) = &judged.progress {
        p.apply(&mut report.verdict);
    }
    judged.availability.apply(&mut report.verdict);
    for v in &out.invariants {
        report.verdict.add(v.clone());
    }
    Ok((out, report, judged))
}

/// Whether the run's consumer groups settled after its last fault.
pub fn rebalance_verdict(
    scenario: &Scenario,
    out: &RunOutput,
) -> crate::rebalance::RebalanceVerdict {
    let last_fault_end_ms = out.fault_events.iter().map(|f| f.end_ms).max().unwrap_or(0);
    crate::rebalance::judge(scenario, &out.ops, last_fault_end_ms)
}

/// The share of time partitions could be written and read during each fault family
/// (verdict class `unavailable`).
pub fn availability_verdict(
    scenario: &Scenario,
    out: &RunOutput,
) -> crate::availability::AvailabilityVerdict {
    let delays: Vec<(u64, u64)> = out
        .injected_delays
        .iter()
        .map(|d| (d.start_us, d.end_us))
        .collect();
    crate::availability::judge(&as_run(scenario, out), &out.ops, &out.fault_events, &delays)
}

/// Whether the run's background work kept up, judged against its fault windows (`None`
/// when maintenance is off).
pub fn progress_verdict(out: &RunOutput) -> Option<crate::progress::ProgressVerdict> {
    let windows: Vec<(u64, u64)> = out
        .fault_events
        .iter()
        .map(|f| (f.start_ms, f.end_ms))
        .collect();
    out.progress
        .as_ref()
        .map(|r| crate::progress::judge(r, &windows))
}

/// The scenario as its producers ran it: a swarm seed may have drawn their configuration
/// (`fault_plan.producer`), and the latency model must follow what ran.
fn as_run(scenario: &Scenario, out: &RunOutput) -> Scenario {
    let mut ran = scenario.clone();
    if let Some(shape) = &out.plan.producer {
        ran.workload = scenario.workload.with_producer(shape);
    }
    ran
}

/// The latency bounds a run is judged against: the scenario's (as its producers ran it),
/// with the run's fault windows (from its one fault list) excluded.
pub fn latency_bounds(scenario: &Scenario, out: &RunOutput) -> Option<eddy_reports::LatencyBounds> {
    let windows: Vec<(u64, u64)> = out
        .fault_events
        .iter()
        .map(|f| (f.start_ms, f.end_ms))
        .collect();
    as_run(scenario, out).latency_bounds(&windows)
}

/// How the latency verdict went: the bounds and how many samples they judged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LatencyVerdict {
    /// The bounds the scenario's model implies, and their terms.
    pub model: crate::spec::LatencyModel,
    /// The bounds judged, with the fault windows excluded (absent: latency not judged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounds: Option<eddy_reports::LatencyBounds>,
    /// Produce-ack samples judged (sends invoked outside fault windows).
    pub produce_ack_samples: u64,
    /// Delivery samples judged.
    pub delivery_samples: u64,
}

pub fn latency_verdict(scenario: &Scenario, out: &RunOutput) -> LatencyVerdict {
    let bounds = latency_bounds(scenario, out);
    let (produce_ack_samples, delivery_samples) = match &bounds {
        Some(b) => (
            eddy_reports::latency::produce_ack_where(&out.ops, |s, e| b.quiet(s, e)).count(),
            eddy_reports::latency::delivery_where(&out.ops, |s, e| b.quiet(s, e)).count(),
        ),
        None => (0, 0),
    };
    LatencyVerdict {
        model: as_run(scenario, out).latency_model(),
        bounds,
        produce_ack_samples,
        delivery_samples,
    }
}

/// Consumer groups of a scenario for the Kafka baseline: every zone with consumers reads
/// every partition once (the zone's consumers split the partitions).
pub fn consumer_groups(scenario: &Scenario) -> u32 {
    if scenario.topology.consumers_per_az == 0 {
        0
    } else {
        scenario.topology.azs.len() as u32
    }
}

/// The Kafka baselines (fetch-from-follower, then reads from leaders) for a run.
pub fn kafka_baselines(
    scenario: &Scenario,
    report: &RunReport,
    prices: &Prices,
    retention_hours: f64,
) -> Vec<KafkaBaseline> {
    [true, false]
        .into_iter()
        .map(|fff| {
            KafkaBaseline::compute(
                &KafkaWorkload {
                    write_bytes_per_s: report.write_bytes_per_s(),
                    consumer_groups: consumer_groups(scenario),
                    retention_hours,
                    fetch_from_follower: fff,
                },
                prices,
            )
        })
        .collect()
}

/// The note every cost figure scaled to a day carries.
pub fn scaling_note(report: &RunReport) -> String {
    format!(
        "Steady-state cost: everything metered over the whole run ({:.1} simulated s: the \
         workload, then the drain, which reads the data back once more) is divided by the \
         {:.1} s producing window (first to last send) and scaled linearly to a day \
         (86,400 s) and a 730-hour month, like every rate of this report. Stored bytes never \
         reach a retention steady state in so short a window: the baseline table prices \
         storage at {RETENTION_HOURS_DEFAULT:.0} h of retention instead.",
        report.duration_s,
        report.window_s()
    )
}

/// One sentence on availability for the HTML page: quiet time and each fault family.
pub fn availability_note(av: &crate::availability::AvailabilityVerdict) -> String {
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{:.0}%", x * 100.0));
    let mut s = format!(
        "Availability (verdict class unavailable): the share of time partitions that wanted a \
         write were written ({} s buckets) and readers that wanted a partition read it ({} s \
         buckets). Quiet time: {} written, {} read",
        av.write_bucket_ms as f64 / 1000.0,
        av.read_bucket_ms as f64 / 1000.0,
        pct(av.quiet.write_share),
        pct(av.quiet.read_share)
    );
    for f in &av.families {
        s += &format!(
            "; {} alone: {} written, {} read (with others: {} / {})",
            f.family.name(),
            pct(f.alone.write_share),
            pct(f.alone.read_share),
            pct(f.during.write_share),
            pct(f.during.read_share)
        );
    }
    s + "."
}

/// The HTML page of a run.
pub fn report_html(
    scenario: &Scenario,
    out: &RunOutput,
    report: &RunReport,
    usage: &Usage,
    preset: PricePreset,
    availability: &crate::availability::AvailabilityVerdict,
) -> String {
    let prices = preset.prices();
    let baselines = kafka_baselines(scenario, report, &prices, RETENTION_HOURS_DEFAULT);
    let retained = prices
        .class(scenario.storage.ingest.class.as_str())
        .map(|p| {
            retained_object_storage_dollars_per_day(
                report.write_bytes_per_s(),
                RETENTION_HOURS_DEFAULT,
                p.storage_per_gb_month,
            )
        });
    let notes = vec![
        scenario.description.clone(),
        scaling_note(report),
        availability_note(availability),
        format!(
            "Kafka baseline: {} consumer group(s) (one per zone with consumers), write rate \
             {:.3} MiB/s as ingested here.",
            consumer_groups(scenario),
            report.write_bytes_per_s() / 1_048_576.0
        ),
    ];
    let fault_windows: Vec<eddy_reports::html::FaultWindow> = out
        .fault_events
        .iter()
        .map(|f| eddy_reports::html::FaultWindow {
            start_s: f.start_ms as f64 / 1000.0,
            end_s: f.end_ms as f64 / 1000.0,
            label: f.what.clone(),
        })
        .collect();
    render_html(&HtmlReport {
        title: &scenario.name,
        report,
        ops: &out.ops,
        usage: Some(usage),
        fault_windows: &fault_windows,
        baselines: &baselines,
        retained_storage_dollars_per_day: retained,
        prices_name: preset.name(),
        notes: &notes,
        stored: &out.stored,
    })
}

pub fn report_json(
    scenario: &Scenario,
    out: &RunOutput,
    report: &RunReport,
    latency: &LatencyVerdict,
    judged: &Judged,
    failover: crate::failover::FailoverStats,
) -> anyhow::Result<String> {
    let json = RunJson {
        scenario: &scenario.name,
        report,
        drain_complete: out.drained,
        az_traffic: &out.traffic,
        client_az_traffic: &out.client_traffic,
        storage: &out.meters,
        fault_plan: &out.plan,
        fault_schedule: &out.schedule,
        fault_events: &out.fault_events,
        liveness: out.liveness.as_ref(),
        failover,
        latency_verdict: latency,
        stored_over_time: &out.stored,
        efficiency_verdict: judged.efficiency.clone(),
        rebalance_verdict: judged.rebalance.clone(),
        progress_verdict: judged.progress.clone(),
        availability: judged.availability.clone(),
        probes: &out.probes,
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

/// What `eddy run` was asked to do.
pub struct RunArgs {
    pub scenario: PathBuf,
    pub seed: u64,
    pub out: Option<PathBuf>,
    pub json: bool,
    /// `key=value` overrides of scenario keys (JSON paths), applied in order.
    pub sets: Vec<String>,
    pub prices: PricePreset,
    /// Planted bugs to switch on (`--plant`).
    pub plants: Vec<String>,
    /// Write report.html and history.jsonl only when the run fails (`--pages-if-failed`).
    pub pages_if_failed: bool,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    run_keeping(args).map(|(code, _)| code)
}

/// What a run leaves behind once its report is written: the run's output (the history and
/// everything else the simulation recorded) and its report, hundreds of megabytes in small
/// allocations. A process that exits right after the run may leave them to the OS instead
/// of freeing them one by one (`std::mem::forget`).
pub struct Leftovers {
    _out: RunOutput,
    _report: RunReport,
}

/// [`run`], handing back what the run leaves behind instead of dropping it.
pub fn run_keeping(args: RunArgs) -> anyhow::Result<(ExitCode, Leftovers)> {
    let RunArgs {
        scenario: path,
        seed,
        out: out_dir,
        json,
        sets,
        prices: preset,
        plants,
        pages_if_failed,
    } = args;
    let path = path.as_path();
    let mut scenario = crate::whatif::load_with_overrides(path, &sets)?;
    apply_plants(&mut scenario, &plants)?;
    let out_dir = out_dir.unwrap_or_else(|| {
        PathBuf::from("out")
            .join(&scenario.name)
            .join(format!("seed-{seed}"))
    });
    let reproduce = reproduction(path, seed, &sets, preset, &plants);
    if !json {
        // The seed and every expanded parameter first: a failure is a one-line reproduction.
        println!("{reproduce}");
        let plan = scenario.faults.plan(seed);
        println!("parameters: {}", serde_json::to_string(&scenario)?);
        if !plan.is_empty() {
            println!("faults: {}", serde_json::to_string(&plan)?);
        }
    }
    let prices = preset.prices();
    let (out, report, judged) = run_and_judge_with(&scenario, seed, &prices)?;
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    // Computed once: report.json and the summary line show the same verdict.
    let lv = latency_verdict(&scenario, &out);
    let failover = crate::failover::failover_stats(&out.ops, &out.fault_events);
    let text = report_json(&scenario, &out, &report, &lv, &judged, failover.clone())?;
    fs::write(out_dir.join("report.json"), &text).context("writing report.json")?;
    let failed =
        report.exit_code() != 0 || !out.drained || out.liveness.as_ref().is_some_and(|l| !l.ok);
    // `eddy fuzz` deletes a passing seed's folder: it asks for the page and the history (tens
    // of megabytes of JSON) only when they will be kept.
    let pages = failed || !pages_if_failed;
    if pages {
        let usage = usage(&out, scenario.workload.record_bytes);
        let html = report_html(
            &scenario,
            &out,
            &report,
            &usage,
            preset,
            &judged.availability,
        );
        fs::write(out_dir.join("report.html"), html).context("writing report.html")?;
        let history =
            fs::File::create(out_dir.join("history.jsonl")).context("creating history.jsonl")?;
        eddy_reports::write_jsonl(std::io::BufWriter::new(history), &out.ops)
            .context("writing history.jsonl")?;
    }
    if json {
        print!("{text}");
    } else {
        print!("{}", eddy_reports::render_summary(&report));
        let f = &failover;
        if f.leader_kills > 0 {
            println!(
                "failover: {} leader kill(s), no-commit span p50 {:.0} ms / p99 {:.0} ms; longest no-commit span {:.0} ms",
                f.leader_kills,
                f.p50_ms.unwrap_or(0.0),
                f.p99_ms.unwrap_or(0.0),
                f.longest_no_commit_ms
            );
        }
        if !out.drained {
            println!("drain: INCOMPLETE — the final read-back did not reach every high watermark");
        }
        match &lv.bounds {
            Some(b) => println!(
                "latency bounds: produce-ack p99 <= {:.0} ms ({} sends judged), delivery p99 \
                 <= {:.0} ms ({} deliveries judged); at least {} samples needed",
                b.produce_ack_p99_ms.unwrap_or(0.0),
                lv.produce_ack_samples,
                b.delivery_p99_ms.unwrap_or(0.0),
                lv.delivery_samples,
                b.min_samples
            ),
            None => println!(
                "latency bounds: not judged ({})",
                if scenario.buggify {
                    "BUGGIFY is on: its delays are deliberate"
                } else {
                    "verdicts.latency is false"
                }
            ),
        }
        let eff = &judged.efficiency;
        let mut parts = Vec::new();
        if let Some(c) = &eff.cross_az {
            parts.push(format!(
                "cross-AZ client bytes {:.1}% <= {:.1}%",
                c.value * 100.0,
                c.bound * 100.0
            ));
        }
        if let Some(p) = &eff.ingest_puts {
            parts.push(format!("ingest PUTs {:.0} <= {:.0}", p.value, p.bound));
        }
        if let Some(g) = eff.gets_by_az.iter().max_by_key(|g| g.gets) {
            parts.push(format!("GETs per AZ max {} <= {:.0}", g.gets, g.bound));
        }
        parts.extend(eff.not_judged.iter().map(|n| format!("not judged: {n}")));
        println!("efficiency bounds: {}", parts.join("; "));
        if !out.fault_events.is_empty() {
            println!(
                "faults: {} injected (report.json fault_events)",
                out.fault_events.len()
            );
            let av = &judged.availability;
            let pct = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{:.0}%", x * 100.0));
            let families: Vec<String> = av
                .families
                .iter()
                .map(|f| {
                    format!(
                        "{} {}/{}",
                        f.family.name(),
                        pct(f.alone.write_share),
                        pct(f.alone.read_share)
                    )
                })
                .collect();
            println!(
                "availability (partitions written/read, each family alone): quiet {}/{}; {}",
                pct(av.quiet.write_share),
                pct(av.quiet.read_share),
                families.join(", ")
            );
        }
        let reached = out.probes.values().filter(|n| **n > 0).count();
        println!("probes reached: {reached} of {}", out.probes.len());
        if let Some(l) = &out.liveness {
            println!(
                "liveness: {} — {}",
                if l.ok { "OK" } else { "VIOLATION" },
                l.explanation
            );
        }
        println!("report: {}", out_dir.join("report.json").display());
        if pages {
            println!("page: {}", out_dir.join("report.html").display());
            println!("history: {}", out_dir.join("history.jsonl").display());
        }
    }
    if failed && !json {
        println!("reproduce: {reproduce}");
    }
    let code = if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    Ok((
        code,
        Leftovers {
            _out: out,
            _report: report,
        },
    ))
}

/// The command line that reproduces a run.
fn reproduction(
    path: &Path,
    seed: u64,
    sets: &[String],
    preset: PricePreset,
    plants: &[String],
) -> String {
    let plant_args: String = plants.iter().map(|p| format!(" --plant {p}")).collect();
    let mut s = format!("eddy run {}{plant_args} --seed {seed}", path.display());
    for set in sets {
        s.push_str(&format!(" --set '{set}'"));
    }
    if preset != PricePreset::Aws {
        s.push_str(&format!(" --prices {}", preset.flag()));
    }
    s
}

pub use crate::checkcmd::check;

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
