//! `eddy fuzz`: run many seeds of a scenario, one fresh process per seed (a process per seed
//! keeps runs independent), a few at a time. Prints progress, a final table, and for every
//! failing seed the exact command that reproduces it; keeps that seed's report and history.
//!
//! A campaign can be cut into shards (`--shard i/n`, 0-based: the seeds at positions ≡ i
//! mod n of the seed list) run on different machines. Every run writes `fuzz.json` into its
//! output folder ([`Campaign`]: what was run, by which build, and each seed's result), and
//! `eddy fuzz merge` ([`crate::fuzz_merge`]) turns the shards' folders back into the
//! table, reproduction lines, JUnit file and `fuzz.json` of one unsharded run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

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

/// The environment variable a Kubernetes Indexed Job sets to the pod's completion index
/// (0-based): `--shard JOB_COMPLETION_INDEX/n` reads the shard index from it.
pub const JOB_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";

/// `i/n`: shard `i` (0-based) of `n`. `i` may be the word `JOB_COMPLETION_INDEX`, read from
/// that environment variable (set by a Kubernetes Indexed Job).
pub fn parse_shard(text: &str) -> anyhow::Result<(usize, usize)> {
    parse_shard_with(text, |name| std::env::var(name).ok())
}

/// [`parse_shard`] with the environment given (tests).
pub fn parse_shard_with(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<(usize, usize)> {
    let usage =
        "expected i/n with 0 <= i < n, e.g. --shard 0/4 … --shard 3/4 (shards are 0-based), \
                 or --shard JOB_COMPLETION_INDEX/n in a Kubernetes Indexed Job";
    let Some((i, n)) = text.split_once('/') else {
        bail!("--shard {text:?}: {usage}");
    };
    let n: usize = n.trim().parse().map_err(|_| {
        anyhow::anyhow!("--shard {text:?}: shard count {n:?} is not a number; {usage}")
    })?;
    if n == 0 {
        bail!("--shard {text:?}: the shard count must be at least 1; {usage}");
    }
    let i = i.trim();
    let i: usize = if i == JOB_COMPLETION_INDEX {
        let value = env(JOB_COMPLETION_INDEX).with_context(|| {
            format!(
                "--shard {text:?}: the environment variable {JOB_COMPLETION_INDEX} is not set \
                 (a Kubernetes Indexed Job sets it; elsewhere give the index, e.g. --shard 0/{n})"
            )
        })?;
        value.trim().parse().map_err(|_| {
            anyhow::anyhow!("--shard {text:?}: {JOB_COMPLETION_INDEX}={value:?} is not a number")
        })?
    } else {
        i.parse().map_err(|_| {
            anyhow::anyhow!("--shard {text:?}: shard index {i:?} is not a number; {usage}")
        })?
    };
    if i >= n {
        bail!(
            "--shard {text:?}: shard index {i} is not below the shard count {n} (shards are 0-based: 0/{n} … {}/{n})",
            n - 1
        );
    }
    Ok((i, n))
}

/// The seeds of shard `i` of `n`: those at positions ≡ i mod n of `seeds`, so shard sizes
/// differ by at most one and every seed is in exactly one shard.
pub fn shard_seeds(seeds: &[u64], (i, n): (usize, usize)) -> Vec<u64> {
    seeds.iter().skip(i).step_by(n.max(1)).copied().collect()
}

/// One seed's result, as `fuzz.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub seed: u64,
    /// `ok`, `violation` (a checker found something), `liveness` (the drain did not
    /// complete) or `error` (the run failed otherwise).
    pub status: String,
    /// For a violation, the classes with violations (`class=count …`); else what went wrong.
    pub detail: String,
    pub produce_p99_ms: Option<f64>,
    /// Violations listed in report.json (at most the per-class cap each).
    pub violations: u64,
    /// Violations per class, every class listed (report.json `verdict.counts`): a class's
    /// verdict is a pass when its count is 0.
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    /// What each class judged (report.json `verdict.judged`).
    #[serde(default)]
    pub judged: BTreeMap<String, u64>,
    /// Classes that applied but judged nothing in this seed (report.json `verdict.silent`).
    pub silent: Vec<String>,
    /// Hits per coverage probe (report.json `probes`; empty without a report).
    pub probes: BTreeMap<String, u64>,
    /// The command that reproduces this seed: `eddy run <scenario> [--plant P…] --seed N`.
    #[serde(default)]
    pub reproduce: String,
    /// The seed's kept folder (report.json, report.html, history.jsonl), relative to the
    /// campaign's output folder; `None` when it was not kept (a passing seed without
    /// `--keep-passing`).
    #[serde(default)]
    pub kept: Option<String>,
    /// The kept history, relative to the campaign's output folder, when there is one.
    #[serde(default)]
    pub history: Option<String>,
}

/// Name of the campaign summary every `eddy fuzz` writes into its output folder.
pub const CAMPAIGN_FILE: &str = "fuzz.json";
/// `fuzz.json`'s `format`; changes when a field changes meaning.
pub const CAMPAIGN_FORMAT: &str = "eddy-fuzz/1";

