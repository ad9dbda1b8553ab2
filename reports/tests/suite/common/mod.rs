//! Test helpers: a builder for small hand-written histories on topic "t".

#![allow(dead_code)]

pub mod inject;

use std::collections::BTreeSet;

use eddy_reports::{Class, Op, OpKind, Outcome, Rec, TopicPartition, Verdict};

pub const TOPIC: &str = "t";

#[derive(Default)]
pub struct H {
    pub ops: Vec<Op>,
}

impl H {
    pub fn new() -> Self {
        H::default()
    }

    pub fn push(
        &mut self,
        process: &str,
        invoke: u64,
        complete: Option<u64>,
        outcome: Outcome,
        kind: OpKind,
    ) -> u64 {
        let id = self.ops.len() as u64 + 1;
        self.ops.push(Op {
            id,
            process: process.into(),
            invoke_us: invoke,
            complete_us: complete,
            outcome,
            error: None,
            kind,
        });
        id
    }

    /// An ok, non-idempotent send to t/0.
    pub fn send(&mut self, process: &str, value: &str, offset: i64, at: (u64, u64)) -> u64 {
        self.send_full(
            process,
            0,
            value,
            Some(offset),
            at.0,
            Some(at.1),
            Outcome::Ok,
            false,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn send_full(
        &mut self,
        process: &str,
        partition: i32,
        value: &str,
        offset: Option<i64>,
        invoke: u64,
        complete: Option<u64>,
        outcome: Outcome,
        idempotent: bool,
    ) -> u64 {
        let kind = OpKind::Send {
            topic: TOPIC.into(),
            partition,
            value: value.into(),
            offset,
            idempotent,
            attempts: 1,
            max_in_flight: None,
            broker: None,
            txn: None,
            transactional_id: None,
            producer_id: None,
            epoch: None,
            source: None,
        };
        self.push(process, invoke, complete, outcome, kind)
    }

    /// An ok send to t/0 with the producer facts send order depends on.
    pub fn send_as(
        &mut self,
        process: &str,
        value: &str,
        offset: i64,
        at: (u64, u64),
        producer: Producer,
    ) -> u64 {
        let kind = OpKind::Send {
            topic: TOPIC.into(),
            partition: 0,
            value: value.into(),
            offset: Some(offset),
            idempotent: producer.idempotent,
            attempts: producer.attempts,
            max_in_flight: producer.max_in_flight,
            broker: producer.broker.map(str::to_string),
            txn: None,
            transactional_id: None,
            producer_id: None,
            epoch: None,
            source: None,
        };
        self.push(process, at.0, Some(at.1), Outcome::Ok, kind)
    }

    fn poll_kind(
        partition: i32,
        fetch: i64,
        records: &[(i64, &str)],
        hw: Option<i64>,
        drain: bool,
        group: Option<&str>,
    ) -> OpKind {
        OpKind::Poll {
            topic: TOPIC.into(),
            partition,
            fetch_offset: fetch,
            records: records
                .iter()
                .map(|&(offset, value)| Rec {
                    offset,
                    value: value.into(),
                })
                .collect(),
            high_watermark: hw,
            drain,
            group: group.map(str::to_string),
            read_back: false,
            isolation: Default::default(),
            last_stable: None,
            txn: None,
        }
    }

    /// An ok poll of t/0.
    pub fn poll(
        &mut self,
        process: &str,
        fetch: i64,
        records: &[(i64, &str)],
        hw: Option<i64>,
        at: (u64, u64),
    ) -> u64 {
        self.push(
            process,
            at.0,
            Some(at.1),
            Outcome::Ok,
            Self::poll_kind(0, fetch, records, hw, false, None),
        )
    }

    pub fn poll_group(
        &mut self,
        process: &str,
        group: &str,
        fetch: i64,
        records: &[(i64, &str)],
        at: (u64, u64),
    ) -> u64 {
        self.push(
            process,
            at.0,
            Some(at.1),
            Outcome::Ok,
            Self::poll_kind(0, fetch, records, None, false, Some(group)),
        )
    }

    /// An ok drain poll of a partition.
    pub fn drain_p(
        &mut self,
        partition: i32,
        fetch: i64,
        records: &[(i64, &str)],
        hw: Option<i64>,
        at: (u64, u64),
    ) -> u64 {
        self.push(
            "drain",
            at.0,
            Some(at.1),
            Outcome::Ok,
            Self::poll_kind(partition, fetch, records, hw, true, None),
        )
    }

    /// An ok drain poll of t/0.
    pub fn drain(
        &mut self,
        fetch: i64,
        records: &[(i64, &str)],
        hw: Option<i64>,
        at: (u64, u64),
    ) -> u64 {
        self.drain_p(0, fetch, records, hw, at)
    }

    pub fn list_offsets(&mut self, process: &str, hw: i64, at: (u64, u64)) -> u64 {
        let kind = OpKind::ListOffsets {
            topic: TOPIC.into(),
            partition: 0,
            high_watermark: hw,
        };
        self.push(process, at.0, Some(at.1), Outcome::Ok, kind)
    }

    pub fn seek(&mut self, process: &str, offset: i64, at: (u64, u64)) -> u64 {
        self.push(
            process,
            at.0,
            Some(at.1),
            Outcome::Ok,
            OpKind::Seek {
                topic: TOPIC.into(),
                partition: 0,
                offset,
                reset_from: None,
            },
        )
    }

    pub fn assign(&mut self, process: &str, group: Option<&str>, generation: i32, at: u64) -> u64 {
        let kind = OpKind::Assign {
            group: group.map(str::to_string),
            generation,
            partitions: vec![TopicPartition {
                topic: TOPIC.into(),
                partition: 0,
            }],
            member: None,
            joined_us: None,
        };
        self.push(process, at, Some(at), Outcome::Ok, kind)
    }

    pub fn commit(&mut self, process: &str, group: &str, offset: i64, at: (u64, u64)) -> u64 {
        let kind = OpKind::Commit {
            group: group.into(),
            topic: TOPIC.into(),
            partition: 0,
            offset,
            generation: None,
            member: None,
            txn: None,
        };
        self.push(process, at.0, Some(at.1), Outcome::Ok, kind)
    }

    /// An Assign naming its member and when its JoinGroup was sent.
    pub fn assign_member(
        &mut self,
        process: &str,
        group: &str,
        generation: i32,
        member: &str,
        joined_us: u64,
        at: u64,
    ) -> u64 {
        let kind = OpKind::Assign {
            group: Some(group.to_string()),
            generation,
            partitions: vec![TopicPartition {
                topic: TOPIC.into(),
                partition: 0,
            }],
            member: Some(member.to_string()),
            joined_us: Some(joined_us),
        };
        self.push(process, at, Some(at), Outcome::Ok, kind)
    }

    /// A commit carrying its generation and member id, with its outcome.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_member(
        &mut self,
        process: &str,
        group: &str,
        offset: i64,
        generation: i32,
        member: &str,
        at: (u64, u64),
        outcome: Outcome,
    ) -> u64 {
        let kind = OpKind::Commit {
            group: group.into(),
            topic: TOPIC.into(),
            partition: 0,
            offset,
            generation: Some(generation),
            member: Some(member.to_string()),
            txn: None,
        };
        self.push(process, at.0, Some(at.1), outcome, kind)
    }

    pub fn fetch_committed(
        &mut self,
        process: &str,
        group: &str,
        offset: i64,
        at: (u64, u64),
    ) -> u64 {
        let kind = OpKind::FetchCommitted {
            group: group.into(),
            topic: TOPIC.into(),
            partition: 0,
            offset,
        };
        self.push(process, at.0, Some(at.1), Outcome::Ok, kind)
    }
}

/// How a send was produced: [`H::send_as`].
#[derive(Clone, Copy, Debug)]
pub struct Producer {
    pub idempotent: bool,
    pub attempts: u32,
    pub max_in_flight: Option<u32>,
    pub broker: Option<&'static str>,
}

impl Producer {
    /// A plain producer, max_in_flight unknown, first attempt, broker unknown.
    pub const PLAIN: Producer = Producer {
        idempotent: false,
        attempts: 1,
        max_in_flight: None,
        broker: None,
    };

    pub fn idempotent(self) -> Self {
        Producer {
            idempotent: true,
            ..self
        }
    }

    pub fn attempts(self, attempts: u32) -> Self {
        Producer { attempts, ..self }
    }

    pub fn max_in_flight(self, n: u32) -> Self {
        Producer {
            max_in_flight: Some(n),
            ..self
        }
    }

    pub fn broker(self, broker: &'static str) -> Self {
        Producer {
            broker: Some(broker),
            ..self
        }
    }
}

/// The classes a verdict found.
pub fn classes(v: &Verdict) -> BTreeSet<Class> {
    v.classes().into_iter().collect()
}

/// Asserts the verdict found exactly these classes, printing the violations otherwise.
pub fn assert_classes(v: &Verdict, expected: &[Class]) {
    let expected: BTreeSet<Class> = expected.iter().copied().collect();
    assert_eq!(classes(v), expected, "violations: {:#?}", v.violations);
}
