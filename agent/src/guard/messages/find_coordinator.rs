//! FindCoordinator (key 10) request layout, versions 0–6 (flexible from 3; batched keys from 4).

use crate::guard::schema::{since, until, Kind::*, MessageSchema, StructSchema};

pub static FIND_COORDINATOR: MessageSchema = MessageSchema {
    api_key: 10,
    name: "FindCoordinator",
    min_version: 0,
    max_version: 6,
    flexible_from: 3,
    body: &StructSchema {
        name: "FindCoordinatorRequest",
        fields: &[
            until(3, String),         // key
            since(1, Int8),           // key_type
            since(4, Array(&String)), // coordinator_keys
        ],
        tagged: &[],
    },
};
