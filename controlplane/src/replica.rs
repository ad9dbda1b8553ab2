//! The replica driver: follow the journal, claim leadership when the leader goes quiet,
//! lead (group commit, heartbeats, snapshots), and step down when fenced.
//!
//! Protocol (object storage is the only arbiter; there is no vote):
//! - **Follow.** Read `journal/<next>` (a window at a time) and apply in order. A follower
//!   that has seen no new entry for `takeover_ms` and stands at the end of the journal
//!   becomes a candidate.
//! - **Claim.** The candidate writes an epoch-change entry (`NewEpoch`, epoch + 1) at the
//!   next sequence number with a conditional create. If another entry is there, it lost
//!   (it reads that entry and follows). Having read every entry before the claim, the new
//!   leader replays every ambiguous append of the old one before it writes anything.
//! - **Lead.** Group-commit proposals into entries at consecutive sequence numbers; an idle
//!   leader writes empty entries every `heartbeat_ms`. An append that finds another writer's
//!   entry at its number is *fenced*: the leader steps down. An append whose outcome is
//!   unknown is retried with the same bytes (already there with the same content = done),
//!   but only while the lease holds; then the leader steps down and learns the outcome by
//!   reading the journal as a follower.
//! - **Lease.** A leader answers reads only until `lease_ms` after the *start* of its last
//!   successful append. Followers take over only `takeover_ms` (> `lease_ms`) after they
//!   *observed* the newest entry, which was written after that start: by the time a new
//!   leader commits anything, the old leader has stopped answering reads. (This assumes
//!   clocks advance at the same rate, as they do in simulation; a real deployment needs a
//!   margin for drift.)
//! - **Snapshots.** The leader snapshots the state every `snapshot_entries` entries or
//!   `snapshot_interval_ms`, then deletes the journal entries covered by the *previous*
//!   snapshot (one interval is kept as a margin for slow readers) and older snapshots.
//! - **Recycled numbers.** Deleting `journal/<n>` makes `n` creatable again, so a writer
//!   that was stalled for a whole snapshot interval could "win" a number that history has
//!   moved past. Writers guard against it: a candidate first checks that no snapshot covers
//!   its number, and any append issued after the writer's lease expired is checked against
//!   the snapshots after it lands (a number a snapshot covers is a recycled one: the write
//!   is undone and the writer reloads). A follower finding nothing at its number while a
//!   snapshot covers it reloads from that snapshot.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::command::{Command, CommandResult};
use crate::error::CpError;
use crate::journal::{Entry, JournalError};
use crate::plants::{planted, Plant};
use crate::server::{ControlPlane, Proposal};
use crate::snapshot::{Snapshot, Snapshots};
use crate::state::State;
use crate::sync::lock;

/// Whether this replica leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    /// Leads `epoch`; answers reads until `lease_until`.
    Leader {
        epoch: u64,
        lease_until: Instant,
    },
}

/// The replicated part of a replica, under one lock so that a read checks the lease and
/// reads the state at the same instant.
pub struct Core {
    pub state: State,
    /// Planted bugs this replica applies commands with (configuration, not state).
    pub plants: crate::plants::Plants,
    /// Every journal entry below this number is applied.
    pub next_seq: u64,
    pub role: Role,
    /// The digest of `state` computed last, with the `next_seq` and command count it was
    /// computed at (see [`Core::applied_digest`]).
    pub digest_memo: Option<(u64, u64, u64)>,
    /// State of the planted bug `follower-skips-entry` (whether it skipped its entry).
    pub planted_skipped: bool,
    /// When this replica last applied a journal entry or loaded a snapshot (a leader writes
    /// an entry every `heartbeat_ms`, so a long silence means nobody leads).
    pub last_entry_at: Instant,
}

impl Core {
    /// The epoch this replica leads with a valid lease at `now`.
    pub fn leads(&self, now: Instant) -> Option<u64> {
        match self.role {
            Role::Leader { epoch, lease_until } if now < lease_until => Some(epoch),
            _ => None,
        }
    }

