//! `eddy fuzz`: run many seeds of a scenario, one fresh process per seed (a process per seed
//! keeps runs independent), a few at a time. Prints progress, a final table, and for every
//! failing seed the exact command that reproduces it; keeps that seed's report and history.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};

use crate::seedpool::{progress_bar, run_all, Task};

/// A set of seeds: `N`, `A..B` (B excluded) or `A..=B`.
pub fn parse_seeds(text: &str) -> anyhow::Result<Vec<u64>> {
    let parse = |s: &str| {
        s.trim()
            .parse::<u64>()
            .with_context(|| format!("invalid seed {s:?} in {text:?}"))
    };
    let seeds: Vec<u64> = if let Some((a, b)) = text.split_once("..=") {
        (parse(a)?..=parse(b)?).collect()
    } else if let Some((a, b)) = text.split_once("..") {
        (parse(a)?..parse(b)?).collect()
    } else {
        vec![parse(text)?]
    };
    if seeds.is_empty() {
        bail!("seed range {text:?} is empty");
    }
    if seeds.len() > 10_000_000 {
        bail!("seed range {text:?} has more than 10 million seeds");
    }
    Ok(seeds)
}

/// `i/n`: this shard runs the seeds whose position modulo n is i.
pub fn parse_shard(text: &str) -> anyhow::Result<(usize, usize)> {
    let (i, n) = text
        .split_once('/')
        .with_context(|| format!("shard {text:?} is not i/n"))?;
    let (i, n): (usize, usize) = (
        i.parse().context("shard index")?,
        n.parse().context("shard count")?,
    );
    if n == 0 || i >= n {
        bail!("shard {text:?}: need 0 <= i < n");
    }
    Ok((i, n))
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    pub status: &'static str,
    pub produce_p99_ms: Option<f64>,
    pub violations: u64,
    pub detail: String,
    /// Classes that applied but judged nothing in this seed (report.json `verdict.silent`).
    pub silent: Vec<String>,
    /// Hits per coverage probe (report.json `probes`; empty without a report).
    pub probes: BTreeMap<String, u64>,
}

pub struct FuzzArgs {
    pub scenario: PathBuf,
    pub seeds: Vec<u64>,
    pub jobs: usize,
    pub out: PathBuf,
    pub junit: Option<PathBuf>,
    pub keep_passing: bool,
    /// Planted bugs to switch on in every run (`--plant`).
    pub plants: Vec<String>,
}

