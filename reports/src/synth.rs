//! Deterministic synthetic histories, generated from a correct model of a Kafka-like log:
//! producers (plain and idempotent) with ok, failed and indeterminate sends, standalone
//! consumers that poll, seek and list offsets, a consumer group with rebalances and
//! commits, and a final drain. Every history it makes must pass [`crate::check`] with zero
//! violations; the checkers' property tests and the `eddy` benchmark of the checkers use it.
//!
//! Model: time is cut into slots; each slot applies at most one operation atomically at the
//! slot's instant, and that operation's invocation and completion are jittered around the
//! instant, so operations of different clients overlap while each client stays sequential —
//! except pipelining producers, whose sends overlap each other (invoked in the order they
//! are applied, ties in invocation time included). Sends record attempts, the producer's
//! max_in_flight and a broker. Randomness comes only from a seeded [`SplitMix64`].

use serde::{Deserialize, Serialize};

use crate::history::{Isolation, Op, OpKind, Outcome, Rec, TopicPartition};

mod txn;
pub use txn::append_transactions;

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator, enough for test data.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            // Multiply-shift: bias is below 2^-64 · n, irrelevant here.
            ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
        }
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }
}

/// The shape of a synthetic workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Number of topics ("topic-0", …).
    pub topics: u32,
    /// Partitions per topic.
    pub partitions: i32,
    /// Producers ("producer-0", …).
    pub producers: u32,
    /// Of which the first `idempotent_producers` are idempotent.
    pub idempotent_producers: u32,
    /// And the last `pipelined_producers` pipeline: a send may be invoked before the
    /// producer's previous one completed.
    pub pipelined_producers: u32,
    /// Standalone consumers ("consumer-0", …), each reading every partition.
    pub consumers: u32,
    /// Members of the consumer group "group-0" ("member-0", …).
    pub group_members: u32,
    /// Sends that fail, per mille.
    pub failed_per_mille: u32,
    /// Sends that end indeterminate, per mille.
    pub indeterminate_per_mille: u32,
    /// Consumer actions that are seeks, per mille.
    pub seek_per_mille: u32,
    /// Group-member actions that trigger a rebalance, per mille.
    pub rebalance_per_mille: u32,
    /// Most records one poll returns.
    pub max_poll_records: u32,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            topics: 1,
            partitions: 4,
            producers: 4,
            idempotent_producers: 2,
            pipelined_producers: 3,
            consumers: 2,
            group_members: 3,
            failed_per_mille: 20,
            indeterminate_per_mille: 30,
            seek_per_mille: 10,
            rebalance_per_mille: 10,
            max_poll_records: 8,
        }
    }
}

impl SynthConfig {
    /// A random shape for swarm testing: small clusters, high fault rates.
    pub fn swarm(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed ^ 0x5EED_5EED);
        let producers = 1 + rng.below(3) as u32;
        SynthConfig {
            topics: 1 + rng.below(2) as u32,
            partitions: 1 + rng.below(3) as i32,
            producers,
            idempotent_producers: rng.below(u64::from(producers) + 1) as u32,
            pipelined_producers: rng.below(u64::from(producers) + 1) as u32,
            consumers: rng.below(3) as u32,
            group_members: rng.below(4) as u32,
            failed_per_mille: rng.below(150) as u32,
            indeterminate_per_mille: rng.below(200) as u32,
            seek_per_mille: rng.below(100) as u32,
            rebalance_per_mille: rng.below(80) as u32,
            max_poll_records: 1 + rng.below(6) as u32,
        }
    }
}

/// A history of about `n_ops` operations (exactly, unless `n_ops` is too small for the
/// initial assignments and the drain) from the default workload shape.
pub fn synth_history(n_ops: usize, seed: u64) -> Vec<Op> {
    synth_history_with(n_ops, seed, &SynthConfig::default())
}

