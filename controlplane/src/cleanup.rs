//! Orphan cleanup: files written to object storage but never committed (an agent died
//! between its PUT and its commit, a compaction attempt lost its lease) are found by
//! listing and deleted.
//!
//! Clock-free by design: an object's `last_modified` comes from the storage service's clock,
//! not ours, so a key is judged by how long *we* have seen it uncommitted. A key listed
//! uncommitted becomes a suspect; a suspect still uncommitted `orphan_grace_ms` later (far
//! longer than a commit normally takes) is condemned: journaled before anyone deletes it,
//! after which committing it is refused (an agent still retrying that commit then learns it
//! was refused, a definite outcome). A committed file is never a suspect.

use std::collections::BTreeSet;

use crate::plants::{Plant, Plants};
use crate::state::State;

/// Condemned keys are remembered this many orphan grace periods (a commit that old is
/// impossible: agents give up long before).
const CONDEMNED_MEMORY_GRACES: u64 = 10;

/// Keys the index knows: committed ingest files, committed compaction outputs, files waiting
/// for deletion, and the output the current attempt of each compaction job may commit.
pub fn known_keys(state: &State, plants: &Plants) -> BTreeSet<String> {
    let mut known: BTreeSet<String> = state.files.values().map(|f| f.key.clone()).collect();
    // (Planted bug: cleanup forgets that compaction outputs are committed files.)
    if !plants.has(Plant::CleanupDeletesCommitted) {
        known.extend(state.maintenance.compacted.keys().cloned());
    }
    known.extend(state.maintenance.pending_deletes.keys().cloned());
    known.extend(state.maintenance.condemned.keys().cloned());
    for job in state.maintenance.jobs.values() {
        known.extend(job.output_key(job.attempt));
        if let crate::jobs::JobKind::Delete { keys } = &job.kind {
            known.extend(keys.iter().cloned());
        }
    }
    known
}

/// Apply a finished orphan scan that listed `keys`.
pub fn scanned(
    state: &mut State,
    keys: &[String],
    now_ms: u64,
    orphan_grace_ms: u64,
    plants: &Plants,
) {
    let known = known_keys(state, plants);
    let listed: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    let m = &mut state.maintenance;
    // Suspects that vanished or got committed are cleared.
    m.suspects
        .retain(|k, _| listed.contains(k.as_str()) && !known.contains(k));
    for k in keys {
        if !known.contains(k) && !m.suspects.contains_key(k) {
            eddy_probe::hit("cp.cleanup.suspect");
        }
        if !known.contains(k) {
            m.suspects.entry(k.clone()).or_insert(now_ms);
        }
    }
    let due: Vec<String> = m
        .suspects
        .iter()
        .filter(|(_, seen)| now_ms.saturating_sub(**seen) >= orphan_grace_ms)
        .map(|(k, _)| k.clone())
        .collect();
    for k in due {
        eddy_probe::hit("cp.cleanup.condemned");
        m.suspects.remove(&k);
        m.condemned.insert(k.clone(), now_ms);
        m.pending_deletes.insert(k, now_ms);
        m.stats.orphans_condemned += 1;
    }
    let memory = orphan_grace_ms.saturating_mul(CONDEMNED_MEMORY_GRACES);
    m.condemned
        .retain(|_, at| now_ms.saturating_sub(*at) < memory.max(1));
}
