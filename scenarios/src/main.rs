//! `eddy`: run Kafka workloads against the real agent and control-plane code inside a
//! deterministic simulation, check the histories, and report latency and cost.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use eddy_scenarios::{commands, fuzz, serve};

/// The simulation allocates and frees many small buffers per simulated message; mimalloc
/// is markedly faster at that than the system allocator (see `eddy bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    },
    /// Check a recorded history (JSONL, schema in reports/HISTORY.md).
    Check {
        history: PathBuf,
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run many seeds, one process each; print a reproduction command for every failure.
    Fuzz {
        scenario: PathBuf,
        /// Seeds: N, A..B (B excluded) or A..=B.
        #[arg(long, default_value = "1..=20")]
        seeds: String,
        /// Runs at once (default: available cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only shard i of n (i/n): seeds at positions ≡ i mod n.
        #[arg(long)]
        shard: Option<String>,
        /// Output folder (failing seeds keep report.json and history.jsonl here).
        #[arg(long, default_value = "out/fuzz")]
        out: PathBuf,
        /// Write a JUnit XML summary for CI systems.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Keep the output of passing seeds too.
        #[arg(long)]
        keep_passing: bool,
    },
    /// Measure simulation speed: simulated seconds per wall-clock second.
    Bench {
        #[arg(default_value = "scenarios/specs/basic-standard.json")]
        scenario: PathBuf,
        #[arg(long, default_value_t = 3)]
        seeds: u64,
        /// Also time the checkers on a synthetic history of this many operations.
        #[arg(long)]
        check_ops: Option<usize>,
    },
    /// Real mode: serve Kafka on 127.0.0.1:9092 with an embedded control plane and a local
    /// (or S3) object store. Needs the real-mode build (without --cfg madsim).
    Serve(serve::ServeArgs),
    /// Real mode: run the control plane (virtual cluster) alone.
    Controlplane(serve::ControlPlaneArgs),
    /// Real mode: run one agent of the virtual cluster at --controlplane.
    Agent(serve::AgentProcessArgs),
}

/// `eddy run` in the simulated build; the real-mode build has no simulator.
#[cfg(madsim)]
fn run(scenario: PathBuf, seed: u64, out: Option<PathBuf>, json: bool) -> anyhow::Result<ExitCode> {
    commands::run(&scenario, seed, out, json)
}

#[cfg(madsim)]
fn bench(scenario: PathBuf, seeds: u64, check_ops: Option<usize>) -> anyhow::Result<ExitCode> {
    eddy_scenarios::bench::bench(&scenario, seeds, check_ops)
}

#[cfg(not(madsim))]
const SIMULATED_ONLY: &str = "this is the real-mode build (no --cfg madsim): it has no simulator. \
     Use the default build: cargo run --release -- …";

#[cfg(not(madsim))]
fn run(_: PathBuf, _: u64, _: Option<PathBuf>, _: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`eddy run`: {SIMULATED_ONLY}")
}

#[cfg(not(madsim))]
fn bench(_: PathBuf, _: u64, _: Option<usize>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`eddy bench`: {SIMULATED_ONLY}")
}

fn main() -> ExitCode {
    // EDDY_LOG=debug (or any tracing filter) logs to standard error, without wall-clock time.
    if let Ok(filter) = std::env::var("EDDY_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .without_time()
            .with_writer(std::io::stderr)
            .init();
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            scenario,
            seed,
            out,
            json,
        } => run(scenario, seed, out, json),
        Command::Check { history, json } => commands::check(&history, json),
        Command::Bench {
            scenario,
            seeds,
            check_ops,
        } => bench(scenario, seeds, check_ops),
        Command::Fuzz {
            scenario,
            seeds,
            jobs,
            shard,
            out,
            junit,
            keep_passing,
        } => (|| {
            let mut seeds = fuzz::parse_seeds(&seeds)?;
            if let Some(shard) = shard {
                let (i, n) = fuzz::parse_shard(&shard)?;
                seeds = seeds
                    .into_iter()
                    .enumerate()
                    .filter(|(k, _)| k % n == i)
                    .map(|(_, s)| s)
                    .collect();
            }
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            fuzz::fuzz(fuzz::FuzzArgs {
                scenario,
                seeds,
                jobs,
                out,
                junit,
                keep_passing,
            })
        })(),
        Command::Serve(args) => serve::serve(args),
        Command::Controlplane(args) => serve::controlplane(args),
        Command::Agent(args) => serve::agent(args),
    };
    match result.context("eddy") {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
