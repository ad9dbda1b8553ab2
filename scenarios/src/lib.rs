//! eddy-scenarios: the simulation harness around the real agent and control plane —
//! scenario specs, the simulated deployment, workload clients, the history recorder, and
//! the commands of the `eddy` binary.

pub mod bench;
pub mod chaos;
pub mod client;
pub mod commands;
pub mod consumers;
pub mod failover;
pub mod fuzz;
pub mod liveness;
pub mod plant_report;
pub mod recorder;
pub mod run;
pub mod spec;
pub mod topology;
pub mod transport;
pub mod usage;
pub mod whatif;
pub mod workload;
