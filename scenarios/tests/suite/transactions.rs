//! Kafka transactions (`workload.transactions`, transactions.json): transactional producers
//! that commit and abort, crash, stall past their timeout and come back as zombies; read
//! committed consumers; a consume-transform-produce pipeline. One seed's history, written
//! with its transactional lines, is judged here from the lines themselves (the transaction
//! checkers are another crate's work): commits and aborts both happen, read_committed reads
//! never deliver a record of a transaction that did not commit, the pipeline's committed
//! output holds every input below its committed offsets exactly once, and a fenced
//! instance's sends are refused.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use eddy_reports::Class;
use eddy_scenarios::commands::run_and_report;
use eddy_scenarios::spec::Scenario;
use serde_json::Value;

struct Run {
    lines: Vec<Value>,
    classes: BTreeSet<Class>,
    drained: bool,
}

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/transactions.json");
        let s = Scenario::load(&path).expect("scenario loads");
        let (out, report) = run_and_report(&s, 1).expect("run");
        let mut buf = Vec::new();
        eddy_reports::write_jsonl(&mut buf, &out.ops).expect("write");
        let lines = String::from_utf8(buf)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        Run {
            lines,
            classes: report.verdict.violations.iter().map(|v| v.class).collect(),
            drained: out.drained,
        }
    })
}

fn kind(v: &Value) -> &str {
    v["type"].as_str().unwrap_or("")
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or("").to_string()
}

/// Transactions with an ok commit.
fn committed(lines: &[Value]) -> BTreeSet<String> {
    lines
        .iter()
        .filter(|v| kind(v) == "txn_end" && v["commit"] == true && v["outcome"] == "ok")
        .map(|v| s(v, "txn"))
        .collect()
}

#[test]
fn a_transactional_run_commits_and_aborts_and_read_committed_sees_only_committed_data() {
    let r = run();
    assert!(r.drained);
    // The checkers know transactions (markers and aborted records are not gaps, offsets of
    // aborted transactions never applied): a clean run is clean.
    assert!(r.classes.is_empty(), "violations: {:?}", r.classes);
    let ends = |commit: bool| {
        r.lines
            .iter()
            .filter(|v| kind(v) == "txn_end" && v["commit"] == commit && v["outcome"] == "ok")
            .count()
    };
    assert!(
        ends(true) > 50 && ends(false) > 10,
        "commits {} aborts {}",
        ends(true),
        ends(false)
    );
    let ok = committed(&r.lines);
    let txn_of: BTreeMap<String, String> = r
        .lines
        .iter()
        .filter(|v| kind(v) == "send" && v.get("txn").is_some())
        .map(|v| (s(v, "value"), s(v, "txn")))
        .collect();
    let mut delivered = 0;
    for v in r
        .lines
        .iter()
        .filter(|v| kind(v) == "poll" && v["isolation"] == "read_committed" && v["outcome"] == "ok")
    {
        for rec in v["records"].as_array().expect("records") {
            if let Some(txn) = txn_of.get(&s(rec, "value")) {
                assert!(
                    ok.contains(txn),
                    "read_committed poll {} delivered {rec} of {txn}",
                    v["id"]
                );
                delivered += 1;
            }
        }
    }
    assert!(
        delivered > 100,
        "read_committed readers delivered {delivered} transactional records"
    );
}