/// `fuzz.json`: what a campaign (or one shard of it) ran and what each seed gave —
/// everything `eddy fuzz merge` needs to check that shards belong together and to print
/// the unsharded run's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// [`CAMPAIGN_FORMAT`].
    pub format: String,
    /// The eddy package version that ran it.
    pub eddy_version: String,
    /// Digest of the eddy binary that ran it ([`build_digest`]): shards of one campaign
    /// must come from one build.
    pub eddy_build: String,
    /// The scenario file as given on the command line (reproduction lines name it).
    pub scenario: String,
    /// Digest of the scenario file's contents ([`digest`]).
    pub scenario_digest: String,
    /// Planted bugs switched on in every run.
    pub plants: Vec<String>,
    /// The whole campaign's seeds as given (`--seeds`), before sharding.
    pub seeds: String,
    /// How many seeds that is.
    pub seed_count: u64,
    /// This run's shard of the campaign; `None`: the whole campaign (or a merge).
    pub shard: Option<Shard>,
    /// Every seed this run judged, by seed.
    pub results: Vec<Outcome>,
}

/// Shard `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A 64-bit digest of a byte stream (a multiply-rotate hash over 8-byte words), as 16 hex
/// digits. It tells files apart; it is not a cryptographic hash.
pub fn digest(mut reader: impl std::io::Read) -> std::io::Result<String> {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0x243F_6A88_85A3_08D3;
    let mut len: u64 = 0;
    let mut buf = vec![0u8; 1 << 20];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        len += n as u64;
        carry.extend_from_slice(&buf[..n]);
        let whole = carry.len() / 8 * 8;
        for w in carry[..whole].chunks_exact(8) {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            h = (h.rotate_left(23) ^ w).wrapping_mul(K);
        }
        carry.drain(..whole);
    }
    let mut last = [0u8; 8];
    last[..carry.len()].copy_from_slice(&carry);
    h = (h.rotate_left(23) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    h = (h.rotate_left(23) ^ len).wrapping_mul(K);
    h ^= h >> 29;
    Ok(format!("{h:016x}"))
}

/// [`digest`] of the running eddy binary.
pub fn build_digest() -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("locating the eddy binary")?;
    let file = std::fs::File::open(&exe).with_context(|| format!("reading {}", exe.display()))?;
    digest(file).with_context(|| format!("reading {}", exe.display()))
}

/// `eddy run <scenario> [--plant P…] --seed N`.
pub fn reproduce_command(scenario: &str, plants: &[String], seed: u64) -> String {
    let plants: String = plants.iter().map(|p| format!(" --plant {p}")).collect();
    format!("eddy run {scenario}{plants} --seed {seed}")
}

pub struct FuzzArgs {
    pub scenario: PathBuf,
    /// The campaign's seeds as given (`--seeds`), before sharding.
    pub seeds_text: String,
    /// The seeds this run runs (the campaign's, or its shard's).
    pub seeds: Vec<u64>,
    /// How many seeds the whole campaign has.
    pub seed_count: u64,
    pub shard: Option<Shard>,
    pub jobs: usize,
    pub out: PathBuf,
    pub junit: Option<PathBuf>,
    pub keep_passing: bool,
    /// Planted bugs to switch on in every run (`--plant`).
    pub plants: Vec<String>,
}

