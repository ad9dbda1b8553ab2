//! Which version of each Kafka API this client speaks, and the negotiated choice per
//! connection: the highest version both the client and the broker support.

use std::collections::BTreeMap;

use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

use super::error::ClientError;

/// (api, client min, client max). Produce and Fetch stop at v12 because v13 addresses topics
/// by id, which this client does not track; Produce starts at v3 (the first with record
/// batch v2) even though brokers may advertise v0.
const CLIENT_VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 3, 4),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::TxnOffsetCommit, 0, 3),
    (ApiKey::EndTxn, 0, 3),
];

/// The version of ApiVersions sent first (KIP-511: a broker that does not know it answers
/// with UNSUPPORTED_VERSION and its own range, encoded as v0).
pub(crate) const API_VERSIONS_FIRST: i16 = 3;

/// Negotiated versions of one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersionTable {
    chosen: BTreeMap<i16, i16>,
}

impl ApiVersionTable {
    /// Intersects the broker's advertised ranges with the client's.
    pub(crate) fn negotiate(resp: &ApiVersionsResponse) -> Self {
        let mut chosen = BTreeMap::new();
        for (api, cmin, cmax) in CLIENT_VERSIONS {
            let key = *api as i16;
            if let Some(b) = resp.api_keys.iter().find(|k| k.api_key == key) {
                let hi = (*cmax).min(b.max_version);
                let lo = (*cmin).max(b.min_version);
                if hi >= lo {
                    chosen.insert(key, hi);
                }
            }
        }
        ApiVersionTable { chosen }
    }

    /// The version to use for `api`.
    pub fn version(&self, api: i16) -> Result<i16, ClientError> {
        self.chosen
            .get(&api)
            .copied()
            .ok_or(ClientError::UnsupportedVersion(api))
    }
}
