//! Coverage probes: named counters at the rare paths of the agent and the control plane
//! (a fenced append, a lost lease, a deduplicated commit, a zone-cache eviction…), like
//! BUGGIFY sites but without any behaviour: a probe only counts that its path ran.
//!
//! A site is one line, `eddy_probe::hit("cp.leader.fenced")`, with a name from
//! [`CATALOGUE`] (the test `every_call_site_is_catalogued` greps the product sources for
//! it). Counting is per thread and off until [`start`]: the simulation runner starts it
//! before a run and [`take`]s the counts after (a madsim runtime runs on the thread that
//! calls it, so runs on other threads, as under `cargo test`, never mix). Outside a run (real
//! mode, unit tests) a probe is one thread-local read.
//!
//! No dependencies beyond std: the product crates depend on it.

use std::cell::RefCell;
use std::collections::BTreeMap;

/// One probe: its name, what reaching it means, and where it is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub name: &'static str,
    /// What happened when the probe is hit (one line).
    pub about: &'static str,
    /// Where it is reached: `swarm` when at least 5% of 200 `swarm.json` seeds reach it,
    /// otherwise the spec that does (20 seeds), or `none: …` with what it would take (see
    /// ARCHITECTURE.md §6.4).
    pub reached_by: &'static str,
}

const fn p(name: &'static str, about: &'static str, reached_by: &'static str) -> Probe {
    Probe {
        name,
        about,
        reached_by,
    }
}

