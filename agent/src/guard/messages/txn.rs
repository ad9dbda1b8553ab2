//! Transactional request layouts, for the versions the agent serves (`handlers::SUPPORTED`):
//! AddPartitionsToTxn (key 24) v0–3, AddOffsetsToTxn (25) v0–3, EndTxn (26) v0–3 and
//! TxnOffsetCommit (28) v0–3, flexible from 3; DescribeTransactions (65) v0 and
//! ListTransactions (66) v0–1, flexible from 0. Transcribed from `kafka-protocol` 0.18's
//! decoders (AddPartitionsToTxn v4+ batches transactions: not served).

use crate::guard::schema::{always, since, Kind::*, MessageSchema, StructSchema};

static ADD_PARTITIONS_TOPIC: StructSchema = StructSchema {
    name: "AddPartitionsToTxnTopic",
    fields: &[
        always(String),        // name
        always(Array(&Int32)), // partitions
    ],
    tagged: &[],
};

pub static ADD_PARTITIONS_TO_TXN: MessageSchema = MessageSchema {
    api_key: 24,
    name: "AddPartitionsToTxn",
    min_version: 0,
    max_version: 3,
    flexible_from: 3,
    body: &StructSchema {
        name: "AddPartitionsToTxnRequest",
        fields: &[
            always(String),                                // v3_and_below_transactional_id
            always(Int64),                                 // v3_and_below_producer_id
            always(Int16),                                 // v3_and_below_producer_epoch
            always(Array(&Struct(&ADD_PARTITIONS_TOPIC))), // v3_and_below_topics
        ],
        tagged: &[],
    },
};

pub static ADD_OFFSETS_TO_TXN: MessageSchema = MessageSchema {
    api_key: 25,
    name: "AddOffsetsToTxn",
    min_version: 0,
    max_version: 3,
    flexible_from: 3,
    body: &StructSchema {
        name: "AddOffsetsToTxnRequest",
        fields: &[
            always(String), // transactional_id
            always(Int64),  // producer_id
            always(Int16),  // producer_epoch
            always(String), // group_id
        ],
        tagged: &[],
    },
};

pub static END_TXN: MessageSchema = MessageSchema {
    api_key: 26,
    name: "EndTxn",
    min_version: 0,
    max_version: 3,
    flexible_from: 3,
    body: &StructSchema {
        name: "EndTxnRequest",
        fields: &[
            always(String), // transactional_id
            always(Int64),  // producer_id
            always(Int16),  // producer_epoch
            always(Bool),   // committed
        ],
        tagged: &[],
    },
};

static TXN_COMMIT_PARTITION: StructSchema = StructSchema {
    name: "TxnOffsetCommitRequestPartition",
    fields: &[
        always(Int32),          // partition_index
        always(Int64),          // committed_offset
        since(2, Int32),        // committed_leader_epoch
        always(NullableString), // committed_metadata
    ],
    tagged: &[],
};

static TXN_COMMIT_TOPIC: StructSchema = StructSchema {
    name: "TxnOffsetCommitRequestTopic",
    fields: &[
        always(String),                                // name
        always(Array(&Struct(&TXN_COMMIT_PARTITION))), // partitions
    ],
    tagged: &[],
};

pub static TXN_OFFSET_COMMIT: MessageSchema = MessageSchema {
    api_key: 28,
    name: "TxnOffsetCommit",
    min_version: 0,
    max_version: 3,
    flexible_from: 3,
    body: &StructSchema {
        name: "TxnOffsetCommitRequest",
        fields: &[
            always(String),                            // transactional_id
            always(String),                            // group_id
            always(Int64),                             // producer_id
            always(Int16),                             // producer_epoch
            since(3, Int32),                           // generation_id
            since(3, String),                          // member_id
            since(3, NullableString),                  // group_instance_id
            always(Array(&Struct(&TXN_COMMIT_TOPIC))), // topics
        ],
        tagged: &[],
    },
};

pub static DESCRIBE_TRANSACTIONS: MessageSchema = MessageSchema {
    api_key: 65,
    name: "DescribeTransactions",
    min_version: 0,
    max_version: 0,
    flexible_from: 0,
    body: &StructSchema {
        name: "DescribeTransactionsRequest",
        fields: &[
            always(Array(&String)), // transactional_ids
        ],
        tagged: &[],
    },
};

pub static LIST_TRANSACTIONS: MessageSchema = MessageSchema {
    api_key: 66,
    name: "ListTransactions",
    min_version: 0,
    max_version: 1,
    flexible_from: 0,
    body: &StructSchema {
        name: "ListTransactionsRequest",
        fields: &[
            always(Array(&String)), // state_filters
            always(Array(&Int64)),  // producer_id_filters
            since(1, Int64),        // duration_filter
        ],
        tagged: &[],
    },
};