pub fn fuzz(args: FuzzArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let total = args.seeds.len();
    println!(
        "eddy fuzz {} — {} seed(s), {} job(s), output in {}",
        args.scenario.display(),
        total,
        args.jobs,
        args.out.display()
    );
    let seed_dir = |seed: u64| args.out.join(format!("seed-{seed}"));
    let tasks: Vec<Task> = args
        .seeds
        .iter()
        .map(|seed| {
            let mut t = Task::run([args.scenario.as_os_str()]);
            for p in &args.plants {
                t.args.extend(["--plant".into(), p.into()]);
            }
            t.args
                .extend(["--seed".into(), seed.to_string().into(), "--out".into()]);
            t.args.push(seed_dir(*seed).into());
            t
        })
        .collect();
    let mut results: Vec<Outcome> = Vec::new();
    run_all(
        args.jobs,
        &tasks,
        |_| {},
        |i, status| {
            let seed = args.seeds[i];
            let outcome = judge_dir(seed, status, &seed_dir(seed));
            if outcome.status == "ok" && !args.keep_passing {
                let _ = std::fs::remove_dir_all(seed_dir(seed));
            }
            results.push(outcome.clone());
            let done = results.len();
            let failed = results.iter().filter(|r| r.status != "ok").count();
            println!(
                "[{done}/{total}] {} seed {seed}{}  ({failed} failed so far)",
                progress_bar(done, total),
                if outcome.status == "ok" {
                    " ok".to_string()
                } else {
                    format!(" {}: {}", outcome.status.to_uppercase(), outcome.detail)
                }
            );
            Ok(())
        },
    )?;
    results.sort_by_key(|r| r.seed);
    print!("{}", table(&results));
    print!("{}", probe_table(&results));
    let failures: Vec<&Outcome> = results.iter().filter(|r| r.status != "ok").collect();
    for f in &failures {
        println!(
            "reproduce: eddy run {}{} --seed {}   (kept in {})",
            args.scenario.display(),
            args.plants
                .iter()
                .map(|p| format!(" --plant {p}"))
                .collect::<String>(),
            f.seed,
            args.out.join(format!("seed-{}", f.seed)).display()
        );
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(&args.scenario, &results))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Judge a finished `eddy run --out dir` from its exit status and `dir/report.json`.
pub fn judge_dir(seed: u64, status: std::process::ExitStatus, dir: &Path) -> Outcome {
    let report = std::fs::read(dir.join("report.json")).unwrap_or_default();
    judge(seed, status.code(), &report)
}

pub fn judge(seed: u64, code: Option<i32>, stdout: &[u8]) -> Outcome {
    let report: Option<serde_json::Value> = serde_json::from_slice(stdout).ok();
    let p99 = report
        .as_ref()
        .and_then(|r| r["latency"]["produce_ack"]["summary"]["p99_ms"].as_f64());
    let violations = report
        .as_ref()
        .and_then(|r| {
            r["verdict"]["violations"]
                .as_array()
                .map(|v| v.len() as u64)
        })
        .unwrap_or(0);
    let drained = report
        .as_ref()
        .and_then(|r| r["drain_complete"].as_bool())
        .unwrap_or(false);
    let silent: Vec<String> = report
        .as_ref()
        .and_then(|r| r["verdict"]["silent"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|q| q["class"].as_str().map(str::to_string))
        .collect();
    let (status, detail) = match code {
        Some(0) => ("ok", String::new()),
        Some(1) if violations > 0 => {
            let classes: Vec<String> = report
                .as_ref()
                .and_then(|r| r["verdict"]["counts"].as_object().cloned())
                .map(|m| {
                    m.into_iter()
                        .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
                        .map(|(k, n)| format!("{k}={n}"))
                        .collect()
                })
                .unwrap_or_default();
            ("violation", classes.join(" "))
        }
        Some(1) if !drained => ("liveness", "drain incomplete".into()),
        Some(c) => ("error", format!("exit status {c}")),
        None => ("error", "killed by a signal".into()),
    };
    let probes = report
        .as_ref()
        .and_then(|r| r["probes"].as_object())
        .map(|m| {
            m.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    Outcome {
        seed,
        status,
        produce_p99_ms: p99,
        violations,
        detail,
        silent,
        probes,
    }
}

/// The coverage probes across the seeds: per probe, the seeds that hit it, their share and
/// the total hits; then the probes no seed reached (with the spec that reaches them, from the
/// catalogue). Probes are every catalogued one plus any name a report listed.
pub fn probe_table(results: &[Outcome]) -> String {
    let reported = results.iter().filter(|r| !r.probes.is_empty()).count();
    let mut s = String::new();
    if reported == 0 {
        return s;
    }
    // name -> (seeds that hit it, total hits)
    let mut agg: BTreeMap<&str, (usize, u64)> = eddy_probe::CATALOGUE
        .iter()
        .map(|p| (p.name, (0, 0)))
        .collect();
    for r in results {
        for (name, n) in &r.probes {
            let e = agg.entry(name.as_str()).or_default();
            if *n > 0 {
                e.0 += 1;
                e.1 += n;
            }
        }
    }
    let _ = writeln!(
        s,
        "\ncoverage probes ({reported} seed(s) reported):\n\n| probe | seeds that hit it | share of seeds | total hits |\n|---|---|---|---|"
    );
    for (name, (seeds, hits)) in &agg {
        let _ = writeln!(
            s,
            "| {name} | {seeds} | {:.1}% | {hits} |",
            100.0 * *seeds as f64 / reported as f64
        );
    }
    let unreached: Vec<&str> = agg
        .iter()
        .filter(|(_, (seeds, _))| *seeds == 0)
        .map(|(name, _)| *name)
        .collect();
    let reached = agg.len() - unreached.len();
    let _ = writeln!(s, "\nprobes reached: {reached} of {}", agg.len());
    if !unreached.is_empty() {
        let _ = writeln!(s, "probes no seed reached:");
        for name in unreached {
            match eddy_probe::find(name) {
                Some(p) => {
                    let _ = writeln!(s, "  {name} (reached by {})", p.reached_by);
                }
                None => {
                    let _ = writeln!(s, "  {name}");
                }
            }
        }
    }
    s
}

fn table(results: &[Outcome]) -> String {
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for r in results {
        *by_status.entry(r.status).or_default() += 1;
    }
    let mut p99: Vec<f64> = results.iter().filter_map(|r| r.produce_p99_ms).collect();
    p99.sort_by(|a, b| a.total_cmp(b));
    let mut s = String::new();
    let _ = writeln!(s, "\n| outcome | seeds |\n|---|---|");
    for (status, n) in &by_status {
        let _ = writeln!(s, "| {status} | {n} |");
    }
    if !p99.is_empty() {
        let _ = writeln!(
            s,
            "\nproduce-ack p99 across seeds: min {:.1} ms, median {:.1} ms, max {:.1} ms",
            p99[0],
            p99[p99.len() / 2],
            p99[p99.len() - 1]
        );
    }
    let violations: u64 = results.iter().map(|r| r.violations).sum();
    let _ = writeln!(s, "violations listed in reports: {violations}");
    let mut silent: BTreeMap<&str, usize> = BTreeMap::new();
    for r in results {
        for class in &r.silent {
            *silent.entry(class.as_str()).or_default() += 1;
        }
    }
    for (class, seeds) in &silent {
        let _ = writeln!(
            s,
            "warning: {class} judged nothing in {seeds} of {} seed(s) (report.json verdict.silent)",
            results.len()
        );
    }
    s
}

fn junit(scenario: &Path, results: &[Outcome]) -> String {
    let esc = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let failures = results.iter().filter(|r| r.status != "ok").count();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuite name=\"eddy fuzz {}\" tests=\"{}\" failures=\"{failures}\">",
        esc(&scenario.display().to_string()),
        results.len()
    );
    for r in results {
        let _ = write!(
            s,
            "  <testcase classname=\"eddy.fuzz\" name=\"seed {}\"",
            r.seed
        );
        if r.status == "ok" {
            s.push_str("/>\n");
        } else {
            let _ = writeln!(
                s,
                "><failure message=\"{}: {}\">eddy run {} --seed {}</failure></testcase>",
                r.status,
                esc(&r.detail),
                esc(&scenario.display().to_string()),
                r.seed
            );
        }
    }
    s.push_str("</testsuite>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_and_shards_parse_or_explain() {
        assert_eq!(parse_seeds("3").unwrap(), vec![3]);
        assert_eq!(parse_seeds("1..4").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_seeds("1..=3").unwrap(), vec![1, 2, 3]);
        assert!(parse_seeds("5..5").is_err());
        assert!(parse_seeds("x..3")
            .unwrap_err()
            .to_string()
            .contains("invalid seed"));
        assert_eq!(parse_shard("1/4").unwrap(), (1, 4));
        assert!(parse_shard("4/4").is_err());
        assert!(parse_shard("1").is_err());
    }
}
