//! Availability during faults: the share of time each partition could be written and read
//! while a fault of each family was active, judged from the history alone.
//!
//! Time is cut into buckets as wide as the scenario's own latency bounds (the produce-ack
//! p99 for writes, the delivery p99 for reads, at least a second) in quiet time, where the
//! latency model holds, and twice as wide during faults, where a system that is up but slow
//! (a latency spike adds a second to every PUT) must still answer within one; both follow
//! the storage profile:
//!
//! - **Writes.** A partition *wanted* a write in the bucket `[b, b + w)` when a send to it
//!   was pending at some moment of it; the bucket went *unserved* when a send was pending
//!   through all of it and none to the partition was acknowledged in it.
//! - **Reads.** A reader (a consumer group, or a consumer of assigned partitions) *wanted*
//!   partition `p` in the bucket when a record of `p` acknowledged by the bucket's end lay
//!   beyond everything the reader had received at its start, while the reader was polling
//!   at all; unserved when such a record was acknowledged before the start and none of the
//!   reader's polls of `p` returned records in the bucket. A reader also wanted `p` when a
//!   poll of it failed in the bucket, or was unanswered through the whole bucket and overdue
//!   (asked longer ago than the long-poll wait plus the delivery bound): unserved unless
//!   another poll of `p` was answered in the bucket. A caught-up reader's question deserves an answer too ("nothing
//!   new" is one; silence is not): a control plane that stops answering reads while the
//!   store refuses writes shows here. Read-backs right after a client's own
//!   acknowledgement and the final drain are not readers.
//!
//! A bucket counts for a fault family when it overlaps one of the family's windows (from the
//! run's one fault log); quiet buckets overlap none, nor the recovery bound after one.
//! Buckets that start in the warm-up are not counted at all. The product's BUGGIFY sites
//! (a commit held back after its PUT, an acknowledgement held after its commit, a slow
//! fetch) inject delays the fault log does not hold; each reports itself
//! (`eddy_probe::delayed`), and one long enough to stall a bucket makes that bucket and the
//! next neither quiet nor alone. The share
//! per family is `buckets served / buckets wanted`. Where the design promises service
//! through a fault, the scenario's `verdicts.availability_floors` (or the defaults below)
//! sets a floor, and a share under it is an [`Class::Unavailable`] violation: stateless
//! agents mean any agent takes any partition's writes, so losing one agent, one node for a
//! pause, or packets must not stop a partition for long. Families are judged on the buckets
//! they have alone (no other fault in them or in the bucket before); quiet time (no fault,
//! none within the recovery bound) has its own floor, `verdicts.availability_quiet_floor`.

use std::collections::BTreeMap;

use eddy_faults::Family;
use eddy_reports::{Class, Op, OpKind, Outcome, Violation};
use serde::Serialize;

use crate::chaos::FaultEvent;
use crate::spec::Scenario;

/// Served and wanted buckets, writes and reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Shares {
    /// Partition-buckets in which a write was wanted, and in which one was acknowledged.
    pub write_wanted: u64,
    pub write_served: u64,
    /// `write_served / write_wanted` (absent when nothing was wanted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_share: Option<f64>,
    /// (Reader, partition)-buckets in which a read was wanted, and in which records came.
    pub read_wanted: u64,
    pub read_served: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_share: Option<f64>,
}

impl Shares {
    fn finish(mut self) -> Shares {
        let share = |served: u64, wanted: u64| (wanted > 0).then(|| served as f64 / wanted as f64);
        self.write_share = share(self.write_served, self.write_wanted);
        self.read_share = share(self.read_served, self.read_wanted);
        self
    }
}

/// One fault family's availability, with the floors it was judged against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyAvailability {
    pub family: Family,
    /// Fault windows of the family, and their total length (overlaps counted once).
    pub windows: usize,
    pub window_s: f64,
    /// Buckets overlapping a window of this family (other faults may overlap too).
    pub during: Shares,
    /// Buckets overlapping this family's windows and no other fault, nor the recovery bound
    /// after one: what the floors judge.
    pub alone: Shares,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_floor: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_floor: Option<f64>,
}

