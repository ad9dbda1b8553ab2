//! OffsetFetch (key 9) request layout, versions 1–9 (flexible from 6; batched groups from 8).
//! The crate cannot decode v0, so it is `Unsupported`.

use crate::guard::schema::{since, until, Kind::*, MessageSchema, StructSchema};

/// Topic of the single-group form (v1–7).
static TOPIC: StructSchema = StructSchema {
    name: "OffsetFetchRequestTopic",
    fields: &[
        until(7, String),        // name
        until(7, Array(&Int32)), // partition_indexes
    ],
    tagged: &[],
};

/// Topic of the batched form (v8+).
static GROUP_TOPIC: StructSchema = StructSchema {
    name: "OffsetFetchRequestTopics",
    fields: &[
        since(8, String),        // name
        since(8, Array(&Int32)), // partition_indexes
    ],
    tagged: &[],
};

static GROUP: StructSchema = StructSchema {
    name: "OffsetFetchRequestGroup",
    fields: &[
        since(8, String),                               // group_id
        since(9, NullableString),                       // member_id
        since(9, Int32),                                // member_epoch
        since(8, NullableArray(&Struct(&GROUP_TOPIC))), // topics (null = all)
    ],
    tagged: &[],
};

pub static OFFSET_FETCH: MessageSchema = MessageSchema {
    api_key: 9,
    name: "OffsetFetch",
    min_version: 1,
    max_version: 9,
    flexible_from: 6,
    body: &StructSchema {
        name: "OffsetFetchRequest",
        fields: &[
            until(7, String),                         // group_id
            until(7, NullableArray(&Struct(&TOPIC))), // topics (null = all)
            since(8, Array(&Struct(&GROUP))),         // groups
            since(7, Bool),                           // require_stable
        ],
        tagged: &[],
    },
};
