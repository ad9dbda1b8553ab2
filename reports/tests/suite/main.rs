//! The reports crate's integration tests, linked into one binary: one test binary per
//! file would link the whole simulator again for each and fill the disk (each is a few
//! hundred MB with debug info). Run one module with `cargo test -p eddy-reports --test suite <module>::`.

mod common;
mod cost;
mod examples;
mod expiry;
mod honest;
mod html;
mod jsonl;
mod latency;
mod latency_bounds;
mod model;
mod report;
mod robustness;
mod send_order;
mod txn;
