//! Classic consumer-group membership requests: JoinGroup (key 11, v0–9, flexible from 6),
//! SyncGroup (key 14, v0–5, flexible from 4), Heartbeat (key 12, v0–4, flexible from 4) and
//! LeaveGroup (key 13, v0–5, flexible from 4).

use crate::guard::schema::{always, since, until, Kind::*, MessageSchema, StructSchema};

static JOIN_PROTOCOL: StructSchema = StructSchema {
    name: "JoinGroupRequestProtocol",
    fields: &[
        always(String), // name
        always(Bytes),  // metadata
    ],
    tagged: &[],
};

pub static JOIN_GROUP: MessageSchema = MessageSchema {
    api_key: 11,
    name: "JoinGroup",
    min_version: 0,
    max_version: 9,
    flexible_from: 6,
    body: &StructSchema {
        name: "JoinGroupRequest",
        fields: &[
            always(String),                         // group_id
            always(Int32),                          // session_timeout_ms
            since(1, Int32),                        // rebalance_timeout_ms
            always(String),                         // member_id
            since(5, NullableString),               // group_instance_id
            always(String),                         // protocol_type
            always(Array(&Struct(&JOIN_PROTOCOL))), // protocols
            since(8, NullableString),               // reason
        ],
        tagged: &[],
    },
};

static SYNC_ASSIGNMENT: StructSchema = StructSchema {
    name: "SyncGroupRequestAssignment",
    fields: &[
        always(String), // member_id
        always(Bytes),  // assignment
    ],
    tagged: &[],
};

pub static SYNC_GROUP: MessageSchema = MessageSchema {
    api_key: 14,
    name: "SyncGroup",
    min_version: 0,
    max_version: 5,
    flexible_from: 4,
    body: &StructSchema {
        name: "SyncGroupRequest",
        fields: &[
            always(String),                           // group_id
            always(Int32),                            // generation_id
            always(String),                           // member_id
            since(3, NullableString),                 // group_instance_id
            since(5, NullableString),                 // protocol_type
            since(5, NullableString),                 // protocol_name
            always(Array(&Struct(&SYNC_ASSIGNMENT))), // assignments
        ],
        tagged: &[],
    },
};

pub static HEARTBEAT: MessageSchema = MessageSchema {
    api_key: 12,
    name: "Heartbeat",
    min_version: 0,
    max_version: 4,
    flexible_from: 4,
    body: &StructSchema {
        name: "HeartbeatRequest",
        fields: &[
            always(String),           // group_id
            always(Int32),            // generation_id
            always(String),           // member_id
            since(3, NullableString), // group_instance_id
        ],
        tagged: &[],
    },
};

static LEAVE_MEMBER: StructSchema = StructSchema {
    name: "MemberIdentity",
    fields: &[
        since(3, String),         // member_id
        since(3, NullableString), // group_instance_id
        since(5, NullableString), // reason
    ],
    tagged: &[],
};

pub static LEAVE_GROUP: MessageSchema = MessageSchema {
    api_key: 13,
    name: "LeaveGroup",
    min_version: 0,
    max_version: 5,
    flexible_from: 4,
    body: &StructSchema {
        name: "LeaveGroupRequest",
        fields: &[
            always(String),                          // group_id
            until(2, String),                        // member_id
            since(3, Array(&Struct(&LEAVE_MEMBER))), // members
        ],
        tagged: &[],
    },
};
