//! The history recorder: every client operation with its invoke and completion times in
//! simulated microseconds since the run started, and its outcome.

use std::sync::{Arc, Mutex};

use eddy_reports::{Op, OpKind, Outcome};
use tokio::time::Instant;

use crate::txnlog::{Extra, TxnKind};

#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    start: Instant,
    ops: Vec<Op>,
    /// Invoked and not completed.
    outstanding: usize,
    /// Retention in force, written into LogStart ops (see [`Recorder::log_start`]).
    retention: Retention,
    /// Highest log start recorded per partition.
    log_starts: std::collections::BTreeMap<(String, i32), i64>,
    /// The next op id (ops and transactional ops share the sequence).
    next_id: u64,
}

/// The retention a run's topic is under, as LogStart ops carry it (see the history's
/// `log_start` op).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Retention by time (`None`: records are not deleted by age, nothing to judge).
    pub horizon_ms: Option<u64>,
    /// Retention by bytes per partition.
    pub bytes_limit: Option<u64>,
    /// An upper bound on one record's stored size.
    pub record_bytes_max: Option<u64>,
}

/// Handle to an operation that has been invoked and not completed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending(usize);

/// Handle to a transactional op (`txn_init`, `txn_end`) invoked and not completed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnPending(usize);

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            inner: Arc::new(Mutex::new(Inner {
                start: Instant::now(),
                ops: Vec::new(),
                outstanding: 0,
                retention: Retention::default(),
                log_starts: Default::default(),
                next_id: 0,
            })),
        }
    }

    /// Declare the retention under which records may be deleted, so LogStart ops can be
    /// checked against it.
    pub fn set_retention(&self, retention: Retention) {
        self.lock().retention = retention;
    }

    /// A poll invoked at `invoke_us` reported `log_start`: record a LogStart op when it is
    /// higher than any recorded for the partition.
    pub fn log_start(
        &self,
        process: &str,
        invoke_us: u64,
        topic: &str,
        partition: i32,
        log_start: i64,
    ) {
        let retention = {
            let mut inner = self.lock();
            let seen = inner
                .log_starts
                .entry((topic.to_string(), partition))
                .or_insert(0);
            if log_start <= *seen {
                return;
            }
            *seen = log_start;
            inner.retention
        };
        self.record(
            process,
            invoke_us,
            Outcome::Ok,
            OpKind::LogStart {
                topic: topic.to_string(),
                partition,
                log_start,
                horizon_ms: retention.horizon_ms,
                bytes_limit: retention.bytes_limit,
                record_bytes_max: retention.bytes_limit.and(retention.record_bytes_max),
            },
        );
    }

    /// Simulated microseconds from the recorder's creation to `t`.
    pub fn us_of(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.lock().start).as_micros() as u64
    }

    /// Record an operation that completed at `complete_us`, invoked at `invoke_us`.
    pub fn record_at(
        &self,
        process: &str,
        invoke_us: u64,
        complete_us: u64,
        outcome: Outcome,
        kind: OpKind,
    ) {
        self.record(process, invoke_us, outcome, kind);
        let mut inner = self.lock();
        if let Some(op) = inner.ops.last_mut() {
            op.complete_us = Some(complete_us.max(invoke_us));
        }
    }

    /// Like [`Recorder::record_at`], with the error the client was given.
    pub fn record_error_at(
        &self,
        process: &str,
        invoke_us: u64,
        complete_us: u64,
        outcome: Outcome,
        error: Option<String>,
        kind: OpKind,
    ) {
        self.record_at(process, invoke_us, complete_us, outcome, kind);
        if error.is_some() {
            if let Some(op) = self.lock().ops.last_mut() {
                op.error = error;
            }
        }
    }

    /// Simulated microseconds since the recorder was created.
    pub fn now_us(&self) -> u64 {
        self.lock().start.elapsed().as_micros() as u64
    }

    /// Record the invocation of an operation; it stays indeterminate until completed.
    pub fn invoke(&self, process: &str, kind: OpKind) -> Pending {
        let mut inner = self.lock();
        let invoke_us = inner.start.elapsed().as_micros() as u64;
        let id = inner.ops.len();
        let op_id = inner.take_id();
        inner.outstanding += 1;
        inner.ops.push(Op {
            id: op_id,
            process: process.to_string(),
            invoke_us,
            complete_us: None,
            outcome: Outcome::Indeterminate,
            error: None,
            kind,
        });
        Pending(id)
    }

    /// Complete an invoked operation, optionally updating what it observed.
    pub fn complete(
        &self,
        op: Pending,
        outcome: Outcome,
        error: Option<String>,
        update: impl FnOnce(&mut OpKind),
    ) {
        let mut inner = self.lock();
        let now = inner.start.elapsed().as_micros() as u64;
        let mut completed = false;
        if let Some(o) = inner.ops.get_mut(op.0) {
            completed = o.complete_us.is_none();
            o.complete_us = Some(now);
            o.outcome = outcome;
            o.error = error;
            update(&mut o.kind);
        }
        if completed {
            inner.outstanding -= 1;
        }
    }

    /// Record an operation that failed with `error`, invoked at `invoke_us`.
    pub fn record_failed(&self, process: &str, invoke_us: u64, error: String, kind: OpKind) {
        self.record(process, invoke_us, Outcome::Failed, kind);
        if let Some(op) = self.lock().ops.last_mut() {
            op.error = Some(error);
        }
    }

    /// Record an operation that already completed, invoked at `invoke_us`.
    pub fn record(&self, process: &str, invoke_us: u64, outcome: Outcome, kind: OpKind) {
        let mut inner = self.lock();
        let now = inner.start.elapsed().as_micros() as u64;
        let id = inner.take_id();
        inner.ops.push(Op {
            id,
            process: process.to_string(),
            invoke_us,
            complete_us: Some(now),
            outcome,
            error: None,
            kind,
        });
    }

    /// Number of operations invoked and not completed.
    pub fn outstanding(&self) -> usize {
        self.lock().outstanding
    }

    /// The history so far, moved out (the recorder keeps nothing): for the end of a run,
    /// where a copy would double the history's memory at the run's peak.
    pub fn take_ops(&self) -> Vec<Op> {
        std::mem::take(&mut self.lock().ops)
    }

    /// Attach transactional fields to an op invoked (or recorded) earlier.
    pub fn annotate(&self, op: Pending, extra: Extra) {
        let mut inner = self.lock();
        if let Some(o) = inner.ops.get_mut(op.0) {
            apply_extra(&mut o.kind, extra);
        }
    }

    /// Attach transactional fields to the op recorded last.
    pub fn annotate_last(&self, extra: Extra) {
        let mut inner = self.lock();
        if let Some(o) = inner.ops.last_mut() {
            apply_extra(&mut o.kind, extra);
        }
    }

    /// Like [`Recorder::invoke`], for a send with its transactional fields.
    pub fn invoke_with(&self, process: &str, kind: OpKind, extra: Extra) -> Pending {
        let op = self.invoke(process, kind);
        self.annotate(op, extra);
        op
    }

    /// Record the invocation of a `txn_init` or `txn_end`; indeterminate until completed.
    pub fn txn_invoke(&self, process: &str, kind: TxnKind) -> TxnPending {
        let Pending(at) = self.invoke(process, op_kind(kind));
        TxnPending(at)
    }

    /// Complete a transactional op, optionally updating what it learned.
    pub fn txn_complete(
        &self,
        op: TxnPending,
        outcome: Outcome,
        error: Option<String>,
        update: impl FnOnce(&mut TxnKind),
    ) {
        {
            let mut inner = self.lock();
            if let Some(o) = inner.ops.get_mut(op.0) {
                if let Some(mut kind) = txn_kind(&o.kind) {
                    update(&mut kind);
                    o.kind = op_kind(kind);
                }
            }
        }
        self.complete(Pending(op.0), outcome, error, |_| {});
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        eddy_controlplane::sync::lock(&self.inner)
    }
}

