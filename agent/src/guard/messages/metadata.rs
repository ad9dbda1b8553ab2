//! Metadata (key 3) request layout, versions 0–13 (flexible from 9).

use crate::guard::schema::{always, between, since, Kind::*, MessageSchema, StructSchema};

static TOPIC: StructSchema = StructSchema {
    name: "MetadataRequestTopic",
    fields: &[
        since(10, Uuid),        // topic_id
        always(NullableString), // name
    ],
    tagged: &[],
};

pub static METADATA: MessageSchema = MessageSchema {
    api_key: 3,
    name: "Metadata",
    min_version: 0,
    max_version: 13,
    flexible_from: 9,
    body: &StructSchema {
        name: "MetadataRequest",
        fields: &[
            always(NullableArray(&Struct(&TOPIC))), // topics (null = all topics)
            since(4, Bool),                         // allow_auto_topic_creation
            between(8, 10, Bool),                   // include_cluster_authorized_operations
            since(8, Bool),                         // include_topic_authorized_operations
        ],
        tagged: &[],
    },
};
