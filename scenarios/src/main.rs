//! `eddy`: run Kafka workloads against the real agent and control-plane code inside a
//! deterministic simulation, check the histories, and report latency and cost.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use eddy_scenarios::prices::PricePreset;
#[cfg(madsim)]
use eddy_scenarios::{bench, commands, whatif};
use eddy_scenarios::{checkcmd, fuzz, fuzz_merge, plant_report, serve};

#[cfg(not(madsim))]
const SIMULATED_ONLY: &str = "this is the real-mode build (no --cfg madsim): it has no simulator. \
     Use the default build: cargo run --release -- …";

/// The simulation allocates and frees many small buffers per simulated message; mimalloc
/// is markedly faster at that than the system allocator (see `eddy bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Ask mimalloc never to return freed memory to the OS. By default it purges freed pages
/// after 10 ms; a simulated run frees and reallocates megabyte buffers (fetch responses,
/// data files) continuously, so every reuse faulted fresh (transparent huge) pages in and
/// zeroed them. Measured with `eddy bench --seeds 2` (release, one run each, same machine):
/// 24.3x / 25.3x per CPU second with purging, 33.2x / 31.9x without. The cost is a resident
/// size that stays at its peak, which a simulation process that exits soon can afford, and
/// a server cannot: `eddy serve`, `eddy agent` and `eddy controlplane` keep the default.
fn keep_freed_memory() {
    // `mi_option_purge_delay` in mimalloc.h (v2 and v3 alike): 15. -1 = never purge.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets a plain integer option; mimalloc reads options at each purge decision
    // and accepts changes at any time. No pointers cross the boundary.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1)
    };
}

#[derive(Parser)]
#[command(
    name = "eddy",
    version,
    about = "Deterministic simulation testbed of a Kafka-compatible system on object storage"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario under one seed; exit status 1 when a checker finds a violation.
    Run {
        /// Scenario file (JSON), e.g. scenarios/specs/basic-standard.json
        scenario: PathBuf,
        /// Run seed (also read from EDDY_SEED).
        #[arg(long, env = "EDDY_SEED", default_value_t = 1)]
        seed: u64,
        /// Folder for report.json and history.jsonl (default: out/<scenario>/seed-<N>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the JSON report to standard output instead of the summary.
        #[arg(long)]
        json: bool,
        #[arg(long = "plant", value_name = "BUG", help = plant_help())]
        plants: Vec<String>,
        /// Run the seed twice in fresh processes and fail, naming the first diverging
        /// event, if the two runs differ.
        #[arg(long)]
        check_determinism: bool,
        /// Override a scenario key (a dotted JSON path), e.g. --set agent.batch_timeout_ms=50;
        /// repeatable, applied in order.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Price list: AWS us-east-1 list prices, or the seed document's figures.
        #[arg(long, value_enum, default_value_t = PricePreset::Aws)]
        prices: PricePreset,
        /// Write report.html and history.jsonl only when the run fails (report.json
        /// always): what `eddy fuzz` asks of each seed unless --keep-passing.
        #[arg(long)]
        pages_if_failed: bool,
    },
    /// Run the cross product of scenario variations (a process per run) and compare cost and
    /// latency, with a Kafka baseline: a table, whatif.html, whatif.md and whatif.json.
    Whatif {
        scenario: PathBuf,
        /// key=v1,v2,…: a dotted JSON path into the scenario and the values to try; repeat
        /// for a cross product.
        #[arg(long = "vary", value_name = "KEY=V1,V2")]
        varies: Vec<String>,
        /// key=value applied to every run before the variations.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Seed of every run.
        #[arg(long, env = "EDDY_SEED", default_value_t = 1)]
        seed: u64,
        /// Runs at once (default: available cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Output folder (default: out/whatif/<scenario>).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = PricePreset::Aws)]
        prices: PricePreset,
    },
    /// Check a recorded history (JSONL, schema in reports/HISTORY.md).
    Check {
        history: PathBuf,
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
        /// Judge produce-ack latency: its p99 must not exceed this many ms.
        #[arg(long)]
        produce_p99_ms: Option<f64>,
        /// Judge delivery latency: its p99 must not exceed this many ms.
        #[arg(long)]
        delivery_p99_ms: Option<f64>,
        /// Fewest samples for a latency verdict.
        #[arg(long, default_value_t = 1000)]
        latency_min_samples: u64,
    },
    /// Run many seeds, one process each; print a reproduction command for every failure.
    /// `eddy fuzz merge DIR…` merges the output folders of a campaign's shards.
    Fuzz(FuzzCli),
    /// Fuzz each planted bug and report how often and how fast the checkers catch it.
    PlantReport {
        /// Scenario to fuzz every plant with (default: each plant's own: compaction.json for
        /// the compaction, retention and cleanup bugs, plants.json for the others).
        scenario: Option<PathBuf>,
        /// Seeds per plant.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        #[arg(long)]
        jobs: Option<usize>,
        /// Only these plants (default: all).
        #[arg(long = "plant")]
        plants: Vec<String>,
        #[arg(long, default_value = "out/plants")]
        out: PathBuf,
    },
    /// Measure simulation speed: simulated seconds per wall-clock second.
    Bench {
        #[arg(default_value = "scenarios/specs/basic-standard.json")]
        scenario: PathBuf,
        #[arg(long, default_value_t = 3)]
        seeds: u64,
        /// Also time the checkers (parsing included) on a synthetic history of this many
        /// operations. With --seeds 0 only the checkers are timed.
        #[arg(long)]
        check_ops: Option<usize>,
        /// Also time the checkers (parsing included) on this history (JSONL).
        #[arg(long)]
        check_history: Option<PathBuf>,
    },
    /// Shrink a failing seed: drop its faults one by one and shorten its phases while the
    /// same violation class still appears; write the smallest scenario that still fails.
    Shrink {
        /// Scenario file (JSON) the seed failed with.
        scenario: PathBuf,
        #[arg(long)]
        seed: u64,
        /// The violation class that must keep appearing (default: the seed's first).
        #[arg(long)]
        class: Option<String>,
        /// Most runs to spend (each is a whole simulated run).
        #[arg(long, default_value_t = 150)]
        max_runs: usize,
        /// Where to write the shrunk scenario (default: <name>-shrunk-seed-<N>.json here).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Real mode: serve Kafka on 127.0.0.1:9092 with an embedded control plane and a local
    /// (or S3) object store. Needs the real-mode build (without --cfg madsim).
    Serve(serve::ServeArgs),
    /// Real mode: run the control plane (virtual cluster) alone.
    Controlplane(serve::ControlPlaneArgs),
    /// Real mode: run one agent of the virtual cluster at --controlplane.
    Agent(serve::AgentProcessArgs),
}

