//! Kafka transactions: one small hand-written history per transaction class that shows
//! exactly that violation, and a clean history with commits, aborts, a crashed producer, a
//! fenced zombie and an exactly-once pipeline that shows none.

use crate::common::assert_classes;

use eddy_reports::{check, read_jsonl_bytes, Class, Verdict};

fn verdict(jsonl: &str) -> Verdict {
    let ops = read_jsonl_bytes(jsonl.as_bytes()).expect("a valid history");
    check(&ops)
}

/// Commits (A/1, B/3, P/1), an abort (A/2), a producer that crashed mid-transaction (B/1,
/// never ended, aborted when B's next instance fenced it), a zombie of B whose write was
/// refused after the fencing (B/2), a pipeline reading `in` and writing `out` exactly once
/// (P/1), read_committed and read_uncommitted consumers, control records at the offsets no
/// read returns (t/0: 1 and 3; t/1: 1 and 3; out/0: 2), and a read_committed drain.
pub const CLEAN: &str = r#"
{"id":1,"process":"producer-A","invoke_us":10,"complete_us":20,"outcome":"ok","type":"txn_init","transactional_id":"A","producer_id":1,"epoch":0}
{"id":2,"process":"producer-A","invoke_us":30,"complete_us":40,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a1","offset":0,"idempotent":true,"txn":"A/1","transactional_id":"A","producer_id":1,"epoch":0}
{"id":3,"process":"producer-A","invoke_us":31,"complete_us":41,"outcome":"ok","type":"send","topic":"t","partition":1,"value":"a2","offset":0,"idempotent":true,"txn":"A/1","transactional_id":"A","producer_id":1,"epoch":0}
{"id":4,"process":"producer-A","invoke_us":50,"complete_us":60,"outcome":"ok","type":"txn_end","txn":"A/1","transactional_id":"A","commit":true}
{"id":5,"process":"producer-A","invoke_us":70,"complete_us":80,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a3","offset":2,"idempotent":true,"txn":"A/2","transactional_id":"A","producer_id":1,"epoch":0}
{"id":6,"process":"producer-A","invoke_us":90,"complete_us":100,"outcome":"ok","type":"txn_end","txn":"A/2","transactional_id":"A","commit":false}
{"id":7,"process":"producer-B","invoke_us":5,"complete_us":15,"outcome":"ok","type":"txn_init","transactional_id":"B","producer_id":2,"epoch":0}
{"id":8,"process":"producer-B","invoke_us":110,"complete_us":120,"outcome":"ok","type":"send","topic":"t","partition":1,"value":"b1","offset":2,"idempotent":true,"txn":"B/1","transactional_id":"B","producer_id":2,"epoch":0}
{"id":9,"process":"producer-B2","invoke_us":200,"complete_us":210,"outcome":"ok","type":"txn_init","transactional_id":"B","producer_id":2,"epoch":1}
{"id":10,"process":"producer-B","invoke_us":220,"complete_us":230,"outcome":"failed","error":"INVALID_PRODUCER_EPOCH","type":"send","topic":"t","partition":0,"value":"b2","offset":null,"idempotent":true,"txn":"B/2","transactional_id":"B","producer_id":2,"epoch":0}
{"id":11,"process":"producer-B","invoke_us":240,"complete_us":250,"outcome":"failed","error":"PRODUCER_FENCED","type":"txn_end","txn":"B/2","transactional_id":"B","commit":true}
{"id":12,"process":"producer-B2","invoke_us":260,"complete_us":270,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"b3","offset":4,"idempotent":true,"txn":"B/3","transactional_id":"B","producer_id":2,"epoch":1}
{"id":13,"process":"producer-B2","invoke_us":280,"complete_us":290,"outcome":"ok","type":"txn_end","txn":"B/3","transactional_id":"B","commit":true}
{"id":14,"process":"producer-in","invoke_us":300,"complete_us":310,"outcome":"ok","type":"send","topic":"in","partition":0,"value":"i0","offset":0}
{"id":15,"process":"producer-in","invoke_us":311,"complete_us":320,"outcome":"ok","type":"send","topic":"in","partition":0,"value":"i1","offset":1}
{"id":16,"process":"pipe","invoke_us":300,"complete_us":305,"outcome":"ok","type":"txn_init","transactional_id":"P","producer_id":3,"epoch":0}
{"id":17,"process":"pipe","invoke_us":330,"complete_us":340,"outcome":"ok","type":"poll","topic":"in","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"i0"},{"offset":1,"value":"i1"}],"high_watermark":2,"group":"pipe","isolation":"read_committed","last_stable":2,"txn":"P/1"}
{"id":18,"process":"pipe","invoke_us":350,"complete_us":360,"outcome":"ok","type":"send","topic":"out","partition":0,"value":"o0","offset":0,"idempotent":true,"txn":"P/1","transactional_id":"P","producer_id":3,"epoch":0,"source":{"topic":"in","partition":0,"offset":0}}
{"id":19,"process":"pipe","invoke_us":351,"complete_us":361,"outcome":"ok","type":"send","topic":"out","partition":0,"value":"o1","offset":1,"idempotent":true,"txn":"P/1","transactional_id":"P","producer_id":3,"epoch":0,"source":{"topic":"in","partition":0,"offset":1}}
{"id":20,"process":"pipe","invoke_us":370,"complete_us":380,"outcome":"ok","type":"commit","group":"pipe","topic":"in","partition":0,"offset":2,"txn":"P/1"}
{"id":21,"process":"pipe","invoke_us":390,"complete_us":400,"outcome":"ok","type":"txn_end","txn":"P/1","transactional_id":"P","commit":true}
{"id":22,"process":"pipe","invoke_us":410,"complete_us":420,"outcome":"ok","type":"fetch_committed","group":"pipe","topic":"in","partition":0,"offset":2}
{"id":23,"process":"consumer-rc","invoke_us":500,"complete_us":510,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"a1"},{"offset":4,"value":"b3"}],"high_watermark":6,"isolation":"read_committed","last_stable":6}
{"id":24,"process":"consumer-rc","invoke_us":520,"complete_us":530,"outcome":"ok","type":"poll","topic":"t","partition":1,"fetch_offset":0,"records":[{"offset":0,"value":"a2"}],"high_watermark":4,"isolation":"read_committed","last_stable":4}
{"id":25,"process":"consumer-ru","invoke_us":540,"complete_us":550,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"a1"},{"offset":2,"value":"a3"},{"offset":4,"value":"b3"}],"high_watermark":6}
{"id":26,"process":"drain","invoke_us":600,"complete_us":610,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"a1"},{"offset":4,"value":"b3"}],"high_watermark":6,"drain":true,"isolation":"read_committed"}
{"id":27,"process":"drain","invoke_us":620,"complete_us":630,"outcome":"ok","type":"poll","topic":"t","partition":1,"fetch_offset":0,"records":[{"offset":0,"value":"a2"}],"high_watermark":4,"drain":true,"isolation":"read_committed"}
{"id":28,"process":"drain","invoke_us":640,"complete_us":650,"outcome":"ok","type":"poll","topic":"in","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"i0"},{"offset":1,"value":"i1"}],"high_watermark":2,"drain":true,"isolation":"read_committed"}
{"id":29,"process":"drain","invoke_us":660,"complete_us":670,"outcome":"ok","type":"poll","topic":"out","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"o0"},{"offset":1,"value":"o1"}],"high_watermark":3,"drain":true,"isolation":"read_committed"}
"#;

const TXN_CLASSES: [Class; 9] = [
    Class::TxnAbortedRead,
    Class::TxnUncommittedRead,
    Class::TxnLostWrite,
    Class::TxnTorn,
    Class::EosDuplicate,
    Class::EosLost,
    Class::ZombieWrite,
    Class::TxnAbortedOffsets,
    Class::TxnCycle,
];

#[test]
fn the_clean_transactional_history_passes_and_every_class_judges_it() {
    let v = verdict(CLEAN);
    assert_classes(&v, &[]);
    assert!(v.silent.is_empty(), "{:#?}", v.silent);
    for class in TXN_CLASSES {
        assert!(v.judged[&class] > 0, "{class} judged nothing");
    }
}

#[test]
fn aborted_failed_and_unended_transactions_are_not_read_committed() {
    let head = r#"
{"id":1,"process":"p","invoke_us":10,"complete_us":20,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a","offset":0,"txn":"p/1","transactional_id":"p","epoch":0}
{"id":3,"process":"c","invoke_us":50,"complete_us":60,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"a"}],"high_watermark":2,"isolation":"read_committed"}
"#;
    let ends = [
        // Aborted.
        r#"{"id":2,"process":"p","invoke_us":30,"complete_us":40,"outcome":"ok","type":"txn_end","txn":"p/1","transactional_id":"p","commit":false}"#,
        // Its commit refused.
        r#"{"id":2,"process":"p","invoke_us":30,"complete_us":40,"outcome":"failed","error":"INVALID_TXN_STATE","type":"txn_end","txn":"p/1","transactional_id":"p","commit":true}"#,
        // Never ended (the producer crashed).
        "",
    ];
    for end in ends {
        let v = verdict(&format!("{head}{end}\n"));
        assert_classes(&v, &[Class::TxnAbortedRead]);
        assert_eq!(v.violations[0].ops[0], 3, "{:#?}", v.violations);
    }
    // Read uncommitted, it is allowed; an indeterminate commit is not judged.
    let uncommitted = head.replace(r#","isolation":"read_committed""#, "");
    assert_classes(&verdict(&format!("{uncommitted}{}\n", ends[0])), &[]);
    let unknown = ends[1].replace(r#""outcome":"failed""#, r#""outcome":"indeterminate""#);
    assert_classes(&verdict(&format!("{head}{unknown}\n")), &[]);
}

#[test]
fn a_read_before_the_commit_was_requested_is_uncommitted() {
    let h = r#"
{"id":1,"process":"p","invoke_us":10,"complete_us":20,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a","offset":0,"txn":"p/1","transactional_id":"p"}
{"id":2,"process":"c","invoke_us":25,"complete_us":28,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"a"}],"high_watermark":1,"isolation":"read_committed"}
{"id":3,"process":"p","invoke_us":30,"complete_us":40,"outcome":"ok","type":"txn_end","txn":"p/1","transactional_id":"p","commit":true}
"#;
    let v = verdict(h);
    assert_classes(&v, &[Class::TxnUncommittedRead]);
    assert_eq!(v.violations[0].ops, vec![2, 1, 3]);
    // Completing once the commit was requested is fine.
    assert_classes(
        &verdict(&h.replace(r#""complete_us":28"#, r#""complete_us":31"#)),
        &[],
    );
}

#[test]
fn a_committed_record_missing_from_the_drain_is_a_lost_write() {
    let h = r#"
{"id":1,"process":"p","invoke_us":10,"complete_us":20,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a","offset":0,"txn":"p/1","transactional_id":"p"}
{"id":2,"process":"p","invoke_us":11,"complete_us":21,"outcome":"ok","type":"send","topic":"t","partition":1,"value":"b","offset":0,"txn":"p/1","transactional_id":"p"}
{"id":3,"process":"p","invoke_us":30,"complete_us":40,"outcome":"ok","type":"txn_end","txn":"p/1","transactional_id":"p","commit":true}
{"id":4,"process":"c","invoke_us":50,"complete_us":60,"outcome":"ok","type":"poll","topic":"t","partition":1,"fetch_offset":0,"records":[{"offset":0,"value":"b"}],"high_watermark":2}
{"id":5,"process":"drain","invoke_us":70,"complete_us":80,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"a"}],"high_watermark":2,"drain":true}
{"id":6,"process":"drain","invoke_us":90,"complete_us":100,"outcome":"ok","type":"poll","topic":"t","partition":1,"fetch_offset":0,"records":[],"high_watermark":2,"drain":true}
"#;
    let v = verdict(h);
    assert_classes(&v, &[Class::TxnLostWrite]);
    assert_eq!(v.violations[0].values, vec!["b"]);
    assert_eq!(v.violations[0].partition, 1);
    // Aborted, nothing need survive.
    let aborted = h.replace(r#""commit":true"#, r#""commit":false"#);
    assert_classes(&verdict(&aborted), &[]);
}

#[test]
fn a_transaction_seen_in_part_is_torn() {
    // Its commit is indeterminate; a read_committed read shows it committed, yet one of
    // its records is not in the drain (read_uncommitted saw it once).
    let h = r#"
{"id":1,"process":"p","invoke_us":10,"complete_us":20,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a","offset":0,"txn":"p/1","transactional_id":"p"}
{"id":2,"process":"p","invoke_us":11,"complete_us":21,"outcome":"ok","type":"send","topic":"t","partition":1,"value":"b","offset":0,"txn":"p/1","transactional_id":"p"}
{"id":3,"process":"p","invoke_us":30,"complete_us":null,"outcome":"indeterminate","type":"txn_end","txn":"p/1","transactional_id":"p","commit":true}
{"id":4,"process":"c","invoke_us":50,"complete_us":60,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"a"}],"high_watermark":2,"isolation":"read_committed"}
{"id":5,"process":"c-ru","invoke_us":50,"complete_us":60,"outcome":"ok","type":"poll","topic":"t","partition":1,"fetch_offset":0,"records":[{"offset":0,"value":"b"}],"high_watermark":2}
{"id":6,"process":"drain","invoke_us":70,"complete_us":80,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"a"}],"high_watermark":2,"drain":true,"isolation":"read_committed"}
{"id":7,"process":"drain","invoke_us":90,"complete_us":100,"outcome":"ok","type":"poll","topic":"t","partition":1,"fetch_offset":0,"records":[],"high_watermark":2,"drain":true,"isolation":"read_committed"}
"#;
    let v = verdict(h);
    assert_classes(&v, &[Class::TxnTorn]);
    assert_eq!(v.violations[0].values, vec!["a", "b"]);
    // Nobody read it with read_committed: the commit may have failed, nothing is torn.
    let unread = h
        .replace(
            r#""value":"a"}],"high_watermark":2,"isolation":"read_committed"}"#,
            r#""value":"a"}],"high_watermark":2}"#,
        )
        .replace(
            r#""value":"a"}],"high_watermark":2,"drain":true,"isolation":"read_committed"}"#,
            r#""value":"a"}],"high_watermark":2,"drain":true}"#,
        );
    assert_classes(&verdict(&unread), &[]);
}

#[test]
fn a_read_committed_poll_skipping_a_committed_record_is_torn() {
    // p/1 committed a and b; the poll returned a and the plain record after b, not b (a
    // consumer skipping an existing offset: poll_skip as well).
    let h = r#"
{"id":1,"process":"p","invoke_us":10,"complete_us":20,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a","offset":0,"txn":"p/1","transactional_id":"p"}
{"id":2,"process":"p","invoke_us":11,"complete_us":21,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"b","offset":1,"txn":"p/1","transactional_id":"p"}
{"id":3,"process":"p","invoke_us":30,"complete_us":40,"outcome":"ok","type":"txn_end","txn":"p/1","transactional_id":"p","commit":true}
{"id":4,"process":"q","invoke_us":41,"complete_us":45,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"x","offset":3}
{"id":5,"process":"c","invoke_us":50,"complete_us":60,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"a"},{"offset":3,"value":"x"}],"high_watermark":4,"isolation":"read_committed"}
{"id":6,"process":"drain","invoke_us":70,"complete_us":80,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"a"},{"offset":1,"value":"b"},{"offset":3,"value":"x"}],"high_watermark":4,"drain":true}
"#;
    let v = verdict(h);
    assert_classes(&v, &[Class::TxnTorn, Class::PollSkip]);
    let torn = v
        .violations
        .iter()
        .find(|v| v.class == Class::TxnTorn)
        .unwrap();
    assert_eq!(
        (torn.ops.clone(), torn.offsets.clone()),
        (vec![5, 2], vec![1])
    );
}