    /// The last applied journal entry and the [`digest`](crate::consistency::digest) of the
    /// state after it; `None` before the first entry. Computed once per applied entry.
    pub fn applied_digest(&mut self) -> Option<(u64, u64)> {
        let index = self.next_seq.checked_sub(1)?;
        let at = (self.next_seq, self.state.applied);
        match self.digest_memo {
            Some((n, a, d)) if (n, a) == at => Some((index, d)),
            _ => {
                let d = crate::consistency::digest(&self.state);
                self.digest_memo = Some((at.0, at.1, d));
                Some((index, d))
            }
        }
    }

    /// Apply the entry at `next_seq`. Entries that cannot belong to the history (a data
    /// entry of another epoch, a claim that does not raise the epoch: only a writer that
    /// took a recycled number can produce them) are skipped. Returns the commands' results.
    pub(crate) fn apply_entry(&mut self, entry: &Entry) -> Vec<CommandResult> {
        self.next_seq = entry.seq + 1;
        self.last_entry_at = Instant::now();
        let claim = match entry.commands.as_slice() {
            [Command::NewEpoch { epoch, .. }] => Some(*epoch),
            _ => None,
        };
        let valid = match claim {
            Some(epoch) => epoch == entry.epoch && epoch > self.state.epoch,
            None => entry.epoch == self.state.epoch,
        };
        if !valid {
            eddy_probe::hit("cp.replica.entry_skipped");
            tracing::warn!(
                seq = entry.seq,
                epoch = entry.epoch,
                current = self.state.epoch,
                writer = %entry.writer,
                "skipping a journal entry outside the current epoch"
            );
            return Vec::new();
        }
        let plants = &self.plants;
        let state = &mut self.state;
        entry
            .commands
            .iter()
            .map(|c| state.apply_with(c, plants))
            .collect()
    }
}

/// Something a replica went through (tests and traces read these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaEvent {
    /// Loaded the state from object storage.
    Restored {
        snapshot_through: Option<u64>,
        next_seq: u64,
    },
    /// Won the claim of `seq` for `epoch`.
    Elected { epoch: u64, seq: u64 },
    /// Tried to claim `seq` for `epoch`; `winner` had written it.
    LostClaim {
        epoch: u64,
        seq: u64,
        winner: String,
    },
    /// As leader of `epoch`, tried to append `seq`; `winner` had written it. Stepped down.
    Fenced {
        epoch: u64,
        seq: u64,
        commands: usize,
        winner: String,
    },
    /// As leader of `epoch`, could not append `seq` before the lease ran out. Stepped down.
    LeaseLost { epoch: u64, seq: u64 },
    /// Wrote into a number a snapshot already covers (recycled); undid it and reloaded.
    Recycled { seq: u64 },
    /// Found itself behind the latest snapshot; reloaded from it.
    Reloaded { snapshot_through: u64 },
    /// Wrote a snapshot through `through`.
    Snapshot { through: u64 },
}

