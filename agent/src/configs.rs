//! Topic and broker configuration as Kafka clients see it: CreateTopics' `configs` are
//! checked against what eddy does, and DescribeConfigs reports what applies.
//!
//! eddy keeps no per-topic configuration. What Kafka makes a topic setting is fixed
//! (batches are stored as producers compressed them, timestamps are the producers', logs
//! are never compacted by key) or set on the control plane (retention:
//! `controlplane.maintenance`). So a topic config that asks for something else is refused
//! with INVALID_CONFIG and a message saying what eddy does, rather than accepted and
//! silently not applied; configs about local log files, replication and tiering (segment
//! sizes, flush intervals, replica throttles, …) have no counterpart and are accepted.

use eddy_controlplane::api::RetentionPolicy;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsSynonym,
};
use kafka_protocol::protocol::StrBytes;

/// DescribeConfigs resource types (Kafka's `ConfigResource.Type`).
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Config sources (Kafka's `DescribeConfigsResponse.ConfigSource`).
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

/// Config types (Kafka's `ConfigDef.Type` ids in DescribeConfigs v3+).
const TYPE_BOOLEAN: i8 = 1;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_LIST: i8 = 7;

/// Every topic-level config name Apache Kafka knows (TopicConfig, Kafka 3.x/4.x).
const KAFKA_TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.type",
    "compression.zstd.level",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.downconversion.enable",
    "message.format.version",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
];

