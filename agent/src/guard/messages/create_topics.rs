//! CreateTopics (key 19) request layout, versions 2–7 (flexible from 5).

use crate::guard::schema::{always, Kind::*, MessageSchema, StructSchema};

static ASSIGNMENT: StructSchema = StructSchema {
    name: "CreatableReplicaAssignment",
    fields: &[
        always(Int32),         // partition_index
        always(Array(&Int32)), // broker_ids
    ],
    tagged: &[],
};

static CONFIG: StructSchema = StructSchema {
    name: "CreatableTopicConfig",
    fields: &[
        always(String),         // name
        always(NullableString), // value
    ],
    tagged: &[],
};

static TOPIC: StructSchema = StructSchema {
    name: "CreatableTopic",
    fields: &[
        always(String),                      // name
        always(Int32),                       // num_partitions
        always(Int16),                       // replication_factor
        always(Array(&Struct(&ASSIGNMENT))), // assignments
        always(Array(&Struct(&CONFIG))),     // configs
    ],
    tagged: &[],
};

pub static CREATE_TOPICS: MessageSchema = MessageSchema {
    api_key: 19,
    name: "CreateTopics",
    min_version: 2,
    max_version: 7,
    flexible_from: 5,
    body: &StructSchema {
        name: "CreateTopicsRequest",
        fields: &[
            always(Array(&Struct(&TOPIC))), // topics
            always(Int32),                  // timeout_ms
            always(Bool),                   // validate_only
        ],
        tagged: &[],
    },
};
