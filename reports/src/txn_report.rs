//! What a run's transactions did: how they ended and how long EndTxn took, from the history
//! alone; the runner adds what the control plane journaled for them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::history::{Op, OpKind, Outcome};
use crate::latency::{LatencyHistogram, LatencySummary};

/// The transactions of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnReport {
    /// Transactions named by the history (by their sends or their ends).
    pub transactions: u64,
    /// EndTxn(commit) answered ok.
    pub committed: u64,
    /// EndTxn(abort) answered ok.
    pub aborted: u64,
    /// EndTxn refused (fenced, timed out, wrong state): not committed.
    pub end_failed: u64,
    /// EndTxn whose outcome the client never learned.
    pub end_unknown: u64,
    /// Transactions with sends and no EndTxn (the producer crashed or was fenced first).
    pub never_ended: u64,
    /// InitProducerId calls with a transactional id answered ok (each fences the previous
    /// instance of its id).
    pub inits: u64,
    /// Latency of the EndTxn calls answered ok (commit and abort).
    pub end_latency: LatencySummary,
    /// Transactional commands the control plane journaled per ended transaction (set by
    /// the runner from the control plane's counters; `None` when it has none).
    #[serde(default)]
    pub journal_commands_per_txn: Option<f64>,
}

/// The report of `ops`' transactions; `None` when the history has none.
pub fn txn_report(ops: &[Op]) -> Option<TxnReport> {
    let mut names = BTreeSet::new();
    let mut ended = BTreeSet::new();
    let mut r = TxnReport {
        transactions: 0,
        committed: 0,
        aborted: 0,
        end_failed: 0,
        end_unknown: 0,
        never_ended: 0,
        inits: 0,
        end_latency: LatencyHistogram::new().summary(),
        journal_commands_per_txn: None,
    };
    let mut latency = LatencyHistogram::new();
    let mut any = false;
    for op in ops {
        match &op.kind {
            OpKind::Send { txn: Some(t), .. } => {
                any = true;
                names.insert(t.as_str());
            }
            OpKind::TxnInit { .. } => {
                any = true;
                if op.outcome == Outcome::Ok {
                    r.inits += 1;
                }
            }
            OpKind::TxnEnd { txn, commit, .. } => {
                any = true;
                names.insert(txn.as_str());
                ended.insert(txn.as_str());
                match (op.outcome, commit) {
                    (Outcome::Ok, true) => r.committed += 1,
                    (Outcome::Ok, false) => r.aborted += 1,
                    (Outcome::Failed, _) => r.end_failed += 1,
                    (Outcome::Indeterminate, _) => r.end_unknown += 1,
                }
                if let (Outcome::Ok, Some(done)) = (op.outcome, op.complete_us) {
                    latency.record_us(done.saturating_sub(op.invoke_us));
                }
            }
            _ => {}
        }
    }
    if !any {
        return None;
    }
    r.transactions = names.len() as u64;
    r.never_ended = names.difference(&ended).count() as u64;
    r.end_latency = latency.summary();
    Some(r)
}
