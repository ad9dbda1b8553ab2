//! A correct model of Kafka transactions, appended to a history: transactional producers
//! that commit, abort, see their commits refused or left indeterminate, and crash
//! mid-transaction (their next instance fences the old epoch, which the coordinator's
//! abort of the open transaction follows, and the fenced instance's late writes are
//! refused); an exactly-once pipeline (read_committed polls feeding a transaction, outputs
//! naming their inputs, TxnOffsetCommits, a seek back to the committed offset after an
//! abort); read_committed and read_uncommitted consumers; control records taking an offset
//! at each transaction's end; and a read_committed final drain. Its topics (`txn-t` with two
//! partitions, `txn-in`, `txn-out`) are its own, its ops come after every op of the history
//! (one at a time, 100 µs apart), and it must pass [`crate::check`] as the rest does.

use crate::history::{Isolation, Op, OpKind, Outcome, Rec, Source};

use super::SplitMix64;

const TOPIC: &str = "txn-t";
const INPUT: &str = "txn-in";
const OUTPUT: &str = "txn-out";
const GROUP: &str = "txn-group";
/// The partitions, by index: `txn-t` 0 and 1, `txn-in` 0, `txn-out` 0.
const TPS: [(&str, i32); 4] = [(TOPIC, 0), (TOPIC, 1), (INPUT, 0), (OUTPUT, 0)];
const IN_TP: usize = 2;
const OUT_TP: usize = 3;

#[derive(Clone)]
enum Entry {
    Record { value: String, txn: Option<usize> },
    Marker,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Open,
    Committed,
    Aborted,
}

enum State {
    Idle,
    /// In transaction `txn`, `left` sends to go, having written to `parts`.
    InTxn {
        txn: usize,
        left: u32,
        parts: Vec<usize>,
    },
    /// Crashed in transaction `txn`.
    Crashed {
        txn: usize,
        parts: Vec<usize>,
    },
}

struct Producer {
    tid: String,
    pid: i64,
    epoch: i32,
    generation: u32,
    process: String,
    next_txn: u32,
    state: State,
}

struct Model<'h> {
    rng: SplitMix64,
    ops: &'h mut Vec<Op>,
    next_id: u64,
    t: u64,
    logs: Vec<Vec<Entry>>,
    fates: Vec<Fate>,
    producers: Vec<Producer>,
    inputs: u64,
    /// The pipeline's position, committed offset and transaction count.
    pipe_position: i64,
    pipe_committed: Option<i64>,
    pipe_txns: u32,
    /// Consumer positions per tp: read_committed and read_uncommitted.
    rc_position: Vec<i64>,
    ru_position: Vec<i64>,
}

/// Appends about `steps` transactional operations to `ops` (see the module doc).
pub fn append_transactions(ops: &mut Vec<Op>, seed: u64, steps: usize) {
    let next_id = ops.iter().map(|op| op.id + 1).max().unwrap_or(0);
    let t = ops
        .iter()
        .map(|op| op.complete_us.unwrap_or(op.invoke_us).max(op.invoke_us))
        .max()
        .unwrap_or(0)
        + 1000;
    let mut m = Model {
        rng: SplitMix64::new(seed ^ 0x7A5E_0F7A),
        ops,
        next_id,
        t,
        logs: vec![Vec::new(); TPS.len()],
        fates: Vec::new(),
        producers: Vec::new(),
        inputs: 0,
        pipe_position: 0,
        pipe_committed: None,
        pipe_txns: 0,
        rc_position: vec![0; TPS.len()],
        ru_position: vec![0; TPS.len()],
    };
    for k in 0..3 {
        let tid = format!("txn-producer-{k}");
        let process = format!("{tid}#0");
        m.producers.push(Producer {
            tid: tid.clone(),
            pid: 100 + k,
            epoch: 0,
            generation: 0,
            process: process.clone(),
            next_txn: 0,
            state: State::Idle,
        });
        m.init(&process, &tid, 100 + k, 0);
    }
    m.init("txn-pipe", "txn-pipe", 99, 0);
    for _ in 0..steps {
        match m.rng.below(10) {
            0..=3 => {
                let k = m.rng.below(m.producers.len() as u64) as usize;
                m.producer(k);
            }
            4 => m.input(),
            5 | 6 => m.pipeline(),
            7 | 8 => m.consume(true),
            _ => m.consume(false),
        }
    }
    m.finish();
}