/// A pipeline consuming `in` and producing `out`, each output naming its input.
const PIPELINE: &str = r#"
{"id":1,"process":"producer-in","invoke_us":10,"complete_us":20,"outcome":"ok","type":"send","topic":"in","partition":0,"value":"i0","offset":0}
{"id":2,"process":"producer-in","invoke_us":21,"complete_us":30,"outcome":"ok","type":"send","topic":"in","partition":0,"value":"i1","offset":1}
{"id":3,"process":"pipe","invoke_us":40,"complete_us":50,"outcome":"ok","type":"poll","topic":"in","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"i0"},{"offset":1,"value":"i1"}],"high_watermark":2,"group":"g","isolation":"read_committed","txn":"P/1"}
{"id":4,"process":"pipe","invoke_us":60,"complete_us":70,"outcome":"ok","type":"send","topic":"out","partition":0,"value":"o0","offset":0,"idempotent":true,"txn":"P/1","transactional_id":"P","source":{"topic":"in","partition":0,"offset":0}}
{"id":5,"process":"pipe","invoke_us":61,"complete_us":71,"outcome":"ok","type":"send","topic":"out","partition":0,"value":"o1","offset":1,"idempotent":true,"txn":"P/1","transactional_id":"P","source":{"topic":"in","partition":0,"offset":1}}
{"id":6,"process":"pipe","invoke_us":80,"complete_us":90,"outcome":"ok","type":"commit","group":"g","topic":"in","partition":0,"offset":2,"txn":"P/1"}
{"id":7,"process":"pipe","invoke_us":100,"complete_us":110,"outcome":"ok","type":"txn_end","txn":"P/1","transactional_id":"P","commit":true}
{"id":8,"process":"drain","invoke_us":200,"complete_us":210,"outcome":"ok","type":"poll","topic":"in","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"i0"},{"offset":1,"value":"i1"}],"high_watermark":2,"drain":true}
{"id":9,"process":"drain","invoke_us":220,"complete_us":230,"outcome":"ok","type":"poll","topic":"out","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"o0"},{"offset":1,"value":"o1"}],"high_watermark":3,"drain":true}
"#;

#[test]
fn an_input_processed_twice_is_an_eos_duplicate() {
    assert_classes(&verdict(PIPELINE), &[]);
    // A second instance (its predecessor's commit not seen) processes i1 again in P/2.
    let again = r#"
{"id":10,"process":"pipe-2","invoke_us":120,"complete_us":130,"outcome":"ok","type":"poll","topic":"in","partition":0,"fetch_offset":1,"records":[{"offset":1,"value":"i1"}],"high_watermark":2,"group":"g","isolation":"read_committed","txn":"P/2"}
{"id":11,"process":"pipe-2","invoke_us":140,"complete_us":150,"outcome":"ok","type":"send","topic":"out","partition":0,"value":"o1-again","offset":3,"idempotent":true,"txn":"P/2","transactional_id":"P","source":{"topic":"in","partition":0,"offset":1}}
{"id":12,"process":"pipe-2","invoke_us":160,"complete_us":170,"outcome":"ok","type":"commit","group":"g","topic":"in","partition":0,"offset":2,"txn":"P/2"}
{"id":13,"process":"pipe-2","invoke_us":180,"complete_us":190,"outcome":"ok","type":"txn_end","txn":"P/2","transactional_id":"P","commit":true}
"#;
    let h = PIPELINE.replace(
        r#"{"offset":1,"value":"o1"}],"high_watermark":3"#,
        r#"{"offset":1,"value":"o1"},{"offset":3,"value":"o1-again"}],"high_watermark":5"#,
    ) + again;
    let v = verdict(&h);
    assert_classes(&v, &[Class::EosDuplicate]);
    assert_eq!(v.violations[0].values, vec!["o1", "o1-again"]);
    assert_eq!(v.violations[0].offsets, vec![1]);
}

#[test]
fn an_input_below_the_committed_offset_without_output_is_eos_lost() {
    // o1 is never produced, yet the transaction commits offset 2.
    let h: String = PIPELINE
        .lines()
        .filter(|l| !l.contains(r#""value":"o1","offset":1"#))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            r#",{"offset":1,"value":"o1"}],"high_watermark":3"#,
            r#"],"high_watermark":2"#,
        );
    let v = verdict(&h);
    assert_classes(&v, &[Class::EosLost]);
    assert_eq!(
        (
            v.violations[0].topic.as_str(),
            v.violations[0].offsets.clone()
        ),
        ("in", vec![1])
    );
    // Had it committed only offset 1, nothing would be lost.
    let one = h.replace(
        r#""partition":0,"offset":2,"txn":"P/1""#,
        r#""partition":0,"offset":1,"txn":"P/1""#,
    );
    assert_classes(&verdict(&one), &[]);
}

#[test]
fn a_fenced_epoch_visible_to_read_committed_is_a_zombie_write() {
    let h = r#"
{"id":1,"process":"p-old","invoke_us":1,"complete_us":2,"outcome":"ok","type":"txn_init","transactional_id":"p","producer_id":7,"epoch":0}
{"id":2,"process":"p-new","invoke_us":10,"complete_us":20,"outcome":"ok","type":"txn_init","transactional_id":"p","producer_id":7,"epoch":1}
{"id":3,"process":"p-old","invoke_us":30,"complete_us":40,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"z","offset":0,"idempotent":true,"txn":"p-old/1","transactional_id":"p","producer_id":7,"epoch":0}
{"id":4,"process":"p-old","invoke_us":50,"complete_us":60,"outcome":"ok","type":"txn_end","txn":"p-old/1","transactional_id":"p","commit":true}
{"id":5,"process":"c","invoke_us":70,"complete_us":80,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"z"}],"high_watermark":2,"isolation":"read_committed"}
"#;
    let v = verdict(h);
    assert_classes(&v, &[Class::ZombieWrite]);
    assert_eq!(v.violations[0].ops, vec![2, 3, 5]);
    // Sent before the new epoch was given out: not a zombie.
    assert_classes(
        &verdict(&h.replace(
            r#""invoke_us":30,"complete_us":40"#,
            r#""invoke_us":15,"complete_us":40"#,
        )),
        &[],
    );
}

#[test]
fn an_offset_only_an_aborted_transaction_committed_must_not_be_read_back() {
    let h = r#"
{"id":1,"process":"pipe","invoke_us":10,"complete_us":20,"outcome":"ok","type":"commit","group":"g","topic":"t","partition":0,"offset":5,"txn":"p/1"}
{"id":2,"process":"pipe","invoke_us":30,"complete_us":40,"outcome":"ok","type":"txn_end","txn":"p/1","transactional_id":"p","commit":false}
{"id":3,"process":"pipe","invoke_us":50,"complete_us":60,"outcome":"ok","type":"fetch_committed","group":"g","topic":"t","partition":0,"offset":5}
"#;
    let v = verdict(h);
    assert_classes(&v, &[Class::TxnAbortedOffsets]);
    assert_eq!(v.violations[0].ops, vec![1, 3]);
    // Committed: the offset applies.
    assert_classes(
        &verdict(&h.replace(r#""commit":false"#, r#""commit":true"#)),
        &[],
    );
}

/// Three transactions in t/0 (a, b, c at offsets 0, 1, 2): p/1 wrote a and c, the other
/// transaction (`OTHER`) b in between.
const INTERLEAVED: &str = r#"
{"id":1,"process":"p","invoke_us":10,"complete_us":11,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a","offset":0,"idempotent":true,"txn":"p/1","transactional_id":"p"}
{"id":2,"process":"OTHER","invoke_us":12,"complete_us":13,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"b","offset":1,"idempotent":true,"txn":"OTHER/1","transactional_id":"OTHER"}
{"id":3,"process":"p","invoke_us":14,"complete_us":15,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"c","offset":2,"idempotent":true,"txn":"p/1","transactional_id":"p"}
{"id":4,"process":"p","invoke_us":20,"complete_us":30,"outcome":"ok","type":"txn_end","txn":"p/1","transactional_id":"p","commit":true}
{"id":5,"process":"OTHER","invoke_us":20,"complete_us":30,"outcome":"ok","type":"txn_end","txn":"OTHER/1","transactional_id":"OTHER","commit":true}
"#;

#[test]
fn interleaved_transactions_of_one_transactional_id_are_a_write_cycle() {
    // Different transactional ids may interleave (Kafka orders nothing across them).
    let v = verdict(INTERLEAVED);
    assert_classes(&v, &[]);
    assert_eq!(v.judged[&Class::TxnCycle], 2);
    // One id: p/1 and p/2 cannot both come first.
    let h = INTERLEAVED
        .replace("OTHER/1", "p/2")
        .replace("\"OTHER\"", "\"p\"");
    let v = verdict(&h);
    assert_classes(&v, &[Class::TxnCycle]);
    let e = &v.violations[0].explanation;
    assert!(e.starts_with("G0"), "{e}");
    assert_eq!(v.violations[0].offsets, vec![0, 1, 1, 2]);
}

#[test]
fn pipelines_reading_each_other_are_a_read_cycle() {
    let h = r#"
{"id":1,"process":"x","invoke_us":10,"complete_us":11,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"xr","offset":0,"idempotent":true,"txn":"x/1","transactional_id":"x"}
{"id":2,"process":"y","invoke_us":12,"complete_us":13,"outcome":"ok","type":"send","topic":"t","partition":1,"value":"yr","offset":0,"idempotent":true,"txn":"y/1","transactional_id":"y"}
{"id":3,"process":"x","invoke_us":20,"complete_us":30,"outcome":"ok","type":"txn_end","txn":"x/1","transactional_id":"x","commit":true}
{"id":4,"process":"y","invoke_us":20,"complete_us":30,"outcome":"ok","type":"txn_end","txn":"y/1","transactional_id":"y","commit":true}
{"id":5,"process":"x-in","invoke_us":25,"complete_us":26,"outcome":"ok","type":"poll","topic":"t","partition":1,"fetch_offset":0,"records":[{"offset":0,"value":"yr"}],"high_watermark":1,"isolation":"read_committed","txn":"x/1"}
{"id":6,"process":"y-in","invoke_us":25,"complete_us":26,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"xr"}],"high_watermark":1,"isolation":"read_committed","txn":"y/1"}
"#;
    let v = verdict(h);
    assert_classes(&v, &[Class::TxnCycle]);
    assert!(
        v.violations[0].explanation.starts_with("G1c"),
        "{}",
        v.violations[0].explanation
    );
    assert_eq!(v.violations[0].values, vec!["xr", "yr"]);
    // One direction only: no cycle.
    let one_way: String = h
        .lines()
        .filter(|l| !l.contains("\"id\":6,"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_classes(&verdict(&one_way), &[]);
}

#[test]
fn transactional_sends_without_read_committed_polls_are_listed_silent() {
    let h = r#"
{"id":1,"process":"p","invoke_us":10,"complete_us":20,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a","offset":0,"txn":"p/1","transactional_id":"p"}
{"id":2,"process":"p","invoke_us":30,"complete_us":40,"outcome":"ok","type":"txn_end","txn":"p/1","transactional_id":"p","commit":true}
{"id":3,"process":"drain","invoke_us":70,"complete_us":80,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"a"}],"high_watermark":2,"drain":true}
"#;
    let v = verdict(h);
    assert_classes(&v, &[]);
    let silent: Vec<Class> = v.silent.iter().map(|s| s.class).collect();
    assert_eq!(
        silent,
        vec![
            Class::TxnAbortedRead,
            Class::TxnUncommittedRead,
            Class::TxnTorn,
            Class::ZombieWrite
        ]
    );
    assert!(v.silent[0].reason.contains("read_committed"));
    // A history without transactions lists none of them.
    let plain = verdict(
        &h.replace(r#","txn":"p/1","transactional_id":"p""#, "")
            .lines()
            .filter(|l| !l.contains("txn_end"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert!(plain.silent.is_empty(), "{:#?}", plain.silent);
}

#[test]
fn validate_refuses_malformed_transactions() {
    let bad = [
        r#"{"id":1,"process":"p","invoke_us":1,"complete_us":2,"outcome":"ok","type":"txn_end","txn":"","commit":true}"#,
        r#"{"id":1,"process":"p","invoke_us":1,"complete_us":2,"outcome":"ok","type":"txn_init","transactional_id":"","producer_id":1,"epoch":0}"#,
        r#"{"id":1,"process":"p","invoke_us":1,"complete_us":2,"outcome":"ok","type":"txn_init","transactional_id":"p","producer_id":1,"epoch":-1}"#,
        r#"{"id":1,"process":"p","invoke_us":1,"complete_us":2,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a","offset":0,"txn":""}"#,
        r#"{"id":1,"process":"p","invoke_us":1,"complete_us":2,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a","offset":0,"txn":"p/1","source":{"topic":"in","partition":0,"offset":-2}}"#,
        r#"{"id":1,"process":"p","invoke_us":1,"complete_us":2,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[],"high_watermark":0,"last_stable":-1}"#,
        "{\"id\":1,\"process\":\"p\",\"invoke_us\":1,\"complete_us\":2,\"outcome\":\"ok\",\"type\":\"send\",\"topic\":\"t\",\"partition\":0,\"value\":\"a\",\"offset\":0,\"txn\":\"p/1\",\"transactional_id\":\"p\"}\n{\"id\":2,\"process\":\"p\",\"invoke_us\":1,\"complete_us\":2,\"outcome\":\"ok\",\"type\":\"txn_end\",\"txn\":\"p/1\",\"transactional_id\":\"q\",\"commit\":true}",
        r#"{"id":1,"process":"p","invoke_us":1,"complete_us":2,"outcome":"ok","type":"txn_end","txn":"p/1"}"#,
    ];
    for text in bad {
        assert!(
            read_jsonl_bytes(text.as_bytes()).is_err(),
            "accepted: {text}"
        );
    }
    // A source without a transaction is allowed (not judged by the exactly-once classes).
    let fine = r#"{"id":1,"process":"p","invoke_us":1,"complete_us":2,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"a","offset":0,"source":{"topic":"in","partition":0,"offset":2}}"#;
    assert!(read_jsonl_bytes(fine.as_bytes()).is_ok());
}

/// A model history with the transactional model appended (`synth::append_transactions`).
pub fn txn_model(seed: u64, n: usize, steps: usize) -> Vec<eddy_reports::Op> {
    use eddy_reports::synth::{append_transactions, synth_history_with, SynthConfig};
    let mut ops = synth_history_with(n, seed, &SynthConfig::swarm(seed));
    append_transactions(&mut ops, seed, steps);
    ops
}

mod model {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// The transactional model passes every checker, reads back as written, and gives
        /// every transaction class something to judge.
        #[test]
        fn transactional_model_histories_pass(seed in any::<u64>(), n in 1usize..300, steps in 0usize..400) {
            let ops = txn_model(seed, n, steps);
            let mut jsonl = Vec::new();
            eddy_reports::write_jsonl(&mut jsonl, &ops).unwrap();
            let read = read_jsonl_bytes(&jsonl).unwrap();
            prop_assert_eq!(&read, &ops);
            let v = check(&ops);
            prop_assert!(v.is_valid(), "seed {} n {} steps {}: {:#?}", seed, n, steps, v.violations);
        }
    }

    #[test]
    fn long_transactional_histories_judge_every_class() {
        for seed in 0..20 {
            let v = check(&txn_model(seed, 200, 600));
            assert_classes(&v, &[]);
            for class in TXN_CLASSES {
                if class != Class::TxnAbortedOffsets {
                    assert!(v.judged[&class] > 0, "seed {seed}: {class} judged nothing");
                }
            }
        }
    }
}
