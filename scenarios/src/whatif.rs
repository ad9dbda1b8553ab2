//! `eddy whatif <scenario> --vary key=v1,v2 [--vary …]`: runs the cross product of the
//! variations, each as its own `eddy run` process (a process per run keeps runs independent,
//! as in `eddy fuzz`), a few at a time with progress shown; then prints a table and writes an
//! HTML comparison (cost per GiB, dollars per day and month, produce and end-to-end p50/p99,
//! PUT/s and GET/s, and the Kafka baseline at the same write rate).
//!
//! Also home of scenario overrides: `key` is a dotted JSON path into the scenario file
//! (`agent.batch_timeout_ms`, `storage.ingest.class`, `topology.azs.0`), and `eddy run
//! --set key=value` applies one to a single run. A value is JSON when it parses as JSON
//! (`250`, `true`, `{"class":"s3_express"}`), a string otherwise (`s3_express`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use eddy_reports::cost::CostKind;
use eddy_reports::{
    render_whatif_html, render_whatif_markdown, KafkaBaseline, KafkaWorkload, RunReport, WhatIf,
    WhatIfRow,
};
use serde::Deserialize;
use serde_json::Value;

use crate::commands::{PricePreset, RETENTION_HOURS_DEFAULT};
use crate::seedpool::{progress_bar, run_all, Task};
use crate::spec::Scenario;

/// Most runs one what-if may ask for.
const RUNS_MAX: usize = 256;
/// Most segments in a key.
const KEY_DEPTH_MAX: usize = 16;
const MIB: f64 = 1_048_576.0;

/// Loads a scenario file, applies `key=value` overrides in order, then parses and validates.
pub fn load_with_overrides(path: &Path, sets: &[String]) -> anyhow::Result<Scenario> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading scenario {}", path.display()))?;
    if sets.is_empty() {
        return Scenario::parse(&text).with_context(|| format!("scenario {}", path.display()));
    }
    let mut doc: Value = serde_json::from_str(&text)
        .with_context(|| format!("scenario {}: invalid JSON", path.display()))?;
    for set in sets {
        apply_override(&mut doc, set)?;
    }
    Scenario::parse(&doc.to_string())
        .with_context(|| format!("scenario {} with {}", path.display(), sets.join(" ")))
}

/// Parses `key=value` and sets it in `doc`, creating missing objects on the way.
pub fn apply_override(doc: &mut Value, assignment: &str) -> anyhow::Result<()> {
    let (key, raw) = assignment
        .split_once('=')
        .with_context(|| format!("override {assignment:?} is not key=value"))?;
    set_path(doc, key.trim(), parse_value(raw))
}