impl Model<'_> {
    fn push(&mut self, process: &str, outcome: Outcome, error: Option<&str>, kind: OpKind) -> u64 {
        let complete_us = match outcome {
            Outcome::Indeterminate => None,
            _ => Some(self.t + 50),
        };
        self.ops.push(Op {
            id: self.next_id,
            process: process.to_string(),
            invoke_us: self.t,
            complete_us,
            outcome,
            error: error.map(str::to_string),
            kind,
        });
        self.next_id += 1;
        self.t += 100;
        self.t
    }

    fn init(&mut self, process: &str, tid: &str, pid: i64, epoch: i32) {
        self.push(
            process,
            Outcome::Ok,
            None,
            OpKind::TxnInit {
                transactional_id: tid.to_string(),
                producer_id: Some(pid),
                epoch: Some(epoch),
            },
        );
    }

    fn append(&mut self, tp: usize, entry: Entry) -> i64 {
        self.logs[tp].push(entry);
        self.logs[tp].len() as i64 - 1
    }

    /// Ends transaction `txn` with `fate`: a control record in each partition it wrote to.
    fn end(&mut self, txn: usize, parts: &[usize], fate: Fate) {
        self.fates[txn] = fate;
        for &tp in parts {
            self.append(tp, Entry::Marker);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        process: &str,
        tp: usize,
        value: String,
        txn: Option<(usize, &str, &str, i64, i32)>,
        source: Option<Source>,
        outcome: Outcome,
        error: Option<&str>,
    ) -> Option<i64> {
        let offset = (outcome == Outcome::Ok).then(|| {
            let id = txn.map(|t| t.0);
            self.append(
                tp,
                Entry::Record {
                    value: value.clone(),
                    txn: id,
                },
            )
        });
        let (topic, partition) = TPS[tp];
        self.push(
            process,
            outcome,
            error,
            OpKind::Send {
                topic: topic.to_string(),
                partition,
                value,
                offset,
                idempotent: txn.is_some(),
                attempts: u32::from(outcome != Outcome::Failed),
                max_in_flight: Some(1),
                broker: None,
                txn: txn.map(|t| t.1.to_string()),
                transactional_id: txn.map(|t| t.2.to_string()),
                producer_id: txn.map(|t| t.3),
                epoch: txn.map(|t| t.4),
                source,
            },
        );
        offset
    }

    fn txn_end(&mut self, process: &str, txn: &str, tid: &str, commit: bool, outcome: Outcome) {
        let error = match outcome {
            Outcome::Failed => Some("INVALID_TXN_STATE"),
            Outcome::Indeterminate => Some("REQUEST_TIMED_OUT"),
            Outcome::Ok => None,
        };
        self.push(
            process,
            outcome,
            error,
            OpKind::TxnEnd {
                txn: txn.to_string(),
                transactional_id: Some(tid.to_string()),
                commit,
            },
        );
    }

    fn producer(&mut self, k: usize) {
        let state = std::mem::replace(&mut self.producers[k].state, State::Idle);
        self.producers[k].state = match state {
            State::Idle => {
                let p = &mut self.producers[k];
                p.next_txn += 1;
                self.fates.push(Fate::Open);
                let left = 1 + self.rng.below(3) as u32;
                self.producer_send(k, self.fates.len() - 1, left, Vec::new())
            }
            State::InTxn { txn, left, parts } if left > 0 => {
                self.producer_send(k, txn, left, parts)
            }
            State::InTxn { txn, parts, .. } => self.producer_end(k, txn, parts),
            State::Crashed { txn, parts } => {
                // The next instance fences the old epoch; the coordinator aborts the open
                // transaction; the fenced instance may still try to write, and is refused.
                let p = &mut self.producers[k];
                let (old, old_epoch) = (p.process.clone(), p.epoch);
                p.generation += 1;
                p.epoch += 1;
                p.process = format!("{}#{}", p.tid, p.generation);
                let (process, tid, pid, epoch) = (p.process.clone(), p.tid.clone(), p.pid, p.epoch);
                self.init(&process, &tid, pid, epoch);
                self.end(txn, &parts, Fate::Aborted);
                if self.rng.chance(500) {
                    let name = format!("{old}/zombie");
                    self.fates.push(Fate::Aborted);
                    let zombie = self.fates.len() - 1;
                    let tp = self.rng.below(2) as usize;
                    self.send(
                        &old,
                        tp,
                        format!("{old}-zombie"),
                        Some((zombie, &name, &tid, pid, old_epoch)),
                        None,
                        Outcome::Failed,
                        Some("INVALID_PRODUCER_EPOCH"),
                    );
                    self.txn_end(&old, &name, &tid, true, Outcome::Failed);
                }
                State::Idle
            }
        };
    }

    fn producer_send(&mut self, k: usize, txn: usize, left: u32, mut parts: Vec<usize>) -> State {
        let p = &self.producers[k];
        let (process, tid, pid, epoch) = (p.process.clone(), p.tid.clone(), p.pid, p.epoch);
        let name = format!("{process}/{}", p.next_txn);
        let value = format!("{name}-{left}");
        let tp = self.rng.below(2) as usize;
        self.send(
            &process,
            tp,
            value,
            Some((txn, &name, &tid, pid, epoch)),
            None,
            Outcome::Ok,
            None,
        );
        if !parts.contains(&tp) {
            parts.push(tp);
        }
        State::InTxn {
            txn,
            left: left - 1,
            parts,
        }
    }

    fn producer_end(&mut self, k: usize, txn: usize, parts: Vec<usize>) -> State {
        let p = &self.producers[k];
        let (process, tid) = (p.process.clone(), p.tid.clone());
        let name = format!("{process}/{}", p.next_txn);
        match self.rng.below(100) {
            0..=59 => {
                self.end(txn, &parts, Fate::Committed);
                self.txn_end(&process, &name, &tid, true, Outcome::Ok);
            }
            60..=71 => {
                self.end(txn, &parts, Fate::Aborted);
                self.txn_end(&process, &name, &tid, false, Outcome::Ok);
            }
            72..=76 => {
                self.end(txn, &parts, Fate::Aborted);
                self.txn_end(&process, &name, &tid, true, Outcome::Failed);
            }
            77..=89 => {
                let fate = if self.rng.chance(700) {
                    Fate::Committed
                } else {
                    Fate::Aborted
                };
                self.end(txn, &parts, fate);
                self.txn_end(&process, &name, &tid, true, Outcome::Indeterminate);
            }
            _ => return State::Crashed { txn, parts },
        }
        State::Idle
    }

    fn input(&mut self) {
        self.inputs += 1;
        let value = format!("txn-input-{}", self.inputs);
        self.send("txn-input", IN_TP, value, None, None, Outcome::Ok, None);
    }

    fn pipeline(&mut self) {
        if self.rng.chance(150) {
            self.push(
                "txn-pipe",
                Outcome::Ok,
                None,
                OpKind::FetchCommitted {
                    group: GROUP.into(),
                    topic: INPUT.into(),
                    partition: 0,
                    offset: self.pipe_committed.unwrap_or(-1),
                },
            );
            return;
        }
        let len = self.logs[IN_TP].len() as i64;
        if self.pipe_position >= len {
            return;
        }
        self.pipe_txns += 1;
        let name = format!("txn-pipe/{}", self.pipe_txns);
        self.fates.push(Fate::Open);
        let txn = self.fates.len() - 1;
        let from = self.pipe_position;
        let to = (from + 1 + self.rng.below(3) as i64).min(len);
        let records: Vec<Rec> = (from..to)
            .map(|o| Rec {
                offset: o,
                value: match &self.logs[IN_TP][o as usize] {
                    Entry::Record { value, .. } => value.clone(),
                    Entry::Marker => unreachable!("the input is not transactional"),
                },
            })
            .collect();
        self.push(
            "txn-pipe",
            Outcome::Ok,
            None,
            OpKind::Poll {
                topic: INPUT.into(),
                partition: 0,
                fetch_offset: from,
                records: records.clone(),
                high_watermark: Some(len),
                drain: false,
                group: Some(GROUP.into()),
                read_back: false,
                isolation: Isolation::ReadCommitted,
                last_stable: Some(len),
                txn: Some(name.clone()),
            },
        );
        for r in &records {
            let source = Source {
                topic: INPUT.into(),
                partition: 0,
                offset: r.offset,
            };
            let value = format!("{name}-from-{}", r.offset);
            self.send(
                "txn-pipe",
                OUT_TP,
                value,
                Some((txn, &name, "txn-pipe", 99, 0)),
                Some(source),
                Outcome::Ok,
                None,
            );
        }
        self.push(
            "txn-pipe",
            Outcome::Ok,
            None,
            OpKind::Commit {
                group: GROUP.into(),
                topic: INPUT.into(),
                partition: 0,
                offset: to,
                generation: None,
                member: None,
                txn: Some(name.clone()),
            },
        );
        if self.rng.chance(850) {
            self.end(txn, &[OUT_TP], Fate::Committed);
            self.txn_end("txn-pipe", &name, "txn-pipe", true, Outcome::Ok);
            self.pipe_position = to;
            self.pipe_committed = Some(to);
        } else {
            self.end(txn, &[OUT_TP], Fate::Aborted);
            self.txn_end("txn-pipe", &name, "txn-pipe", false, Outcome::Ok);
            self.pipe_position = self.pipe_committed.unwrap_or(0);
            self.push(
                "txn-pipe",
                Outcome::Ok,
                None,
                OpKind::Seek {
                    topic: INPUT.into(),
                    partition: 0,
                    offset: self.pipe_position,
                    reset_from: None,
                },
            );
        }
    }

    /// The last stable offset of a partition: the first record of an open transaction.
    fn last_stable(&self, tp: usize) -> i64 {
        self.logs[tp]
            .iter()
            .position(
                |e| matches!(e, Entry::Record { txn: Some(t), .. } if self.fates[*t] == Fate::Open),
            )
            .unwrap_or(self.logs[tp].len()) as i64
    }

    /// From `from`, up to `max` records a consumer with that isolation is given, and the
    /// position after them.
    fn read(&self, tp: usize, from: i64, max: usize, committed: bool) -> (Vec<Rec>, i64) {
        let end = if committed {
            self.last_stable(tp)
        } else {
            self.logs[tp].len() as i64
        };
        let mut records = Vec::new();
        let mut at = from;
        while at < end && records.len() < max {
            if let Entry::Record { value, txn } = &self.logs[tp][at as usize] {
                let visible = txn.is_none_or(|t| self.fates[t] == Fate::Committed);
                if visible || !committed {
                    records.push(Rec {
                        offset: at,
                        value: value.clone(),
                    });
                }
            }
            at += 1;
        }
        (records, at.max(from))
    }

    fn consume(&mut self, committed: bool) {
        let tp = if committed {
            [0, 1, OUT_TP][self.rng.below(3) as usize]
        } else {
            self.rng.below(2) as usize
        };
        let from = if committed {
            self.rc_position[tp]
        } else {
            self.ru_position[tp]
        };
        let (records, next) = self.read(tp, from, 4, committed);
        let (process, isolation) = if committed {
            self.rc_position[tp] = next;
            ("txn-consumer-rc", Isolation::ReadCommitted)
        } else {
            self.ru_position[tp] = next;
            ("txn-consumer-ru", Isolation::ReadUncommitted)
        };
        let (topic, partition) = TPS[tp];
        let kind = OpKind::Poll {
            topic: topic.into(),
            partition,
            fetch_offset: from,
            records,
            high_watermark: Some(self.logs[tp].len() as i64),
            drain: false,
            group: None,
            read_back: false,
            isolation,
            last_stable: committed.then(|| self.last_stable(tp)),
            txn: None,
        };
        self.push(process, Outcome::Ok, None, kind);
    }

    /// Open transactions time out (the coordinator aborts them), then the drain reads
    /// every partition with read_committed.
    fn finish(&mut self) {
        for k in 0..self.producers.len() {
            match std::mem::replace(&mut self.producers[k].state, State::Idle) {
                State::InTxn { txn, parts, .. } | State::Crashed { txn, parts } => {
                    self.end(txn, &parts, Fate::Aborted)
                }
                State::Idle => {}
            }
        }
        for (tp, &(topic, partition)) in TPS.iter().enumerate() {
            let mut from = 0;
            loop {
                let (records, next) = self.read(tp, from, 64, true);
                let len = self.logs[tp].len() as i64;
                let kind = OpKind::Poll {
                    topic: topic.into(),
                    partition,
                    fetch_offset: from,
                    records,
                    high_watermark: Some(len),
                    drain: true,
                    group: None,
                    read_back: false,
                    isolation: Isolation::ReadCommitted,
                    last_stable: Some(len),
                    txn: None,
                };
                self.push("drain", Outcome::Ok, None, kind);
                from = next;
                if from >= len {
                    break;
                }
            }
        }
    }
}
