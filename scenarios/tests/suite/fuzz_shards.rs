//! A campaign cut into shards and merged gives what one unsharded `eddy fuzz` gives: the
//! same summary (table, warnings, probe table, reproduction lines), JUnit file and
//! fuzz.json, with the failing seeds' folders; `eddy fuzz merge` refuses shards that do not
//! belong together, and bad `--shard` values are explained, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SEEDS: &str = "1..=8";
const SHARDS: usize = 4;

fn eddy(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_eddy"));
    c.current_dir(dir);
    c
}

/// The scenario, by absolute path, so that runs in different folders name it alike (the
/// reproduction lines and the JUnit file carry it). About half of its seeds fail their
/// produce-ack bound.
fn spec() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/specs/short-standard-tight.json")
        .display()
        .to_string()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What a fuzz run prints after its progress lines (a merge, after its header).
fn summary(stdout: &str) -> &str {
    let start = stdout
        .find("\n| outcome | seeds |")
        .unwrap_or_else(|| panic!("no outcome table in:\n{stdout}"));
    &stdout[start..]
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A refused merge: exit status 2, an error naming `says`, no panic.
fn refused(dir: &Path, args: &[&str], says: &str) {
    let out = eddy(dir)
        .args(["fuzz", "merge"])
        .args(args)
        .output()
        .expect("eddy runs");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}:\n{stdout}\n{stderr}");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn merged_shards_print_and_write_what_one_unsharded_run_does() {
    let base = std::env::temp_dir().join(format!("eddy-fuzz-shards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (whole, shards, merged) = (base.join("whole"), base.join("shards"), base.join("merged"));
    for d in [&whole, &shards, &merged] {
        std::fs::create_dir_all(d).unwrap();
    }
    // The shards run at once, as separate processes (as on separate machines).
    let children: Vec<_> = (0..SHARDS)
        .map(|i| {
            eddy(&shards)
                .args(["fuzz", &spec(), "--seeds", SEEDS, "--jobs", "1"])
                .args(["--shard", &format!("{i}/{SHARDS}")])
                .args(["--out", &format!("shard-{i}")])
                .output()
        })
        .collect();
    let unsharded = eddy(&whole)
        .args(["fuzz", &spec(), "--seeds", SEEDS, "--jobs", "2"])
        .args(["--out", "out", "--junit", "junit.xml"])
        .output()
        .expect("eddy fuzz runs");
    let (whole_stdout, whole_stderr) = text(&unsharded);
    assert_eq!(
        unsharded.status.code(),
        Some(1),
        "some seeds must fail (if the latency model moved, retune the bound in \
         short-standard-tight.json):\n{whole_stdout}\n{whole_stderr}"
    );
    assert!(
        whole_stdout.contains("| ok |"),
        "some seeds must pass:\n{whole_stdout}"
    );
    for (i, child) in children.into_iter().enumerate() {
        let out = child.expect("a shard runs");
        let (stdout, stderr) = text(&out);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "shard {i}:\n{stdout}\n{stderr}"
        );
        // Shard i ran the seeds at positions ≡ i mod 4 of 1..=8.
        let campaign: serde_json::Value =
            serde_json::from_slice(&read(shards.join(format!("shard-{i}/fuzz.json")))).unwrap();
        let seeds: Vec<u64> = campaign["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["seed"].as_u64().unwrap())
            .collect();
        assert_eq!(seeds, [i as u64 + 1, i as u64 + 5], "shard {i}");
        assert_eq!(campaign["shard"]["index"], i);
    }
    let dirs: Vec<String> = (0..SHARDS)
        .map(|i| format!("../shards/shard-{i}"))
        .collect();
    let merge = eddy(&merged)
        .args(["fuzz", "merge"])
        .args(&dirs)
        .args(["--out", "out", "--junit", "junit.xml"])
        .output()
        .expect("eddy fuzz merge runs");
    let (merged_stdout, merged_stderr) = text(&merge);
    assert_eq!(
        merge.status.code(),
        unsharded.status.code(),
        "{merged_stdout}\n{merged_stderr}"
    );
    assert_eq!(summary(&merged_stdout), summary(&whole_stdout));
    assert!(summary(&whole_stdout).contains("reproduce: eddy run "));
    assert!(
        read(merged.join("junit.xml")) == read(whole.join("junit.xml")),
        "the JUnit files differ"
    );
    assert!(
        read(merged.join("out/fuzz.json")) == read(whole.join("out/fuzz.json")),
        "the fuzz.json files differ"
    );
    // Every failing seed's folder is in the merged folder, with the same history.
    let campaign: serde_json::Value =
        serde_json::from_slice(&read(whole.join("out/fuzz.json"))).unwrap();
    let mut failing = 0;
    for r in campaign["results"].as_array().unwrap() {
        if r["status"] == "ok" {
            assert!(r["kept"].is_null(), "{r}");
            continue;
        }
        failing += 1;
        let history = r["history"]
            .as_str()
            .expect("a failing seed keeps its history");
        assert!(
            read(merged.join("out").join(history)) == read(whole.join("out").join(history)),
            "{history} differs"
        );
        assert!(r["reproduce"].as_str().unwrap().starts_with("eddy run "));
    }
    assert!(failing > 0);

    // Refusals.
    let shard = |i: usize| format!("../shards/shard-{i}");
    refused(&merged, &[&shard(0), &shard(0)], "both shard 0/4");
    refused(
        &merged,
        &[&shard(0), &shard(1), &shard(2)],
        "shards not given: 3/4",
    );
    refused(&merged, &[&shard(0), "../whole/out"], "judged twice");
    refused(&merged, &["../nowhere"], "fuzz.json");
    // A shard of another scenario file, and one of another eddy build.
    let tamper = |name: &str, key: &str, value: &str| {
        let dir = base.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut c: serde_json::Value =
            serde_json::from_slice(&read(shards.join("shard-3/fuzz.json"))).unwrap();
        c[key] = value.into();
        std::fs::write(dir.join("fuzz.json"), c.to_string()).unwrap();
        format!("../{name}")
    };
    let other_spec = tamper("other-spec", "scenario_digest", "0000000000000000");
    refused(
        &merged,
        &[&shard(0), &shard(1), &shard(2), &other_spec],
        "scenario files",
    );
    let other_build = tamper("other-build", "eddy_build", "0000000000000000");
    refused(
        &merged,
        &[&shard(0), &shard(1), &shard(2), &other_build],
        "eddy versions",
    );
    let other_version = tamper("other-version", "eddy_version", "0.0.1");
    refused(
        &merged,
        &[&shard(0), &shard(1), &shard(2), &other_version],
        "eddy versions",
    );
    refused(
        &merged,
        &[&shard(0), "--out", &shard(0)],
        "one of the shard folders",
    );
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn bad_shards_are_explained() {
    let dir = std::env::temp_dir();
    for (shard, says) in [
        ("3/2", "not below the shard count"),
        ("2/2", "not below the shard count"),
        ("0/0", "at least 1"),
        ("x", "expected i/n"),
        ("1/x", "not a number"),
        ("JOB_COMPLETION_INDEX/2", "JOB_COMPLETION_INDEX is not set"),
    ] {
        let out = eddy(&dir)
            .args(["fuzz", &spec(), "--seeds", SEEDS, "--out", "unused"])
            .arg(format!("--shard={shard}"))
            .env_remove("JOB_COMPLETION_INDEX")
            .output()
            .expect("eddy runs");
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{shard}: {stderr}");
        assert!(stderr.contains(says), "{shard}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // Kubernetes' completion index (0-based) names the shard; out of range, it is explained.
    let out = eddy(&dir)
        .args(["fuzz", &spec(), "--seeds", SEEDS, "--out", "unused"])
        .args(["--shard", "JOB_COMPLETION_INDEX/4"])
        .env("JOB_COMPLETION_INDEX", "4")
        .output()
        .expect("eddy runs");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("shard index 4 is not below"), "{stderr}");
}
