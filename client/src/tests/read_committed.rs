//! Kafka's read_committed client algorithm (`consumer::deliverable`) on hand-built batches.

use bytes::Bytes;

use crate::consumer::deliverable;
use crate::records::DecodedBatch;

fn data(base: i64, n: i64, pid: i64, transactional: bool) -> DecodedBatch {
    DecodedBatch {
        base_offset: base,
        last_offset: base + n - 1,
        control: false,
        transactional,
        producer_id: pid,
        abort_marker: false,
        records: (base..base + n)
            .map(|o| (o, None, Bytes::from(format!("v{o}"))))
            .collect(),
    }
}

fn marker(at: i64, pid: i64, abort: bool) -> DecodedBatch {
    DecodedBatch {
        base_offset: at,
        last_offset: at,
        control: true,
        transactional: true,
        producer_id: pid,
        abort_marker: abort,
        records: vec![(at, Some(Bytes::from_static(&[0, 0, 0, 0])), Bytes::new())],
    }
}

fn offsets(r: &[(i64, Option<Bytes>, Bytes)]) -> Vec<i64> {
    r.iter().map(|(o, _, _)| *o).collect()
}

#[test]
fn aborted_batches_are_dropped_until_the_abort_marker_and_markers_never_show() {
    // pid 7 aborts [0, 2) with its marker at 4; pid 8 commits [2, 4) at 5; pid 7 then
    // writes again at 6 (a new transaction, not aborted); 9 is non-transactional.
    let batches = || {
        vec![
            data(0, 2, 7, true),
            data(2, 2, 8, true),
            marker(4, 7, true),
            marker(5, 8, false),
            data(6, 1, 7, true),
            data(7, 2, 9, false),
        ]
    };
    let (rc, next) = deliverable(batches(), 0, true, vec![(7, 0)]);
    assert_eq!(offsets(&rc), vec![2, 3, 6, 7, 8]);
    assert_eq!(next, 9);
    let (ru, next) = deliverable(batches(), 0, false, vec![(7, 0)]);
    assert_eq!(offsets(&ru), vec![0, 1, 2, 3, 6, 7, 8]);
    assert_eq!(next, 9);
    // A fetch starting mid-batch keeps the position rule: nothing below it.
    let (rc, _) = deliverable(batches(), 3, true, vec![]);
    assert_eq!(offsets(&rc), vec![3, 6, 7, 8]);
}

#[test]
fn an_aborted_transaction_applies_only_from_its_first_offset() {
    // pid 7's committed transaction [0, 2) (marker 2), then an aborted one [3, 5) (marker 5).
    let batches = vec![
        data(0, 2, 7, true),
        marker(2, 7, false),
        data(3, 2, 7, true),
        marker(5, 7, true),
    ];
    let (rc, next) = deliverable(batches, 0, true, vec![(7, 3)]);
    assert_eq!(offsets(&rc), vec![0, 1]);
    assert_eq!(next, 6);
}
