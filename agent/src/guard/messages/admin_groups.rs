//! Consumer-group administration requests: DescribeGroups (key 15, v0–6, flexible from 5) and
//! ListGroups (key 16, v0–5, flexible from 3).

use crate::guard::schema::{always, since, Kind::*, MessageSchema, StructSchema};

pub static DESCRIBE_GROUPS: MessageSchema = MessageSchema {
    api_key: 15,
    name: "DescribeGroups",
    min_version: 0,
    max_version: 6,
    flexible_from: 5,
    body: &StructSchema {
        name: "DescribeGroupsRequest",
        fields: &[
            always(Array(&String)), // groups
            since(3, Bool),         // include_authorized_operations
        ],
        tagged: &[],
    },
};

pub static LIST_GROUPS: MessageSchema = MessageSchema {
    api_key: 16,
    name: "ListGroups",
    min_version: 0,
    max_version: 5,
    flexible_from: 3,
    body: &StructSchema {
        name: "ListGroupsRequest",
        fields: &[
            since(4, Array(&String)), // states_filter
            since(5, Array(&String)), // types_filter
        ],
        tagged: &[],
    },
};
