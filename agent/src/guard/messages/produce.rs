//! Produce (key 0) request layout, versions 3–13 (flexible from 9; topic ids from 13).
//!
//! The agent advertises v0–2 for old librdkafka but refuses them; the crate cannot decode them
//! either, so they are `Unsupported` here.

use crate::guard::schema::{always, since, until, Kind::*, MessageSchema, StructSchema};

static PARTITION: StructSchema = StructSchema {
    name: "PartitionProduceData",
    fields: &[
        always(Int32),   // index
        always(Records), // records (nullable)
    ],
    tagged: &[],
};

static TOPIC: StructSchema = StructSchema {
    name: "TopicProduceData",
    fields: &[
        until(12, String),                  // name
        since(13, Uuid),                    // topic_id
        always(Array(&Struct(&PARTITION))), // partition_data
    ],
    tagged: &[],
};

pub static PRODUCE: MessageSchema = MessageSchema {
    api_key: 0,
    name: "Produce",
    min_version: 3,
    max_version: 13,
    flexible_from: 9,
    body: &StructSchema {
        name: "ProduceRequest",
        fields: &[
            always(NullableString),         // transactional_id
            always(Int16),                  // acks
            always(Int32),                  // timeout_ms
            always(Array(&Struct(&TOPIC))), // topic_data
        ],
        tagged: &[],
    },
};
