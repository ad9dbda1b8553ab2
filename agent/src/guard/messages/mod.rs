//! Request layouts for every API the agent serves, one file per API.
//!
//! Each table is transcribed from the request decoder of `kafka-protocol` 0.18 for the same
//! API (field order, version gates, nullability as that crate's Rust types have it), so the
//! guard never accepts what that decoder would refuse. The version ranges are those the crate
//! decodes; versions it cannot decode are `Unsupported` here too.

use super::schema::MessageSchema;

mod admin_groups;
mod api_versions;
mod create_topics;
mod describe_configs;
mod fetch;
mod find_coordinator;
mod group;
mod init_producer_id;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_fetch;
mod produce;
mod txn;

/// Every message the guard knows, ordered by API key.
pub static ALL: &[&MessageSchema] = &[
    &produce::PRODUCE,
    &fetch::FETCH,
    &list_offsets::LIST_OFFSETS,
    &metadata::METADATA,
    &offset_commit::OFFSET_COMMIT,
    &offset_fetch::OFFSET_FETCH,
    &find_coordinator::FIND_COORDINATOR,
    &group::JOIN_GROUP,
    &group::HEARTBEAT,
    &group::LEAVE_GROUP,
    &group::SYNC_GROUP,
    &admin_groups::DESCRIBE_GROUPS,
    &admin_groups::LIST_GROUPS,
    &api_versions::API_VERSIONS,
    &create_topics::CREATE_TOPICS,
    &init_producer_id::INIT_PRODUCER_ID,
    &describe_configs::DESCRIBE_CONFIGS,
    &txn::ADD_PARTITIONS_TO_TXN,
    &txn::ADD_OFFSETS_TO_TXN,
    &txn::END_TXN,
    &txn::TXN_OFFSET_COMMIT,
    &txn::DESCRIBE_TRANSACTIONS,
    &txn::LIST_TRANSACTIONS,
];

/// The schema for `api_key`, if the guard knows the API.
pub fn lookup(api_key: i16) -> Option<&'static MessageSchema> {
    ALL.iter().copied().find(|m| m.api_key == api_key)
}
