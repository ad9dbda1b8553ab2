//! Well-formed requests pass: every sample the crate encodes is accepted, and the crate decodes
//! it back to the same bytes. Also the version table and the `Unsupported` answers.

use super::crate_codec::{crate_decode, Decoded};
use super::samples::{all_samples, sample_frame, Shape, FULL_ARRAY_LEN};
use crate::guard::{
    length_prefixes, peek_header, supported_versions, validate_request, GuardError, HeaderPrefix,
    Limits, PrefixKind,
};

#[test]
fn every_sample_is_accepted_and_decodes_to_the_same_bytes() {
    let limits = Limits::default();
    let samples = all_samples();
    assert!(
        samples.len() > 200,
        "expected ~256 samples, got {}",
        samples.len()
    );
    for sample in &samples {
        let what = format!("{sample:?}");
        assert_eq!(
            validate_request(sample.api_key, sample.version, &sample.frame, &limits),
            Ok(()),
            "{what}"
        );
        match crate_decode(&sample.frame) {
            Decoded::Ok {
                remaining,
                reencoded,
            } => {
                assert_eq!(remaining, 0, "crate left bytes unread: {what}");
                let body = reencoded.unwrap_or_else(|e| panic!("re-encode failed ({e}): {what}"));
                // Only ApiVersions and ListGroups v0-2 have an empty body.
                assert_eq!(
                    body.is_empty(),
                    (sample.api_key == 18 || sample.api_key == 16) && sample.version <= 2,
                    "{what}"
                );
                assert!(
                    sample.frame.ends_with(&body),
                    "re-encoded body differs from the sent one: {what}"
                );
            }
            other => panic!("crate failed to decode a sample ({other:?}): {what}"),
        }
    }
}

/// The walker finds the same arrays the sample builder put there (all of length two), and the
/// tagged fields inserted into flexible versions. This also checks the offsets the corruption
/// tests rely on.
#[test]
fn full_samples_expose_their_arrays_and_tagged_fields() {
    let limits = Limits::default();
    for sample in all_samples().iter().filter(|s| s.shape == Shape::Full) {
        let what = format!("api {} v{}", sample.api_key, sample.version);
        let prefixes = length_prefixes(sample.api_key, sample.version, &sample.frame, &limits)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let arrays: Vec<_> = prefixes
            .iter()
            .filter(|p| p.kind == PrefixKind::Array)
            .collect();
        for array in &arrays {
            assert!(
                array.value.is_none() || array.value == Some(FULL_ARRAY_LEN),
                "{what}: unexpected array {array:?}"
            );
        }
        let has_arrays = !(sample.api_key == 18 // ApiVersions
            || sample.api_key == 12 // Heartbeat
            || sample.api_key == 22 // InitProducerId
            || sample.api_key == 25 // AddOffsetsToTxn
            || sample.api_key == 26 // EndTxn
            || (sample.api_key == 13 && sample.version <= 2) // LeaveGroup
            || (sample.api_key == 16 && sample.version <= 3) // ListGroups
            || (sample.api_key == 10 && sample.version <= 3)); // FindCoordinator
        assert_eq!(
            arrays.iter().any(|a| a.value.is_some()),
            has_arrays,
            "{what}"
        );
        let tag_sections: Vec<_> = prefixes
            .iter()
            .filter(|p| p.kind == PrefixKind::TaggedFields)
            .collect();
        // The header of every flexible request is v2 and carries the three sample tags.
        if let Some(first) = tag_sections.first() {
            assert_eq!(first.value, Some(3), "{what}: header tags");
        }
        assert!(
            prefixes.windows(2).all(|w| w[0].at < w[1].at),
            "{what}: prefixes out of order"
        );
    }
}

#[test]
fn fetch_known_tagged_fields_are_walked() {
    let limits = Limits::default();
    let frame = sample_frame(1, 18, Shape::Full);
    let prefixes = length_prefixes(1, 18, &frame, &limits).expect("valid fetch v18");
    // Body tag section: 3 unknown + cluster_id + replica_state.
    assert!(prefixes
        .iter()
        .any(|p| p.kind == PrefixKind::TaggedFields && p.value == Some(5)));
    // Partition tag section: 3 unknown + replica_directory_id + high_watermark.
    assert!(
        prefixes
            .iter()
            .filter(|p| p.kind == PrefixKind::TaggedFields && p.value == Some(5))
            .count()
            >= 3
    );
}