#[test]
fn the_pipeline_output_holds_each_input_once() {
    let r = run();
    let ok = committed(&r.lines);
    let mut sources: BTreeMap<(String, i64, i64), usize> = BTreeMap::new();
    for v in r
        .lines
        .iter()
        .filter(|v| kind(v) == "send" && v.get("source").is_some())
    {
        if ok.contains(&s(v, "txn")) {
            let src = &v["source"];
            let key = (
                s(src, "topic"),
                src["partition"].as_i64().unwrap(),
                src["offset"].as_i64().unwrap(),
            );
            *sources.entry(key).or_default() += 1;
        }
    }
    let twice: Vec<_> = sources.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "inputs in two committed transactions: {twice:?}"
    );
    // Every input a read_committed reader gets (non-transactional or committed), below
    // the offsets the pipeline committed, is in the output.
    let mut upto: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for v in r
        .lines
        .iter()
        .filter(|v| kind(v) == "commit" && v.get("txn").is_some())
    {
        if v["outcome"] == "ok" && ok.contains(&s(v, "txn")) {
            let k = (s(v, "topic"), v["partition"].as_i64().unwrap());
            let e = upto.entry(k).or_default();
            *e = (*e).max(v["offset"].as_i64().unwrap());
        }
    }
    let txn_of: BTreeMap<String, String> = r
        .lines
        .iter()
        .filter(|v| kind(v) == "send")
        .map(|v| (s(v, "value"), s(v, "txn")))
        .collect();
    let mut covered = 0;
    for v in r
        .lines
        .iter()
        .filter(|v| kind(v) == "poll" && v["drain"] == true && v["topic"] == "events")
    {
        let p = v["partition"].as_i64().unwrap();
        for rec in v["records"].as_array().unwrap() {
            let offset = rec["offset"].as_i64().unwrap();
            if offset >= *upto.get(&("events".to_string(), p)).unwrap_or(&0) {
                continue;
            }
            let txn = txn_of.get(&s(rec, "value")).cloned().unwrap_or_default();
            if txn.is_empty() || ok.contains(&txn) {
                assert!(
                    sources.contains_key(&("events".to_string(), p, offset)),
                    "input events/{p}@{offset} below the committed offset is not in the output"
                );
                covered += 1;
            }
        }
    }
    assert!(covered > 1_000, "only {covered} inputs covered");
}

#[test]
fn a_fenced_instance_s_sends_and_commits_are_refused() {
    let r = run();
    // When each (transactional id, epoch) was fenced: the completion of an ok txn_init of
    // the same transactional id with a higher epoch.
    let inits: Vec<(String, i64, u64)> = r
        .lines
        .iter()
        .filter(|v| kind(v) == "txn_init" && v["outcome"] == "ok")
        .map(|v| {
            (
                s(v, "transactional_id"),
                v["epoch"].as_i64().unwrap(),
                v["complete_us"].as_u64().unwrap(),
            )
        })
        .collect();
    let fenced_at = |tid: &str, epoch: i64| {
        inits
            .iter()
            .filter(|(t, e, _)| t == tid && *e > epoch)
            .map(|(_, _, at)| *at)
            .min()
    };
    let mut after_fence = 0;
    for v in r
        .lines
        .iter()
        .filter(|v| kind(v) == "send" && v.get("txn").is_some())
    {
        let Some(at) = fenced_at(&s(v, "transactional_id"), v["epoch"].as_i64().unwrap()) else {
            continue;
        };
        if v["invoke_us"].as_u64().unwrap() >= at {
            after_fence += 1;
            assert_ne!(
                v["outcome"], "ok",
                "a fenced instance's send was acknowledged: {v}"
            );
        }
    }
    let refused = r
        .lines
        .iter()
        .filter(|v| kind(v) == "send" && v["error"] == "INVALID_PRODUCER_EPOCH")
        .count();
    assert!(
        after_fence > 0 && refused > 0,
        "sends after fencing {after_fence}, refused {refused}"
    );
    // A fenced instance never commits: no ok txn_end by an epoch fenced before it was sent.
    let epoch_of: BTreeMap<String, (String, i64)> = r
        .lines
        .iter()
        .filter(|v| kind(v) == "send" && v.get("txn").is_some())
        .map(|v| {
            (
                s(v, "txn"),
                (s(v, "transactional_id"), v["epoch"].as_i64().unwrap()),
            )
        })
        .collect();
    for v in r
        .lines
        .iter()
        .filter(|v| kind(v) == "txn_end" && v["outcome"] == "ok" && v["commit"] == true)
    {
        if let Some((tid, epoch)) = epoch_of.get(&s(v, "txn")) {
            if let Some(at) = fenced_at(tid, *epoch) {
                assert!(
                    v["invoke_us"].as_u64().unwrap() < at,
                    "a fenced instance committed: {v}"
                );
            }
        }
    }
}
