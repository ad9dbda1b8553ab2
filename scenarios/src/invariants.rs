//! The invariant checker: consistency checks of the system's own state, beside the history
//! checkers that judge what clients saw. Violations are class `invariant` in the run's
//! verdict, each naming the simulated time, the replica, the journal entry and the evidence.
//!
//! At checkpoints (the stored-bytes sampler's ticks: no task or timer of its own, so reading
//! the state changes nothing in the seed's schedule) and once after the drain:
//!
//! - every replica reports (last applied entry, state digest) (`ControlPlane::applied_digest`);
//!   two replicas that report the same entry, at any checkpoints, must report the same
//!   digest;
//! - the newest replica's partition index is well formed (`consistency::index_faults`:
//!   contiguous, non-overlapping, from the log start to the high watermark) and every file it
//!   references exists in object storage (a file leaves storage only after a journaled
//!   decision stopped referencing it);
//! - the journal has no hole after the latest snapshot.
//!
//! After the drain, once the outputs of the run are taken (so waiting changes no recorded
//! byte): every replica must reach the journal's last entry with the same digest, and the
//! state rebuilt from the latest snapshot at or below the leader's entry plus the journal
//! tail (`consistency::replay_through`, the product's own apply) must equal the leader's.
//!
//! Not checked: zone-cache pages against the objects they cache (agents keep their caches
//! private; see the module's README entry).

use eddy_controlplane::sync::lock;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eddy_controlplane::inspect::{digest, index_faults, replay_through};
use eddy_controlplane::{ControlPlane, Plants};
use eddy_reports::{Class, Violation};
use eddy_sim::SimObjectStore;
use object_store::path::Path;
use tokio::time::Instant;

/// The running control-plane replicas by index (the run's registry).
pub(crate) type Registry = Arc<Mutex<BTreeMap<usize, ControlPlane>>>;

/// Digests and the index are checked every this many sampler ticks (the journal at every
/// tick): a digest encodes the whole state (about 10 ms for the 90,000 extents of a 60 s
/// basic-standard run), so checking at every tick made that run 50% slower.
const STATE_EVERY_TICKS: u64 = 5;

/// How long after the drain the replicas get to reach the journal's end.
const CATCH_UP_S: f64 = 10.0;

/// What the checker reads and what it found so far.
pub struct Invariants {
    replicas: Registry,
    journal: SimObjectStore,
    ingest: SimObjectStore,
    compacted: Option<SimObjectStore>,
    plants: Plants,
    start: Instant,
    /// The first digest reported at each journal entry, and by which replica.
    seen: BTreeMap<u64, (usize, u64)>,
    /// Findings already reported (one violation per replica, partition or file).
    reported: BTreeSet<String>,
    violations: Vec<Violation>,
    checkpoints: u64,
}

/// The checker of a run, shared by the sampler task and the end of the run.
pub type Shared = Arc<Mutex<Invariants>>;

impl Invariants {
    pub fn new(
        replicas: Registry,
        journal: SimObjectStore,
        ingest: SimObjectStore,
        compacted: Option<SimObjectStore>,
        plants: Plants,
        start: Instant,
    ) -> Shared {
        Arc::new(Mutex::new(Invariants {
            replicas,
            journal,
            ingest,
            compacted,
            plants,
            start,
            seen: BTreeMap::new(),
            reported: BTreeSet::new(),
            violations: Vec::new(),
            checkpoints: 0,
        }))
    }

    fn now(&self) -> String {
        format!("{:.3}s", self.start.elapsed().as_secs_f64())
    }

    fn replicas(&self) -> Vec<(usize, ControlPlane)> {
        lock(&self.replicas)
            .iter()
            .map(|(r, cp)| (*r, cp.clone()))
            .collect()
    }

    /// Report `explanation` once per `key`.
    fn violation(
        &mut self,
        key: String,
        topic: &str,
        partition: i32,
        offsets: Vec<i64>,
        explanation: String,
    ) {
        if self.reported.insert(key) {
            self.violations.push(Violation {
                class: Class::Invariant,
                explanation,
                ops: Vec::new(),
                topic: topic.to_string(),
                partition,
                offsets,
                values: Vec::new(),
            });
        }
    }