/// Like [`synth_history`] with a chosen workload shape.
pub fn synth_history_with(n_ops: usize, seed: u64, config: &SynthConfig) -> Vec<Op> {
    Model::new(seed, config).run(n_ops)
}

/// Microseconds between two slots' instants.
const SLOT_US: u64 = 100;
/// Largest jitter of invocation before, and completion after, the instant.
const JITTER_US: u64 = 250;
/// Records per drain poll.
const DRAIN_BATCH: usize = 64;
const GROUP: &str = "group-0";

enum Role {
    Producer {
        idempotent: bool,
        seq: u64,
        pipelined: bool,
    },
    Consumer {
        positions: Vec<i64>,
    },
    Member {
        assigned: Vec<usize>,
        positions: Vec<i64>,
    },
}

struct Actor {
    name: String,
    role: Role,
    busy_until: u64,
}

struct Model {
    rng: SplitMix64,
    config: SynthConfig,
    tps: Vec<(String, i32)>,
    logs: Vec<Vec<String>>,
    committed: Vec<Option<i64>>,
    generation: i32,
    actors: Vec<Actor>,
    /// Extra copies of non-idempotent indeterminate sends, applied in a later slot.
    pending_copies: Vec<(usize, String)>,
    ops: Vec<Op>,
    drain_needed: usize,
}

fn drain_polls(len: usize) -> usize {
    len.div_ceil(DRAIN_BATCH).max(1)
}

impl Model {
    fn new(seed: u64, config: &SynthConfig) -> Model {
        let mut tps = Vec::new();
        for t in 0..config.topics.max(1) {
            for p in 0..config.partitions.max(1) {
                tps.push((format!("topic-{t}"), p));
            }
        }
        let n = tps.len();
        let mut actors = Vec::new();
        for i in 0..config.producers {
            actors.push(Actor {
                name: format!("producer-{i}"),
                role: Role::Producer {
                    idempotent: i < config.idempotent_producers,
                    seq: 0,
                    pipelined: i + config.pipelined_producers >= config.producers,
                },
                busy_until: 0,
            });
        }
        for i in 0..config.consumers {
            actors.push(Actor {
                name: format!("consumer-{i}"),
                role: Role::Consumer {
                    positions: vec![0; n],
                },
                busy_until: 0,
            });
        }
        for i in 0..config.group_members {
            actors.push(Actor {
                name: format!("member-{i}"),
                role: Role::Member {
                    assigned: Vec::new(),
                    positions: vec![0; n],
                },
                busy_until: 0,
            });
        }
        Model {
            rng: SplitMix64::new(seed),
            config: config.clone(),
            tps,
            logs: vec![Vec::new(); n],
            committed: vec![None; n],
            generation: 0,
            actors,
            pending_copies: Vec::new(),
            ops: Vec::new(),
            drain_needed: n,
        }
    }

    fn run(mut self, n_ops: usize) -> Vec<Op> {
        let members = self.config.group_members as usize;
        if members > 0 {
            self.rebalance(SLOT_US);
        }
        let mut slot = 1u64;
        while !self.actors.is_empty() && self.ops.len() + self.drain_needed + 1 + members <= n_ops {
            slot += 1;
            self.step(slot * SLOT_US);
        }
        let end = (slot + 1) * SLOT_US + 2 * JITTER_US;
        self.drain(end, n_ops);
        self.ops
    }

    fn push(
        &mut self,
        process: &str,
        invoke_us: u64,
        complete_us: Option<u64>,
        outcome: Outcome,
        kind: OpKind,
    ) {
        let id = self.ops.len() as u64;
        self.ops.push(Op {
            id,
            process: process.to_string(),
            invoke_us,
            complete_us,
            outcome,
            error: None,
            kind,
        });
    }

    fn append(&mut self, tp: usize, value: String) -> i64 {
        let log = &mut self.logs[tp];
        let before = drain_polls(log.len());
        log.push(value);
        self.drain_needed = self.drain_needed + drain_polls(log.len()) - before;
        (log.len() - 1) as i64
    }

