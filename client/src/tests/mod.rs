//! Tests of the workload client against an in-test fake broker, under madsim.

#[cfg(madsim)]
mod fake_broker;
mod read_committed;
#[cfg(madsim)]
mod sim;

/// The simulation tests compile only with `--cfg madsim`; a build without it (e.g. a
/// `RUSTFLAGS` override) must fail loudly instead of passing with no tests.
#[cfg(not(madsim))]
#[test]
fn built_with_madsim() {
    panic!("built without --cfg madsim: the simulation tests were compiled out");
}
