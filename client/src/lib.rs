//! eddy-client: the Kafka client the simulation's workload runs: a connection with version
//! negotiation and pipelining (`conn`), a metadata cache (`metadata`) and connection pool
//! (`cluster`), a batching producer with retries and optional idempotence (`producer`), a
//! simple assign/seek/poll consumer (`consumer`) and a group consumer (`group`).
//!
//! It is an independent implementation of the client side of the protocol and shares no code
//! with the agent or the control plane (it depends on neither), so that the two sides do not
//! share bugs.
//!
//! It speaks the Kafka wire protocol through the `kafka-protocol` crate over any byte stream
//! handed out by a [`conn::DialFn`], so the simulator can meter the traffic. It must never
//! reach for wall-clock time, unseeded randomness or iterate unordered maps: everything it
//! does is replayable from the simulation seed.

pub mod cluster;
pub mod conn;
pub mod consumer;
pub mod error;
pub mod group;
pub mod metadata;
pub mod producer;
mod records;
mod versions;

#[cfg(test)]
mod tests;

pub use cluster::{Cluster, ClusterConfig};
pub use conn::{
    tcp_dialer, AsyncReadWrite, BoxFuture, BoxStream, ConnConfig, Connection, DialFn,
    PendingResponse,
};
pub use consumer::{Consumer, ConsumerConfig, Isolation, OffsetReset, PolledBatch};
pub use error::{ClientError, ConsumeError, SendError};
pub use group::{Assignor, GroupConfig, GroupConsumer, GroupEvent, HeldCommit};
pub use metadata::Metadata;
pub use producer::{
    CompressionKind, Delivery, GroupMetadata, Producer, ProducerConfig, TxnError, TxnErrorKind,
};
pub use versions::ApiVersionTable;
