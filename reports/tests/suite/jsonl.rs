//! The JSONL history format: round trip, line-numbered errors, schema validation, and the
//! exact field names other programs write (HISTORY.md).

use eddy_reports::synth::{synth_history_with, SynthConfig};
use eddy_reports::{check, read_jsonl, validate, write_jsonl, Error, OpKind, Outcome};

#[test]
fn round_trip_preserves_every_op() {
    let ops = synth_history_with(600, 3, &SynthConfig::swarm(3));
    let mut buf = Vec::new();
    write_jsonl(&mut buf, &ops).expect("write");
    let text = String::from_utf8(buf.clone()).expect("utf8");
    assert_eq!(text.lines().count(), ops.len());
    let back = read_jsonl(buf.as_slice()).expect("read");
    assert_eq!(back, ops);
    let mut again = Vec::new();
    write_jsonl(&mut again, &back).expect("write");
    assert_eq!(again, buf, "writing is deterministic");
}

#[test]
fn documented_schema_parses() {
    // The examples of HISTORY.md, as another program would write them (optional fields
    // omitted where the schema allows).
    let text = r#"
{"id":1,"process":"producer-0","invoke_us":1000,"complete_us":251000,"outcome":"ok","type":"send","topic":"orders","partition":0,"value":"producer-0-1","offset":0}
{"id":2,"process":"producer-0","invoke_us":2000,"complete_us":null,"outcome":"indeterminate","type":"send","topic":"orders","partition":0,"value":"producer-0-2","offset":null,"idempotent":true,"attempts":2,"max_in_flight":5,"broker":"10.0.1.1:9092"}
{"id":3,"process":"consumer-0","invoke_us":300000,"complete_us":310000,"outcome":"ok","type":"poll","topic":"orders","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"producer-0-1"}],"high_watermark":1,"group":"g1"}
{"id":4,"process":"consumer-0","invoke_us":320000,"complete_us":321000,"outcome":"ok","type":"list_offsets","topic":"orders","partition":0,"high_watermark":1}
{"id":5,"process":"consumer-0","invoke_us":330000,"complete_us":330000,"outcome":"ok","type":"seek","topic":"orders","partition":0,"offset":0}
{"id":6,"process":"consumer-0","invoke_us":340000,"complete_us":340000,"outcome":"ok","type":"assign","group":"g1","generation":3,"partitions":[{"topic":"orders","partition":0}]}
{"id":7,"process":"consumer-0","invoke_us":350000,"complete_us":352000,"outcome":"ok","type":"commit","group":"g1","topic":"orders","partition":0,"offset":1}
{"id":8,"process":"consumer-0","invoke_us":360000,"complete_us":362000,"outcome":"ok","type":"fetch_committed","group":"g1","topic":"orders","partition":0,"offset":1}
{"id":9,"process":"drain","invoke_us":900000,"complete_us":901000,"outcome":"ok","type":"poll","topic":"orders","partition":0,"fetch_offset":0,"records":[{"offset":0,"value":"producer-0-1"}],"high_watermark":1,"drain":true}
"#;
    let ops = read_jsonl(text.as_bytes()).expect("parses");
    assert_eq!(ops.len(), 9);
    assert!(matches!(&ops[2].kind, OpKind::Poll { drain: false, group: Some(g), .. } if g == "g1"));
    assert!(matches!(
        &ops[0].kind,
        OpKind::Send {
            idempotent: false,
            ..
        }
    ));
    assert_eq!(ops[1].outcome, Outcome::Indeterminate);
    assert!(matches!(
        &ops[0].kind,
        OpKind::Send {
            attempts: 1,
            max_in_flight: None,
            broker: None,
            ..
        }
    ));
    assert!(matches!(
        &ops[1].kind,
        OpKind::Send {
            attempts: 2,
            max_in_flight: Some(5),
            broker: Some(b),
            ..
        } if b == "10.0.1.1:9092"
    ));
    let v = check(&ops);
    assert!(v.is_valid(), "{:#?}", v.violations);
}

#[test]
fn parse_errors_name_the_line() {
    let text = "{\"id\":1,\"process\":\"p\",\"invoke_us\":0,\"complete_us\":1,\"outcome\":\"ok\",\"type\":\"list_offsets\",\"topic\":\"t\",\"partition\":0,\"high_watermark\":0}\n\n{\"id\":2,\"process\":\"p\",\"type\":\"teleport\"}\n";
    match read_jsonl(text.as_bytes()) {
        Err(Error::Parse { line, .. }) => assert_eq!(line, 3),
        other => panic!("expected a parse error on line 3, got {other:?}"),
    }
}

#[test]
fn schema_rules_are_enforced_with_line_numbers() {
    let send = |id: u64, value: &str, outcome: &str, offset: &str, complete: &str| {
        format!(
            "{{\"id\":{id},\"process\":\"p\",\"invoke_us\":10,\"complete_us\":{complete},\"outcome\":\"{outcome}\",\"type\":\"send\",\"topic\":\"t\",\"partition\":0,\"value\":\"{value}\",\"offset\":{offset}}}\n"
        )
    };
    let cases = [
        (
            send(1, "a", "ok", "0", "20") + &send(1, "b", "ok", "1", "20"),
            "appears twice",
        ),
        (
            send(1, "a", "ok", "0", "20") + &send(2, "a", "ok", "1", "20"),
            "values must be unique",
        ),
        (
            send(1, "a", "ok", "0", "20") + &send(2, "b", "ok", "1", "5"),
            "before its invocation",
        ),
        (
            send(1, "a", "ok", "0", "20") + &send(2, "b", "ok", "1", "null"),
            "no complete_us",
        ),
        (
            send(1, "a", "ok", "0", "20") + &send(2, "b", "failed", "1", "20"),
            "failed but carries offset",
        ),
        (
            send(1, "a", "ok", "0", "20") + &send(2, "b", "ok", "-1", "20"),
            "negative offset",
        ),
    ];
    for (text, reason) in cases {
        match read_jsonl(text.as_bytes()) {
            Err(Error::Invalid {
                location,
                reason: r,
            }) => {
                assert_eq!(location, "line 2");
                assert!(r.contains(reason), "{r:?} should mention {reason:?}");
            }
            other => panic!("{reason}: expected invalid, got {other:?}"),
        }
    }
}

#[test]
fn validate_accepts_model_histories() {
    for seed in 0..20 {
        let ops = synth_history_with(300, seed, &SynthConfig::swarm(seed));
        validate(&ops).expect("model histories are valid");
    }
}
