//! eddy-scenarios: the simulation harness around the real agent and control plane —
//! scenario specs, the simulated deployment, workload clients, the history recorder, and
//! the commands of the `eddy` binary.

#[cfg(madsim)]
pub mod bench;
pub mod client;
pub mod commands;
pub mod fuzz;
pub mod recorder;
#[cfg(madsim)]
pub mod run;
pub mod serve;
pub mod spec;
pub mod topology;
pub mod transport;
#[cfg(madsim)]
pub mod usage;
pub mod workload;
