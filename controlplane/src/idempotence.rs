//! Idempotent producers: the last few batch sequences of every (producer, partition), kept
//! in the journaled state so that a batch retried after an ambiguous failure is recognised
//! and answered with the offset it first got, and a batch out of sequence is refused.
//!
//! The sequence rules are Kafka's (its broker's `ProducerAppendInfo.checkSequence`), made
//! strict where eddy knows more than a Kafka broker: eddy never expires producer state, so a
//! producer id it handed out that has no sequence yet on a partition has sent nothing there.
//! For a batch of producer id `p`, epoch `e`, first sequence `s`:
//!
//! | state of `p` on the partition | verdict |
//! |---|---|
//! | `p` was never handed out | unknown producer (UNKNOWN_PRODUCER_ID) |
//! | `e` older than `p`'s epoch | fenced (INVALID_PRODUCER_EPOCH) |
//! | `e` newer than `p`'s epoch, or nothing from `p` on the partition yet | new if `s` = 0, else out of order |
//! | one of the last [`SEQUENCES_KEPT`] batches has the same first and last sequence | duplicate: answered with its first offset |
//! | `s` follows the last batch's last sequence (wrapping at `i32::MAX`) | new |
//! | anything else (a gap, or an older batch no longer remembered) | out of order (OUT_OF_ORDER_SEQUENCE_NUMBER) |
//!
//! Together with the agents' order (a connection's batches are committed in the order sent),
//! this keeps an idempotent producer's batches of a partition in send order through retries:
//! a batch that reaches the control plane before the one it follows is refused as out of
//! order, and the producer resends it after the earlier one.
//!
//! Pure data and decisions: `State::commit_file` asks [`ProducerTable::verdict`] about each
//! idempotent chunk and calls [`ProducerTable::record`] for those it indexes. The one
//! exception is the server's InitProducerId at the end, which allocates an id through the
//! journal.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::command::{Command, CommandResult};
use crate::error::CpError;
use crate::server::ControlPlane;

use crate::types::ProducerBatch;

/// Batches remembered per (producer, partition): Kafka's limit on in-flight requests of an
/// idempotent producer (`max.in.flight.requests.per.connection` ≤ 5).
pub const SEQUENCES_KEPT: usize = 5;

/// One remembered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqEntry {
    pub first: i32,
    pub last: i32,
    pub base_offset: i64,
}

/// What the control plane knows of one producer id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerState {
    pub epoch: i16,
    /// topic → partition → the last batches, oldest first.
    pub partitions: BTreeMap<String, BTreeMap<i32, VecDeque<SeqEntry>>>,
}

/// The decision about one idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen before and in sequence: index it.
    New,
    /// Already committed at this base offset: answer with it, do not index again.
    Duplicate(i64),
    /// Its first sequence is not the one after the last committed batch.
    OutOfOrder,
    /// Its epoch is older than one already seen for the producer id.
    Fenced,
    /// The producer id was never handed out.
    UnknownProducer,
}

/// Every idempotent producer's sequence state, keyed by producer id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerTable {
    pub producers: BTreeMap<i64, ProducerState>,
    /// The next producer id InitProducerId hands out.
    pub next_id: i64,
}