/// Log timestamps of simulated runs: seconds of simulated time since the run started
/// ("-" outside a run).
struct SimClock;

impl tracing_subscriber::fmt::time::FormatTime for SimClock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        #[cfg(madsim)]
        if let Some(time) = madsim::time::TimeHandle::try_current() {
            return write!(w, "{:>11.6}s", time.elapsed().as_secs_f64());
        }
        write!(w, "{:>12}", "-")
    }
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct FuzzCli {
    #[command(subcommand)]
    command: Option<FuzzCommand>,
    /// Scenario file (JSON).
    #[arg(required = true)]
    scenario: Option<PathBuf>,
    /// Seeds: N, A..B (B excluded) or A..=B.
    #[arg(long, default_value = "1..=20")]
    seeds: String,
    /// Runs at once (default: available cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only shard i of n, 0-based (0/n … n-1/n): the seeds at positions ≡ i mod n of
    /// --seeds. `JOB_COMPLETION_INDEX/n` takes i from that environment variable (set by a
    /// Kubernetes Indexed Job). Merge the shards' --out folders with `eddy fuzz merge`.
    #[arg(long, value_name = "i/n")]
    shard: Option<String>,
    /// Output folder: fuzz.json (every seed's result), and report.json and history.jsonl of
    /// each failing seed.
    #[arg(long, default_value = "out/fuzz")]
    out: PathBuf,
    /// Write a JUnit XML summary for CI systems.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Keep the output of passing seeds too.
    #[arg(long)]
    keep_passing: bool,
    #[arg(long = "plant", value_name = "BUG", help = plant_help())]
    plants: Vec<String>,
}

#[derive(Subcommand)]
enum FuzzCommand {
    /// Merge the output folders of a campaign's shards (`eddy fuzz --shard i/n`): print the
    /// table one unsharded run would print, write its JUnit file and, with --out, its
    /// fuzz.json and the failing seeds' folders. Refuses shards of different builds,
    /// scenario files, plants or seed ranges, and seeds judged twice or in no shard.
    Merge {
        /// The shards' --out folders (each holds a fuzz.json).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Folder for the merged fuzz.json and the failing seeds' folders (linked or copied).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the merged JUnit XML summary.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Merge even if some of the campaign's seeds are in no folder given (a warning
        /// says the summary is partial).
        #[arg(long)]
        allow_missing: bool,
    },
}

