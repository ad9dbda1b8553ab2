//! Shared setup of the simulated-node tests: the storage node every bucket lives on.

use eddy_sim::{Meters, SimObjectStore, StorageProfile};
use madsim::runtime::{Handle, NodeHandle};

/// The node simulated object storage runs its operations on ("s3", 10.0.0.1): an operation
/// in flight completes there even if the calling node dies.
pub fn storage_node() -> NodeHandle {
    Handle::current()
        .create_node()
        .name("s3")
        .ip("10.0.0.1".parse().unwrap())
        .build()
}

/// A bucket on `node` with `profile`, metered into `meters`, its latencies drawn from `seed`.
pub fn bucket(
    name: &str,
    profile: StorageProfile,
    meters: Meters,
    seed: u64,
    node: &NodeHandle,
) -> SimObjectStore {
    SimObjectStore::new(name, profile, None, meters, seed, Some(node.clone()))
}

/// `eddy run <args> --json` as a user runs it (a fresh process: in-process runs after other
/// runs of the same test binary have been seen to take another history), from the crate's
/// folder, into a scratch folder removed afterwards. Returns the exit code and report.json.
pub fn eddy_run_json(args: &[&str], scratch: &str) -> (Option<i32>, serde_json::Value) {
    let dir = std::env::temp_dir().join(format!("eddy-{scratch}-{}", std::process::id()));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_eddy"))
        .arg("run")
        .args(args)
        .arg("--json")
        .arg("--out")
        .arg(&dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("eddy runs");
    let _ = std::fs::remove_dir_all(&dir);
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON report ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), report)
}
