//! The transactional part of a history (`reports/HISTORY.md`, Kafka transactions), as the
//! transactional workload hands it to the recorder: the fields it adds to `send`, `poll`
//! and `commit` ops, and the kinds `txn_init` and `txn_end`. The recorder puts them into
//! the ops themselves (`Recorder::annotate`, `Recorder::txn_invoke`), so the checkers of
//! `eddy run` judge them in memory as `history.jsonl` has them.

use serde::Serialize;

/// The input record a pipeline's output record was derived from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Transactional fields of a `send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendTxn {
    pub txn: String,
    pub transactional_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// Transactional fields of a `poll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PollTxn {
    /// `"read_committed"`; `None` for the default, read_uncommitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_stable: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn: Option<String>,
}

/// The transactional fields of one op line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Extra {
    Send(SendTxn),
    Poll(PollTxn),
    /// A TxnOffsetCommit of `commit`: its transaction.
    Commit {
        txn: String,
    },
}

/// The transactional kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TxnKind {
    TxnInit {
        transactional_id: String,
        producer_id: Option<i64>,
        epoch: Option<i32>,
    },
    TxnEnd {
        txn: String,
        transactional_id: Option<String>,
        commit: bool,
    },
}
