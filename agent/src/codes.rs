//! Kafka error codes the agent answers with (from the Kafka protocol guide).

pub const NONE: i16 = 0;
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
pub const CORRUPT_MESSAGE: i16 = 2;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const INVALID_FETCH_SIZE: i16 = 4;
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
pub const NOT_ENOUGH_REPLICAS: i16 = 19;
pub const REQUEST_TIMED_OUT: i16 = 7;
pub const MESSAGE_TOO_LARGE: i16 = 10;
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
pub const RECORD_LIST_TOO_LARGE: i16 = 18;
pub const INVALID_REQUIRED_ACKS: i16 = 21;
pub const UNSUPPORTED_VERSION: i16 = 35;
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
pub const INVALID_PARTITIONS: i16 = 37;
pub const INVALID_REQUEST: i16 = 42;
pub const INVALID_CONFIG: i16 = 40;
pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
pub const KAFKA_STORAGE_ERROR: i16 = 56;
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
pub const ILLEGAL_GENERATION: i16 = 22;
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
pub const UNKNOWN_PRODUCER_ID: i16 = 59;
pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
pub const UNKNOWN_SERVER_ERROR: i16 = -1;
pub const NOT_COORDINATOR: i16 = 16;
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
pub const UNSTABLE_OFFSET_COMMIT: i16 = 88;
pub const INVALID_TXN_STATE: i16 = 48;
pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
pub const INVALID_RECORD: i16 = 87;
pub const PRODUCER_FENCED: i16 = 90;
pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;

use eddy_controlplane::api::{CpError, ErrorKind};

/// The Kafka error code for a control-plane error.
pub fn from_cp(e: &CpError) -> i16 {
    match e.kind {
        ErrorKind::Unavailable | ErrorKind::NotLeader => REQUEST_TIMED_OUT,
        ErrorKind::UnknownTopicOrPartition => UNKNOWN_TOPIC_OR_PARTITION,
        ErrorKind::OffsetOutOfRange => OFFSET_OUT_OF_RANGE,
        ErrorKind::TopicExists => TOPIC_ALREADY_EXISTS,
        ErrorKind::Invalid => INVALID_REQUEST,
        ErrorKind::Internal => UNKNOWN_SERVER_ERROR,
        ErrorKind::ProducerFenced => PRODUCER_FENCED,
        ErrorKind::InvalidProducerIdMapping => INVALID_PRODUCER_ID_MAPPING,
        ErrorKind::InvalidTxnState => INVALID_TXN_STATE,
        ErrorKind::InvalidTransactionTimeout => INVALID_TRANSACTION_TIMEOUT,
    }
}