/// Every probe, ordered by name. A hit of a name not listed here is a bug (debug builds
/// assert it; the catalogue test finds it at build time).
#[rustfmt::skip]
pub const CATALOGUE: &[Probe] = &[
    p("agent.commit.rejected", "the control plane refused a file's commit (definite failure)", "none: a commit retried past the orphan grace (see cp.state.commit_refused_condemned)"),
    p("agent.commit.retried_after_unknown", "a commit's first round ended with an unknown outcome; it goes on in the background", "swarm"),
    p("agent.commit.unknown_answered", "producers of a file heard \"outcome unknown\" (REQUEST_TIMED_OUT)", "swarm"),
    p("agent.commit.unknown_resolved", "a commit whose outcome was unknown got a definite answer in a later round", "swarm"),
    p("agent.compactor.job_failed", "a compaction, deletion or scan job failed on storage and was reported failed", "compaction.json"),
    p("agent.compactor.outcome_refused", "the control plane did not take a job's outcome (stale attempt, rejected swap)", "compaction.json"),
    p("agent.fetch.lookup_failed", "a fetch's lookup failed; the partitions answer with an error code", "swarm"),
    p("agent.fetch.read_failed", "a fetch could not read an extent from storage (KAFKA_STORAGE_ERROR)", "swarm"),
    p("agent.groups.coordinator_unavailable", "a group request hit a control-plane failover (COORDINATOR_NOT_AVAILABLE)", "swarm"),
    p("agent.groups.offsets_loading", "an OffsetFetch found no control-plane leader (COORDINATOR_LOAD_IN_PROGRESS)", "swarm"),
    p("agent.put.failed", "every PUT attempt of an ingest file failed (definite failure, NOT_ENOUGH_REPLICAS)", "swarm"),
    p("agent.put.retried", "a PUT of an ingest file failed and was retried", "swarm"),
    p("agent.txn.coordinator_unavailable", "a transactional request hit a control-plane failover (COORDINATOR_NOT_AVAILABLE)", "transactions.json"),
    p("agent.zonecache.evicted", "the zone cache evicted a page to make room", "compaction.json"),
    p("agent.zonecache.hedged", "a page's owner had not answered by the hedge delay; object storage was read as well", "swarm"),
    p("agent.zonecache.joined_inflight", "a page read joined a GET already in flight (single flight)", "swarm"),
    p("agent.zonecache.kept_connection_failed", "a connection kept to a page's owner failed (the owner restarted); asked again on a fresh one", "swarm"),
    p("agent.zonecache.owner_unavailable", "a page's owner did not answer; the agent read storage directly", "swarm"),
    p("cp.claim.behind_snapshot", "a candidate found its sequence number covered by a snapshot and reloaded", "none: needs a replica stalled a whole snapshot interval; failover.json 0/20"),
    p("cp.claim.lost", "a candidate lost the claim of a sequence number to another writer", "swarm"),
    p("cp.cleanup.condemned", "an orphan file was condemned after the grace period", "compaction.json"),
    p("cp.cleanup.suspect", "an orphan scan listed an uncommitted file (new suspect)", "compaction.json"),
    p("cp.client.attempt_timed_out", "a control-plane call got no answer in time; the link is dropped and rotated", "swarm"),
    p("cp.client.connect_attempt_failed", "connecting to one control-plane replica failed or timed out; the named leader is tried again (3 times) before the others", "swarm"),
    p("cp.client.connect_failed", "a control-plane client reached no replica", "swarm"),
    p("cp.client.connection_lost", "a control-plane connection closed with requests waiting (outcome unknown)", "swarm"),
    p("cp.client.redirected", "a NotLeader answer named the leader and the client went there", "swarm"),
    p("cp.client.retry", "call_with_retry retried a retriable error", "swarm"),
    p("cp.commit.dedup_by_file_id", "a retried CommitFile was answered from state by its file id", "swarm"),
    p("cp.compaction.committed", "a compaction's index swap was committed", "compaction.json"),
    p("cp.compaction.planned", "a compaction job was planned", "compaction.json"),
    p("cp.compaction.rejected_stale", "a compaction was rejected as stale (its sources changed meanwhile)", "compaction.json"),
    p("cp.deletion.kept_referenced", "a file dropped by retention or compaction is still referenced; not deleted", "compaction.json"),
    p("cp.deletion.scheduled", "an unreferenced file was scheduled for deletion after the grace", "compaction.json"),
    p("cp.follow.full_window", "a follower far behind read a whole catch-up window of entries at once", "swarm"),
    p("cp.group.answer_dropped", "a Join/Sync answer was dropped: the epoch changed while it waited", "none: needs a Join/Sync waiting across a failover; groups.json 0/20"),
    p("cp.group.commit_stale_generation", "an offset commit of an older generation was refused", "groups.json"),
    p("cp.group.commit_unknown_member", "an offset commit of an unknown member was refused", "swarm"),
    p("cp.group.epoch_reset", "a new leader forgot the groups of an earlier epoch", "none: swarm 0.5% (a failover while groups have members)"),
    p("cp.group.heartbeat_unknown_member", "a heartbeat of an unknown member was refused", "swarm"),
    p("cp.group.join_unknown_member", "a JoinGroup with an unknown member id was refused", "groups.json"),
    p("cp.group.member_expired", "a member's session lapsed and it was removed", "swarm"),
    p("cp.group.stale_generation", "a heartbeat or SyncGroup of an older generation was refused", "none: groups.json 0/20"),
    p("cp.group.sync_unknown_member", "a SyncGroup of an unknown member was refused", "none: groups.json 0/20"),
    p("cp.idem.duplicate", "an idempotent batch was a duplicate; answered with its first offset", "swarm"),
    p("cp.idem.out_of_order", "an idempotent batch was out of sequence and refused", "swarm"),
    p("cp.jobs.compaction_dropped", "a compaction job was dropped (nothing left to merge, or too many attempts)", "compaction.json"),
    p("cp.jobs.finish_stale", "a job's finish was refused (unknown job, newer attempt, wrong output key)", "none: needs a finish after a lapsed lease was re-leased; compaction.json 0/20"),
    p("cp.jobs.lease_lapsed", "a job was leased again after an earlier lease lapsed", "compaction.json"),
    p("cp.jobs.released_after_failure", "a failed job was released for another attempt", "compaction.json"),
    p("cp.journal.append_found_own", "a journal append retried after an unknown outcome found its own entry there", "none: needs journal-bucket storage faults (no fault family injects them)"),
    p("cp.journal.append_retried", "a journal append failed or timed out and was retried", "none: needs journal-bucket storage faults (no fault family injects them)"),
    p("cp.journal.read_hole", "a follower's read window found a missing entry before a present one", "compaction.json"),
    p("cp.journal.writes_failing", "a replica's journal write failed after its writes had succeeded (logged at warn once)", "swarm"),
    p("cp.journal.writes_recovered", "a replica's journal write succeeded after failures (logged at warn)", "swarm"),
    p("cp.leader.fenced", "a leader's append found another writer's entry; it stepped down", "none: swarm 4.5%, just under (a paused leader resuming after a takeover)"),
    p("cp.leader.late_append", "a leader's append landed after its lease ran out (checked for recycling)", "swarm"),
    p("cp.leader.lease_lost", "a leader could not append before its lease ran out; it stepped down", "none: needs journal-bucket storage faults or latency (no fault family injects them)"),
    p("cp.leader.recycled_undone", "a write into a recycled journal number was undone", "none: needs a leader stalled a whole snapshot interval; failover.json 0/20"),
    p("cp.propose.dropped_step_down", "proposals that raced with a step-down were refused", "none: swarm 0.5% (a proposal queued as the leader steps down)"),
    p("cp.propose.refused_follower", "a follower refused a write (NotLeader)", "swarm"),
    p("cp.read.confirmation_behind", "a read through a write outage found a journal entry past the replica's state; refused", "swarm"),
    p("cp.read.confirmation_shared", "a read through a write outage was covered by a confirmation begun after it arrived", "swarm"),
    p("cp.read.confirmed_latest", "a read was answered without a lease, from a state confirmed to be the journal's latest", "swarm"),
    p("cp.read.refused_follower", "a follower refused a read (NotLeader)", "swarm"),
    p("cp.read.refused_lease_expired", "a deposed leader (lease lapsed) refused a read", "swarm"),
    p("cp.replica.entry_skipped", "a journal entry outside the current epoch was skipped", "none: only a writer of a recycled number makes such entries; failover.json 0/20"),
    p("cp.replica.reloaded", "a replica behind the latest snapshot reloaded from it", "none: needs a replica stalled a whole snapshot interval; failover.json 0/20"),
    p("cp.retention.advanced", "retention raised a partition's log start", "compaction.json"),
    p("cp.retention.update_skipped", "a retention update no longer applied (raced) and was skipped", "compaction.json"),
    p("cp.server.connection_refused", "a control-plane connection was refused: every connection slot was taken", "none: needs more than 4,096 open connections to one replica (real mode)"),
    p("cp.server.idle_closed", "a control-plane connection with nothing in flight sent nothing for 10 minutes and was closed", "none: agents heartbeat every second (real mode)"),
    p("cp.server.slow_frame_closed", "a control-plane connection whose frame did not arrive whole within 30 s was closed", "none: needs a client that stalls mid-frame (real mode)"),
    p("cp.snapshot.journal_trimmed", "a snapshot let the leader delete the journal entries it covers", "swarm"),
    p("cp.snapshot.restored", "a replica started from a snapshot (restore)", "swarm"),
    p("cp.snapshot.written", "the leader wrote a snapshot", "swarm"),
    p("cp.state.commit_dedup_applied", "a CommitFile of a committed file was applied again (answered, not indexed)", "compaction.json"),
    p("cp.state.commit_refused_condemned", "a commit of a file condemned as an orphan was refused", "none: needs a commit stalled past orphan_grace_ms; compaction.json 0/20"),
    p("cp.txn.commit_stale_generation", "a TxnOffsetCommit carried a stale generation (ILLEGAL_GENERATION)", "transactions.json"),
    p("cp.txn.commit_unknown_member", "a TxnOffsetCommit came from a member the group does not know (UNKNOWN_MEMBER_ID)", "transactions.json"),
    p("cp.txn.end_repeated", "an EndTxn repeated after its transaction ended was answered as the first", "transactions.json"),
    p("cp.txn.expired", "the coordinator aborted a transaction past its timeout and bumped the epoch", "transactions.json"),
    p("cp.txn.init_aborts_ongoing", "an InitProducerId aborted the transaction its transactional id left open", "transactions.json"),
    p("cp.txn.init_fenced", "an InitProducerId named a producer id and epoch that are not current (fenced)", "transactions.json"),
    p("cp.txn.offsets_unstable", "an OffsetFetch met offsets an open transaction committed (UNSTABLE_OFFSET_COMMIT for stable readers)", "transactions.json"),
    p("cp.txn.produce_fenced", "a transactional batch of a fenced epoch was refused (INVALID_PRODUCER_EPOCH)", "transactions.json"),
    p("cp.txn.produce_outside_transaction", "a transactional batch outside its producer's transaction was refused (INVALID_TXN_STATE)", "transactions.json"),
    p("cp.txn.produce_unknown_producer", "a transactional batch of a producer id the coordinator does not know was refused", "transactions.json"),
];

