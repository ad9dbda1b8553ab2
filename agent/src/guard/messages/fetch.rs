//! Fetch (key 1) request layout, versions 4–18 (flexible from 12; topic ids from 13).
//!
//! Fetch is the one served request with known tagged fields: the request's ClusterId (tag 0)
//! and ReplicaState (tag 1, v15+), and the partition's ReplicaDirectoryId (tag 0, v17+) and
//! HighWatermark (tag 1, v18+).

use crate::guard::schema::{
    always, between, since, until, Kind::*, MessageSchema, StructSchema, TaggedField,
};

static PARTITION: StructSchema = StructSchema {
    name: "FetchPartition",
    fields: &[
        always(Int32),    // partition
        since(9, Int32),  // current_leader_epoch
        always(Int64),    // fetch_offset
        since(12, Int32), // last_fetched_epoch
        since(5, Int64),  // log_start_offset
        always(Int32),    // partition_max_bytes
    ],
    tagged: &[
        TaggedField {
            tag: 0,
            min: 17,
            kind: Uuid, // replica_directory_id
        },
        TaggedField {
            tag: 1,
            min: 18,
            kind: Int64, // high_watermark
        },
    ],
};

static TOPIC: StructSchema = StructSchema {
    name: "FetchTopic",
    fields: &[
        until(12, String),                  // topic
        since(13, Uuid),                    // topic_id
        always(Array(&Struct(&PARTITION))), // partitions
    ],
    tagged: &[],
};

static FORGOTTEN_TOPIC: StructSchema = StructSchema {
    name: "ForgottenTopic",
    fields: &[
        between(7, 12, String),  // topic
        since(13, Uuid),         // topic_id
        since(7, Array(&Int32)), // partitions
    ],
    tagged: &[],
};

static REPLICA_STATE: StructSchema = StructSchema {
    name: "ReplicaState",
    fields: &[
        since(15, Int32), // replica_id
        since(15, Int64), // replica_epoch
    ],
    tagged: &[],
};

pub static FETCH: MessageSchema = MessageSchema {
    api_key: 1,
    name: "Fetch",
    min_version: 4,
    max_version: 18,
    flexible_from: 12,
    body: &StructSchema {
        name: "FetchRequest",
        fields: &[
            until(14, Int32),                           // replica_id
            always(Int32),                              // max_wait_ms
            always(Int32),                              // min_bytes
            always(Int32),                              // max_bytes
            always(Int8),                               // isolation_level
            since(7, Int32),                            // session_id
            since(7, Int32),                            // session_epoch
            always(Array(&Struct(&TOPIC))),             // topics
            since(7, Array(&Struct(&FORGOTTEN_TOPIC))), // forgotten_topics_data
            since(11, String),                          // rack_id
        ],
        tagged: &[
            TaggedField {
                tag: 0,
                min: 0,
                kind: NullableString, // cluster_id
            },
            TaggedField {
                tag: 1,
                min: 15,
                kind: Struct(&REPLICA_STATE), // replica_state
            },
        ],
    },
};