    fn step(&mut self, t: u64) {
        if !self.pending_copies.is_empty() && self.rng.chance(100) {
            let i = self.rng.below(self.pending_copies.len() as u64) as usize;
            let (tp, value) = self.pending_copies.swap_remove(i);
            self.append(tp, value);
            return;
        }
        let a = self.rng.below(self.actors.len() as u64) as usize;
        let invoke = t
            .saturating_sub(self.rng.below(JITTER_US))
            .max(self.actors[a].busy_until + 2);
        if invoke > t {
            return;
        }
        let complete = t + 1 + self.rng.below(JITTER_US);
        self.actors[a].busy_until = match self.actors[a].role {
            // The next send may be invoked at the same instant as this one, not earlier.
            Role::Producer {
                pipelined: true, ..
            } => invoke.saturating_sub(2),
            _ => complete,
        };
        match self.actors[a].role {
            Role::Producer { .. } => self.send(a, invoke, complete),
            Role::Consumer { .. } => self.consume(a, invoke, complete),
            Role::Member { .. } => self.member(a, t, invoke, complete),
        }
    }

    fn send(&mut self, a: usize, invoke: u64, complete: u64) {
        let Role::Producer {
            idempotent,
            seq,
            pipelined,
        } = &mut self.actors[a].role
        else {
            return;
        };
        let idempotent = *idempotent;
        let max_in_flight = match (*pipelined, idempotent) {
            (false, _) => Some(1),
            (true, true) => Some(5),
            (true, false) => None,
        };
        *seq += 1;
        let seq = *seq;
        let name = self.actors[a].name.clone();
        let value = format!("{name}-{seq}");
        let tp = self.rng.below(self.tps.len() as u64) as usize;
        let (topic, partition) = self.tps[tp].clone();
        let roll = self.rng.below(1000) as u32;
        let (outcome, offset, complete_us) = if roll < self.config.failed_per_mille {
            (Outcome::Failed, None, Some(complete))
        } else if roll < self.config.failed_per_mille + self.config.indeterminate_per_mille {
            if self.rng.chance(500) {
                self.append(tp, value.clone());
                if !idempotent && self.rng.chance(250) {
                    self.pending_copies.push((tp, value.clone()));
                }
            }
            let complete_us = if self.rng.chance(300) {
                None
            } else {
                Some(complete)
            };
            (Outcome::Indeterminate, None, complete_us)
        } else {
            let offset = self.append(tp, value.clone());
            (
                Outcome::Ok,
                if self.rng.chance(950) {
                    Some(offset)
                } else {
                    None
                },
                Some(complete),
            )
        };
        let attempts = match outcome {
            Outcome::Failed => self.rng.below(2) as u32,
            _ if self.rng.chance(100) => 2 + self.rng.below(2) as u32,
            _ => 1,
        };
        let broker = (!self.rng.chance(100)).then(|| format!("broker-{}", self.rng.below(3)));
        self.push(
            &name,
            invoke,
            complete_us,
            outcome,
            OpKind::Send {
                topic,
                partition,
                value,
                offset,
                idempotent,
                attempts,
                max_in_flight,
                broker,
                txn: None,
                transactional_id: None,
                producer_id: None,
                epoch: None,
                source: None,
            },
        );
    }

    fn consume(&mut self, a: usize, invoke: u64, complete: u64) {
        let tp = self.rng.below(self.tps.len() as u64) as usize;
        let (topic, partition) = self.tps[tp].clone();
        let name = self.actors[a].name.clone();
        let len = self.logs[tp].len() as i64;
        let roll = self.rng.below(1000) as u32;
        if roll < self.config.seek_per_mille {
            let offset = self.rng.below(len as u64 + 1) as i64;
            if let Role::Consumer { positions } = &mut self.actors[a].role {
                positions[tp] = offset;
            }
            self.push(
                &name,
                invoke,
                Some(complete),
                Outcome::Ok,
                OpKind::Seek {
                    topic,
                    partition,
                    offset,
                    reset_from: None,
                },
            );
        } else if roll < self.config.seek_per_mille + 50 {
            self.push(
                &name,
                invoke,
                Some(complete),
                Outcome::Ok,
                OpKind::ListOffsets {
                    topic,
                    partition,
                    high_watermark: len,
                },
            );
        } else {
            let Role::Consumer { positions } = &self.actors[a].role else {
                return;
            };
            let fetch = positions[tp];
            let next = self.poll(&name, tp, fetch, invoke, complete, None);
            if let Role::Consumer { positions } = &mut self.actors[a].role {
                positions[tp] = next;
            }
        }
    }

