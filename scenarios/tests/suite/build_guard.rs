//! The simulated test suite only exists when built with `--cfg madsim` (from
//! `.cargo/config.toml`). A `RUSTFLAGS` environment variable replaces that flag and would
//! silently compile the simulation out; this test makes such a build fail instead.

#[test]
#[allow(clippy::assertions_on_constants)] // constant per build: that is the point
fn suite_is_built_with_cfg_madsim() {
    assert!(
        cfg!(madsim),
        "built without --cfg madsim: a RUSTFLAGS variable overrode .cargo/config.toml; use RUSTFLAGS=\"--cfg madsim ...\""
    );
}
