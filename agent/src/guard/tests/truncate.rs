//! Truncated frames: every sample (both shapes, every API and version) cut at every byte
//! position is refused with a "does not fit" error, or else decodes with the crate. The crate
//! is also run on every cut of 4 bytes or more to check it never panics there (counts stay
//! small, so this is safe).

use super::crate_codec::{crate_decode, Decoded};
use super::samples::all_samples;
use crate::guard::{validate_request, GuardError, Limits};

#[test]
fn every_truncation_is_refused_or_decodable() {
    let limits = Limits::default();
    let mut cuts = 0usize;
    let mut accepted = 0usize;
    for sample in all_samples() {
        let what = format!(
            "api {} v{} {:?}",
            sample.api_key, sample.version, sample.shape
        );
        for cut in 0..sample.frame.len() {
            let short = &sample.frame[..cut];
            cuts += 1;
            match validate_request(sample.api_key, sample.version, short, &limits) {
                Ok(()) => {
                    accepted += 1;
                    assert!(
                        matches!(crate_decode(short), Decoded::Ok { remaining: 0, .. }),
                        "{what} cut at {cut}: guard passed what the crate cannot decode"
                    );
                }
                Err(
                    GuardError::Truncated { .. }
                    | GuardError::LengthExceedsFrame { .. }
                    | GuardError::ArrayExceedsFrame { .. }
                    | GuardError::TooManyTaggedFields { .. },
                ) => {}
                Err(other) => panic!("{what} cut at {cut}: unexpected {other:?}"),
            }
            if cut >= 4 {
                assert_ne!(
                    crate_decode(short),
                    Decoded::Panicked,
                    "{what} cut at {cut}: crate panicked"
                );
            }
        }
    }
    assert!(cuts > 50_000, "only {cuts} cuts");
    // A strict prefix of a request is never itself a whole request of the same version.
    assert_eq!(accepted, 0);
}