    /// One poll from `fetch`; returns the position after it.
    fn poll(
        &mut self,
        name: &str,
        tp: usize,
        fetch: i64,
        invoke: u64,
        complete: u64,
        group: Option<String>,
    ) -> i64 {
        let (topic, partition) = self.tps[tp].clone();
        if self.rng.chance(30) {
            let kind = OpKind::Poll {
                topic,
                partition,
                fetch_offset: fetch,
                records: Vec::new(),
                high_watermark: None,
                drain: false,
                group,
                read_back: false,
                isolation: Isolation::ReadUncommitted,
                last_stable: None,
                txn: None,
            };
            self.push(name, invoke, Some(complete), Outcome::Failed, kind);
            return fetch;
        }
        let log = &self.logs[tp];
        let len = log.len();
        let start = (fetch.max(0) as usize).min(len);
        let take = 1 + self
            .rng
            .below(u64::from(self.config.max_poll_records.max(1))) as usize;
        let end = (start + take).min(len);
        let head = if start > 0 && start < end && self.rng.chance(100) {
            start - 1
        } else {
            start
        };
        let records: Vec<Rec> = (head..end)
            .map(|o| Rec {
                offset: o as i64,
                value: log[o].clone(),
            })
            .collect();
        let high_watermark = if self.rng.chance(900) {
            Some(len as i64)
        } else {
            None
        };
        let kind = OpKind::Poll {
            topic,
            partition,
            fetch_offset: fetch,
            records,
            high_watermark,
            drain: false,
            group,
            read_back: false,
            isolation: Isolation::ReadUncommitted,
            last_stable: None,
            txn: None,
        };
        self.push(name, invoke, Some(complete), Outcome::Ok, kind);
        if end > start {
            end as i64
        } else {
            fetch
        }
    }

    fn member(&mut self, a: usize, t: u64, invoke: u64, complete: u64) {
        if self.rng.chance(self.config.rebalance_per_mille) {
            self.actors[a].busy_until = 0;
            self.rebalance(t);
            return;
        }
        let name = self.actors[a].name.clone();
        let Role::Member {
            assigned,
            positions,
        } = &self.actors[a].role
        else {
            return;
        };
        if assigned.is_empty() {
            let tp = self.rng.below(self.tps.len() as u64) as usize;
            let (topic, partition) = self.tps[tp].clone();
            let offset = self.committed[tp].unwrap_or(-1);
            let kind = OpKind::FetchCommitted {
                group: GROUP.to_string(),
                topic,
                partition,
                offset,
            };
            self.push(&name, invoke, Some(complete), Outcome::Ok, kind);
            return;
        }
        let tp = assigned[self.rng.below(assigned.len() as u64) as usize];
        let position = positions[tp];
        let (topic, partition) = self.tps[tp].clone();
        let roll = self.rng.below(1000);
        if roll < 250 {
            let outcome = match self.rng.below(20) {
                0 => Outcome::Failed,
                1 => Outcome::Indeterminate,
                _ => Outcome::Ok,
            };
            let applied = outcome == Outcome::Ok
                || (outcome == Outcome::Indeterminate && self.rng.chance(500));
            if applied {
                self.committed[tp] = Some(position);
            }
            let kind = OpKind::Commit {
                group: GROUP.to_string(),
                topic,
                partition,
                offset: position,
                generation: None,
                member: None,
                txn: None,
            };
            self.push(&name, invoke, Some(complete), outcome, kind);
        } else if roll < 330 {
            let offset = self.committed[tp].unwrap_or(-1);
            let kind = OpKind::FetchCommitted {
                group: GROUP.to_string(),
                topic,
                partition,
                offset,
            };
            self.push(&name, invoke, Some(complete), Outcome::Ok, kind);
        } else {
            let next = self.poll(
                &name,
                tp,
                position,
                invoke,
                complete,
                Some(GROUP.to_string()),
            );
            if let Role::Member { positions, .. } = &mut self.actors[a].role {
                positions[tp] = next;
            }
        }
    }

