//! Tests of the guard against the `kafka-protocol` crate it protects: every sample request the
//! crate encodes must pass, corrupted and truncated frames must be refused, and whatever the
//! guard passes must decode with the crate.

mod accept;
mod corrupt;
mod crate_codec;
mod crate_hazards;
mod fuzz;
mod samples;
mod truncate;