impl ProducerTable {
    pub fn allocate(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Start epoch `epoch` of `producer_id` before it sends anything (a transactional
    /// producer's InitProducerId): earlier epochs are fenced from now on, and every
    /// partition's sequence restarts at 0.
    pub fn start_epoch(&mut self, producer_id: i64, epoch: i16) {
        let p = self.producers.entry(producer_id).or_default();
        p.epoch = epoch;
        p.partitions.clear();
    }

    pub fn verdict(&self, topic: &str, partition: i32, b: &ProducerBatch) -> Verdict {
        let first_of_epoch = if b.base_sequence == 0 {
            Verdict::New
        } else {
            Verdict::OutOfOrder
        };
        let Some(p) = self.producers.get(&b.producer_id) else {
            if !(0..self.next_id).contains(&b.producer_id) {
                return Verdict::UnknownProducer;
            }
            return first_of_epoch;
        };
        if b.producer_epoch < p.epoch {
            return Verdict::Fenced;
        }
        if b.producer_epoch > p.epoch {
            return first_of_epoch;
        }
        let Some(seqs) = p.partitions.get(topic).and_then(|t| t.get(&partition)) else {
            return first_of_epoch;
        };
        if let Some(e) = seqs
            .iter()
            .find(|e| e.first == b.base_sequence && e.last == b.last_sequence)
        {
            return Verdict::Duplicate(e.base_offset);
        }
        match seqs.back() {
            Some(last) if next_sequence(last.last) != b.base_sequence => Verdict::OutOfOrder,
            // An empty window: only the planted bug `producer-state-lost` leaves one.
            _ => Verdict::New,
        }
    }

    /// Remember a batch indexed at `base_offset` (after a [`Verdict::New`]).
    pub fn record(&mut self, topic: &str, partition: i32, b: &ProducerBatch, base_offset: i64) {
        let p = self.producers.entry(b.producer_id).or_default();
        if b.producer_epoch > p.epoch {
            p.epoch = b.producer_epoch;
            p.partitions.clear();
        }
        let seqs = p
            .partitions
            .entry(topic.to_string())
            .or_default()
            .entry(partition)
            .or_default();
        seqs.push_back(SeqEntry {
            first: b.base_sequence,
            last: b.last_sequence,
            base_offset,
        });
        while seqs.len() > SEQUENCES_KEPT {
            seqs.pop_front();
        }
    }
}

/// Kafka sequences wrap from `i32::MAX` to 0.
pub fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ControlPlane {
    /// InitProducerId: allocate a producer id (journaled). Epochs start at 0.
    pub async fn init_producer_id(&self) -> Result<i64, CpError> {
        match self.propose(Command::AllocateProducerId).await? {
            CommandResult::ProducerIdAllocated { producer_id } => Ok(producer_id),
            CommandResult::Rejected(e) => Err(e),
            other => Err(CpError::internal(format!("unexpected result {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(first: i32, last: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: 7,
            producer_epoch: 0,
            base_sequence: first,
            last_sequence: last,
            transactional: false,
        }
    }

    fn table() -> ProducerTable {
        ProducerTable {
            next_id: 8,
            ..ProducerTable::default()
        }
    }

    #[test]
    fn duplicates_get_their_first_offset_and_gaps_are_refused() {
        let mut t = table();
        assert_eq!(t.verdict("t", 0, &batch(0, 4)), Verdict::New);
        t.record("t", 0, &batch(0, 4), 100);
        assert_eq!(t.verdict("t", 0, &batch(0, 4)), Verdict::Duplicate(100));
        assert_eq!(t.verdict("t", 0, &batch(6, 9)), Verdict::OutOfOrder);
        assert_eq!(t.verdict("t", 0, &batch(5, 9)), Verdict::New);
        assert_eq!(
            t.verdict("t", 1, &batch(0, 3)),
            Verdict::New,
            "partitions are independent"
        );
    }

    #[test]
    fn only_the_last_five_batches_are_remembered_and_old_epochs_are_fenced() {
        let mut t = table();
        for i in 0..7 {
            t.record("t", 0, &batch(i, i), i as i64);
        }
        assert_eq!(t.verdict("t", 0, &batch(6, 6)), Verdict::Duplicate(6));
        assert_eq!(t.verdict("t", 0, &batch(2, 2)), Verdict::Duplicate(2));
        assert_eq!(t.verdict("t", 0, &batch(1, 1)), Verdict::OutOfOrder);
        let mut newer = batch(0, 0);
        newer.producer_epoch = 1;
        t.record("t", 0, &newer, 50);
        assert_eq!(t.verdict("t", 0, &batch(7, 7)), Verdict::Fenced);
    }

    #[test]
    fn a_producer_starts_every_partition_and_epoch_at_sequence_zero() {
        let mut t = table();
        // librdkafka's first batch is sequence 0; one that arrives ahead of it is refused,
        // so the producer resends it after the first (it must not be indexed first).
        assert_eq!(t.verdict("t", 0, &batch(1, 1)), Verdict::OutOfOrder);
        assert_eq!(t.verdict("t", 0, &batch(0, 0)), Verdict::New);
        t.record("t", 0, &batch(0, 0), 10);
        assert_eq!(t.verdict("t", 0, &batch(1, 1)), Verdict::New);
        // A partition the producer has not written yet starts at 0 as well.
        assert_eq!(t.verdict("t", 5, &batch(4, 4)), Verdict::OutOfOrder);
        assert_eq!(t.verdict("u", 0, &batch(0, 2)), Verdict::New);
        // A new epoch restarts the sequences at 0.
        let mut bumped = batch(1, 1);
        bumped.producer_epoch = 1;
        assert_eq!(t.verdict("t", 0, &bumped), Verdict::OutOfOrder);
        bumped.base_sequence = 0;
        bumped.last_sequence = 0;
        assert_eq!(t.verdict("t", 0, &bumped), Verdict::New);
    }

    #[test]
    fn producer_ids_never_handed_out_are_unknown() {
        let t = table();
        let mut b = batch(0, 0);
        b.producer_id = 8;
        assert_eq!(t.verdict("t", 0, &b), Verdict::UnknownProducer);
        b.producer_id = -3;
        assert_eq!(t.verdict("t", 0, &b), Verdict::UnknownProducer);
        b.producer_id = 0;
        assert_eq!(t.verdict("t", 0, &b), Verdict::New);
    }

    #[test]
    fn sequences_wrap_at_the_top() {
        let mut t = table();
        t.record("t", 0, &batch(0, 0), 0);
        t.record("t", 0, &batch(1, i32::MAX), 1);
        assert_eq!(t.verdict("t", 0, &batch(0, 3)), Verdict::New);
        assert_eq!(t.verdict("t", 0, &batch(1, 3)), Verdict::OutOfOrder);
    }
}
