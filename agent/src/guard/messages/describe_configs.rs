//! DescribeConfigs (key 32) request layout, versions 1–4 (flexible from 4). The crate cannot
//! decode v0, so it is `Unsupported`.

use crate::guard::schema::{always, since, Kind::*, MessageSchema, StructSchema};

static RESOURCE: StructSchema = StructSchema {
    name: "DescribeConfigsResource",
    fields: &[
        always(Int8),                   // resource_type
        always(String),                 // resource_name
        always(NullableArray(&String)), // configuration_keys (null = all)
    ],
    tagged: &[],
};

pub static DESCRIBE_CONFIGS: MessageSchema = MessageSchema {
    api_key: 32,
    name: "DescribeConfigs",
    min_version: 1,
    max_version: 4,
    flexible_from: 4,
    body: &StructSchema {
        name: "DescribeConfigsRequest",
        fields: &[
            always(Array(&Struct(&RESOURCE))), // resources
            always(Bool),                      // include_synonyms
            since(3, Bool),                    // include_documentation
        ],
        tagged: &[],
    },
};
