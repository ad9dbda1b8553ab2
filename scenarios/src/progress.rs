//! Background work makes progress: a verdict beyond safety (class `background_stalled`).
//!
//! Maintenance is a promise even though no client waits on it: compaction keeps the number
//! of files a read touches bounded, leases end, replaced and expired files are deleted after
//! their grace period (they are billed until then), retention advances the log start, and
//! orphans are cleaned up. A bug that stops any of it passes every safety checker. So, at
//! the stored-bytes sampler's ticks (reads only: no timer, no random number, so the seed's
//! schedule is unchanged), the leader's state and the buckets are read and every piece of
//! due work is written down as an *obligation*, open from when it became due until it is
//! done:
//!
//! | obligation | due when | done when | bound (from the scenario's model) |
//! |---|---|---|---|
//! | compaction | a level holds a full group of free files | the group's oldest file is taken by a job | plan |
//! | job | a job exists (compaction, delete, orphan scan) | it is finished | job |
//! | delete | a replaced, expired or condemned file's grace period ended | a delete job holds it | plan |
//! | retention | the policy puts a partition's log start above where it is | the log start reached that target | plan |
//! | deleted | a delete job finished | the file is gone from object storage | plan |
//! | orphan | a stored file is unknown to the index | it is known, or gone | orphan |
//!
//! with `plan` = 2 ticks + a control-plane takeover (the leader plans every tick), `job` =
//! 2 leases + 2 ticks + the agents' job poll + a takeover (a lease held by a crashed agent
//! lapses, another agent takes the job), `orphan` = the orphan grace + 2 × (scan interval +
//! job) + plan + job (seen at one scan, condemned at a scan a grace later, then deleted).
//!
//! Faults may stall maintenance on purpose (no leader, a storage outage), so only calm time
//! counts: an obligation is violated when it stayed open through a stretch longer than its
//! bound in which no fault of the run's fault list was active. After the drain the run
//! waits one `job` bound more (observing) so work due at the end is judged too.

use eddy_controlplane::sync::lock;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eddy_controlplane::api::{COMPACTED_PREFIX, INGEST_PREFIX};
use eddy_controlplane::inspect::JobKind;
use eddy_controlplane::MaintenanceConfig;
use eddy_controlplane::{ControlPlane, Plants};
use eddy_reports::{Class, Violation};
use eddy_sim::SimObjectStore;
use object_store::path::Path;
use serde::Serialize;
use tokio::time::Instant;

use crate::invariants::Registry;
use crate::spec::Scenario;

/// What an obligation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Compaction,
    Job,
    Delete,
    Retention,
    Deleted,
    Orphan,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Compaction,
        Kind::Job,
        Kind::Delete,
        Kind::Retention,
        Kind::Deleted,
        Kind::Orphan,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Compaction => "compaction",
            Kind::Job => "job",
            Kind::Delete => "delete",
            Kind::Retention => "retention",
            Kind::Deleted => "deleted",
            Kind::Orphan => "orphan",
        }
    }
}

/// The bounds, ms, each following from the scenario's maintenance settings and timeouts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Bounds {
    pub plan_ms: u64,
    pub job_ms: u64,
    pub orphan_ms: u64,
}

impl Bounds {
    /// The bounds of `s`, or `None` when its maintenance is off (nothing to judge).
    pub fn of(s: &Scenario) -> Option<Bounds> {
        let m = &s.controlplane.maintenance;
        if !m.enabled {
            return None;
        }
        let poll = s.agent.config(0, "", "", 0).jobs_poll_ms;
        let takeover = s.controlplane.takeover_ms;
        let plan_ms = 2 * m.tick_ms + takeover;
        let job_ms = 2 * m.job_lease_ms + 2 * m.tick_ms + poll + takeover;
        let orphan_ms = m.orphan_grace_ms + 2 * (m.orphan_scan_ms + job_ms) + plan_ms + job_ms;
        Some(Bounds {
            plan_ms,
            job_ms,
            orphan_ms,
        })
    }

    fn of_kind(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Job => self.job_ms,
            Kind::Orphan => self.orphan_ms,
            Kind::Compaction | Kind::Delete | Kind::Retention | Kind::Deleted => self.plan_ms,
        }
    }
}

/// One piece of due work, open from `since_ms` (run time) and last seen open at `last_ms`.
#[derive(Debug, Clone)]
struct Obligation {
    kind: Kind,
    what: String,
    topic: String,
    partition: i32,
    since_ms: u64,
    last_ms: u64,
    /// Retention: the log start the partition had to reach.
    target: i64,
}

