//! InitProducerId (key 22) request layout, versions 0–5 (flexible from 2).

use crate::guard::schema::{always, since, Kind::*, MessageSchema, StructSchema};

pub static INIT_PRODUCER_ID: MessageSchema = MessageSchema {
    api_key: 22,
    name: "InitProducerId",
    min_version: 0,
    max_version: 5,
    flexible_from: 2,
    body: &StructSchema {
        name: "InitProducerIdRequest",
        fields: &[
            always(NullableString), // transactional_id
            always(Int32),          // transaction_timeout_ms
            since(3, Int64),        // producer_id
            since(3, Int16),        // producer_epoch
        ],
        tagged: &[],
    },
};