/// A value from the command line: JSON if it parses, otherwise the string itself.
pub fn parse_value(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// Sets `doc[key]` for a dotted path; numeric segments index arrays.
pub fn set_path(doc: &mut Value, key: &str, value: Value) -> anyhow::Result<()> {
    let segments: Vec<&str> = key.split('.').collect();
    if key.is_empty() || segments.iter().any(|s| s.is_empty()) {
        bail!("key {key:?} is not a dotted path like agent.batch_timeout_ms");
    }
    if segments.len() > KEY_DEPTH_MAX {
        bail!("key {key:?} is deeper than {KEY_DEPTH_MAX} segments");
    }
    let mut node = doc;
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if node.is_null() {
            *node = Value::Object(Default::default());
        }
        node = match node {
            Value::Array(items) => {
                let index: usize = seg
                    .parse()
                    .with_context(|| format!("key {key:?}: {seg:?} indexes an array"))?;
                let len = items.len();
                items.get_mut(index).with_context(|| {
                    format!("key {key:?}: index {index} is past the array's {len} items")
                })?
            }
            Value::Object(map) => map
                .entry(seg.to_string())
                .or_insert_with(|| Value::Object(Default::default())),
            other => bail!(
                "key {key:?}: {:?} is a {} value, not an object",
                segments[..i].join("."),
                kind(other)
            ),
        };
        if last {
            *node = value;
            return Ok(());
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `key=v1,v2,…` → (key, values). A value containing commas can be written as a JSON array
/// element list inside brackets: `key=[1,2],[3]` is not supported; use separate runs.
pub fn parse_vary(text: &str) -> anyhow::Result<(String, Vec<String>)> {
    let (key, values) = text
        .split_once('=')
        .with_context(|| format!("--vary {text:?} is not key=v1,v2"))?;
    let values: Vec<String> = values
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if key.trim().is_empty() || values.is_empty() {
        bail!("--vary {text:?} needs a key and at least one value");
    }
    Ok((key.trim().to_string(), values))
}

/// Every combination, the first `--vary` varying slowest.
pub fn cross_product(varies: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (key, values) in varies {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((key.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    combos
}

pub struct WhatIfArgs {
    pub scenario: PathBuf,
    pub varies: Vec<String>,
    /// Overrides applied to every run before the variations.
    pub sets: Vec<String>,
    pub seed: u64,
    pub jobs: usize,
    pub out: Option<PathBuf>,
    pub prices: PricePreset,
}

/// What a child `eddy run --json` prints, as far as the comparison needs it.
#[derive(Deserialize)]
struct ChildJson {
    #[serde(flatten)]
    report: RunReport,
    drain_complete: bool,
    storage: StorageJson,
}

#[derive(Deserialize)]
struct StorageJson {
    buckets: BTreeMap<String, BucketJson>,
}

#[derive(Deserialize)]
struct BucketJson {
    class: String,
    requests: RequestsJson,
}

#[derive(Deserialize)]
struct RequestsJson {
    put: u64,
    get: u64,
    #[serde(default)]
    multipart_part: u64,
    #[serde(default)]
    multipart_complete: u64,
}

pub fn whatif(args: WhatIfArgs) -> anyhow::Result<ExitCode> {
    let varies: Vec<(String, Vec<String>)> = args
        .varies
        .iter()
        .map(|v| parse_vary(v))
        .collect::<anyhow::Result<_>>()?;
    let combos = cross_product(&varies);
    if combos.len() > RUNS_MAX {
        bail!(
            "{} combinations: at most {RUNS_MAX} runs per what-if",
            combos.len()
        );
    }
    // Every combination must parse before anything runs.
    let mut scenarios = Vec::new();
    for combo in &combos {
        let sets = all_sets(&args.sets, combo);
        scenarios.push(load_with_overrides(&args.scenario, &sets)?);
    }
    let name = scenarios
        .first()
        .map_or_else(|| "scenario".to_string(), |s| s.name.clone());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out/whatif").join(&name));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let total = combos.len();
    println!(
        "eddy whatif {} — {total} run(s), seed {}, {} job(s), prices {}, output in {}",
        args.scenario.display(),
        args.seed,
        args.jobs,
        args.prices.flag(),
        out.display()
    );

    let run_dir = |i: usize| out.join(format!("run-{i}"));
    let mut tasks = Vec::with_capacity(total);
    for (i, combo) in combos.iter().enumerate() {
        let dir = run_dir(i);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut t = Task::run([args.scenario.as_os_str()]);
        t.args.extend(
            [
                "--seed",
                &args.seed.to_string(),
                "--json",
                "--prices",
                args.prices.flag(),
                "--out",
            ]
            .map(OsString::from),
        );
        t.args.push(dir.clone().into());
        for set in all_sets(&args.sets, combo) {
            t.args.extend(["--set".into(), set.into()]);
        }
        // The child's JSON goes to a file (see `Task::stdout`).
        t.stdout = Some(dir.join("stdout.json"));
        tasks.push(t);
    }
    let mut rows: BTreeMap<usize, WhatIfRow> = BTreeMap::new();
    run_all(
        args.jobs,
        &tasks,
        |i| println!("[start] run {i}: {}", label(&combos[i])),
        |i, status| {
            let stdout = std::fs::read(run_dir(i).join("stdout.json")).unwrap_or_default();
            let row = row(
                &scenarios[i],
                combos[i].clone(),
                status.code(),
                &stdout,
                args.prices,
            );
            rows.insert(i, row.clone());
            println!(
                "[{}/{total}] {} run {i} ({}): {} · {} · produce p99 {:.0} ms (bound {}) · e2e \
                 p99 {:.0} ms (bound {})",
                rows.len(),
                progress_bar(rows.len(), total),
                row.label(),
                row.status,
                row.dollars_per_day
                    .map_or("no cost".to_string(), |d| format!("${d:.2}/day")),
                row.produce_p99_ms,
                row.produce_p99_bound_ms
                    .map_or("none".to_string(), |b| format!("{b:.0} ms")),
                row.e2e_p99_ms,
                row.e2e_p99_bound_ms
                    .map_or("none".to_string(), |b| format!("{b:.0} ms")),
            );
            Ok(())
        },
    )?;
    let scenario = &scenarios[0];
    let w = WhatIf {
        scenario: args.scenario.display().to_string(),
        seed: args.seed,
        prices_name: args.prices.name().to_string(),
        notes: vec![
            format!(
                "Steady-state cost: each run's metered cost (workload of {:.1} simulated s, then \
                 a drain that reads the data back once more) divided by its producing window \
                 (first to last send) and scaled linearly to a day and a 730-hour month, the \
                 same figures `eddy run` prints.",
                scenario.duration_s
            ),
            format!(
                "Kafka baseline: 3 AZs, RF 3, producer→leader 2/3 cross-AZ, 2 replication copies \
                 cross-AZ, {} consumer group(s) 2/3 cross-AZ (0 with fetch-from-follower), EBS \
                 gp3 ×3 at {RETENTION_HOURS_DEFAULT:.0} h retention, at each run's ingest rate.",
                crate::commands::consumer_groups(scenario)
            ),
        ],
        rows: rows.into_values().collect(),
    };
    let md = render_whatif_markdown(&w);
    print!("\n{md}");
    std::fs::write(out.join("whatif.md"), &md).context("writing whatif.md")?;
    std::fs::write(out.join("whatif.html"), render_whatif_html(&w))
        .context("writing whatif.html")?;
    std::fs::write(
        out.join("whatif.json"),
        serde_json::to_string_pretty(&w)? + "\n",
    )
    .context("writing whatif.json")?;
    println!("page: {}", out.join("whatif.html").display());
    let failed = w.rows.iter().filter(|r| r.status != "ok").count();
    if failed > 0 {
        println!(
            "{failed} run(s) did not pass: see their report.json under {}",
            out.display()
        );
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn all_sets(base: &[String], combo: &[(String, String)]) -> Vec<String> {
    base.iter()
        .cloned()
        .chain(combo.iter().map(|(k, v)| format!("{k}={v}")))
        .collect()
}

fn label(combo: &[(String, String)]) -> String {
    combo
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One comparison row from a child's exit status and JSON report.
fn row(
    scenario: &Scenario,
    settings: Vec<(String, String)>,
    code: Option<i32>,
    stdout: &[u8],
    preset: PricePreset,
) -> WhatIfRow {
    let producers = scenario.topology.azs.len() * scenario.topology.producers_per_az;
    let target_mib_per_s =
        producers as f64 * scenario.workload.records_per_s * scenario.workload.record_bytes as f64
            / MIB;
    let parsed: Result<ChildJson, _> = serde_json::from_slice(stdout);
    let mut row = WhatIfRow {
        settings,
        status: String::new(),
        target_mib_per_s: round3(target_mib_per_s),
        ingested_mib_per_s: 0.0,
        duration_s: scenario.duration_s,
        dollars_per_gib: None,
        dollars_per_day: None,
        dollars_per_month: None,
        requests_dollars_per_day: None,
        s3_api_dollars_per_day: None,
        inter_az_dollars_per_day: None,
        produce_p50_ms: 0.0,
        produce_p99_ms: 0.0,
        e2e_p50_ms: 0.0,
        e2e_p99_ms: 0.0,
        produce_p99_bound_ms: scenario
            .latency_bounds(&[])
            .and_then(|b| b.produce_ack_p99_ms),
        e2e_p99_bound_ms: scenario.latency_bounds(&[]).and_then(|b| b.delivery_p99_ms),
        puts_per_s: 0.0,
        gets_per_s: 0.0,
        kafka: Vec::new(),
    };
    let child = match parsed {
        Ok(c) => c,
        Err(e) => {
            row.status = match code {
                Some(c) => format!("error: exit status {c}, unreadable report ({e})"),
                None => "error: killed by a signal".into(),
            };
            return row;
        }
    };
    let r = &child.report;
    row.status = match code {
        Some(0) => "ok".into(),
        Some(1) if !r.verdict.is_valid() => format!("violation ({})", r.verdict.total()),
        Some(1) if !child.drain_complete => "incomplete drain".into(),
        Some(c) => format!("error: exit status {c}"),
        None => "error: killed by a signal".into(),
    };
    // Every figure scales from the report's own producing window, as in `eddy run`.
    let window = r.window_s().max(1e-9);
    let per_day = 86_400.0 / window;
    let write_bytes_per_s = r.write_bytes_per_s();
    row.ingested_mib_per_s = round3(write_bytes_per_s / MIB);
    if let Some(c) = &r.cost {
        row.dollars_per_gib = c.dollars_per_gib_ingested;
        row.dollars_per_day = c.dollars_per_day.map(round3);
        row.dollars_per_month = c.dollars_per_month.map(round3);
        row.requests_dollars_per_day = Some(round3(
            (c.requests_dollars + c.storage_transfer_dollars) * per_day,
        ));
        row.inter_az_dollars_per_day = Some(round3(c.inter_az_dollars * per_day));
        let s3_api: f64 = c
            .lines
            .iter()
            .filter(|l| l.class.starts_with("s3_"))
            .filter(|l| {
                matches!(
                    l.kind,
                    CostKind::Put | CostKind::Get | CostKind::OtherRequests
                )
            })
            .map(|l| l.dollars)
            .sum();
        row.s3_api_dollars_per_day = Some(round3(s3_api * per_day));
    }
    let l = &r.latency;
    row.produce_p50_ms = l.produce_ack.summary.p50_ms;
    row.produce_p99_ms = l.produce_ack.summary.p99_ms;
    row.e2e_p50_ms = l.delivery.summary.p50_ms;
    row.e2e_p99_ms = l.delivery.summary.p99_ms;
    let (puts, gets) = child
        .storage
        .buckets
        .values()
        .filter(|b| b.class != "regional_log")
        .fold((0u64, 0u64), |(p, g), b| {
            (
                p + b.requests.put + b.requests.multipart_part + b.requests.multipart_complete,
                g + b.requests.get,
            )
        });
    row.puts_per_s = round3(puts as f64 / window);
    row.gets_per_s = round3(gets as f64 / window);
    let prices = preset.prices();
    row.kafka = [true, false]
        .into_iter()
        .map(|fff| {
            KafkaBaseline::compute(
                &KafkaWorkload {
                    write_bytes_per_s,
                    consumer_groups: crate::commands::consumer_groups(scenario),
                    retention_hours: RETENTION_HOURS_DEFAULT,
                    fetch_from_follower: fff,
                },
                &prices,
            )
        })
        .collect();
    row
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_set_nested_keys_and_refuse_nonsense() {
        let mut doc: Value = serde_json::json!({
            "agent": { "batch_timeout_ms": 250 },
            "storage": { "ingest": { "class": "s3_standard" } },
            "topology": { "azs": ["az1", "az2"] }
        });
        apply_override(&mut doc, "agent.batch_timeout_ms=50").unwrap();
        apply_override(&mut doc, "storage.ingest.class=s3_express").unwrap();
        apply_override(&mut doc, "workload.records_per_s=1000.5").unwrap();
        apply_override(&mut doc, "topology.azs.1=az9").unwrap();
        assert_eq!(doc["agent"]["batch_timeout_ms"], 50);
        assert_eq!(doc["storage"]["ingest"]["class"], "s3_express");
        assert_eq!(doc["workload"]["records_per_s"], 1000.5);
        assert_eq!(doc["topology"]["azs"][1], "az9");
        assert!(apply_override(&mut doc, "agent.batch_timeout_ms.x=1").is_err());
        assert!(apply_override(&mut doc, "topology.azs.7=az1").is_err());
        assert!(apply_override(&mut doc, "no-equals-sign").is_err());
        assert!(apply_override(&mut doc, "a..b=1").is_err());
    }

    #[test]
    fn overridden_scenarios_parse_and_typos_are_errors() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/basic-standard.json");
        let s = load_with_overrides(
            &path,
            &[
                "storage.ingest.class=s3_express".into(),
                "agent.batch_timeout_ms=50".into(),
            ],
        )
        .unwrap();
        assert_eq!(s.agent.batch_timeout_ms, 50);
        assert_eq!(s.storage.ingest.class, eddy_sim::StorageClass::S3Express);
        let typo = load_with_overrides(&path, &["agent.batch_timout_ms=50".into()]);
        assert!(
            typo.is_err(),
            "an unknown key must not silently mean default"
        );
    }

    #[test]
    fn cross_product_varies_the_first_key_slowest() {
        let v = vec![parse_vary("a=1,2").unwrap(), parse_vary("b=x,y,z").unwrap()];
        let c = cross_product(&v);
        assert_eq!(c.len(), 6);
        assert_eq!(label(&c[0]), "a=1, b=x");
        assert_eq!(label(&c[5]), "a=2, b=z");
        assert!(parse_vary("a=").is_err());
        assert!(parse_vary("=1").is_err());
    }
}
