//! Test helpers that run the `kafka-protocol` crate itself: frame encoding and a panic-catching
//! decoder dispatch for every served API.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Buf, Bytes};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{decode_request_header_from_buffer, Decodable, Encodable};

/// What the crate made of a frame.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decoded {
    /// Header and body decoded; `remaining` bytes were left unread; `reencoded` is the body
    /// encoded again from the decoded value (or why that failed).
    Ok {
        remaining: usize,
        reencoded: Result<Vec<u8>, String>,
    },
    Err(String),
    Panicked,
}

/// Encodes `header` + `body` the way a client frames a request (without the size prefix).
pub(super) fn encode_frame<T: Encodable>(header: &RequestHeader, body: &T) -> Vec<u8> {
    let key = ApiKey::try_from(header.request_api_key).expect("sample uses a known api key");
    let header_version = key.request_header_version(header.request_api_version);
    let mut frame = Vec::new();
    header
        .encode(&mut frame, header_version)
        .expect("sample header encodes");
    body.encode(&mut frame, header.request_api_version)
        .expect("sample body encodes");
    frame
}

/// Decodes `frame` with the crate, catching panics. Do NOT call this on frames the guard
/// refused for oversized counts: the crate may abort the whole process on those.
pub(super) fn crate_decode(frame: &[u8]) -> Decoded {
    let bytes = Bytes::copy_from_slice(frame);
    type Outcome = Result<(usize, Result<Vec<u8>, String>), String>;
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Outcome {
        let mut buf = bytes.clone();
        let header = decode_request_header_from_buffer(&mut buf).map_err(|e| e.to_string())?;
        let reencoded = decode_body(header.request_api_key, header.request_api_version, &mut buf)?;
        Ok((buf.remaining(), reencoded))
    }));
    match outcome {
        Ok(Ok((remaining, reencoded))) => Decoded::Ok {
            remaining,
            reencoded,
        },
        Ok(Err(e)) => Decoded::Err(e),
        Err(_) => Decoded::Panicked,
    }
}

/// Decodes a body, then encodes the value again (inner result).
type RoundTrip = Result<Result<Vec<u8>, String>, String>;

fn roundtrip<T: Decodable + Encodable>(buf: &mut Bytes, version: i16) -> RoundTrip {
    let value = T::decode(buf, version).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    Ok(value
        .encode(&mut out, version)
        .map(|()| out)
        .map_err(|e| e.to_string()))
}

fn decode_body(api_key: i16, version: i16, buf: &mut Bytes) -> RoundTrip {
    match ApiKey::try_from(api_key) {
        Ok(ApiKey::Produce) => roundtrip::<ProduceRequest>(buf, version),
        Ok(ApiKey::Fetch) => roundtrip::<FetchRequest>(buf, version),
        Ok(ApiKey::ListOffsets) => roundtrip::<ListOffsetsRequest>(buf, version),
        Ok(ApiKey::Metadata) => roundtrip::<MetadataRequest>(buf, version),
        Ok(ApiKey::OffsetCommit) => roundtrip::<OffsetCommitRequest>(buf, version),
        Ok(ApiKey::OffsetFetch) => roundtrip::<OffsetFetchRequest>(buf, version),
        Ok(ApiKey::FindCoordinator) => roundtrip::<FindCoordinatorRequest>(buf, version),
        Ok(ApiKey::JoinGroup) => roundtrip::<JoinGroupRequest>(buf, version),
        Ok(ApiKey::Heartbeat) => roundtrip::<HeartbeatRequest>(buf, version),
        Ok(ApiKey::LeaveGroup) => roundtrip::<LeaveGroupRequest>(buf, version),
        Ok(ApiKey::SyncGroup) => roundtrip::<SyncGroupRequest>(buf, version),
        Ok(ApiKey::DescribeGroups) => roundtrip::<DescribeGroupsRequest>(buf, version),
        Ok(ApiKey::ListGroups) => roundtrip::<ListGroupsRequest>(buf, version),
        Ok(ApiKey::ApiVersions) => roundtrip::<ApiVersionsRequest>(buf, version),
        Ok(ApiKey::CreateTopics) => roundtrip::<CreateTopicsRequest>(buf, version),
        Ok(ApiKey::InitProducerId) => roundtrip::<InitProducerIdRequest>(buf, version),
        Ok(ApiKey::DescribeConfigs) => roundtrip::<DescribeConfigsRequest>(buf, version),
        Ok(ApiKey::AddPartitionsToTxn) => roundtrip::<AddPartitionsToTxnRequest>(buf, version),
        Ok(ApiKey::AddOffsetsToTxn) => roundtrip::<AddOffsetsToTxnRequest>(buf, version),
        Ok(ApiKey::EndTxn) => roundtrip::<EndTxnRequest>(buf, version),
        Ok(ApiKey::TxnOffsetCommit) => roundtrip::<TxnOffsetCommitRequest>(buf, version),
        Ok(ApiKey::DescribeTransactions) => roundtrip::<DescribeTransactionsRequest>(buf, version),
        Ok(ApiKey::ListTransactions) => roundtrip::<ListTransactionsRequest>(buf, version),
        _ => Err(format!("api key {api_key} is not served")),
    }
}
