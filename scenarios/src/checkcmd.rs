//! `eddy check`: the checkers on any recorded history (works in both builds).

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

/// Check the history at `path`; with `latency`, judge its latency against those bounds too
/// (a history carries no model to derive them from).
pub fn check(
    path: &Path,
    json: bool,
    latency: Option<eddy_reports::LatencyBounds>,
) -> anyhow::Result<ExitCode> {
    let bytes = fs::read(path).with_context(|| format!("opening {}", path.display()))?;
    let ops = eddy_reports::read_jsonl_bytes(&bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    drop(bytes);
    let options = eddy_reports::CheckOptions {
        latency,
        ..eddy_reports::CheckOptions::default()
    };
    let verdict = eddy_reports::check_with(&ops, &options);
    if json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        println!("{} operations checked", verdict.ops_checked);
        for class in eddy_reports::Class::ALL {
            let n = verdict.counts.get(&class).copied().unwrap_or(0);
            let judged = verdict.judged.get(&class).copied().unwrap_or(0);
            println!("  {class}: {n} (judged {judged})");
        }
        for q in &verdict.silent {
            println!("warning: {} judged nothing: {}", q.class, q.reason);
        }
        for v in verdict.violations.iter().take(50) {
            println!("- [{}] {}", v.class, v.explanation);
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
