//! Send order within one producer and partition, pipelined sends included: a producer's
//! records to one partition are appended in the order it sent them (Kafka's promise with
//! several requests in flight, as long as nothing was retried; through retries too for an
//! idempotent producer). See [`Class::SendOrder`] for the rule and its exemptions.
//!
//! [`Class::NonmonotonicSend`] judges the pairs where the earlier send was acknowledged
//! before the later one was invoked; this module judges every other pair, where the earlier
//! send was still in flight. So no pair is judged twice, and together the two classes judge
//! every pair of a producer's sends to a partition.
//!
//! One sweep per (process, partition) in send order (invocation time, ties by op id) over
//! the ok sends with a known offset. Earlier sends wait in max-heaps of their offsets, one
//! per exemption category (idempotent; else by max_in_flight and retry, and by broker). A
//! later send B asks only the heaps whose sends are not exempt with it; a heap's top is
//! discarded once it was acknowledged before B's invocation, which is final because later
//! sends are invoked no earlier than B. O(n log n).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::index::{Index, NO_BROKER};
use super::{describe, Class, Sink, Violation};

/// Retry exemption category of a non-idempotent send.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Retry {
    /// max_in_flight is 1: order holds through retries, never exempt by retry.
    Serial = 0,
    /// max_in_flight is not 1 and the send was not retried.
    Once = 1,
    /// max_in_flight is not 1 and the send was retried (attempts > 1).
    Retried = 2,
}

/// A send as the sweep sees it.
#[derive(Clone, Copy)]
struct Item {
    process: u32,
    tp: u32,
    invoke: u64,
    id: u64,
    complete: u64,
    offset: i64,
    value: u32,
    idempotent: bool,
    retry: Retry,
    broker: u32,
}

/// Heap entry: highest offset on top; among equal offsets the earliest send.
type Entry = (i64, Reverse<u32>);

/// Earlier sends of one (process, partition) that may still be in flight.
#[derive(Default)]
struct Earlier {
    /// Idempotent sends: never exempt.
    idempotent: BinaryHeap<Entry>,
    /// Non-idempotent sends by retry category, any broker.
    any_broker: [BinaryHeap<Entry>; 3],
    /// Non-idempotent sends by retry category and broker ([`NO_BROKER`]: unknown).
    by_broker: BTreeMap<(Retry, u32), BinaryHeap<Entry>>,
}

pub(super) fn check(ix: &Index, sink: &mut Sink) {
    let mut items: Vec<Item> = (0..ix.sends.len() as u32)
        .filter_map(|v| {
            let s = &ix.sends[v as usize];
            let offset = ix.offset_as_earlier(v)?;
            let retry = if s.max_in_flight == Some(1) {
                Retry::Serial
            } else if s.attempts > 1 {
                Retry::Retried
            } else {
                Retry::Once
            };
            Some(Item {
                process: s.process,
                tp: s.tp,
                invoke: s.invoke,
                id: ix.op(s.op).id,
                complete: s.complete?,
                offset,
                value: v,
                idempotent: s.idempotent,
                retry,
                broker: s.broker,
            })
        })
        .collect();
    // By (process, tp), then send order: invocation, ties by op id (and by value, which
    // only a history with repeated op ids needs).
    let n_tps = ix.tps.len();
    let buckets = ix.processes.len().saturating_mul(n_tps);
    if buckets <= items.len().saturating_mul(4).saturating_add(1024) {
        super::index::sort_by_bucket(
            &mut items,
            buckets,
            |i| i.process as usize * n_tps + i.tp as usize,
            |i| (i.invoke, i.id, i.value),
        );
    } else {
        items.sort_unstable_by_key(|i| (i.process, i.tp, i.invoke, i.id, i.value));
    }
    let mut start = 0;
    while start < items.len() {
        let group = (items[start].process, items[start].tp);
        let mut end = start;
        while end < items.len() && (items[end].process, items[end].tp) == group {
            end += 1;
        }
        sweep(ix, &items[start..end], sink);
        start = end;
    }
}