impl Inner {
    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// Put an op's transactional fields into its kind (`txnlog.rs` names them).
fn apply_extra(kind: &mut OpKind, extra: Extra) {
    match (kind, extra) {
        (
            OpKind::Send {
                txn,
                transactional_id,
                producer_id,
                epoch,
                source,
                ..
            },
            Extra::Send(x),
        ) => {
            *txn = Some(x.txn);
            *transactional_id = Some(x.transactional_id);
            *producer_id = x.producer_id;
            *epoch = x.epoch;
            *source = x.source.map(|s| eddy_reports::history::Source {
                topic: s.topic,
                partition: s.partition,
                offset: s.offset,
            });
        }
        (
            OpKind::Poll {
                isolation,
                last_stable,
                txn,
                ..
            },
            Extra::Poll(x),
        ) => {
            if x.isolation == Some("read_committed") {
                *isolation = eddy_reports::history::Isolation::ReadCommitted;
            }
            *last_stable = x.last_stable;
            *txn = x.txn;
        }
        (OpKind::Commit { txn, .. }, Extra::Commit { txn: t }) => *txn = Some(t),
        _ => {}
    }
}

fn op_kind(kind: TxnKind) -> OpKind {
    match kind {
        TxnKind::TxnInit {
            transactional_id,
            producer_id,
            epoch,
        } => OpKind::TxnInit {
            transactional_id,
            producer_id,
            epoch,
        },
        TxnKind::TxnEnd {
            txn,
            transactional_id,
            commit,
        } => OpKind::TxnEnd {
            txn,
            transactional_id,
            commit,
        },
    }
}

fn txn_kind(kind: &OpKind) -> Option<TxnKind> {
    match kind.clone() {
        OpKind::TxnInit {
            transactional_id,
            producer_id,
            epoch,
        } => Some(TxnKind::TxnInit {
            transactional_id,
            producer_id,
            epoch,
        }),
        OpKind::TxnEnd {
            txn,
            transactional_id,
            commit,
        } => Some(TxnKind::TxnEnd {
            txn,
            transactional_id,
            commit,
        }),
        _ => None,
    }
}
