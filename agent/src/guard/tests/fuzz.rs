//! Property tests: random frames and random mutations of valid frames never panic the guard,
//! and every frame it passes decodes with the crate (so the crate cannot panic or abort on
//! it). Seeds are fixed so runs are reproducible; a failure prints the shrunk input.

use std::cell::Cell;
use std::sync::OnceLock;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

use super::crate_codec::{crate_decode, Decoded};
use super::samples::{all_samples, Sample};
use crate::guard::messages::ALL;
use crate::guard::{peek_header, validate_request, Limits};

fn samples() -> &'static [Sample] {
    static SAMPLES: OnceLock<Vec<Sample>> = OnceLock::new();
    SAMPLES.get_or_init(all_samples)
}

fn runner(cases: u32, seed: u64) -> TestRunner {
    TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Every served (api key, version).
fn served() -> Vec<(i16, i16)> {
    ALL.iter()
        .flat_map(|m| (m.min_version..=m.max_version).map(move |v| (m.api_key, v)))
        .collect()
}

/// Validates `frame` as `api_key`/`api_version`; when it passes, the crate must decode it
/// completely. Returns whether it passed.
fn check(api_key: i16, api_version: i16, frame: &[u8]) -> Result<bool, TestCaseError> {
    if validate_request(api_key, api_version, frame, &Limits::default()).is_err() {
        return Ok(false);
    }
    match crate_decode(frame) {
        Decoded::Ok { remaining: 0, .. } => Ok(true),
        other => Err(TestCaseError::fail(format!(
            "guard passed api {api_key} v{api_version} but the crate said {other:?}"
        ))),
    }
}

/// Checks a frame both as the sample's API and as whatever its (possibly mutated) header says,
/// which is how the agent routes.
fn check_routed(api_key: i16, api_version: i16, frame: &[u8]) -> Result<bool, TestCaseError> {
    let mut passed = check(api_key, api_version, frame)?;
    if let Ok(prefix) = peek_header(frame) {
        passed |= check(prefix.api_key, prefix.api_version, frame)?;
    }
    Ok(passed)
}

#[test]
fn random_frames_never_panic_and_never_slip_through() {
    let strategy = (
        select(served()),
        any::<(i16, i16)>(),
        vec(any::<u8>(), 0..300),
    );
    runner(4096, 0xf2a3_e9ad)
        .run(&strategy, |((key, version), raw, tail)| {
            // A header naming a served API, then noise.
            let frame = [&key.to_be_bytes()[..], &version.to_be_bytes(), &tail].concat();
            check(key, version, &frame)?;
            // Pure noise, routed on whatever it claims to be.
            check_routed(raw.0, raw.1, &tail)?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// One edit of a valid frame.
#[derive(Debug, Clone)]
enum Mutation {
    SetByte(Index, u8),
    FlipBit(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, u8),
    Truncate(Index),
    /// Overwrite four bytes with a count-like value.
    SetI32(Index, i32),
    /// Overwrite bytes with a long varint.
    SetVarint(Index, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting_i32 = prop_oneof![
        Just(i32::MAX),
        Just(i32::MIN),
        Just(-1),
        Just(-2),
        Just(0),
        Just(1),
        Just(0x7fff),
        any::<i32>(),
    ];
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<Index>(), 1u8..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), interesting_i32).prop_map(|(i, v)| Mutation::SetI32(i, v)),
        (any::<Index>(), any::<u32>()).prop_map(|(i, v)| Mutation::SetVarint(i, v)),
    ]
}

fn apply(frame: &mut Vec<u8>, m: &Mutation) {
    if frame.is_empty() {
        return;
    }
    let len = frame.len();
    match m {
        Mutation::SetByte(i, b) => frame[i.index(len)] = *b,
        Mutation::FlipBit(i, bit) => frame[i.index(len)] ^= 1 << bit,
        Mutation::Insert(i, bytes) => {
            let at = i.index(len + 1);
            frame.splice(at..at, bytes.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let at = i.index(len);
            frame.drain(at..(at + usize::from(*n)).min(len));
        }
        Mutation::Truncate(i) => frame.truncate(i.index(len)),
        Mutation::SetI32(i, v) => {
            let at = i.index(len);
            for (k, b) in v.to_be_bytes().into_iter().enumerate() {
                if let Some(slot) = frame.get_mut(at + k) {
                    *slot = b;
                }
            }
        }
        Mutation::SetVarint(i, v) => {
            let at = i.index(len);
            let mut value = *v;
            let mut bytes = Vec::new();
            while value >= 0x80 {
                bytes.push((value as u8) | 0x80);
                value >>= 7;
            }
            bytes.push(value as u8);
            for (k, b) in bytes.into_iter().enumerate() {
                if let Some(slot) = frame.get_mut(at + k) {
                    *slot = b;
                }
            }
        }
    }
}

#[test]
fn mutated_frames_never_panic_and_never_slip_through() {
    let passed = Cell::new(0usize);
    let strategy = (any::<Index>(), vec(mutation(), 1..4));
    runner(8192, 0x0bad_f4a3)
        .run(&strategy, |(pick, mutations)| {
            let sample = pick.get(samples());
            let mut frame = sample.frame.clone();
            for m in &mutations {
                apply(&mut frame, m);
            }
            if check_routed(sample.api_key, sample.version, &frame)? {
                passed.set(passed.get() + 1);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // Many mutations (a changed integer, a flipped bool, a renamed topic) leave a valid frame;
    // the property above is only meaningful if a fair share of cases reach the crate.
    assert!(
        passed.get() > 1000,
        "only {} mutated frames passed",
        passed.get()
    );
}