/// What report.json shows (`availability`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AvailabilityVerdict {
    /// Bucket widths of quiet time, ms: the scenario's produce-ack and delivery p99 bounds,
    /// at least 1 s; fault families are judged on buckets twice as wide.
    pub write_bucket_ms: u64,
    pub read_bucket_ms: u64,
    /// Buckets overlapping no fault (after the warm-up): what the system does unharmed.
    pub quiet: Shares,
    /// Delays injected by BUGGIFY sites (not in the fault log) of at least half a quiet
    /// bucket: buckets overlapping one, or the bucket after it, are neither quiet nor alone.
    pub injected_delays: usize,
    /// Per fault family in the run.
    pub families: Vec<FamilyAvailability>,
    /// Fewest wanted buckets for a floor to be judged.
    pub min_wanted: u64,
    /// The floor on `quiet` (writes and reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_floor: Option<f64>,
    #[serde(skip)]
    pub violations: Vec<Violation>,
}

impl AvailabilityVerdict {
    /// Adds the violations, and the buckets judged against a floor, to the run's verdict.
    pub fn apply(&self, verdict: &mut eddy_reports::Verdict) {
        let judged: u64 = self
            .families
            .iter()
            .map(|f| {
                let w = if f.write_floor.is_some() && f.alone.write_wanted >= self.min_wanted {
                    f.alone.write_wanted
                } else {
                    0
                };
                let r = if f.read_floor.is_some() && f.alone.read_wanted >= self.min_wanted {
                    f.alone.read_wanted
                } else {
                    0
                };
                w + r
            })
            .sum();
        let quiet = [self.quiet.write_wanted, self.quiet.read_wanted]
            .into_iter()
            .filter(|n| self.quiet_floor.is_some() && *n >= self.min_wanted)
            .sum::<u64>();
        verdict.add_judged(Class::Unavailable, judged + quiet);
        for v in &self.violations {
            verdict.add(v.clone());
        }
    }
}

/// The default floors (writes, reads) per family where the design promises service. None:
/// no promise (the fault takes away what service needs: the control plane that sequences
/// writes, the zone's only agents, the Express bucket, the store's writes, a consumer).
pub fn default_floors(family: Family) -> (Option<f64>, Option<f64>) {
    match family {
        // Another agent of the zone takes the partition's writes once the client has moved
        // on (a paused control-plane leader is replaced within a takeover); packets lost
        // are retransmitted. Reads have no floor: a consumer group whose coordinator was on
        // the lost agent rejoins, which takes session timeouts.
        Family::AgentCrash | Family::NodePause | Family::PacketLoss => (Some(0.5), None),
        // Nothing can be written while the store refuses writes, but everything committed
        // stays readable: the control plane answers reads from its confirmed-latest state
        // (controlplane/src/server.rs) and the data files are still there.
        Family::WriteOutage => (None, Some(0.8)),
        // A dead leader's lease lapses and, until another replica has claimed the next
        // epoch, the followers answer reads from their confirmed-latest state; an agent's
        // Lookup gives up on a leader that died without closing its connections after
        // `LOOKUP_ATTEMPT` beyond its wait (it waited out the whole 5 s request timeout
        // before, and swarm seed 32 read 67% of such buckets). Writes wait for the new
        // leader.
        Family::ControlPlaneCrash => (None, Some(0.8)),
        _ => (None, None),
    }
}

/// Per partition (topic, partition): sorted event times.
#[derive(Default)]
struct Writes {
    invoked: Vec<u64>,
    /// Completion of every answered send (ok, failed or indeterminate).
    answered: Vec<u64>,
    acked: Vec<u64>,
    /// (acknowledgement time, offset + 1), by time, as a running maximum.
    high: Vec<(u64, i64)>,
    /// (invoke time, when it stopped pending: its answer, or never), by invoke time, as a
    /// running maximum: whether some send invoked by a moment was still pending at another.
    pending_until: Vec<(u64, i64)>,
}

#[derive(Default)]
struct Reads {
    /// (poll completion, highest offset returned + 1), by time, as a running maximum.
    got: Vec<(u64, i64)>,
    /// Completions of successful polls (records or not), sorted.
    answered: Vec<u64>,
    /// Completions of polls that failed (an error instead of an answer), sorted.
    failed: Vec<u64>,
    /// (invoke time, completion) of every answered poll, whatever its outcome, by invoke
    /// time. Polls never answered (the poller died, the run ended) are left out.
    polls: Vec<(u64, u64)>,
}