    /// A new generation: partitions dealt round robin, positions restart from the
    /// committed offsets. Each member records an Assign after its last operation.
    fn rebalance(&mut self, t: u64) {
        self.generation += 1;
        let members: Vec<usize> = (0..self.actors.len())
            .filter(|&a| matches!(self.actors[a].role, Role::Member { .. }))
            .collect();
        let n = self.tps.len();
        let shift = self.rng.below(members.len() as u64) as usize;
        for (k, &a) in members.iter().enumerate() {
            let assigned: Vec<usize> = (0..n)
                .filter(|tp| (tp + shift) % members.len() == k)
                .collect();
            let at = t.max(self.actors[a].busy_until + 2);
            let partitions = assigned
                .iter()
                .map(|&tp| TopicPartition {
                    topic: self.tps[tp].0.clone(),
                    partition: self.tps[tp].1,
                })
                .collect();
            let name = self.actors[a].name.clone();
            let committed = &self.committed;
            if let Role::Member {
                assigned: slot,
                positions,
            } = &mut self.actors[a].role
            {
                for &tp in &assigned {
                    positions[tp] = committed[tp].unwrap_or(0);
                }
                *slot = assigned;
            }
            self.actors[a].busy_until = at;
            let kind = OpKind::Assign {
                group: Some(GROUP.to_string()),
                generation: self.generation,
                partitions,
                member: None,
                joined_us: None,
            };
            self.push(&name, at, Some(at), Outcome::Ok, kind);
        }
    }

    /// Reads every partition back from offset 0, then pads with ListOffsets up to `n_ops`.
    fn drain(&mut self, mut t: u64, n_ops: usize) {
        for (tp, copy) in std::mem::take(&mut self.pending_copies) {
            self.append(tp, copy);
        }
        for tp in 0..self.tps.len() {
            let (topic, partition) = self.tps[tp].clone();
            let len = self.logs[tp].len();
            let mut fetch = 0;
            loop {
                let end = (fetch + DRAIN_BATCH).min(len);
                let records = (fetch..end)
                    .map(|o| Rec {
                        offset: o as i64,
                        value: self.logs[tp][o].clone(),
                    })
                    .collect();
                let kind = OpKind::Poll {
                    topic: topic.clone(),
                    partition,
                    fetch_offset: fetch as i64,
                    records,
                    high_watermark: Some(len as i64),
                    drain: true,
                    group: None,
                    read_back: false,
                    isolation: Isolation::ReadUncommitted,
                    last_stable: None,
                    txn: None,
                };
                self.push("drain", t, Some(t + 50), Outcome::Ok, kind);
                t += SLOT_US;
                fetch = end;
                if fetch >= len {
                    break;
                }
            }
        }
        let mut tp = 0;
        while self.ops.len() < n_ops {
            let (topic, partition) = self.tps[tp].clone();
            let high_watermark = self.logs[tp].len() as i64;
            self.push(
                "drain",
                t,
                Some(t + 50),
                Outcome::Ok,
                OpKind::ListOffsets {
                    topic,
                    partition,
                    high_watermark,
                },
            );
            t += SLOT_US;
            tp = (tp + 1) % self.tps.len();
        }
    }
}