/// A retention limit as Kafka writes it: -1 for none.
fn limit(v: Option<u64>) -> i64 {
    v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// Check the `configs` of a topic to be created, whose retention will be `retention`.
/// `Err` is the INVALID_CONFIG message.
pub fn check_create(
    configs: &[(String, Option<String>)],
    retention: &RetentionPolicy,
) -> Result<(), String> {
    for (name, value) in configs {
        let Some(value) = value else {
            return Err(format!("config {name} has a null value"));
        };
        if !KAFKA_TOPIC_CONFIGS.contains(&name.as_str()) {
            return Err(format!("unknown topic config {name}"));
        }
        let v = value.trim();
        match name.as_str() {
            "cleanup.policy" => {
                let policies: Vec<String> = v
                    .split(',')
                    .map(|p| p.trim().to_ascii_lowercase())
                    .collect();
                if policies.iter().any(|p| p == "compact") {
                    return Err(
                        "cleanup.policy=compact is not supported: eddy never compacts a topic \
                         by key (its compaction merges files and keeps every record)"
                            .into(),
                    );
                }
                if policies != ["delete"] {
                    return Err(format!("invalid cleanup.policy {value:?}"));
                }
            }
            "compression.type" if !v.eq_ignore_ascii_case("producer") => {
                return Err(format!(
                    "compression.type={v} is not supported: eddy stores batches as producers \
                     compressed them (compression.type=producer)"
                ));
            }
            "message.timestamp.type" if v != "CreateTime" => {
                return Err(format!(
                    "message.timestamp.type={v} is not supported: records keep their \
                     producers' timestamps (CreateTime)"
                ));
            }
            "retention.ms" | "retention.bytes" => {
                let applies = if name == "retention.ms" {
                    limit(retention.retention_ms)
                } else {
                    limit(retention.retention_bytes)
                };
                let asked: i64 = v
                    .parse()
                    .map_err(|_| format!("invalid {name} {value:?}: not a number"))?;
                // Kafka reads any negative limit as "none".
                let asked = if asked < 0 { -1 } else { asked };
                if asked != applies {
                    return Err(format!(
                        "{name}={asked} cannot be set per topic: retention is set on the \
                         control plane (controlplane.maintenance), which gives this topic \
                         {name}={applies}"
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// One described config entry.
struct Entry {
    name: &'static str,
    value: String,
    source: i8,
    kind: i8,
    doc: &'static str,
}

impl Entry {
    fn fixed(name: &'static str, value: &str, kind: i8, doc: &'static str) -> Entry {
        Entry {
            name,
            value: value.to_string(),
            source: SOURCE_DEFAULT,
            kind,
            doc,
        }
    }
}

/// Names of the settings a topic and a broker both show (Kafka names them differently).
struct Names {
    cleanup: &'static str,
    max_bytes: &'static str,
    retention_bytes: &'static str,
    retention_ms: &'static str,
}

const TOPIC: Names = Names {
    cleanup: "cleanup.policy",
    max_bytes: "max.message.bytes",
    retention_bytes: "retention.bytes",
    retention_ms: "retention.ms",
};

const BROKER: Names = Names {
    cleanup: "log.cleanup.policy",
    max_bytes: "message.max.bytes",
    retention_bytes: "log.retention.bytes",
    retention_ms: "log.retention.ms",
};

/// The settings a topic and a broker both show, under `names`.
fn common_entries(
    names: &Names,
    retention: &RetentionPolicy,
    max_message_bytes: usize,
) -> Vec<Entry> {
    let retention_entry = |name, v: Option<u64>, doc| Entry {
        name,
        value: limit(v).to_string(),
        source: if v.is_some() {
            SOURCE_STATIC_BROKER
        } else {
            SOURCE_DEFAULT
        },
        kind: TYPE_LONG,
        doc,
    };
    vec![
        Entry::fixed(
            names.cleanup,
            "delete",
            TYPE_LIST,
            "Old records are deleted by retention; topics are never compacted by key.",
        ),
        Entry::fixed(
            "compression.type",
            "producer",
            TYPE_STRING,
            "Batches are stored as producers compressed them.",
        ),
        Entry::fixed(
            names.max_bytes,
            &max_message_bytes.to_string(),
            TYPE_INT,
            "Largest request the agent accepts; a record batch cannot be larger.",
        ),
        retention_entry(
            names.retention_bytes,
            retention.retention_bytes,
            "Bytes kept per partition (-1: no limit); set on the control plane.",
        ),
        retention_entry(
            names.retention_ms,
            retention.retention_ms,
            "How long records are kept (-1: forever); set on the control plane.",
        ),
    ]
}

/// What DescribeConfigs shows for a topic whose retention is `retention`.
fn topic_entries(retention: &RetentionPolicy, max_message_bytes: usize) -> Vec<Entry> {
    let mut entries = common_entries(&TOPIC, retention, max_message_bytes);
    entries.push(Entry::fixed(
        "message.timestamp.type",
        "CreateTime",
        TYPE_STRING,
        "Records keep the timestamps their producers gave them.",
    ));
    entries
}

/// What DescribeConfigs shows for this agent as a broker.
fn broker_entries(
    node_id: i32,
    default_partitions: i32,
    max_message_bytes: usize,
    retention: &RetentionPolicy,
) -> Vec<Entry> {
    let mut entries = common_entries(&BROKER, retention, max_message_bytes);
    entries.extend([
        Entry::fixed(
            "auto.create.topics.enable",
            "true",
            TYPE_BOOLEAN,
            "A Metadata request for an unknown topic creates it, when the client allows.",
        ),
        Entry::fixed(
            "broker.id",
            &node_id.to_string(),
            TYPE_INT,
            "The agent's id.",
        ),
        Entry {
            name: "num.partitions",
            value: default_partitions.to_string(),
            source: SOURCE_STATIC_BROKER,
            kind: TYPE_INT,
            doc: "Partitions of an auto-created topic.",
        },
    ]);
    entries
}

/// Options of one DescribeConfigs resource.
pub struct Describe<'a> {
    /// Only these names (all when `None`).
    pub keys: Option<&'a [String]>,
    pub synonyms: bool,
    pub documentation: bool,
}

fn render(entries: Vec<Entry>, how: &Describe) -> Vec<DescribeConfigsResourceResult> {
    entries
        .into_iter()
        .filter(|e| how.keys.is_none_or(|keys| keys.iter().any(|k| k == e.name)))
        .map(|e| {
            let mut r = DescribeConfigsResourceResult::default();
            r.name = StrBytes::from_static_str(e.name);
            r.value = Some(StrBytes::from_string(e.value.clone()));
            // No AlterConfigs: nothing here can be changed through Kafka's API.
            r.read_only = true;
            r.config_source = e.source;
            r.is_sensitive = false;
            r.config_type = e.kind;
            if how.synonyms {
                let mut s = DescribeConfigsSynonym::default();
                s.name = StrBytes::from_static_str(e.name);
                s.value = Some(StrBytes::from_string(e.value));
                s.source = e.source;
                r.synonyms.push(s);
            }
            if how.documentation {
                r.documentation = Some(StrBytes::from_static_str(e.doc));
            }
            r
        })
        .collect()
}

pub fn describe_topic(
    retention: &RetentionPolicy,
    max_message_bytes: usize,
    how: &Describe,
) -> Vec<DescribeConfigsResourceResult> {
    render(topic_entries(retention, max_message_bytes), how)
}

pub fn describe_broker(
    node_id: i32,
    default_partitions: i32,
    max_message_bytes: usize,
    retention: &RetentionPolicy,
    how: &Describe,
) -> Vec<DescribeConfigsResourceResult> {
    render(
        broker_entries(node_id, default_partitions, max_message_bytes, retention),
        how,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect()
    }

    #[test]
    fn create_configs_are_accepted_only_for_what_eddy_does() {
        let none = RetentionPolicy::default();
        let week = RetentionPolicy {
            retention_ms: Some(604_800_000),
            retention_bytes: None,
        };
        assert_eq!(check_create(&[], &none), Ok(()));
        assert_eq!(
            check_create(
                &configs(&[
                    ("cleanup.policy", "delete"),
                    ("compression.type", "producer"),
                    ("message.timestamp.type", "CreateTime"),
                    ("segment.bytes", "1073741824"),
                    ("min.insync.replicas", "2"),
                    ("retention.ms", "-1"),
                ]),
                &none
            ),
            Ok(())
        );
        assert_eq!(
            check_create(&configs(&[("retention.ms", "604800000")]), &week),
            Ok(())
        );
        let refused = |pairs: &[(&str, &str)], retention: &RetentionPolicy, needle: &str| {
            let e = check_create(&configs(pairs), retention).expect_err("refused");
            assert!(e.contains(needle), "{e}");
        };
        refused(&[("cleanup.policy", "compact")], &none, "compact");
        refused(&[("cleanup.policy", "compact,delete")], &none, "compact");
        refused(&[("cleanup.policy", "shred")], &none, "invalid");
        refused(&[("compression.type", "zstd")], &none, "producer");
        refused(
            &[("message.timestamp.type", "LogAppendTime")],
            &none,
            "CreateTime",
        );
        refused(&[("retention.ms", "3600000")], &none, "retention.ms=-1");
        refused(&[("retention.ms", "-1")], &week, "retention.ms=604800000");
        refused(&[("retention.bytes", "lots")], &none, "not a number");
        refused(&[("retention.msec", "1")], &none, "unknown topic config");
        let null = vec![("retention.ms".to_string(), None)];
        assert!(check_create(&null, &none).unwrap_err().contains("null"));
    }

    #[test]
    fn described_configs_follow_the_keys_asked_for() {
        let week = RetentionPolicy {
            retention_ms: Some(604_800_000),
            retention_bytes: None,
        };
        let all = describe_topic(
            &week,
            1024,
            &Describe {
                keys: None,
                synonyms: true,
                documentation: false,
            },
        );
        let find = |name: &str| all.iter().find(|c| c.name.as_str() == name).unwrap();
        assert_eq!(find("retention.ms").value.as_deref(), Some("604800000"));
        assert_eq!(find("retention.ms").config_source, SOURCE_STATIC_BROKER);
        assert_eq!(find("retention.bytes").value.as_deref(), Some("-1"));
        assert_eq!(find("cleanup.policy").value.as_deref(), Some("delete"));
        assert!(all.iter().all(|c| c.read_only && c.synonyms.len() == 1));
        let keys = vec!["cleanup.policy".to_string(), "no.such.config".to_string()];
        let some = describe_topic(
            &week,
            1024,
            &Describe {
                keys: Some(&keys),
                synonyms: false,
                documentation: true,
            },
        );
        assert_eq!(some.len(), 1);
        assert!(some[0].synonyms.is_empty() && some[0].documentation.is_some());
    }
}