/// One family's shares against its floors (the scenario's, or [`default_floors`]).
fn judge_family(
    v: &mut AvailabilityVerdict,
    s: &Scenario,
    family: Family,
    ws: &[(u64, u64)],
    during: Shares,
    shares: Shares,
) {
    let floors = &s.verdicts.availability_floors;
    let min_wanted = v.min_wanted;
    let (dw, dr) = default_floors(family);
    let (write_floor, read_floor) = match floors.get(&family) {
        Some(f) => (f.write, f.read),
        None => (dw, dr),
    };
    let window_us = union_len(ws);
    for (what, share, wanted, floor) in [
        (
            "written",
            shares.write_share,
            shares.write_wanted,
            write_floor,
        ),
        ("read", shares.read_share, shares.read_wanted, read_floor),
    ] {
        if let (Some(share), Some(floor)) = (share, floor) {
            if wanted >= min_wanted && share < floor {
                v.violations.push(Violation::of_run(
                    Class::Unavailable,
                    Vec::new(),
                    format!(
                        "during {} ({} window(s), {:.1} s) partitions could be {what} in \
                         only {:.0}% of the {wanted} bucket(s) that wanted it with no other \
                         fault active (floor {:.0}%, \
                         quiet {})",
                        family.name(),
                        ws.len(),
                        window_us as f64 / 1e6,
                        share * 100.0,
                        floor * 100.0,
                        match if what == "written" {
                            v.quiet.write_share
                        } else {
                            v.quiet.read_share
                        } {
                            Some(q) => format!("{:.0}%", q * 100.0),
                            None => "n/a".into(),
                        }
                    ),
                ));
            }
        }
    }
    v.families.push(FamilyAvailability {
        family: family,
        windows: ws.len(),
        window_s: window_us as f64 / 1e6,
        during,
        alone: shares,
        write_floor,
        read_floor,
    });
}

/// The quiet-time floor's violations (`v.quiet` against `v.quiet_floor`).
fn quiet_violations(
    v: &AvailabilityVerdict,
    recovery_us: u64,
    quiet_write_w: u64,
    quiet_read_w: u64,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let min_wanted = v.min_wanted;
    if let Some(floor) = v.quiet_floor {
        let q = v.quiet;
        for (what, share, wanted) in [
            ("written", q.write_share, q.write_wanted),
            ("read", q.read_share, q.read_wanted),
        ] {
            if let Some(share) = share.filter(|x| *x < floor && wanted >= min_wanted) {
                out.push(Violation::of_run(
                    Class::Unavailable,
                    Vec::new(),
                    format!(
                        "with no fault active (none in the last {:.0} s either) partitions could \
                         be {what} in only {:.0}% of the {wanted} bucket(s) of {:.1} s that wanted \
                         it (floor {:.0}%)",
                        recovery_us as f64 / 1e6,
                        share * 100.0,
                        if what == "written" {
                            quiet_write_w
                        } else {
                            quiet_read_w
                        } as f64
                            / 1e6,
                        floor * 100.0
                    ),
                ));
            }
        }
    }
    out
}

/// What the judge needs of the history, per partition and per reader.
struct Timeline<'a> {
    writes: BTreeMap<(&'a str, i32), Writes>,
    reads: BTreeMap<(&'a str, &'a str, i32), Reads>,
    /// Per reader: first and last poll.
    span: BTreeMap<&'a str, (u64, u64)>,
    /// The last moment of the history.
    end_us: u64,
}

