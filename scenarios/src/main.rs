//! `eddy`: run Kafka workloads against the real agent and control-plane code inside a
//! deterministic simulation, check the histories, and report latency and cost.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use eddy_scenarios::{bench, commands};

/// The simulation allocates and frees many small buffers per simulated message; mimalloc
/// is markedly faster at that than the system allocator (see `eddy bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "eddy", version, about = "Deterministic simulation testbed of a Kafka-compatible system on object storage")]
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
        Command::Run { scenario, seed, out, json } => commands::run(&scenario, seed, out, json),
        Command::Check { history, json } => commands::check(&history, json),
        Command::Bench { scenario, seeds, check_ops } => bench::bench(&scenario, seeds, check_ops),
    };
    match result.context("eddy") {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
