//! Corrupted frames are refused: every array count, string/bytes length and tagged-field
//! count/size of every full sample is overwritten with a huge value, a negative one, a value
//! over the limits, and (for strings) invalid UTF-8.
//!
//! Frames with huge counts are never handed to the crate here: that is exactly what can abort
//! the process. Frames whose counts stay small (negative, off by one, bad UTF-8) are decoded
//! with the crate too, to check it fails without panicking.

use std::collections::BTreeMap;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::crate_codec::{crate_decode, encode_frame, Decoded};
use super::samples::{all_samples, sample_frame, Shape};
use crate::guard::{
    length_prefixes, validate_request, GuardError, LengthPrefix, Limits, PrefixKind,
};

/// A compact length/count of `u32::MAX - 1` elements (varint of `u32::MAX`).
const HUGE_VARINT: [u8; 5] = [0xff, 0xff, 0xff, 0xff, 0x0f];

fn varint_len(frame: &[u8], at: usize) -> usize {
    frame[at..]
        .iter()
        .position(|b| b & 0x80 == 0)
        .expect("walked varint is complete")
        + 1
}

fn prefix_len(frame: &[u8], p: &LengthPrefix) -> usize {
    match (p.compact, p.kind) {
        (true, _) => varint_len(frame, p.at),
        (false, PrefixKind::String) => 2,
        (false, _) => 4,
    }
}

/// `frame` with the prefix `p` replaced by `new` (which may differ in length).
fn with_prefix(frame: &[u8], p: &LengthPrefix, new: &[u8]) -> Vec<u8> {
    let end = p.at + prefix_len(frame, p);
    [&frame[..p.at], new, &frame[end..]].concat()
}

/// Encodes a length in the prefix's own encoding (compact ones are stored plus one).
fn encode_len(p: &LengthPrefix, len: i64) -> Vec<u8> {
    if p.compact {
        let mut stored = u64::try_from(len + 1).expect("compact lengths are >= -1");
        let mut out = Vec::new();
        while stored >= 0x80 {
            out.push((stored as u8) | 0x80);
            stored >>= 7;
        }
        out.push(stored as u8);
        out
    } else if p.kind == PrefixKind::String {
        i16::try_from(len).expect("fits").to_be_bytes().to_vec()
    } else {
        i32::try_from(len).expect("fits").to_be_bytes().to_vec()
    }
}

/// Whether `p` lies inside the value of a (necessarily known) tagged field.
fn inside_tagged_value(frame: &[u8], prefixes: &[LengthPrefix], p: &LengthPrefix) -> bool {
    prefixes
        .iter()
        .filter(|q| q.kind == PrefixKind::TaggedFieldSize)
        .any(|q| {
            let start = q.at + prefix_len(frame, q);
            let len = q.value.unwrap_or_default() as usize;
            (start..start + len).contains(&p.at)
        })
}

/// The first prefix of `kind` whose value exceeds `limit`.
fn first_over(prefixes: &[LengthPrefix], kind: PrefixKind, limit: u64) -> LengthPrefix {
    *prefixes
        .iter()
        .find(|q| q.kind == kind && q.value.is_some_and(|v| v > limit))
        .expect("the prefix under test is over the limit")
}

fn assert_crate_fails_cleanly(frame: &[u8], what: &str) {
    match crate_decode(frame) {
        Decoded::Err(_) => {}
        other => panic!("crate should refuse {what}, got {other:?}"),
    }
}