impl<'a> Timeline<'a> {
    /// A send that never completed stops being wanted once its producer gave up on it (its
    /// delivery timeout, `give_up_us`) or was last seen doing anything (a producer that
    /// crashed, or was fenced and stopped, wants nothing any more), whichever is first; not
    /// at the end of the run.
    fn of(ops: &'a [Op], give_up_us: u64) -> Timeline<'a> {
        let mut last_seen: BTreeMap<&str, u64> = BTreeMap::new();
        for op in ops {
            let t = op.complete_us.unwrap_or(op.invoke_us);
            let e = last_seen.entry(op.process.as_str()).or_insert(t);
            *e = (*e).max(t);
        }
        let mut writes: BTreeMap<(&str, i32), Writes> = BTreeMap::new();
        let mut reads: BTreeMap<(&str, &str, i32), Reads> = BTreeMap::new();
        let mut span: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        let mut end_us = 0u64;
        for op in ops {
            end_us = end_us.max(op.complete_us.unwrap_or(op.invoke_us));
            match &op.kind {
                OpKind::Send {
                    topic,
                    partition,
                    offset,
                    ..
                } => {
                    let w = writes.entry((topic, *partition)).or_default();
                    w.invoked.push(op.invoke_us);
                    let until = op.complete_us.unwrap_or_else(|| {
                        let seen = last_seen.get(op.process.as_str()).copied().unwrap_or(0);
                        op.invoke_us
                            .saturating_add(give_up_us)
                            .min(seen.max(op.invoke_us))
                    });
                    w.pending_until.push((op.invoke_us, until as i64));
                    if op.complete_us.is_none() {
                        w.answered.push(until);
                    }
                    if let Some(c) = op.complete_us {
                        w.answered.push(c);
                        if op.outcome == Outcome::Ok {
                            w.acked.push(c);
                            if let Some(o) = offset {
                                w.high.push((c, o + 1));
                            }
                        }
                    }
                }
                OpKind::Poll {
                    topic,
                    partition,
                    records,
                    drain: false,
                    read_back: false,
                    group,
                    ..
                } => {
                    let Some(c) = op.complete_us else { continue };
                    let reader = group.as_deref().unwrap_or(op.process.as_str());
                    let r = reads.entry((reader, topic, *partition)).or_default();
                    r.polls.push((op.invoke_us, c));
                    if op.outcome != Outcome::Ok {
                        r.failed.push(c);
                        continue;
                    }
                    r.answered.push(c);
                    let sp = span.entry(reader).or_insert((c, c));
                    sp.0 = sp.0.min(c);
                    sp.1 = sp.1.max(c);
                    if let Some(top) = records.iter().map(|r| r.offset).max() {
                        r.got.push((c, top + 1));
                    }
                }
                _ => {}
            }
        }
        for w in writes.values_mut() {
            w.invoked.sort_unstable();
            w.answered.sort_unstable();
            w.acked.sort_unstable();
            running_max(&mut w.high);
            running_max(&mut w.pending_until);
        }
        for r in reads.values_mut() {
            running_max(&mut r.got);
            r.answered.sort_unstable();
            r.failed.sort_unstable();
            r.polls.sort_unstable();
        }
        Timeline {
            writes,
            reads,
            span,
            end_us,
        }
    }
}

/// Total length of the union of `windows`.
fn union_len(windows: &[(u64, u64)]) -> u64 {
    let mut merged = windows.to_vec();
    merged.sort_unstable();
    let (mut total, mut reach) = (0, 0);
    for &(s, e) in &merged {
        let s = s.max(reach);
        if e > s {
            total += e - s;
        }
        reach = reach.max(e);
    }
    total
}

fn upto(v: &[u64], t: u64) -> usize {
    v.partition_point(|&x| x <= t)
}

fn before(v: &[u64], t: u64) -> usize {
    v.partition_point(|&x| x < t)
}

fn max_at(v: &[(u64, i64)], t: u64) -> i64 {
    let i = v.partition_point(|&(x, _)| x <= t);
    if i == 0 {
        0
    } else {
        v[i - 1].1
    }
}

fn any_in(v: &[u64], from: u64, to: u64) -> bool {
    before(v, to) > before(v, from)
}

fn running_max(v: &mut [(u64, i64)]) {
    v.sort_unstable();
    let mut m = 0;
    for e in v.iter_mut() {
        m = m.max(e.1);
        e.1 = m;
    }
}

/// Judge a run's history against its fault log.
///
/// `delays` are the windows (µs) of the delays BUGGIFY sites injected: faults of no family.
pub fn judge(
    s: &Scenario,
    ops: &[Op],
    faults: &[FaultEvent],
    delays: &[(u64, u64)],
) -> AvailabilityVerdict {
    let model = s.latency_model();
    // Quiet time is judged on buckets as wide as the bounds (the latency model holds there);
    // faults on buckets twice as wide: a system that is up but slow (a latency spike adds a
    // second to every PUT) still answers within one; one that stopped does not.
    let quiet_write_w = (model.produce_ack_p99_ms.ceil() as u64).max(1000) * 1000;
    let quiet_read_w = (model.delivery_p99_ms.ceil() as u64).max(1000) * 1000;
    let write_w = 2 * quiet_write_w;
    let read_w = 2 * quiet_read_w;
    let warmup_us = (s.verdicts.warmup_s.max(0.0) * 1e6) as u64;
    // A poll unanswered for longer than its long-poll wait plus the delivery bound is
    // overdue (see the reads below).
    let overdue_us = s.workload.fetch_max_wait_ms * 1000 + quiet_read_w;
    // Longest a poll can take: the client gives up after its request timeout on top of the
    // long-poll wait.
    let poll_max_us =
        (s.workload.fetch_max_wait_ms + s.workload.request_timeout_ms) * 1000 + quiet_read_w;

    let Timeline {
        writes,
        reads,
        span,
        end_us,
    } = Timeline::of(ops, s.workload.delivery_timeout_ms * 1000);
    let mut windows: BTreeMap<Family, Vec<(u64, u64)>> = BTreeMap::new();
    for f in faults {
        windows
            .entry(f.family)
            .or_default()
            .push((f.start_ms * 1000, f.end_ms * 1000));
    }
    let overlaps =
        |ws: &[(u64, u64)], b: u64, w: u64| ws.iter().any(|&(s, e)| s < b + w && b < e.max(s + 1));
    let all: Vec<(u64, u64)> = windows.values().flatten().copied().collect();
    // After a fault the system settles (clients back off, groups rebalance): not quiet yet.
    let recovery_us = (s
        .verdicts
        .recovery_s
        .unwrap_or(s.faults.recovery_bound_s)
        .max(0.0)
        * 1e6) as u64;
    // An injected delay holds requests up to its end, and the bucket after it still drains
    // them. One shorter than half a quiet bucket cannot hold a request through a bucket on
    // its own (the model's latency fills the rest of it at the most): it excuses nothing.
    let delayed: Vec<(u64, u64)> = delays
        .iter()
        .filter(|&&(a, e)| e.saturating_sub(a) >= quiet_write_w.min(quiet_read_w) / 2)
        .map(|&(a, e)| (a, e + quiet_write_w.max(quiet_read_w)))
        .collect();
    let settling: Vec<(u64, u64)> = all
        .iter()
        .map(|&(a, e)| (a, e + recovery_us))
        .chain(delayed.iter().copied())
        .collect();
    // Another family's fault, or the bucket right after it, makes a bucket not alone.
    let settling_by: BTreeMap<Family, Vec<(u64, u64)>> = windows
        .iter()
        .map(|(f, ws)| {
            (
                *f,
                ws.iter()
                    .map(|&(a, e)| (a, e + write_w.max(read_w)))
                    .collect(),
            )
        })
        .collect();

    // Tally one kind of bucket into `quiet` and the families it overlaps.
    let mut quiet = Shares::default();
    let mut per: BTreeMap<Family, Shares> = BTreeMap::new();
    let mut alone: BTreeMap<Family, Shares> = BTreeMap::new();
    let mut tally = |quiet_pass: bool, b: u64, w: u64, write: bool, served: bool| {
        let add = |sh: &mut Shares| {
            if write {
                sh.write_wanted += 1;
                sh.write_served += served as u64;
            } else {
                sh.read_wanted += 1;
                sh.read_served += served as u64;
            }
        };
        // Clients are still learning the cluster during the warm-up: not judged.
        if b < warmup_us {
            return;
        }
        if quiet_pass {
            if !overlaps(&settling, b, w) {
                add(&mut quiet);
            }
            return;
        }
        if !overlaps(&all, b, w) {
            return;
        }
        let hit: Vec<Family> = windows
            .iter()
            .filter(|(_, ws)| overlaps(ws, b, w))
            .map(|(f, _)| *f)
            .collect();
        for family in &hit {
            add(per.entry(*family).or_default());
        }
        // Alone: no other family active, nor in the bucket after one of its faults.
        if let [only] = hit[..] {
            let others_settling = overlaps(&delayed, b, w)
                || settling_by
                    .iter()
                    .any(|(f, ws)| *f != only && overlaps(ws, b, w));
            if !others_settling {
                add(alone.entry(only).or_default());
            }
        }
    };
    for (quiet_pass, write_w, read_w) in [
        (true, quiet_write_w, quiet_read_w),
        (false, write_w, read_w),
    ] {
        for w in writes.values() {
            let mut b = 0;
            while b < end_us {
                let e = b + write_w;
                // Wanted: a send pending at some moment of the bucket. Unserved: one pending
                // through all of it, and no acknowledgement in it.
                let wanted =
                    before(&w.invoked, b) > upto(&w.answered, b) || any_in(&w.invoked, b, e);
                if wanted {
                    let through = max_at(&w.pending_until, b) >= e as i64;
                    tally(
                        quiet_pass,
                        b,
                        write_w,
                        true,
                        !through || any_in(&w.acked, b, e),
                    );
                }
                b = e;
            }
        }
        for ((reader, topic, partition), r) in &reads {
            let Some(w) = writes.get(&(*topic, *partition)) else {
                continue;
            };
            let Some(&(first, last)) = span.get(reader) else {
                continue;
            };
            let mut b = first.div_ceil(read_w) * read_w;
            while b + read_w <= last {
                let e = b + read_w;
                // Wanted: a record acknowledged by the bucket's end lay beyond what the reader had
                // at its start. Unserved: one acknowledged before the start, and nothing came.
                let had = max_at(&r.got, b);
                let backlog = max_at(&w.high, e) > had;
                // Also wanted: the reader asked for the partition and had no answer through
                // the bucket, its poll overdue (longer than the long-poll wait and the
                // delivery bound) by the bucket's end. Unserved unless another poll of it
                // was answered in the bucket. A reader that has everything still wants its
                // questions answered: "nothing new yet" is an answer, silence is not. In
                // quiet time only polls asked in quiet time count: one left hanging by a
                // fault (a connection to a crashed agent, until the client's timeout) is
                // the fault's.
                let asked_from = if quiet_pass {
                    settling
                        .iter()
                        .filter(|&&(a, _)| a < b)
                        .map(|&(_, end)| end)
                        .max()
                        .unwrap_or(0)
                } else {
                    0
                }
                .max(e.saturating_sub(poll_max_us));
                let asked_by = b.min(e.saturating_sub(overdue_us));
                let overdue = asked_from <= asked_by
                    && r.polls[r.polls.partition_point(|&(i, _)| i < asked_from)
                        ..r.polls.partition_point(|&(i, _)| i <= asked_by)]
                        .iter()
                        .any(|&(_, c)| c >= e);
                // Or its polls failed in the bucket (an error is no answer).
                let stuck = (overdue || any_in(&r.failed, b, e)) && !any_in(&r.answered, b, e);
                if backlog || stuck {
                    let got = r.got.partition_point(|&(x, _)| x < e)
                        > r.got.partition_point(|&(x, _)| x < b);
                    tally(
                        quiet_pass,
                        b,
                        read_w,
                        false,
                        !stuck && (got || max_at(&w.high, b) <= had),
                    );
                }
                b = e;
            }
        }
    }

    let min_wanted = s.verdicts.availability_min_wanted;
    let mut v = AvailabilityVerdict {
        write_bucket_ms: quiet_write_w / 1000,
        read_bucket_ms: quiet_read_w / 1000,
        quiet: quiet.finish(),
        injected_delays: delayed.len(),
        min_wanted,
        quiet_floor: s.verdicts.availability_quiet_floor,
        ..Default::default()
    };
    v.violations = quiet_violations(&v, recovery_us, quiet_write_w, quiet_read_w);
    for (family, ws) in &windows {
        let during = per.get(family).copied().unwrap_or_default().finish();
        let shares = alone.get(family).copied().unwrap_or_default().finish();
        judge_family(&mut v, s, *family, ws, during, shares);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_reports::Rec;

    fn send(id: u64, at_ms: u64, done_ms: Option<u64>, offset: i64) -> Op {
        Op {
            id,
            process: "producer".into(),
            invoke_us: at_ms * 1000,
            complete_us: done_ms.map(|d| d * 1000),
            outcome: if done_ms.is_some() {
                Outcome::Ok
            } else {
                Outcome::Indeterminate
            },
            error: None,
            kind: OpKind::Send {
                topic: "t".into(),
                partition: 0,
                value: format!("v{id}"),
                offset: done_ms.map(|_| offset),
                idempotent: false,
                attempts: 1,
                max_in_flight: None,
                broker: None,
                txn: None,
                transactional_id: None,
                producer_id: None,
                epoch: None,
                source: None,
            },
        }
    }

    fn poll(id: u64, done_ms: u64, offsets: std::ops::Range<i64>) -> Op {
        Op {
            id,
            process: "consumer".into(),
            invoke_us: done_ms.saturating_sub(5) * 1000,
            complete_us: Some(done_ms * 1000),
            outcome: Outcome::Ok,
            error: None,
            kind: OpKind::Poll {
                topic: "t".into(),
                partition: 0,
                fetch_offset: offsets.start,
                records: offsets
                    .map(|o| Rec {
                        offset: o,
                        value: format!("v{o}"),
                    })
                    .collect(),
                high_watermark: None,
                drain: false,
                group: Some("g".into()),
                read_back: false,
                isolation: Default::default(),
                last_stable: None,
                txn: None,
            },
        }
    }

    fn fault(family: Family, start_ms: u64, end_ms: u64) -> FaultEvent {
        FaultEvent {
            start_ms,
            end_ms,
            family,
            what: format!("{family:?}"),
            leader: false,
        }
    }

    /// A send every 100 ms for `secs` seconds, acknowledged 50 ms later except while
    /// `stalled` (those are acknowledged when it ends); a poll of everything acknowledged
    /// every 100 ms, except while `blind`.
    fn history(secs: u64, stalled: (u64, u64), blind: (u64, u64)) -> Vec<Op> {
        let mut ops = Vec::new();
        let mut acks = Vec::new();
        for (i, at) in (0..secs * 10).map(|i| (i, i * 100)).collect::<Vec<_>>() {
            let done = if at + 50 >= stalled.0 && at + 50 < stalled.1 {
                stalled.1
            } else {
                at + 50
            };
            ops.push(send(i, at, Some(done), i as i64));
            acks.push(done);
        }
        let mut read = 0i64;
        for t in (0..secs * 10).map(|i| i * 100 + 99) {
            if t >= blind.0 && t < blind.1 {
                continue;
            }
            let upto = acks.iter().filter(|&&a| a <= t).count() as i64;
            if upto > read {
                ops.push(poll(100_000 + t, t, read..upto));
                read = upto;
            }
        }
        ops
    }

    fn scenario() -> Scenario {
        let mut s = Scenario::default();
        s.verdicts.warmup_s = 0.0;
        s.verdicts.recovery_s = Some(2.0);
        s.verdicts.availability_min_wanted = 3;
        s
    }

    #[test]
    fn a_healthy_history_is_served_throughout() {
        let s = scenario();
        let ops = history(60, (0, 0), (0, 0));
        let v = judge(&s, &ops, &[fault(Family::AgentCrash, 20_000, 30_000)], &[]);
        assert_eq!(v.quiet.write_share, Some(1.0));
        assert_eq!(v.quiet.read_share, Some(1.0));
        let f = &v.families[0];
        assert_eq!(
            (f.alone.write_share, f.alone.read_share),
            (Some(1.0), Some(1.0))
        );
        assert!(v.violations.is_empty(), "{:?}", v.violations);
    }

    /// While the store refuses writes nothing new is acknowledged, so a caught-up consumer
    /// wants no records; it still wants its polls answered. Prompt empty answers serve it; a
    /// poll left unanswered through the outage breaks the family's read floor.
    #[test]
    fn polls_unanswered_through_a_write_outage_break_its_read_floor() {
        let s = scenario();
        let outage = fault(Family::WriteOutage, 20_000, 40_000);
        let base = history(80, (20_000, 40_000), (20_000, 40_000));
        let empty = |id: u64, at_ms: u64, done_ms: u64| {
            let mut op = poll(id, done_ms, 0..0);
            op.invoke_us = at_ms * 1000;
            if let OpKind::Poll { fetch_offset, .. } = &mut op.kind {
                *fetch_offset = 200;
            }
            op
        };
        let mut answered = base.clone();
        for (i, t) in (20_000..40_000).step_by(500).enumerate() {
            answered.push(empty(900_000 + i as u64, t, t + 5));
        }
        let v = judge(&s, &answered, std::slice::from_ref(&outage), &[]);
        assert!(v.violations.is_empty(), "{:?}", v.violations);

        // Polls answered promptly with an error are no better.
        let mut refused = base.clone();
        for (i, t) in (20_000..40_000).step_by(500).enumerate() {
            let mut op = empty(900_000 + i as u64, t, t + 5);
            op.outcome = Outcome::Failed;
            op.error = Some("NOT_LEADER".into());
            refused.push(op);
        }
        let v = judge(&s, &refused, std::slice::from_ref(&outage), &[]);
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);

        let mut silent = base;
        silent.push(empty(900_000, 20_000, 40_000));
        // Reads go on through a control-plane failover too.
        let failover = fault(Family::ControlPlaneCrash, 20_000, 40_000);
        let v = judge(&s, &silent, &[failover], &[]);
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
        assert!(v.violations[0].explanation.contains("control_plane_crash"));
        let v = judge(&s, &silent, &[outage], &[]);
        let f = &v.families[0];
        assert!(f.alone.read_wanted >= 3, "{f:?}");
        assert!(f.alone.read_share.unwrap() < 0.8, "{f:?}");
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
        assert!(v.violations[0].explanation.contains("write_outage"));
        assert!(v.violations[0].explanation.contains("read"));
    }

    #[test]
    fn writes_stalled_through_an_agent_crash_break_its_floor() {
        let s = scenario();
        // Nothing acknowledged from 20 s to 40 s: the whole crash window.
        let ops = history(80, (20_000, 40_000), (0, 0));
        let v = judge(&s, &ops, &[fault(Family::AgentCrash, 20_000, 40_000)], &[]);
        let f = &v.families[0];
        assert!(f.alone.write_share.unwrap() < 0.5, "{f:?}");
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
        assert!(v.violations[0].explanation.contains("agent_crash"));
        assert!(v.violations[0].explanation.contains("written"));
        // The same stall during a control-plane crash is no violation: no floor there.
        let v = judge(
            &s,
            &ops,
            &[fault(Family::ControlPlaneCrash, 20_000, 40_000)],
            &[],
        );
        assert!(v.violations.is_empty(), "{:?}", v.violations);
        // ... unless the scenario sets one.
        let mut s2 = scenario();
        s2.verdicts.availability_floors.insert(
            Family::ControlPlaneCrash,
            crate::spec::AvailabilityFloor {
                write: Some(0.9),
                read: None,
            },
        );
        assert_eq!(
            judge(
                &s2,
                &ops,
                &[fault(Family::ControlPlaneCrash, 20_000, 40_000)],
                &[],
            )
            .violations
            .len(),
            1
        );
    }

    #[test]
    fn a_stall_in_quiet_time_is_excused_only_by_an_injected_delay_over_it() {
        let s = scenario();
        // Writes of the only partition stall from 30 s to 40 s, no fault at all.
        let ops = history(60, (30_000, 40_000), (0, 0));
        let v = judge(&s, &ops, &[], &[]);
        assert!(v.quiet.write_share.unwrap() < 0.9, "{:?}", v.quiet);
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
        // A BUGGIFY delay over the stall: that time is not quiet.
        let v = judge(&s, &ops, &[], &[(29_900_000, 40_000_000)]);
        assert!(v.violations.is_empty(), "{:?}", v.violations);
        assert_eq!(v.injected_delays, 1);
        // A delay elsewhere excuses nothing.
        let v = judge(&s, &ops, &[], &[(5_000_000, 6_000_000)]);
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
    }

    #[test]
    fn reads_stalled_in_quiet_time_break_the_quiet_floor() {
        let s = scenario();
        // The reader sees nothing from 30 s to 60 s while writes go on, no fault at all.
        let ops = history(90, (0, 0), (30_000, 60_000));
        let v = judge(&s, &ops, &[], &[]);
        assert_eq!(v.quiet.write_share, Some(1.0));
        assert!(v.quiet.read_share.unwrap() < 0.9, "{:?}", v.quiet);
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
        assert!(v.violations[0].explanation.contains("read"));
        // The same gap right after a fault is settling, not quiet.
        let v = judge(&s, &ops, &[fault(Family::PacketLoss, 10_000, 59_000)], &[]);
        assert!(v.quiet.read_share.unwrap_or(1.0) >= 0.9, "{:?}", v.quiet);
        // Without a floor nothing is judged.
        let mut off = scenario();
        off.verdicts.availability_quiet_floor = None;
        assert!(judge(&off, &ops, &[], &[]).violations.is_empty());
    }

    #[test]
    fn a_bucket_shared_with_another_fault_is_not_alone() {
        let s = scenario();
        let ops = history(60, (20_000, 30_000), (0, 0));
        let v = judge(
            &s,
            &ops,
            &[
                fault(Family::AgentCrash, 20_000, 30_000),
                fault(Family::ControlPlaneCrash, 19_000, 31_000),
            ],
            &[],
        );
        let crash = v
            .families
            .iter()
            .find(|f| f.family == Family::AgentCrash)
            .unwrap();
        assert_eq!(crash.alone.write_wanted, 0);
        assert!(crash.during.write_wanted > 0);
        assert!(v.violations.is_empty(), "{:?}", v.violations);
    }
}