#[test]
fn version_table_matches_the_served_apis() {
    let expected = [
        (0, (3, 13)), // Produce
        (1, (4, 18)), // Fetch
        (2, (1, 10)), // ListOffsets
        (3, (0, 13)), // Metadata
        (8, (2, 9)),  // OffsetCommit
        (9, (1, 9)),  // OffsetFetch
        (10, (0, 6)), // FindCoordinator
        (11, (0, 9)), // JoinGroup
        (12, (0, 4)), // Heartbeat
        (13, (0, 5)), // LeaveGroup
        (14, (0, 5)), // SyncGroup
        (15, (0, 6)), // DescribeGroups
        (16, (0, 5)), // ListGroups
        (18, (0, 4)), // ApiVersions
        (19, (2, 7)), // CreateTopics
        (22, (0, 5)), // InitProducerId
        (24, (0, 3)), // AddPartitionsToTxn
        (25, (0, 4)), // AddOffsetsToTxn
        (26, (0, 5)), // EndTxn
        (28, (0, 5)), // TxnOffsetCommit
        (32, (1, 4)), // DescribeConfigs
        (65, (0, 0)), // DescribeTransactions
        (66, (0, 2)), // ListTransactions
    ];
    for (key, range) in expected {
        assert_eq!(supported_versions(key), Some(range), "api key {key}");
    }
    for key in [-1, 4, 5, 7, 17, 36, 1000, i16::MIN, i16::MAX] {
        assert_eq!(supported_versions(key), None, "api key {key}");
    }
}

#[test]
fn unsupported_keys_and_versions_are_reported_as_such() {
    let limits = Limits::default();
    let frame = sample_frame(0, 9, Shape::Full);
    let unsupported = |api_key, api_version| GuardError::Unsupported {
        api_key,
        api_version,
    };
    // Produce v0-2: advertised for old librdkafka, but not decodable.
    assert_eq!(
        validate_request(0, 2, &frame, &limits),
        Err(unsupported(0, 2))
    );
    assert_eq!(
        validate_request(0, 14, &frame, &limits),
        Err(unsupported(0, 14))
    );
    // ApiVersions from the future: the agent answers with the KIP-511 fallback.
    assert_eq!(
        validate_request(18, 5, &frame, &limits),
        Err(unsupported(18, 5))
    );
    // SaslHandshake is a real API the agent does not serve; 999 is no API at all.
    assert_eq!(
        validate_request(17, 1, &frame, &limits),
        Err(unsupported(17, 1))
    );
    assert_eq!(
        validate_request(999, 0, &[], &limits),
        Err(unsupported(999, 0))
    );
}

#[test]
fn header_must_name_the_api_the_caller_routes_on() {
    let limits = Limits::default();
    let frame = sample_frame(3, 12, Shape::Full);
    assert_eq!(
        validate_request(3, 11, &frame, &limits),
        Err(GuardError::HeaderMismatch {
            expected_key: 3,
            expected_version: 11,
            found_key: 3,
            found_version: 12,
        })
    );
    assert_eq!(
        peek_header(&frame),
        Ok(HeaderPrefix {
            api_key: 3,
            api_version: 12,
            correlation_id: 42,
        })
    );
    assert!(matches!(
        peek_header(&frame[..7]),
        Err(GuardError::Truncated { at: 4, .. })
    ));
}

#[test]
fn trailing_bytes_are_refused_unless_allowed() {
    let mut frame = sample_frame(12, 4, Shape::Full);
    let body_end = frame.len();
    frame.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        validate_request(12, 4, &frame, &Limits::default()),
        Err(GuardError::TrailingBytes {
            at: body_end,
            count: 3,
        })
    );
    let lenient = Limits {
        allow_trailing_bytes: true,
        ..Limits::default()
    };
    assert_eq!(validate_request(12, 4, &frame, &lenient), Ok(()));
    // The crate ignores them, which is why the guard is the one to refuse.
    assert!(matches!(
        crate_decode(&frame),
        Decoded::Ok { remaining: 3, .. }
    ));
}

#[test]
fn oversized_frames_are_refused_before_parsing() {
    let frame = sample_frame(0, 9, Shape::Full);
    let tight = Limits {
        max_frame_len: frame.len() - 1,
        ..Limits::default()
    };
    assert_eq!(
        validate_request(0, 9, &frame, &tight),
        Err(GuardError::FrameTooLarge {
            len: frame.len(),
            max: frame.len() - 1,
        })
    );
}

/// Every API the agent advertises in ApiVersions is one the guard validates, at every
/// advertised version (Produce from v3, the first decodable): a request the guard does not
/// know is refused and its connection closed, whatever the handler could do with it.
#[test]
fn every_advertised_api_and_version_has_a_guard_schema() {
    let mut missing = Vec::new();
    for (api, lo, hi) in crate::handlers::SUPPORTED {
        let lo = if *api == kafka_protocol::messages::ApiKey::Produce {
            (*lo).max(3)
        } else {
            *lo
        };
        let range = supported_versions(*api as i16);
        if !range.is_some_and(|(a, b)| a <= lo && *hi <= b) {
            missing.push(format!("{api:?} v{lo}-{hi} (guard: {range:?})"));
        }
    }
    assert!(
        missing.is_empty(),
        "advertised but refused by the guard: {missing:?}"
    );
}