/// What the observer saw over a run, judged once the fault list is complete.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub bounds: Bounds,
    pub observations: u64,
    /// Obligations opened, by kind.
    pub opened: BTreeMap<Kind, u64>,
    /// Closed or still open obligations that stayed open longer than their bound (calm or
    /// not): the candidates for a violation.
    candidates: Vec<Obligation>,
    /// Longest any obligation of each kind stayed open, faults or not, ms.
    pub longest_open_ms: BTreeMap<Kind, u64>,
    /// Most files one partition's index referenced at any observation.
    pub files_per_partition_max: u64,
}

/// The observer of a run, shared by the sampler task and the end of the run.
pub type Shared = Arc<Mutex<Progress>>;

pub struct Progress {
    replicas: Registry,
    ingest: SimObjectStore,
    compacted: Option<SimObjectStore>,
    config: MaintenanceConfig,
    plants: Plants,
    start: Instant,
    open: BTreeMap<String, Obligation>,
    /// Keys seen in delete jobs not finished yet.
    deleting: BTreeSet<String>,
    record: Record,
}

impl Progress {
    /// An observer for a run of `s`, or `None` when its maintenance is off.
    pub fn new(
        s: &Scenario,
        replicas: Registry,
        ingest: SimObjectStore,
        compacted: Option<SimObjectStore>,
        start: Instant,
    ) -> Option<Shared> {
        let bounds = Bounds::of(s)?;
        Some(Arc::new(Mutex::new(Progress {
            replicas,
            ingest,
            compacted,
            config: s.controlplane.maintenance.clone(),
            plants: s.plants.clone(),
            start,
            open: BTreeMap::new(),
            deleting: BTreeSet::new(),
            record: Record {
                bounds,
                ..Record::default()
            },
        })))
    }

    fn leader(&self) -> Option<ControlPlane> {
        lock(&self.replicas)
            .values()
            .find(|cp| cp.is_leader())
            .cloned()
    }

    fn stored(&self, key: &str) -> bool {
        let path = Path::from(key);
        self.ingest.peek(&path).is_some()
            || self
                .compacted
                .as_ref()
                .is_some_and(|c| c.peek(&path).is_some())
    }