/// Load the latest snapshot: (state, next sequence number, snapshot's `through`).
/// Retries store failures; a corrupt snapshot is an error.
pub(crate) async fn restore(snapshots: &Snapshots) -> Result<(State, u64, Option<u64>), CpError> {
    let mut backoff = Duration::from_millis(10);
    loop {
        match snapshots.load_latest().await {
            Ok(Some(s)) => {
                eddy_probe::hit("cp.snapshot.restored");
                return Ok((s.state, s.through + 1, Some(s.through)));
            }
            Ok(None) => return Ok((State::default(), 0, None)),
            Err(JournalError::Corrupt { key, source }) => {
                return Err(CpError::internal(format!(
                    "corrupt snapshot {key}: {source}"
                )))
            }
            Err(e) => {
                tracing::warn!(error = %e, "loading the snapshot failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// How an append ended.
enum Appended {
    /// Durably there. `late`: the last attempt was issued after the deadline (lease).
    Done { late: bool },
    /// Another writer's entry holds the number.
    Fenced { winner: String },
    /// Outcome unknown and the deadline passed.
    GaveUp,
}

/// Append `entry`, retrying ambiguous failures with the same bytes while `deadline` has not
/// passed. The first attempt is always made.
async fn append_until(cp: &ControlPlane, entry: &Entry, deadline: Instant) -> Appended {
    let attempt_max = Duration::from_millis(cp.inner.config.lease_ms);
    let mut backoff = Duration::from_millis(10);
    let mut first = true;
    loop {
        let issued = Instant::now();
        if !first && issued >= deadline {
            return Appended::GaveUp;
        }
        first = false;
        match tokio::time::timeout(attempt_max, cp.inner.journal.append(entry)).await {
            Ok(Ok(())) => {
                cp.note_write(Ok(()));
                return Appended::Done {
                    late: issued >= deadline,
                };
            }
            Ok(Err(JournalError::Fenced { winner, .. })) => {
                // The store took a write: it is not refusing them.
                cp.note_write(Ok(()));
                return Appended::Fenced { winner };
            }
            Ok(Err(e)) => cp.note_write(Err(&format!("append {}: {e}", entry.seq))),
            Err(_) => cp.note_write(Err(&format!("append {} timed out", entry.seq))),
        }
        eddy_probe::hit("cp.journal.append_retried");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(200));
    }
}

/// The driver: one task per replica, for the replica's whole life.
pub(crate) async fn drive(cp: ControlPlane, mut rx: mpsc::Receiver<Proposal>) {
    let config = cp.inner.config.clone();
    let poll = Duration::from_millis(config.follow_poll_ms);
    let takeover = Duration::from_millis(config.takeover_ms);
    let mut last_progress = Instant::now();
    let mut backoff = Duration::from_millis(10);
    // Entries asked for at once. A follower at the tail asks for the next entry only; each
    // full run doubles the window (up to `catch_up_window`) so a follower far behind catches
    // up in parallel reads. Asking for the whole window at every poll cost 16 GETs per 50 ms
    // per follower, nearly all of them for entries not yet written (`eddy run
    // scenarios/specs/basic-standard.json --seed 2`: 62,834 journal GETs in 61 s).
    let mut window: u64 = 1;
    loop {
        if matches!(lock(&cp.inner.core).role, Role::Leader { .. }) {
            lead(&cp, &mut rx).await;
            last_progress = Instant::now();
            window = 1;
            continue;
        }
        // Proposals that raced with a step-down.
        while let Ok(p) = rx.try_recv() {
            eddy_probe::hit("cp.propose.dropped_step_down");
            let e = cp.not_leader(&lock(&cp.inner.core));
            let _ = p.reply.send(CommandResult::Rejected(e));
        }
        match follow(&cp, window).await {
            Ok(0) => {
                window = 1;
                backoff = Duration::from_millis(10);
                // An empty journal never had a leader whose lease could still hold: the first
                // replicas of a new cluster claim at once.
                let never_led = lock(&cp.inner.core).next_seq == 0;
                if never_led || last_progress.elapsed() >= takeover {
                    if campaign(&cp).await {
                        continue;
                    }
                    // Lost, reloaded or failed: give the winner a full takeover period.
                    last_progress = Instant::now();
                } else {
                    tokio::time::sleep(poll).await;
                }
            }
            Ok(n) => {
                backoff = Duration::from_millis(10);
                last_progress = Instant::now();
                if (n as u64) < window {
                    // Read up to the end: wait for more.
                    window = 1;
                    tokio::time::sleep(poll).await;
                } else {
                    if window >= config.catch_up_window {
                        eddy_probe::hit("cp.follow.full_window");
                    }
                    window = (window * 2).min(config.catch_up_window);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the journal failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Read and apply the entries after the last applied one, at most `window` of them;
/// returns how many.
async fn follow(cp: &ControlPlane, window: u64) -> Result<usize, JournalError> {
    let from = lock(&cp.inner.core).next_seq;
    let run = cp.inner.journal.read_run(from, window).await?;
    if run.is_empty() {
        return Ok(0);
    }
    {
        let mut core = lock(&cp.inner.core);
        if core.next_seq != from {
            // Reloaded meanwhile (only the driver moves it, so this does not happen).
            return Ok(0);
        }
        for entry in &run {
            if core.plants.has(Plant::FollowerSkipsEntry) && planted::skip_entry(&mut core, entry) {
                continue;
            }
            core.apply_entry(entry);
        }
    }
    cp.inner.applied.send_modify(|n| *n += 1);
    // Somebody wrote the journal: the store takes writes again, if it had stopped.
    cp.note_write(Ok(()));
    Ok(run.len())
}

/// Replace the state with the latest snapshot's when that is ahead of ours.
async fn reload_if_behind(cp: &ControlPlane, latest: u64) -> Result<bool, CpError> {
    if latest < lock(&cp.inner.core).next_seq {
        return Ok(false);
    }
    let (state, next_seq, _) = restore(&cp.inner.snapshots).await?;
    {
        let mut core = lock(&cp.inner.core);
        if next_seq <= core.next_seq {
            return Ok(false);
        }
        core.state = state;
        core.next_seq = next_seq;
        core.role = Role::Follower;
        core.last_entry_at = Instant::now();
    }
    eddy_probe::hit("cp.replica.reloaded");
    cp.record(ReplicaEvent::Reloaded {
        snapshot_through: next_seq - 1,
    });
    cp.inner.applied.send_modify(|n| *n += 1);
    Ok(true)
}

/// Whether a snapshot covers `seq` (so `journal/<seq>` may have been deleted and recreated).
async fn covered_by_snapshot(cp: &ControlPlane, seq: u64) -> Result<Option<u64>, JournalError> {
    Ok(cp
        .inner
        .snapshots
        .latest_through()
        .await?
        .filter(|t| *t >= seq))
}

/// We wrote `seq` into a recycled number: undo it and reload from the snapshot.
async fn undo_recycled(cp: &ControlPlane, seq: u64, latest: u64) {
    eddy_probe::hit("cp.leader.recycled_undone");
    cp.record(ReplicaEvent::Recycled { seq });
    let _ = cp.inner.journal.delete(seq).await;
    {
        let mut core = lock(&cp.inner.core);
        core.role = Role::Follower;
    }
    if let Err(e) = reload_if_behind(cp, latest).await {
        tracing::warn!(error = %e, "reloading after a recycled write failed");
    }
}

/// Claim the next sequence number for a new epoch. True if this replica now leads.
async fn campaign(cp: &ControlPlane) -> bool {
    let seq = lock(&cp.inner.core).next_seq;
    match covered_by_snapshot(cp, seq).await {
        Ok(Some(latest)) => {
            // We are behind: the journal at our number may have been deleted.
            eddy_probe::hit("cp.claim.behind_snapshot");
            if let Err(e) = reload_if_behind(cp, latest).await {
                tracing::warn!(error = %e, "reload failed");
            }
            return false;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "listing snapshots failed");
            return false;
        }
    }
    let (epoch, entry) = {
        let core = lock(&cp.inner.core);
        if core.next_seq != seq {
            return false;
        }
        let epoch = core.state.epoch + 1;
        (
            epoch,
            Entry {
                seq,
                epoch,
                writer: cp.inner.writer.clone(),
                commands: vec![Command::NewEpoch {
                    epoch,
                    leader: cp.inner.writer.clone(),
                    addr: cp.inner.addr.clone(),
                }],
            },
        )
    };
    let started = Instant::now();
    let lease = Duration::from_millis(cp.inner.config.lease_ms);
    match append_until(cp, &entry, started + lease).await {
        Appended::Done { .. } => {}
        Appended::Fenced { winner } => {
            eddy_probe::hit("cp.claim.lost");
            cp.record(ReplicaEvent::LostClaim { epoch, seq, winner });
            return false;
        }
        Appended::GaveUp => return false,
    }
    // Our number was free; make sure it was not free because it had been deleted.
    match covered_by_snapshot(cp, seq).await {
        Ok(None) => {}
        Ok(Some(latest)) => {
            undo_recycled(cp, seq, latest).await;
            return false;
        }
        Err(e) => {
            // Unknown: do not lead. The claim stays in the journal; nobody leads its epoch,
            // so a replica will claim the next one after `takeover_ms`.
            tracing::warn!(error = %e, "listing snapshots after a claim failed");
            return false;
        }
    }
    {
        let mut core = lock(&cp.inner.core);
        core.apply_entry(&entry);
        core.role = Role::Leader {
            epoch,
            lease_until: started + lease,
        };
    }
    cp.inner.applied.send_modify(|n| *n += 1);
    cp.record(ReplicaEvent::Elected { epoch, seq });
    // A transaction left open by the previous leader's producers must still time out.
    let ongoing = lock(&cp.inner.core)
        .state
        .transactions
        .by_id
        .values()
        .any(|r| r.status == crate::txn::TxnStatus::Ongoing);
    if ongoing {
        cp.start_txn_expiry();
    }
    true
}

/// Snapshot bookkeeping of a leader.
struct SnapshotClock {
    entries: u64,
    since: Instant,
    running: Option<tokio::task::JoinHandle<()>>,
}

/// Lead until fenced or out of lease.
async fn lead(cp: &ControlPlane, rx: &mut mpsc::Receiver<Proposal>) {
    let config = cp.inner.config.clone();
    let heartbeat = Duration::from_millis(config.heartbeat_ms);
    let lease = Duration::from_millis(config.lease_ms);
    let mut snapshots = SnapshotClock {
        entries: 0,
        since: Instant::now(),
        running: None,
    };
    loop {
        let (epoch, lease_until) = match lock(&cp.inner.core).role {
            Role::Leader { epoch, lease_until } => (epoch, lease_until),
            Role::Follower => return,
        };
        let first = tokio::select! {
            biased;
            p = rx.recv() => match p {
                Some(p) => Some(p),
                None => return,
            },
            _ = tokio::time::sleep(heartbeat) => None,
        };
        let mut batch = Vec::new();
        if let Some(first) = first {
            if config.group_commit_ms > 0 {
                tokio::time::sleep(Duration::from_millis(config.group_commit_ms)).await;
            }
            batch.push(first);
            while batch.len() < config.group_commit_commands_max.max(1) {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
        }
        let seq = lock(&cp.inner.core).next_seq;
        let entry = Entry {
            seq,
            epoch,
            writer: cp.inner.writer.clone(),
            commands: batch.iter().map(|p| p.command.clone()).collect(),
        };
        let started = Instant::now();
        let mut appended = append_until(cp, &entry, lease_until).await;
        if let Appended::Fenced { winner } = &appended {
            if cp.inner.config.plants.has(Plant::NoFencing) {
                // Planted bug: ignore that another writer holds the number and carry on as
                // leader (apply, acknowledge, renew the lease, keep answering reads).
                tracing::warn!(seq, epoch, %winner, "fenced; carrying on as leader (planted)");
                appended = Appended::Done { late: false };
            }
        }
        match appended {
            Appended::Done { late } => {
                if late {
                    // Issued after our lease ran out: the number may have been recycled.
                    eddy_probe::hit("cp.leader.late_append");
                    match covered_by_snapshot(cp, seq).await {
                        Ok(None) => {}
                        Ok(Some(latest)) => {
                            reject(batch, CpError::unavailable("journal append undone"));
                            undo_recycled(cp, seq, latest).await;
                            return;
                        }
                        Err(e) => {
                            // Cannot tell; the entry may be genuine. Step down and let the
                            // journal decide (a genuine entry is replayed by followers and
                            // by us, and agents retry by file id).
                            reject(batch, CpError::unavailable(e.to_string()));
                            lock(&cp.inner.core).role = Role::Follower;
                            return;
                        }
                    }
                }
                let results = {
                    let mut core = lock(&cp.inner.core);
                    let results = core.apply_entry(&entry);
                    if let Role::Leader { epoch: e, .. } = core.role {
                        if e == epoch {
                            core.role = Role::Leader {
                                epoch,
                                lease_until: started + lease,
                            };
                        }
                    }
                    results
                };
                cp.inner.applied.send_modify(|n| *n += 1);
                for (p, r) in batch.into_iter().zip(results) {
                    let _ = p.reply.send(r);
                }
                snapshots.entries += 1;
                maybe_snapshot(cp, &mut snapshots);
            }
            Appended::Fenced { winner } => {
                eddy_probe::hit("cp.leader.fenced");
                cp.record(ReplicaEvent::Fenced {
                    epoch,
                    seq,
                    commands: entry.commands.len(),
                    winner: winner.clone(),
                });
                lock(&cp.inner.core).role = Role::Follower;
                reject(
                    batch,
                    CpError::not_leader(format!("journal sequence {seq} taken by {winner}"), None),
                );
                return;
            }
            Appended::GaveUp => {
                eddy_probe::hit("cp.leader.lease_lost");
                cp.record(ReplicaEvent::LeaseLost { epoch, seq });
                lock(&cp.inner.core).role = Role::Follower;
                reject(
                    batch,
                    CpError::unavailable(format!(
                        "journal append {seq} outcome unknown; leader stepped down"
                    )),
                );
                return;
            }
        }
    }
}

fn reject(batch: Vec<Proposal>, error: CpError) {
    for p in batch {
        let _ = p.reply.send(CommandResult::Rejected(error.clone()));
    }
}

/// Start a snapshot when one is due and none is being written.
fn maybe_snapshot(cp: &ControlPlane, clock: &mut SnapshotClock) {
    let config = &cp.inner.config;
    let due = clock.entries >= config.snapshot_entries
        || clock.since.elapsed() >= Duration::from_millis(config.snapshot_interval_ms);
    if !due || clock.running.as_ref().is_some_and(|h| !h.is_finished()) {
        return;
    }
    let snapshot = {
        let core = lock(&cp.inner.core);
        Snapshot {
            through: core.next_seq.saturating_sub(1),
            state: core.state.clone(),
        }
    };
    clock.entries = 0;
    clock.since = Instant::now();
    let cp = cp.clone();
    clock.running = Some(tokio::spawn(async move {
        if let Err(e) = write_snapshot(&cp, &snapshot).await {
            tracing::warn!(error = %e, "snapshot failed");
        }
    }));
}

/// Write `snapshot`, then delete what the previous snapshot covers.
async fn write_snapshot(cp: &ControlPlane, snapshot: &Snapshot) -> Result<(), JournalError> {
    let snapshots = &cp.inner.snapshots;
    snapshots.write(snapshot).await?;
    eddy_probe::hit("cp.snapshot.written");
    cp.record(ReplicaEvent::Snapshot {
        through: snapshot.through,
    });
    let all = snapshots.list().await?;
    // Keep the newest two snapshots and the journal after the older of them.
    if let [.., previous, _latest] = all.as_slice() {
        let previous = *previous;
        eddy_probe::hit("cp.snapshot.journal_trimmed");
        cp.inner.journal.delete_below(previous + 1).await?;
        snapshots.delete_below(previous).await?;
    }
    Ok(())
}
