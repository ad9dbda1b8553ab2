//! The transactional part of a history (`reports/HISTORY.md`, Kafka transactions): the
//! fields a transactional workload adds to `send`, `poll` and `commit` lines, and the kinds
//! `txn_init` and `txn_end`. The recorder keeps them beside its [`Op`]s, keyed by op id,
//! and [`write_history`] writes each line as the schema has it: an op's own fields, then
//! its transactional fields, in the schema's order. A history without transactions is
//! written exactly as before (`eddy_reports::write_jsonl`).

use std::collections::BTreeMap;
use std::io::Write;

use eddy_reports::{Op, Outcome};
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

/// A `txn_init` or `txn_end` line (the common fields of every op, then the kind's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxnOp {
    pub id: u64,
    pub process: String,
    pub invoke_us: u64,
    pub complete_us: Option<u64>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten)]
    pub kind: TxnKind,
}

/// What a run recorded of its transactions.
#[derive(Debug, Clone, Default)]
pub struct TxnLog {
    /// Transactional fields by op id.
    pub extras: BTreeMap<u64, Extra>,
    /// The `txn_init` and `txn_end` ops, in id order.
    pub ops: Vec<TxnOp>,
}

impl TxnLog {
    pub fn is_empty(&self) -> bool {
        self.extras.is_empty() && self.ops.is_empty()
    }
}

/// One op's line with its transactional fields appended.
fn op_line(op: &Op, extra: Option<&Extra>) -> serde_json::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(op)?;
    if let Some(extra) = extra {
        let fields = serde_json::to_vec(extra)?;
        // `{"a":1}` → `,"a":1` before the op's closing brace.
        if fields.len() > 2 && line.last() == Some(&b'}') {
            line.pop();
            line.push(b',');
            line.extend_from_slice(&fields[1..]);
        }
    }
    Ok(line)
}

/// Writes the history: `ops` and the transactional lines, in id order, one per line.
pub fn write_history<W: Write>(mut writer: W, ops: &[Op], txn: &TxnLog) -> anyhow::Result<()> {
    if txn.is_empty() {
        eddy_reports::write_jsonl(writer, ops)?;
        return Ok(());
    }
    let mut txn_ops = txn.ops.iter().peekable();
    for op in ops {
        while let Some(t) = txn_ops.next_if(|t| t.id < op.id) {
            serde_json::to_writer(&mut writer, t)?;
            writer.write_all(b"\n")?;
        }
        writer.write_all(&op_line(op, txn.extras.get(&op.id))?)?;
        writer.write_all(b"\n")?;
    }
    for t in txn_ops {
        serde_json::to_writer(&mut writer, t)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_reports::OpKind;

    fn send(id: u64) -> Op {
        Op {
            id,
            process: "txn-az1-0".into(),
            invoke_us: 10,
            complete_us: Some(20),
            outcome: Outcome::Ok,
            error: None,
            kind: OpKind::Send {
                topic: "events".into(),
                partition: 1,
                value: "v".into(),
                offset: Some(4),
                idempotent: true,
                attempts: 1,
                max_in_flight: Some(5),
                broker: None,
            },
        }
    }

    #[test]
    fn lines_follow_the_schema_and_plain_histories_are_unchanged() {
        let ops = vec![send(0), send(2)];
        let mut plain = Vec::new();
        write_history(&mut plain, &ops, &TxnLog::default()).unwrap();
        let mut expected = Vec::new();
        eddy_reports::write_jsonl(&mut expected, &ops).unwrap();
        assert_eq!(plain, expected);

        let mut log = TxnLog::default();
        log.extras.insert(
            2,
            Extra::Send(SendTxn {
                txn: "txn-az1-0/1".into(),
                transactional_id: "txn-az1-0".into(),
                producer_id: Some(3),
                epoch: Some(0),
                source: Some(Source {
                    topic: "events".into(),
                    partition: 1,
                    offset: 7,
                }),
            }),
        );
        log.ops.push(TxnOp {
            id: 1,
            process: "txn-az1-0".into(),
            invoke_us: 1,
            complete_us: None,
            outcome: Outcome::Indeterminate,
            error: None,
            kind: TxnKind::TxnInit {
                transactional_id: "txn-az1-0".into(),
                producer_id: None,
                epoch: None,
            },
        });
        log.ops.push(TxnOp {
            id: 3,
            process: "txn-az1-0".into(),
            invoke_us: 30,
            complete_us: Some(40),
            outcome: Outcome::Failed,
            error: Some("PRODUCER_FENCED".into()),
            kind: TxnKind::TxnEnd {
                txn: "txn-az1-0/1".into(),
                transactional_id: Some("txn-az1-0".into()),
                commit: true,
            },
        });
        let mut out = Vec::new();
        write_history(&mut out, &ops, &log).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[1],
            r#"{"id":1,"process":"txn-az1-0","invoke_us":1,"complete_us":null,"outcome":"indeterminate","type":"txn_init","transactional_id":"txn-az1-0","producer_id":null,"epoch":null}"#
        );
        assert!(lines[2].ends_with(
            r#""broker":null,"txn":"txn-az1-0/1","transactional_id":"txn-az1-0","producer_id":3,"epoch":0,"source":{"topic":"events","partition":1,"offset":7}}"#
        ));
        assert_eq!(
            lines[3],
            r#"{"id":3,"process":"txn-az1-0","invoke_us":30,"complete_us":40,"outcome":"failed","error":"PRODUCER_FENCED","type":"txn_end","txn":"txn-az1-0/1","transactional_id":"txn-az1-0","commit":true}"#
        );
        let poll = Extra::Poll(PollTxn {
            isolation: Some("read_committed"),
            last_stable: Some(9),
            txn: None,
        });
        assert_eq!(
            serde_json::to_string(&poll).unwrap(),
            r#"{"isolation":"read_committed","last_stable":9}"#
        );
    }
}
