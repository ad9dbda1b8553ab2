//! OffsetCommit (key 8) request layout, versions 2–9 (flexible from 8). The crate cannot
//! decode v0–1, so they are `Unsupported`.

use crate::guard::schema::{always, since, until, Kind::*, MessageSchema, StructSchema};

static PARTITION: StructSchema = StructSchema {
    name: "OffsetCommitRequestPartition",
    fields: &[
        always(Int32),          // partition_index
        always(Int64),          // committed_offset
        since(6, Int32),        // committed_leader_epoch
        always(NullableString), // committed_metadata
    ],
    tagged: &[],
};

static TOPIC: StructSchema = StructSchema {
    name: "OffsetCommitRequestTopic",
    fields: &[
        always(String),                     // name
        always(Array(&Struct(&PARTITION))), // partitions
    ],
    tagged: &[],
};

pub static OFFSET_COMMIT: MessageSchema = MessageSchema {
    api_key: 8,
    name: "OffsetCommit",
    min_version: 2,
    max_version: 9,
    flexible_from: 8,
    body: &StructSchema {
        name: "OffsetCommitRequest",
        fields: &[
            always(String),                 // group_id
            always(Int32),                  // generation_id_or_member_epoch
            always(String),                 // member_id
            since(7, NullableString),       // group_instance_id
            until(4, Int64),                // retention_time_ms
            always(Array(&Struct(&TOPIC))), // topics
        ],
        tagged: &[],
    },
};