/// One producer's sends to one partition, in send order.
fn sweep(ix: &Index, items: &[Item], sink: &mut Sink) {
    let mut earlier = Earlier::default();
    for (k, b) in items.iter().enumerate() {
        let mut best: Option<Entry> = None;
        let mut consider = |heap: &mut BinaryHeap<Entry>| {
            while let Some(&(_, Reverse(i))) = heap.peek() {
                if items[i as usize].complete < b.invoke {
                    heap.pop();
                } else {
                    break;
                }
            }
            if let Some(&top) = heap.peek() {
                if best.is_none_or(|x| top > x) {
                    best = Some(top);
                }
            }
        };
        consider(&mut earlier.idempotent);
        // Retry categories of earlier non-idempotent sends that are not exempt with b by
        // retry: all if b is idempotent or its max_in_flight is 1; else the serial ones,
        // and the unretried ones too unless b was retried.
        let retries: &[Retry] = match (b.idempotent, b.retry) {
            (true, _) | (false, Retry::Serial) => &[Retry::Serial, Retry::Once, Retry::Retried],
            (false, Retry::Once) => &[Retry::Serial, Retry::Once],
            (false, Retry::Retried) => &[Retry::Serial],
        };
        for &r in retries {
            if b.idempotent || b.broker == NO_BROKER {
                consider(&mut earlier.any_broker[r as usize]);
            } else {
                // Not exempt by broker: the same broker, or either broker unknown.
                for broker in [NO_BROKER, b.broker] {
                    if let Some(heap) = earlier.by_broker.get_mut(&(r, broker)) {
                        consider(heap);
                    }
                }
            }
        }
        if let Some((offset, Reverse(a))) = best {
            if offset > b.offset {
                let a = &items[a as usize];
                sink.push(Class::SendOrder, || violation(ix, a, b));
            }
        }
        let entry = (b.offset, Reverse(k as u32));
        if b.idempotent {
            earlier.idempotent.push(entry);
        } else {
            earlier.any_broker[b.retry as usize].push(entry);
            earlier
                .by_broker
                .entry((b.retry, b.broker))
                .or_default()
                .push(entry);
        }
    }
}

fn violation(ix: &Index, a: &Item, b: &Item) -> Violation {
    let (topic, partition) = ix.tps[a.tp as usize];
    let a_op = ix.op(ix.sends[a.value as usize].op);
    let b_op = ix.op(ix.sends[b.value as usize].op);
    Violation {
        class: Class::SendOrder,
        explanation: format!(
            "{} sent {:?}, acknowledged at offset {} of {}; {} (the same producer) sent {:?} \
             after it, while op {} was still in flight, and it landed at the lower offset {}. \
             {}",
            describe(a_op),
            ix.value_name(a.value),
            a.offset,
            ix.tp_name(a.tp),
            describe(b_op),
            ix.value_name(b.value),
            a_op.id,
            b.offset,
            why_not_exempt(ix, a, a_op.id, b, b_op.id)
        ),
        ops: vec![a_op.id, b_op.id],
        topic: topic.to_string(),
        partition,
        offsets: vec![a.offset, b.offset],
        values: vec![
            ix.value_name(a.value).to_string(),
            ix.value_name(b.value).to_string(),
        ],
    }
}

/// Why neither exemption excuses the pair, in words.
fn why_not_exempt(ix: &Index, a: &Item, a_id: u64, b: &Item, b_id: u64) -> String {
    if a.idempotent || b.idempotent {
        let which = if a.idempotent { a_id } else { b_id };
        return format!(
            "Op {which} is idempotent, which keeps order even through retries and broker \
             changes."
        );
    }
    let attempts = |i: &Item| ix.sends[i.value as usize].attempts;
    let retry = if a.retry == Retry::Serial || b.retry == Retry::Serial {
        let which = if a.retry == Retry::Serial { a_id } else { b_id };
        format!(
            "op {which} records max_in_flight 1, which keeps order through retries \
             (attempts {} and {})",
            attempts(a),
            attempts(b)
        )
    } else {
        format!(
            "neither send was retried (attempts {} and {})",
            attempts(a),
            attempts(b)
        )
    };
    let broker = |i: &Item| ix.brokers.get(i.broker as usize).copied();
    let brokers = match (broker(a), broker(b)) {
        (Some(x), Some(_)) => format!("both went to broker {x}"),
        (None, Some(_)) => format!("the broker of op {a_id} is unknown"),
        (Some(_), None) => format!("the broker of op {b_id} is unknown"),
        (None, None) => "their brokers are unknown".to_string(),
    };
    format!("Not excused: {retry}; {brokers}.")
}