fn fuzz_command(cli: FuzzCli) -> anyhow::Result<ExitCode> {
    if let Some(FuzzCommand::Merge {
        dirs,
        out,
        junit,
        allow_missing,
    }) = cli.command
    {
        return fuzz_merge::merge(fuzz_merge::MergeArgs {
            dirs,
            out,
            junit,
            allow_missing,
        });
    }
    let scenario = cli.scenario.context("eddy fuzz needs a scenario file")?;
    let all = fuzz::parse_seeds(&cli.seeds)?;
    let shard = cli
        .shard
        .as_deref()
        .map(fuzz::parse_shard)
        .transpose()?
        .map(|(index, count)| fuzz::Shard { index, count });
    let seeds = match shard {
        Some(s) => fuzz::shard_seeds(&all, (s.index, s.count)),
        None => all.clone(),
    };
    let jobs = cli
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    fuzz::fuzz(fuzz::FuzzArgs {
        scenario,
        seeds_text: cli.seeds,
        seeds,
        seed_count: all.len() as u64,
        shard,
        jobs,
        out: cli.out,
        junit: cli.junit,
        keep_passing: cli.keep_passing,
        plants: cli.plants,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(
        cli.command,
        Command::Serve(_) | Command::Controlplane(_) | Command::Agent(_)
    );
    if serving {
        // A long-running server: logs at info unless EDDY_LOG says otherwise, each line
        // stamped with the wall-clock time (RFC 3339, UTC). Freed memory goes back to the OS
        // (mimalloc's default): a burst of large requests must not stay resident.
        let filter = std::env::var("EDDY_LOG").unwrap_or_else(|_| "info".into());
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_timer(tracing_subscriber::fmt::time::SystemTime)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init();
    } else {
        // EDDY_LOG=debug (or any tracing filter) logs to standard error, each line stamped
        // with the simulated time since the run started (never the wall clock: a simulated
        // run's output depends on its seed alone), so log lines line up with the history's
        // `invoke_us` and the report's fault windows.
        if let Ok(filter) = std::env::var("EDDY_LOG") {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_timer(SimClock)
                .with_writer(std::io::stderr)
                .init();
        }
        keep_freed_memory();
    }
    let result = match cli.command {
        #[cfg(madsim)]
        Command::Run {
            scenario,
            seed,
            out,
            json,
            plants,
            check_determinism,
            sets,
            prices,
            pages_if_failed,
        } => {
            if check_determinism {
                commands::check_determinism(&scenario, seed, &plants)
            } else {
                commands::run_keeping(commands::RunArgs {
                    scenario,
                    seed,
                    out,
                    json,
                    sets,
                    prices,
                    plants,
                    pages_if_failed,
                })
                .map(|(code, leftovers)| {
                    // The process exits next: the OS takes the run's memory back at once.
                    std::mem::forget(leftovers);
                    code
                })
            }
        }
        #[cfg(madsim)]
        Command::Whatif {
            scenario,
            varies,
            sets,
            seed,
            jobs,
            out,
            prices,
        } => whatif::whatif(whatif::WhatIfArgs {
            scenario,
            varies,
            sets,
            seed,
            jobs: jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            out,
            prices,
        }),
        Command::Check {
            history,
            json,
            produce_p99_ms,
            delivery_p99_ms,
            latency_min_samples,
        } => {
            let latency = (produce_p99_ms.is_some() || delivery_p99_ms.is_some()).then(|| {
                eddy_reports::LatencyBounds {
                    produce_ack_p99_ms: produce_p99_ms,
                    delivery_p99_ms,
                    excluded_us: Vec::new(),
                    recovery_us: 0,
                    warmup_us: 0,
                    min_samples: latency_min_samples,
                }
            });
            checkcmd::check(&history, json, latency)
        }
        #[cfg(madsim)]
        Command::Bench {
            scenario,
            seeds,
            check_ops,
            check_history,
        } => bench::bench(&scenario, seeds, check_ops, check_history.as_deref()),
        Command::Fuzz(cli) => fuzz_command(cli),
        Command::PlantReport {
            scenario,
            seeds,
            jobs,
            plants,
            out,
        } => {
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            plant_report::plant_report(scenario.as_deref(), seeds, jobs, &plants, &out)
        }
        Command::Serve(args) => serve::serve(args),
        Command::Controlplane(args) => serve::controlplane(args),
        Command::Agent(args) => serve::agent(args),
        #[cfg(madsim)]
        Command::Shrink {
            scenario,
            seed,
            class,
            max_runs,
            out,
        } => {
            let options = eddy_scenarios::shrink::ShrinkOptions { class, max_runs };
            eddy_scenarios::shrink::shrink_command(&scenario, seed, &options, out.as_deref())
                .map(|()| ExitCode::SUCCESS)
        }
        #[cfg(not(madsim))]
        Command::Run { .. }
        | Command::Whatif { .. }
        | Command::Bench { .. }
        | Command::Shrink { .. } => Err(anyhow::anyhow!("{SIMULATED_ONLY}")),
    };
    match result.context("eddy") {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `--plant`'s help: every planted bug, from the enum.
fn plant_help() -> String {
    let names: Vec<&str> = eddy_controlplane::Plant::ALL
        .iter()
        .map(|p| p.name())
        .collect();
    format!("Switch on a planted bug (repeatable): {}", names.join(", "))
}