    fn stored_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .ingest
            .keys()
            .into_iter()
            .chain(self.compacted.iter().flat_map(|c| c.keys()))
            .map(|p| p.to_string())
            .filter(|k| {
                k.starts_with(&format!("{INGEST_PREFIX}/"))
                    || k.starts_with(&format!("{COMPACTED_PREFIX}/"))
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// One observation of the leader's state (none without a leader). Reads only.
    pub fn observe(&mut self) {
        let Some(cp) = self.leader() else {
            return;
        };
        let now = self.start.elapsed().as_millis() as u64;
        let clock = eddy_controlplane::inspect::now_ms();
        // Due work now, by obligation key: (kind, what, topic, partition, since, target).
        let mut due: BTreeMap<String, Obligation> = BTreeMap::new();
        let mut put =
            |key: String, kind: Kind, what: String, tp: (&str, i32), since: u64, target| {
                due.insert(
                    key,
                    Obligation {
                        kind,
                        what,
                        topic: tp.0.to_string(),
                        partition: tp.1,
                        since_ms: since,
                        last_ms: now,
                        target,
                    },
                );
            };
        let config = &self.config;
        let plants = &self.plants;
        let (log_starts, deleting, known, files_max) = cp.inspect(|_, state| {
            for cmd in eddy_controlplane::inspect::planned_compactions(state, config) {
                if let eddy_controlplane::inspect::MaintenanceCommand::PlanCompaction {
                    level_out,
                    sources,
                } = cmd
                {
                    let first = sources.first().cloned().unwrap_or_default();
                    put(
                        format!("compaction/{first}"),
                        Kind::Compaction,
                        format!(
                            "{} free files of level {} starting with {first} wait for a \
                             compaction job",
                            sources.len(),
                            level_out.saturating_sub(1)
                        ),
                        ("", -1),
                        now,
                        0,
                    );
                }
            }
            let mut deleting = BTreeSet::new();
            for job in state.maintenance.jobs.values() {
                let kind = match &job.kind {
                    JobKind::Compact { level_out, sources } => {
                        format!(
                            "compaction of {} files into level {level_out}",
                            sources.len()
                        )
                    }
                    JobKind::Delete { keys } => {
                        deleting.extend(keys.iter().cloned());
                        format!("deletion of {} files", keys.len())
                    }
                    JobKind::ScanOrphans { .. } => "orphan scan".to_string(),
                };
                let lease = match &job.lease {
                    Some(l) => format!(
                        "leased to {} until {:.1} s",
                        l.worker,
                        (now + l.until_ms).saturating_sub(clock) as f64 / 1000.0
                    ),
                    None => "not leased".to_string(),
                };
                put(
                    format!("job/{}", job.id),
                    Kind::Job,
                    format!(
                        "job {} ({kind}) is unfinished: attempt {}, {lease}",
                        job.id, job.attempt
                    ),
                    ("", -1),
                    now,
                    0,
                );
            }
            for (key, at) in &state.maintenance.pending_deletes {
                if *at <= clock {
                    let since = now.saturating_sub(clock - at);
                    put(
                        format!("delete/{key}"),
                        Kind::Delete,
                        format!("file {key}, due for deletion, is not in a delete job"),
                        ("", -1),
                        since,
                        0,
                    );
                }
            }
            let mut log_starts = BTreeMap::new();
            for u in eddy_controlplane::inspect::planned_retention(state, config, clock) {
                put(
                    format!("retention/{}/{}", u.topic, u.partition),
                    Kind::Retention,
                    format!(
                        "retention puts the log start of {}:{} at {}",
                        u.topic, u.partition, u.log_start
                    ),
                    (&u.topic, u.partition),
                    now,
                    u.log_start,
                );
            }
            let mut files_max = 0u64;
            for (topic, t) in &state.topics {
                for (i, p) in t.partitions.iter().enumerate() {
                    log_starts.insert((topic.clone(), i as i32), p.log_start);
                    let files: BTreeSet<&str> = p
                        .extents
                        .values()
                        .filter(|e| !e.is_marker())
                        .map(|e| e.key.as_str())
                        .collect();
                    files_max = files_max.max(files.len() as u64);
                }
            }
            let known: BTreeSet<String> = eddy_controlplane::inspect::known_keys(state, plants)
                .into_iter()
                .collect();
            (log_starts, deleting, known, files_max)
        });
        self.record.observations += 1;
        self.record.files_per_partition_max = self.record.files_per_partition_max.max(files_max);
        // Deletions the state considers done: the file must be gone.
        let finished: Vec<String> = self.deleting.difference(&deleting).cloned().collect();
        for key in finished {
            if self.stored(&key) && !known.contains(&key) {
                let what = format!("file {key} is still stored after its delete job finished");
                due.insert(
                    format!("deleted/{key}"),
                    Obligation {
                        kind: Kind::Deleted,
                        what,
                        topic: String::new(),
                        partition: -1,
                        since_ms: now,
                        last_ms: now,
                        target: 0,
                    },
                );
            }
        }
        self.deleting = deleting;
        // Still open from before: a deleted file still stored; an orphan.
        for (key, o) in &self.open {
            if o.kind == Kind::Deleted && self.stored(&key["deleted/".len()..]) {
                due.entry(key.clone()).or_insert_with(|| o.clone());
            }
        }
        for key in self.stored_keys() {
            if !known.contains(&key) {
                due.insert(
                    format!("orphan/{key}"),
                    Obligation {
                        kind: Kind::Orphan,
                        what: format!("stored file {key} is unknown to the index"),
                        topic: String::new(),
                        partition: -1,
                        since_ms: now,
                        last_ms: now,
                        target: 0,
                    },
                );
            }
        }
        // Close what is done; keep the first sighting of what stays open.
        let mut open = BTreeMap::new();
        let previous = std::mem::take(&mut self.open);
        for (key, o) in previous {
            let done = match o.kind {
                // Done once the log start reached the target it had when it became due,
                // even if retention has moved the target on since.
                Kind::Retention => log_starts
                    .get(&(o.topic.clone(), o.partition))
                    .is_none_or(|start| *start >= o.target),
                _ => !due.contains_key(&key),
            };
            if done {
                self.close(o);
            } else {
                let mut o = o;
                o.last_ms = now;
                if let Some(d) = due.get(&key) {
                    o.what = d.what.clone();
                }
                open.insert(key, o);
            }
        }
        for (key, o) in due {
            if !open.contains_key(&key) {
                *self.record.opened.entry(o.kind).or_default() += 1;
                open.insert(key, o);
            }
        }
        self.open = open;
    }

    fn close(&mut self, o: Obligation) {
        let open = o.last_ms.saturating_sub(o.since_ms);
        let longest = self.record.longest_open_ms.entry(o.kind).or_default();
        *longest = (*longest).max(open);
        if open > self.record.bounds.of_kind(o.kind) {
            self.record.candidates.push(o);
        }
    }

    /// After the drain: observe for one more job bound (so work due at the end is judged),
    /// then hand over what was seen.
    pub async fn finish(shared: Shared) -> Record {
        let wait = lock(&shared).record.bounds.job_ms;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let mut p = lock(&shared);
        p.observe();
        for o in std::mem::take(&mut p.open).into_values() {
            p.close(o);
        }
        p.record.clone()
    }
}

/// How background work went, for report.json.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProgressVerdict {
    pub bounds: Bounds,
    pub observations: u64,
    /// Obligations opened, by kind.
    pub obligations: BTreeMap<Kind, u64>,
    /// Longest any obligation of each kind stayed open, faults or not, ms (observed at the
    /// sampler's ticks).
    pub longest_open_ms: BTreeMap<Kind, u64>,
    /// Longest fault-free time any obligation of each kind stayed open, ms (judged against
    /// the bound; computed for obligations open longer than their bound).
    pub longest_calm_ms: BTreeMap<Kind, u64>,
    pub files_per_partition_max: u64,
    #[serde(skip)]
    pub violations: Vec<Violation>,
}

/// The longest stretch of `[from, to]` (ms) in which no fault window was active.
fn longest_calm(from: u64, to: u64, faults: &[(u64, u64)]) -> u64 {
    let mut best = 0;
    let mut at = from;
    let mut windows: Vec<(u64, u64)> = faults
        .iter()
        .filter(|(s, e)| *e >= from && *s <= to)
        .copied()
        .collect();
    windows.sort_unstable();
    for (s, e) in windows {
        if s > at {
            best = best.max(s.min(to) - at);
        }
        at = at.max(e);
        if at >= to {
            return best;
        }
    }
    best.max(to.saturating_sub(at))
}

/// Judge a run's record against its fault windows (start, end ms).
pub fn judge(record: &Record, faults: &[(u64, u64)]) -> ProgressVerdict {
    let mut v = ProgressVerdict {
        bounds: record.bounds,
        observations: record.observations,
        obligations: record.opened.clone(),
        files_per_partition_max: record.files_per_partition_max,
        longest_open_ms: record.longest_open_ms.clone(),
        ..ProgressVerdict::default()
    };
    for kind in Kind::ALL {
        v.longest_calm_ms.insert(kind, 0);
    }
    for o in &record.candidates {
        let calm = longest_calm(o.since_ms, o.last_ms, faults);
        let longest = v.longest_calm_ms.entry(o.kind).or_default();
        *longest = (*longest).max(calm);
        let bound = record.bounds.of_kind(o.kind);
        if calm > bound {
            let mut x = Violation::of_run(
                Class::BackgroundStalled,
                Vec::new(),
                format!(
                    "{} work stalled: {}; open from {:.1} s to {:.1} s, {:.1} s of it without \
                     any fault (bound {:.1} s)",
                    o.kind.name(),
                    o.what,
                    o.since_ms as f64 / 1000.0,
                    o.last_ms as f64 / 1000.0,
                    calm as f64 / 1000.0,
                    bound as f64 / 1000.0
                ),
            );
            x.topic = o.topic.clone();
            x.partition = o.partition;
            if o.kind == Kind::Retention {
                x.offsets = vec![o.target];
            }
            v.violations.push(x);
        }
    }
    v
}

impl ProgressVerdict {
    /// Adds this verdict's violations and judged count to the run's verdict.
    pub fn apply(&self, verdict: &mut eddy_reports::Verdict) {
        let judged: u64 = self.obligations.values().sum();
        verdict.add_judged(Class::BackgroundStalled, judged);
        if self.observations == 0 {
            verdict.silent.push(eddy_reports::Silent {
                class: Class::BackgroundStalled,
                reason: "no control-plane leader was observed".to_string(),
            });
        }
        for x in &self.violations {
            verdict.add(x.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::longest_calm;

    #[test]
    fn calm_stretches_skip_fault_windows() {
        assert_eq!(longest_calm(0, 100, &[]), 100);
        assert_eq!(longest_calm(0, 100, &[(10, 20)]), 80);
        assert_eq!(longest_calm(0, 100, &[(10, 20), (50, 95)]), 30);
        assert_eq!(longest_calm(30, 100, &[(0, 40), (90, 200)]), 50);
        assert_eq!(longest_calm(30, 100, &[(0, 200)]), 0);
        assert_eq!(longest_calm(0, 100, &[(20, 30), (25, 60)]), 40);
    }
}