/// The catalogue entry of `name`.
pub fn find(name: &str) -> Option<&'static Probe> {
    CATALOGUE.iter().find(|p| p.name == name)
}

thread_local! {
    static COUNTS: RefCell<Option<BTreeMap<&'static str, u64>>> = const { RefCell::new(None) };
    static DELAYS: RefCell<Option<(fn() -> u64, Vec<Delay>)>> = const { RefCell::new(None) };
}

/// A deliberate delay a BUGGIFY site injected: `ms` milliseconds from `at_us` (the clock
/// given to [`record_delays`]). Such a delay is a fault the run's fault log does not hold;
/// verdicts that judge fault-free time (availability) must know where they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delay {
    pub site: &'static str,
    pub at_us: u64,
    pub ms: u64,
}

/// Record this thread's [`delayed`] calls from now on, timed by `clock` (microseconds).
pub fn record_delays(clock: fn() -> u64) {
    DELAYS.with(|d| *d.borrow_mut() = Some((clock, Vec::new())));
}

/// A BUGGIFY site at `site` is about to sleep `ms` milliseconds (one line at the site; only
/// reached in the simulation, where BUGGIFY can be true).
pub fn delayed(site: &'static str, ms: u64) {
    record_delay(site, ms, 0);
}

/// A delay of `ms` milliseconds injected at `site` just ended (for delays seen from outside,
/// such as the simulator's own BUGGIFY holding a connection attempt).
pub fn was_delayed(site: &'static str, ms: u64) {
    record_delay(site, ms, ms);
}