#[test]
fn huge_negative_and_over_limit_lengths_are_refused_everywhere() {
    let limits = Limits::default();
    let mut checked = BTreeMap::<&str, usize>::new();
    for sample in all_samples().iter().filter(|s| s.shape == Shape::Full) {
        let (key, version, frame) = (sample.api_key, sample.version, &sample.frame);
        let prefixes = length_prefixes(key, version, frame, &limits).expect("sample is valid");
        for p in &prefixes {
            let what = format!("api {key} v{version} {p:?}");
            let validate = |f: &[u8], l: &Limits| validate_request(key, version, f, l);
            let Some(value) = p.value else { continue };
            let huge = if p.compact {
                HUGE_VARINT.to_vec()
            } else if p.kind == PrefixKind::String {
                i16::MAX.to_be_bytes().to_vec()
            } else {
                i32::MAX.to_be_bytes().to_vec()
            };
            let corrupted = with_prefix(frame, p, &huge);
            let result = validate(&corrupted, &limits);
            // Inside a known tagged field the longer prefix may first overrun the field's
            // declared size.
            if inside_tagged_value(frame, &prefixes, p) {
                *checked.entry("nested").or_default() += 1;
                if matches!(result, Err(GuardError::Truncated { .. })) {
                    continue;
                }
            }
            match p.kind {
                PrefixKind::Array => {
                    assert!(
                        matches!(result, Err(GuardError::ArrayExceedsFrame { at, .. }) if at == p.at),
                        "{what}: {result:?}"
                    );
                    // The first array longer than the limit is the one reported.
                    let tight = Limits {
                        max_array_len: value as usize - 1,
                        ..Limits::default()
                    };
                    let first_over = first_over(&prefixes, PrefixKind::Array, value - 1);
                    assert_eq!(
                        validate(frame, &tight),
                        Err(GuardError::ArrayTooLong {
                            at: first_over.at,
                            count: first_over.value.unwrap_or_default(),
                            limit: value as usize - 1,
                        }),
                        "{what}"
                    );
                    // Off by one either way: refused, or else the crate must agree.
                    for delta in [-1, 1] {
                        let nudged = with_prefix(frame, p, &encode_len(p, value as i64 + delta));
                        if validate(&nudged, &limits).is_ok() {
                            assert!(
                                matches!(crate_decode(&nudged), Decoded::Ok { remaining: 0, .. }),
                                "{what}: guard passed a nudged count the crate refuses"
                            );
                        }
                    }
                }
                PrefixKind::String | PrefixKind::Bytes | PrefixKind::TaggedFieldSize => {
                    assert!(
                        matches!(result, Err(GuardError::LengthExceedsFrame { at, .. }) if at == p.at),
                        "{what}: {result:?}"
                    );
                }
                PrefixKind::TaggedFields => {
                    assert!(
                        matches!(result, Err(GuardError::TooManyTaggedFields { at, .. }) if at == p.at),
                        "{what}: {result:?}"
                    );
                }
            }
            *checked.entry("huge").or_default() += 1;

            let fixed_width = !p.compact
                && matches!(
                    p.kind,
                    PrefixKind::Array | PrefixKind::String | PrefixKind::Bytes
                );
            if fixed_width {
                let negative = with_prefix(frame, p, &encode_len(p, -2));
                assert_eq!(
                    validate(&negative, &limits),
                    Err(GuardError::NegativeLength { at: p.at, len: -2 }),
                    "{what}"
                );
                assert_crate_fails_cleanly(&negative, &what);
                *checked.entry("negative").or_default() += 1;
            }

            if p.kind == PrefixKind::String && value >= 1 {
                let tight = Limits {
                    max_string_len: value as usize - 1,
                    ..Limits::default()
                };
                let first_over = first_over(&prefixes, PrefixKind::String, value - 1);
                assert_eq!(
                    validate(frame, &tight),
                    Err(GuardError::LengthTooLong {
                        at: first_over.at,
                        len: first_over.value.unwrap_or_default(),
                        limit: value as usize - 1,
                    }),
                    "{what}"
                );
                let text_at = p.at + prefix_len(frame, p);
                let mut bad_utf8 = frame.clone();
                bad_utf8[text_at] = 0xff;
                assert_eq!(
                    validate(&bad_utf8, &limits),
                    Err(GuardError::InvalidUtf8 { at: text_at }),
                    "{what}"
                );
                assert_crate_fails_cleanly(&bad_utf8, &what);
                *checked.entry("utf8").or_default() += 1;
            }
        }
    }
    // Make sure the loops above really ran over a lot of prefixes.
    assert!(checked["huge"] > 1000, "{checked:?}");
    assert!(checked["negative"] > 300, "{checked:?}");
    assert!(checked["utf8"] > 300, "{checked:?}");
    assert!(checked["nested"] > 0, "{checked:?}");
}

