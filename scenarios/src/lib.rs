//! eddy-scenarios: the simulation harness around the real agent and control plane —
//! scenario specs, the simulated deployment, workload clients, the history recorder, and
//! the commands of the `eddy` binary. Modules that drive the simulator exist only in the
//! simulated build (`--cfg madsim`); the real-mode build keeps `serve` and `check`.

#[cfg(madsim)]
pub mod availability;
#[cfg(madsim)]
pub mod bench;
#[cfg(madsim)]
pub mod chaos;
pub mod checkcmd;
#[cfg(madsim)]
pub mod commands;
#[cfg(madsim)]
pub mod consumers;
#[cfg(madsim)]
pub mod efficiency;
#[cfg(madsim)]
pub mod failover;
pub mod fuzz;
pub mod fuzz_merge;
#[cfg(madsim)]
pub mod invariants;
pub mod liveness;
pub mod localstore;
pub mod plant_report;
pub mod prices;
#[cfg(madsim)]
pub mod progress;
pub mod rebalance;
pub mod recorder;
#[cfg(madsim)]
pub mod run;
pub mod seedpool;
pub mod serve;
#[cfg(madsim)]
pub mod shrink;
pub mod spec;
pub mod topology;
#[cfg(madsim)]
pub mod transactions;
pub mod transport;
pub mod txnlog;
#[cfg(madsim)]
pub mod usage;
#[cfg(madsim)]
pub mod whatif;
pub mod workload;
