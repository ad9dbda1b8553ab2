//! A failure found by `eddy fuzz` reproduces identically with the command it prints, and
//! `eddy run --check-determinism` confirms a seed is deterministic.

use std::process::Command;

fn eddy() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_eddy"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn a_fuzz_failure_reproduces_with_the_printed_command() {
    let dir = std::env::temp_dir().join(format!("eddy-reproduce-{}", std::process::id()));
    // A planted bug the checkers catch without faults: acknowledging with guessed offsets.
    let fuzz = eddy()
        .args([
            "fuzz",
            "tests/specs/short-standard.json",
            "--plant",
            "ack-before-commit",
            "--seeds",
            "3..=3",
            "--jobs",
            "1",
            "--out",
        ])
        .arg(&dir)
        .output()
        .expect("eddy fuzz runs");
    let stdout = String::from_utf8_lossy(&fuzz.stdout);
    assert_eq!(
        fuzz.status.code(),
        Some(1),
        "the planted bug must be found:\n{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("reproduce: "))
        .expect("a reproduce line");
    let command = line
        .trim_start_matches("reproduce: ")
        .split("   (")
        .next()
        .unwrap()
        .trim();
    let args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(args[0], "eddy");
    let kept =
        std::fs::read(dir.join("seed-3/report.json")).expect("the failing seed's report is kept");
    let again_dir = dir.join("again");
    let again = eddy()
        .args(&args[1..])
        .args(["--json", "--out"])
        .arg(&again_dir)
        .output()
        .expect("reproduction runs");
    assert_eq!(again.status.code(), Some(1), "the reproduction fails too");
    let reproduced = std::fs::read(again_dir.join("report.json")).expect("reproduced report");
    assert!(
        kept == reproduced,
        "the reproduction's report differs from the fuzz run's"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_determinism_passes_for_a_deterministic_seed() {
    let out = eddy()
        .args([
            "run",
            "tests/specs/short-express.json",
            "--seed",
            "4",
            "--check-determinism",
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("deterministic: seed 4"), "{stdout}");
}