/// Replacing any string, bytes or array with null (prefix and content cut out cleanly) is
/// accepted exactly when the crate accepts it: the schema's nullability matches the crate's
/// `Option` fields in both directions. The crate meets the null before any garbage, so decoding
/// these frames is safe.
#[test]
fn nullability_matches_the_crate() {
    let limits = Limits::default();
    let (mut accepted, mut refused) = (0usize, 0usize);
    for sample in all_samples().iter().filter(|s| s.shape == Shape::Full) {
        let (key, version, frame) = (sample.api_key, sample.version, &sample.frame);
        let prefixes = length_prefixes(key, version, frame, &limits).expect("sample is valid");
        for p in &prefixes {
            let nullable_kind = matches!(
                p.kind,
                PrefixKind::String | PrefixKind::Bytes | PrefixKind::Array
            );
            // Inside a known tagged field the cut would also break the field's declared size,
            // which the guard checks and the crate ignores.
            if !nullable_kind || p.value.is_none() || inside_tagged_value(frame, &prefixes, p) {
                continue;
            }
            let null = encode_len(p, -1);
            let nulled = [&frame[..p.at], &null, &frame[p.end..]].concat();
            let guard = validate_request(key, version, &nulled, &limits);
            let what = format!("api {key} v{version} {p:?}: guard {guard:?}");
            match crate_decode(&nulled) {
                Decoded::Ok { remaining: 0, .. } => {
                    assert_eq!(guard, Ok(()), "{what}");
                    accepted += 1;
                }
                Decoded::Err(_) => {
                    assert_eq!(
                        guard,
                        Err(GuardError::UnexpectedNull { at: p.at }),
                        "{what}"
                    );
                    refused += 1;
                }
                other => panic!("{what}: crate {other:?}"),
            }
        }
    }
    assert!(
        accepted > 200 && refused > 500,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn null_where_the_crate_needs_a_value_is_refused() {
    let limits = Limits::default();
    // Heartbeat v0: the group id is the first string after the client id.
    let frame = sample_frame(12, 0, Shape::Full);
    let prefixes = length_prefixes(12, 0, &frame, &limits).expect("valid");
    let group_id = prefixes[1];
    let nulled = with_prefix(&frame, &group_id, &[0xff, 0xff]);
    assert_eq!(
        validate_request(12, 0, &nulled, &limits),
        Err(GuardError::UnexpectedNull { at: group_id.at })
    );
    assert_crate_fails_cleanly(&nulled, "null group id");

    // CreateTopics v5 (flexible): a compact null for the non-nullable topics array.
    let frame = sample_frame(19, 5, Shape::Full);
    let prefixes = length_prefixes(19, 5, &frame, &limits).expect("valid");
    let topics = prefixes
        .iter()
        .find(|p| p.kind == PrefixKind::Array)
        .expect("has topics");
    let nulled = with_prefix(&frame, topics, &[0x00]);
    assert_eq!(
        validate_request(19, 5, &nulled, &limits),
        Err(GuardError::UnexpectedNull { at: topics.at })
    );
    assert_crate_fails_cleanly(&nulled, "null topics");
}

/// A Fetch request with one topic and one partition whose partition and request tagged-field
/// sections hold the given raw entries (`(tag, value)`, written by hand: the crate's encoder
/// cannot write an unknown field under a known tag number, see `crate_hazards`).
fn fetch_with_tags(
    version: i16,
    partition_tags: &[(u8, &[u8])],
    request_tags: &[(u8, &[u8])],
) -> Vec<u8> {
    let mut topic = FetchTopic::default();
    topic.topic = TopicName(StrBytes::from_static_str("orders"));
    topic.partitions = vec![FetchPartition::default()];
    let mut request = FetchRequest::default();
    request.topics = vec![topic];
    let mut header = RequestHeader::default();
    header.request_api_key = 1;
    header.request_api_version = version;
    let frame = encode_frame(&header, &request);
    let sections: Vec<_> = length_prefixes(1, version, &frame, &Limits::default())
        .expect("untagged fetch is valid")
        .into_iter()
        .filter(|p| p.kind == PrefixKind::TaggedFields)
        .collect();
    // Sections in frame order: header, partition, topic, request.
    assert_eq!(sections.len(), 4);
    let entries = |tags: &[(u8, &[u8])]| -> Vec<u8> {
        let mut out = vec![tags.len() as u8];
        for (tag, value) in tags {
            out.extend_from_slice(&[*tag, value.len() as u8]);
            out.extend_from_slice(value);
        }
        out
    };
    // Splice the later section first so the earlier offset stays valid.
    let frame = with_prefix(&frame, &sections[3], &entries(request_tags));
    with_prefix(&frame, &sections[1], &entries(partition_tags))
}

#[test]
fn known_tags_are_checked_against_version_and_size() {
    let limits = Limits::default();
    let uuid = [7u8; 16];

    // Partition tag 0 (replica directory id) exists from v17 only.
    let early = fetch_with_tags(16, &[(0, &uuid)], &[]);
    assert!(matches!(
        validate_request(1, 16, &early, &limits),
        Err(GuardError::TagNotValidForVersion {
            tag: 0,
            version: 16,
            ..
        })
    ));
    assert_crate_fails_cleanly(&early, "tag 0 in fetch v16 partition");
    let in_time = fetch_with_tags(17, &[(0, &uuid), (9, b"any")], &[]);
    assert_eq!(validate_request(1, 17, &in_time, &limits), Ok(()));
    assert!(matches!(
        crate_decode(&in_time),
        Decoded::Ok { remaining: 0, .. }
    ));
    let short_uuid = fetch_with_tags(17, &[(0, &uuid[..15])], &[]);
    assert!(matches!(
        validate_request(1, 17, &short_uuid, &limits),
        Err(GuardError::Truncated { .. })
    ));

    // Request tag 0 (cluster id): a compact string that must fill its declared size exactly.
    let exact = fetch_with_tags(12, &[], &[(0, b"\x03ab")]);
    assert_eq!(validate_request(1, 12, &exact, &limits), Ok(()));
    assert!(matches!(
        crate_decode(&exact),
        Decoded::Ok { remaining: 0, .. }
    ));
    let null = fetch_with_tags(12, &[], &[(0, b"\x00")]);
    assert_eq!(validate_request(1, 12, &null, &limits), Ok(()));
    assert!(matches!(
        crate_decode(&null),
        Decoded::Ok { remaining: 0, .. }
    ));
    let padded = fetch_with_tags(12, &[], &[(0, b"\x03ab\x00")]);
    assert!(matches!(
        validate_request(1, 12, &padded, &limits),
        Err(GuardError::TaggedFieldSizeMismatch {
            tag: 0,
            declared: 4,
            consumed: 3,
            ..
        })
    ));
    let overrun = fetch_with_tags(12, &[], &[(0, b"\x05ab")]);
    assert!(matches!(
        validate_request(1, 12, &overrun, &limits),
        Err(GuardError::LengthExceedsFrame { .. })
    ));
    let bad_utf8 = fetch_with_tags(12, &[], &[(0, b"\x03\xff\xfe")]);
    assert!(matches!(
        validate_request(1, 12, &bad_utf8, &limits),
        Err(GuardError::InvalidUtf8 { .. })
    ));
    assert_crate_fails_cleanly(&bad_utf8, "cluster id with invalid UTF-8");

    // Request tag 1 (replica state) from v15: INT32 + INT64 + its own empty tag section.
    let state = [0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 9, 0];
    let early = fetch_with_tags(14, &[], &[(1, &state)]);
    assert!(matches!(
        validate_request(1, 14, &early, &limits),
        Err(GuardError::TagNotValidForVersion { tag: 1, .. })
    ));
    assert_crate_fails_cleanly(&early, "replica state in fetch v14");
    let in_time = fetch_with_tags(15, &[], &[(1, &state)]);
    assert_eq!(validate_request(1, 15, &in_time, &limits), Ok(()));
    assert!(matches!(
        crate_decode(&in_time),
        Decoded::Ok { remaining: 0, .. }
    ));
    // A huge tag count hidden inside the replica state is caught inside its declared size.
    let mut hidden = state;
    hidden[12] = 0x7f;
    let hidden = fetch_with_tags(15, &[], &[(1, &hidden)]);
    assert!(matches!(
        validate_request(1, 15, &hidden, &limits),
        Err(GuardError::TooManyTaggedFields { count: 127, .. })
    ));
}

#[test]
fn overlong_varints_and_short_frames_are_refused() {
    let limits = Limits::default();
    // Flexible heartbeat: replace the header's tag count with a 6-byte varint.
    let frame = sample_frame(12, 4, Shape::Sparse);
    let prefixes = length_prefixes(12, 4, &frame, &limits).expect("valid");
    let header_tags = prefixes
        .iter()
        .find(|p| p.kind == PrefixKind::TaggedFields)
        .expect("header v2 has tags");
    let overlong = with_prefix(&frame, header_tags, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    assert_eq!(
        validate_request(12, 4, &overlong, &limits),
        Err(GuardError::BadVarint { at: header_tags.at })
    );
    for len in 0..8 {
        let short = vec![0u8; len];
        assert!(
            matches!(
                validate_request(0, 9, &short, &limits),
                Err(GuardError::Truncated { .. })
            ),
            "{len} bytes"
        );
    }
}