/// Record a delay of `ms` that began `ago_ms` before now, if recording was started.
fn record_delay(site: &'static str, ms: u64, ago_ms: u64) {
    DELAYS.with(|d| {
        if let Some((clock, delays)) = d.borrow_mut().as_mut() {
            let at_us = clock().saturating_sub(ago_ms.saturating_mul(1000));
            delays.push(Delay { site, at_us, ms });
        }
    });
}

/// Stop recording delays on this thread and return them in the order they were reported
/// (a delay seen from outside is reported when it ends).
pub fn take_delays() -> Vec<Delay> {
    DELAYS
        .with(|d| d.borrow_mut().take())
        .map(|(_, delays)| delays)
        .unwrap_or_default()
}

/// Count one hit of probe `name` on this thread, if counting was started.
#[inline]
pub fn hit(name: &'static str) {
    COUNTS.with(|c| {
        if let Some(counts) = c.borrow_mut().as_mut() {
            debug_assert!(find(name).is_some(), "probe {name:?} is not catalogued");
            *counts.entry(name).or_insert(0) += 1;
        }
    });
}

/// Start counting on this thread from zero (a previous count is discarded).
pub fn start() {
    COUNTS.with(|c| *c.borrow_mut() = Some(BTreeMap::new()));
}

/// Stop counting on this thread and return the hits of every catalogued probe, zeros
/// included, by name.
pub fn take() -> BTreeMap<String, u64> {
    let counts = COUNTS.with(|c| c.borrow_mut().take()).unwrap_or_default();
    let mut all: BTreeMap<String, u64> =
        CATALOGUE.iter().map(|p| (p.name.to_string(), 0)).collect();
    for (name, n) in counts {
        *all.entry(name.to_string()).or_insert(0) += n;
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_timed_by_the_given_clock_and_only_while_recording() {
        delayed("before", 5);
        record_delays(|| 10_000_000);
        delayed("agent.produce.commit", 300);
        was_delayed("sim.net.connect", 2_000);
        let got = take_delays();
        assert_eq!(
            got,
            vec![
                Delay {
                    site: "agent.produce.commit",
                    at_us: 10_000_000,
                    ms: 300
                },
                Delay {
                    site: "sim.net.connect",
                    at_us: 8_000_000,
                    ms: 2_000
                },
            ]
        );
        delayed("after", 5);
        assert!(take_delays().is_empty());
    }

    #[test]
    fn counts_only_between_start_and_take_and_per_thread() {
        hit("cp.leader.fenced");
        start();
        hit("cp.leader.fenced");
        hit("cp.leader.fenced");
        hit("agent.put.retried");
        // Another thread counts on its own (and not at all, as it never started).
        std::thread::spawn(|| {
            hit("cp.leader.fenced");
            start();
            hit("agent.put.failed");
            let other = take();
            assert_eq!(other["agent.put.failed"], 1);
            assert_eq!(other["cp.leader.fenced"], 0);
        })
        .join()
        .unwrap();
        let counts = take();
        assert_eq!(
            counts.len(),
            CATALOGUE.len(),
            "every probe listed, zeros included"
        );
        assert_eq!(counts["cp.leader.fenced"], 2);
        assert_eq!(counts["agent.put.retried"], 1);
        assert_eq!(counts["agent.put.failed"], 0);
        // Stopped: hits are not counted, and the next run starts from zero.
        hit("cp.leader.fenced");
        start();
        assert_eq!(take()["cp.leader.fenced"], 0);
    }

    #[test]
    fn the_catalogue_is_ordered_unique_and_described() {
        for w in CATALOGUE.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        for p in CATALOGUE {
            assert!(
                !p.about.is_empty() && !p.reached_by.is_empty(),
                "{}",
                p.name
            );
            assert!(
                p.name.starts_with("agent.") || p.name.starts_with("cp."),
                "{}",
                p.name
            );
        }
    }

    /// Every `eddy_probe::hit("…")` in the product sources names a catalogued probe, and
    /// every catalogued probe has a call site.
    #[test]
    fn every_call_site_is_catalogued() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut sites: BTreeMap<String, usize> = BTreeMap::new();
        let mut stack = vec![root.join("agent/src"), root.join("controlplane/src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for part in text.split("eddy_probe::hit(\"").skip(1) {
                        let name = part.split('"').next().unwrap_or_default();
                        *sites.entry(name.to_string()).or_default() += 1;
                    }
                }
            }
        }
        for name in sites.keys() {
            assert!(
                find(name).is_some(),
                "probe {name:?} is not in the catalogue"
            );
        }
        for p in CATALOGUE {
            assert!(
                sites.contains_key(p.name),
                "probe {} has no call site",
                p.name
            );
        }
    }
}
