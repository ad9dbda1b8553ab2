//! ListOffsets (key 2) request layout, versions 1–10 (flexible from 6).

use crate::guard::schema::{always, since, Kind::*, MessageSchema, StructSchema};

static PARTITION: StructSchema = StructSchema {
    name: "ListOffsetsPartition",
    fields: &[
        always(Int32),   // partition_index
        since(4, Int32), // current_leader_epoch
        always(Int64),   // timestamp
    ],
    tagged: &[],
};

static TOPIC: StructSchema = StructSchema {
    name: "ListOffsetsTopic",
    fields: &[
        always(String),                     // name
        always(Array(&Struct(&PARTITION))), // partitions
    ],
    tagged: &[],
};

pub static LIST_OFFSETS: MessageSchema = MessageSchema {
    api_key: 2,
    name: "ListOffsets",
    min_version: 1,
    max_version: 10,
    flexible_from: 6,
    body: &StructSchema {
        name: "ListOffsetsRequest",
        fields: &[
            always(Int32),                  // replica_id
            since(2, Int8),                 // isolation_level
            always(Array(&Struct(&TOPIC))), // topics
            since(10, Int32),               // timeout_ms
        ],
        tagged: &[],
    },
};