    /// One checkpoint: the journal's continuity at every tick; every
    /// [`STATE_EVERY_TICKS`]th tick (and at the end) also digests at equal entries and the
    /// newest replica's index and files. Reads only; never awaits.
    pub fn checkpoint(&mut self) {
        self.checkpoints += 1;
        self.check_journal();
        if self.checkpoints.is_multiple_of(STATE_EVERY_TICKS) {
            self.check_replicas();
        }
    }

    /// Digests of the replicas that stand at the same entry as another replica now, or at
    /// an entry whose digest is known; the newest replica's index and files.
    fn check_replicas(&mut self) {
        let replicas = self.replicas();
        let at: Vec<u64> = replicas.iter().map(|(_, cp)| cp.next_seq()).collect();
        for (i, (r, cp)) in replicas.iter().enumerate() {
            let shared = at.iter().filter(|n| **n == at[i]).count() > 1;
            let known = at[i]
                .checked_sub(1)
                .is_some_and(|index| self.seen.contains_key(&index));
            if !shared && !known {
                continue;
            }
            if let Some((index, d)) = cp.applied_digest() {
                self.compare(*r, index, d);
            }
        }
        if let Some((r, cp)) = replicas
            .iter()
            .max_by_key(|(r, cp)| (cp.next_seq(), usize::MAX - r))
        {
            self.check_state(*r, cp);
        }
    }

    fn compare(&mut self, r: usize, index: u64, d: u64) {
        match self.seen.get(&index).copied() {
            None => {
                self.seen.insert(index, (r, d));
            }
            Some((_, first)) if first == d => {}
            Some((other, first)) => {
                let now = self.now();
                self.violation(
                    format!("digest/{r}"),
                    "",
                    -1,
                    vec![index as i64],
                    format!(
                        "replicas disagree at journal entry {index}: controlplane-{r} has state \
                         digest {d:016x} at {now}, controlplane-{other} reported {first:016x} at \
                         the same entry"
                    ),
                );
            }
        }
    }

    /// The index of replica `r` is well formed and every file it references exists.
    fn check_state(&mut self, r: usize, cp: &ControlPlane) {
        let (next, faults, keys) = cp.inspect(|next, state| {
            let keys: Vec<String> = eddy_controlplane::inspect::referenced_keys(state)
                .into_iter()
                .filter(|k| !self.exists(k))
                .map(str::to_string)
                .collect();
            (next, index_faults(state), keys)
        });
        let now = self.now();
        for f in faults {
            self.violation(
                format!("index/{}/{}", f.topic, f.partition),
                &f.topic,
                f.partition,
                f.offsets.clone(),
                format!(
                    "partition index of {}:{} on controlplane-{r} (applied through entry {}) at \
                     {now}: {}",
                    f.topic,
                    f.partition,
                    next.saturating_sub(1),
                    f.what
                ),
            );
        }
        for k in keys {
            self.violation(
                format!("file/{k}"),
                "",
                -1,
                Vec::new(),
                format!(
                    "file {k} is referenced by the index of controlplane-{r} (applied through \
                     entry {}) but is missing from object storage at {now}",
                    next.saturating_sub(1)
                ),
            );
        }
    }

    fn exists(&self, key: &str) -> bool {
        let path = Path::from(key);
        self.ingest.peek(&path).is_some()
            || self
                .compacted
                .as_ref()
                .is_some_and(|c| c.peek(&path).is_some())
    }

