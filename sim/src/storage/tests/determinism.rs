//! Same seed, byte-identical run: a concurrent workload with faults and racing conditional
//! writes, through a storage node, run twice in fresh runtimes.

use std::net::{IpAddr, Ipv4Addr};

use madsim::runtime::{Handle, Runtime};
use object_store::{ObjectStore, PutMode};

use super::path;
use crate::storage::{Meters, SimObjectStore, StorageFaults, StorageProfile};

/// Runs the workload under `seed` and returns its transcript (every outcome with its
/// simulated completion time) followed by the meters snapshot as JSON.
fn run(seed: u64) -> String {
    let rt = Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.block_on(async move {
        let handle = Handle::current();
        let meters = Meters::new();
        let node = handle.create_node().name("s3").build();
        let store = SimObjectStore::new(
            "ingest",
            StorageProfile::s3_express(),
            Some("az1".into()),
            meters.clone(),
            seed,
            Some(node),
        );
        store.set_faults(StorageFaults {
            fail_before_prob: 0.1,
            fail_after_prob: 0.1,
            ..Default::default()
        });
        let mut tasks = Vec::new();
        for agent in 0..3u8 {
            let view = store.view_from(&format!("az{}", agent + 1));
            let node = handle
                .create_node()
                .name(format!("agent-{agent}"))
                .ip(IpAddr::V4(Ipv4Addr::new(10, 0, agent, 1)))
                .build();
            tasks.push(node.spawn(async move {
                let mut log = Vec::new();
                for seq in 0..30 {
                    let key = path(&format!("journal/{seq:04}"));
                    let body = format!("agent-{agent}");
                    let res = view
                        .put_opts(&key, body.into(), PutMode::Create.into())
                        .await;
                    let t = crate::clock::sim_elapsed();
                    let outcome = match res {
                        Ok(r) => format!("ok {}", r.e_tag.unwrap_or_default()),
                        Err(e) => format!("err {e}"),
                    };
                    log.push(format!("{t:?} agent-{agent} create {key}: {outcome}"));
                }
                log
            }));
        }
        let mut transcript = Vec::new();
        for task in tasks {
            transcript.extend(task.await.unwrap_or_default());
        }
        transcript.push(serde_json::to_string(&meters.snapshot()).unwrap_or_default());
        transcript.join("\n")
    })
}

#[test]
fn same_seed_same_transcript() {
    let a = run(7);
    assert!(a.contains("ok ") && a.contains("already exists"), "{a}");
    assert!(a.contains("injected storage fault"), "{a}");
    assert_eq!(a, run(7));
    assert_ne!(a, run(8));
}