pub fn fuzz(args: FuzzArgs) -> anyhow::Result<ExitCode> {
    let scenario_text = std::fs::read(&args.scenario)
        .with_context(|| format!("reading the scenario {}", args.scenario.display()))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut campaign = Campaign {
        format: CAMPAIGN_FORMAT.into(),
        eddy_version: env!("CARGO_PKG_VERSION").into(),
        eddy_build: build_digest()?,
        scenario: args.scenario.display().to_string(),
        scenario_digest: digest(&scenario_text[..])?,
        plants: args.plants.clone(),
        seeds: args.seeds_text.clone(),
        seed_count: args.seed_count,
        shard: args.shard,
        results: Vec::new(),
    };
    let total = args.seeds.len();
    println!(
        "eddy fuzz {} — {} seed(s){}, {} job(s), output in {}",
        args.scenario.display(),
        total,
        match args.shard {
            Some(shard) => format!(
                " (shard {shard} of {} seed(s) {})",
                args.seed_count, args.seeds_text
            ),
            None => String::new(),
        },
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
            if !args.keep_passing {
                t.args.push("--pages-if-failed".into());
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
            let mut outcome = judge_dir(seed, status, &seed_dir(seed));
            if outcome.status == "ok" && !args.keep_passing {
                let _ = std::fs::remove_dir_all(seed_dir(seed));
            }
            outcome.reproduce = reproduce_command(&campaign.scenario, &args.plants, seed);
            let name = format!("seed-{seed}");
            if seed_dir(seed).is_dir() {
                outcome.kept = Some(name.clone());
                if seed_dir(seed).join("history.jsonl").is_file() {
                    outcome.history = Some(format!("{name}/history.jsonl"));
                }
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
    campaign.results = results;
    write_campaign(&args.out, &campaign)?;
    print!("{}", summary(&campaign.results, |seed| seed_dir(seed)));
    finish(&campaign, args.junit.as_deref())
}

/// Writes `dir/fuzz.json`.
pub fn write_campaign(dir: &Path, campaign: &Campaign) -> anyhow::Result<()> {
    let path = dir.join(CAMPAIGN_FILE);
    let mut text = serde_json::to_string_pretty(campaign)?;
    text.push('\n');
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// Writes the JUnit file if asked, and gives the exit status: 1 when a seed failed.
pub fn finish(campaign: &Campaign, junit_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    if let Some(path) = junit_path {
        std::fs::write(path, junit(&campaign.scenario, &campaign.results))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if campaign.results.iter().all(|r| r.status == "ok") {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What `eddy fuzz` prints after its progress lines (and `eddy fuzz merge` after its
/// header): the outcome table, the probe table and a reproduction line per failing seed,
/// naming the folder `kept_in(seed)` that keeps its report and history.
pub fn summary(results: &[Outcome], kept_in: impl Fn(u64) -> PathBuf) -> String {
    let mut s = table(results);
    s.push_str(&probe_table(results));
    for f in results.iter().filter(|r| r.status != "ok") {
        let _ = writeln!(
            s,
            "reproduce: {}   (kept in {})",
            f.reproduce,
            kept_in(f.seed).display()
        );
    }
    s
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
    let counts_of = |value: &serde_json::Value| -> BTreeMap<String, u64> {
        value
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (probes, counts, judged) = match &report {
        Some(r) => (
            counts_of(&r["probes"]),
            counts_of(&r["verdict"]["counts"]),
            counts_of(&r["verdict"]["judged"]),
        ),
        None => Default::default(),
    };
    Outcome {
        seed,
        status: status.to_string(),
        produce_p99_ms: p99,
        violations,
        detail,
        counts,
        judged,
        silent,
        probes,
        reproduce: String::new(),
        kept: None,
        history: None,
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
        *by_status.entry(r.status.as_str()).or_default() += 1;
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

/// The JUnit XML of a campaign: a test case per seed, a failing seed's failure naming its
/// outcome and its reproduction command.
pub fn junit(scenario: &str, results: &[Outcome]) -> String {
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
        esc(scenario),
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
                "><failure message=\"{}: {}\">{}</failure></testcase>",
                r.status,
                esc(&r.detail),
                esc(&r.reproduce)
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
        assert_eq!(parse_shard("0/1").unwrap(), (0, 1));
        for (bad, says) in [
            ("4/4", "not below the shard count"),
            ("3/2", "not below the shard count"),
            ("0/0", "at least 1"),
            ("1", "expected i/n"),
            ("x", "expected i/n"),
            ("x/4", "shard index \"x\" is not a number"),
            ("-1/4", "is not a number"),
            ("1/y", "shard count \"y\" is not a number"),
            ("", "expected i/n"),
        ] {
            let e = parse_shard_with(bad, |_| None).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_kubernetes_completion_index_names_the_shard() {
        let env = |v: &'static str| {
            move |name: &str| (name == JOB_COMPLETION_INDEX).then(|| v.to_string())
        };
        assert_eq!(
            parse_shard_with("JOB_COMPLETION_INDEX/4", env("3")).unwrap(),
            (3, 4)
        );
        let e = parse_shard_with("JOB_COMPLETION_INDEX/4", env("4")).unwrap_err();
        assert!(e.to_string().contains("not below"), "{e}");
        let e = parse_shard_with("JOB_COMPLETION_INDEX/4", env("a")).unwrap_err();
        assert!(e.to_string().contains("not a number"), "{e}");
        let e = parse_shard_with("JOB_COMPLETION_INDEX/4", |_| None).unwrap_err();
        assert!(e.to_string().contains("is not set"), "{e}");
    }

    #[test]
    fn shards_split_seeds_evenly_and_exactly_once() {
        let seeds: Vec<u64> = (1..=10).collect();
        let shards: Vec<Vec<u64>> = (0..4).map(|i| shard_seeds(&seeds, (i, 4))).collect();
        assert_eq!(shards[0], [1, 5, 9]);
        assert_eq!(shards[1], [2, 6, 10]);
        assert_eq!(shards[2], [3, 7]);
        assert_eq!(shards[3], [4, 8]);
        let mut all: Vec<u64> = shards.concat();
        all.sort();
        assert_eq!(all, seeds);
        assert!(shard_seeds(&[1, 2], (3, 4)).is_empty());
    }

    #[test]
    fn digests_tell_contents_apart() {
        let d = |b: &[u8]| digest(b).unwrap();
        assert_eq!(d(b"abc"), d(b"abc"));
        assert_ne!(d(b"abc"), d(b"abd"));
        assert_ne!(d(b""), d(b"\0"));
        assert_ne!(d(b"12345678"), d(b"12345678\0"));
        assert_eq!(d(b"").len(), 16);
        // Chunk boundaries do not matter: the same bytes through a reader that returns
        // them a few at a time.
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(3).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let text = b"a scenario file, longer than one word";
        assert_eq!(digest(Trickle(text)).unwrap(), d(text));
    }
}