    /// (entries present, latest snapshot's `through`), read out of band.
    fn journal_keys(&self) -> (BTreeSet<u64>, Option<u64>) {
        let mut entries = BTreeSet::new();
        let mut latest = None;
        for key in self.journal.keys() {
            let mut parts = key.parts();
            let (Some(prefix), Some(name)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Ok(n) = name.as_ref().parse::<u64>() else {
                continue;
            };
            match prefix.as_ref() {
                eddy_controlplane::inspect::JOURNAL_PREFIX => {
                    entries.insert(n);
                }
                eddy_controlplane::inspect::SNAPSHOT_PREFIX => {
                    latest = latest.max(Some(n));
                }
                _ => {}
            }
        }
        (entries, latest)
    }

    /// Every entry after the latest snapshot up to the last one is present.
    fn check_journal(&mut self) {
        let (entries, latest) = self.journal_keys();
        let from = latest.map_or(0, |t| t + 1);
        let tail: Vec<u64> = entries.range(from..).copied().collect();
        let last = tail.last().copied();
        if let Some(last) = last {
            if let Some(hole) = (from..=last).find(|n| !entries.contains(n)) {
                let now = self.now();
                self.violation(
                    format!("hole/{hole}"),
                    "",
                    -1,
                    vec![hole as i64],
                    format!(
                        "journal hole: entry {hole} is missing at {now} although entries up to \
                         {last} exist after the latest snapshot ({})",
                        latest.map_or("none".to_string(), |t| format!("through {t}"))
                    ),
                );
            }
        }
    }

    /// The end of the run: wait for every replica to reach the journal's last entry, check
    /// once more, and compare the leader with the state rebuilt from storage.
    pub async fn finish(shared: Shared) -> Vec<Violation> {
        let deadline = Instant::now() + Duration::from_secs_f64(CATCH_UP_S);
        loop {
            let done = {
                let mut inv = lock(&shared);
                let last = inv.journal_keys().0.last().copied();
                let behind: Vec<(usize, u64)> = inv
                    .replicas()
                    .iter()
                    .map(|(r, cp)| (*r, cp.next_seq()))
                    .filter(|(_, next)| Some(next.wrapping_sub(1)) != last)
                    .collect();
                if behind.is_empty() {
                    true
                } else if Instant::now() >= deadline {
                    let now = inv.now();
                    for (r, next) in behind {
                        inv.violation(
                            format!("behind/{r}"),
                            "",
                            -1,
                            vec![next as i64 - 1, last.map_or(-1, |l| l as i64)],
                            format!(
                            "controlplane-{r} applied through entry {} but the journal ends at \
                             entry {} ({CATCH_UP_S} s after the drain, at {now}): it did not \
                             apply every entry",
                            next as i64 - 1,
                            last.map_or(-1, |l| l as i64)
                        ),
                        );
                    }
                    true
                } else {
                    false
                }
            };
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (target, all, store, plants) = {
            let mut inv = lock(&shared);
            inv.check_journal();
            inv.check_replicas();
            let replicas = inv.replicas();
            let target = replicas
                .iter()
                .find(|(_, cp)| cp.is_leader())
                .or_else(|| replicas.iter().max_by_key(|(_, cp)| cp.next_seq()))
                .and_then(|(r, cp)| cp.applied_digest().map(|(i, d)| (*r, i, d)));
            let all: Vec<(usize, u64, u64)> = replicas
                .iter()
                .filter_map(|(r, cp)| cp.applied_digest().map(|(i, d)| (*r, i, d)))
                .collect();
            (target, all, inv.journal.clone(), inv.plants.clone())
        };
        if let Some((leader, index, d)) = target {
            let rebuilt = replay_through(Arc::new(store), &plants, index).await;
            let mut inv = lock(&shared);
            let now = inv.now();
            match rebuilt {
                Ok(state) => {
                    let want = digest(&state);
                    // Every replica at the leader's entry against the rebuilt state: names
                    // exactly the replicas that diverged.
                    for (r, i, got) in all {
                        if i != index || got == want {
                            continue;
                        }
                        let who = if r == leader { "the leader " } else { "" };
                        inv.violation(
                            format!("restore/{r}"),
                            "",
                            -1,
                            vec![index as i64],
                            format!(
                                "{who}controlplane-{r} has state digest {got:016x} at journal \
                                 entry {index}, but the state rebuilt from the latest snapshot \
                                 and the journal through that entry has {want:016x} ({now}, \
                                 after the drain; leader controlplane-{leader} has {d:016x})"
                            ),
                        );
                    }
                }
                Err(e) => inv.violation(
                    "restore".into(),
                    "",
                    -1,
                    vec![index as i64],
                    format!(
                        "the state through entry {index} (the leader controlplane-{leader}'s) \
                         cannot be rebuilt from object storage at {now}: {e}"
                    ),
                ),
            }
        }
        let inv = lock(&shared);
        tracing::debug!(checkpoints = inv.checkpoints, "invariant checks done");
        inv.violations.clone()
    }
}
