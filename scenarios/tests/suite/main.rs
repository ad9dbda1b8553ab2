//! The scenarios crate's integration tests, linked into one binary: one test binary per
//! file would link the whole simulator again for each and fill the disk (each is a few
//! hundred MB with debug info). Run one module with `cargo test -p eddy-scenarios --test suite <module>::`.

mod availability;
mod bad_frames;
mod basic_runs;
mod build_guard;
mod common;
mod compaction_run;
mod controlplane_replicas;
mod determinism;
mod efficiency;
mod failover_run;
mod fuzz_shards;
mod honest;
mod idempotence;
mod invariants;
mod probes;
mod progress;
mod rebalance;
mod reply_loss;
mod report_html;
mod reproduce;
mod shrink;
mod transactions;
mod verdicts;
mod write_outage;
mod zombies;
mod zone_cache;
