//! The replicated control plane under madsim: a deposed leader is fenced by the journal, a
//! cluster whose every replica lost its memory comes back from object storage alone, and
//! consumer groups are coordinated by the leader only, with membership of its epoch only,
//! and lookups can be answered in rounds.

use crate::common;
use eddy_controlplane::sync::lock;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eddy_controlplane::api::{
    ChunkSpec, ErrorKind, FileSpec, GroupError, GroupOffset, GroupRequest, GroupResponse,
    LookupQuery, Request, Response,
};
use eddy_controlplane::{Command, CommandResult, ControlPlane, ControlPlaneConfig, ReplicaEvent};
use eddy_sim::{Meters, RequestKind, SimObjectStore, StorageProfile};

type Registry = Arc<Mutex<BTreeMap<usize, ControlPlane>>>;

struct Cluster {
    journal: SimObjectStore,
    meters: Meters,
    nodes: Vec<madsim::runtime::NodeHandle>,
    replicas: Registry,
}

/// Three replicas in three zones over one journal bucket on its own storage node.
fn cluster(config: ControlPlaneConfig) -> Cluster {
    let handle = madsim::runtime::Handle::current();
    let storage = common::storage_node();
    let meters = Meters::new();
    let journal = common::bucket(
        "journal",
        StorageProfile::regional_log(),
        meters.clone(),
        7,
        &storage,
    );
    let replicas: Registry = Arc::new(Mutex::new(BTreeMap::new()));
    let mut nodes = Vec::new();
    for r in 0..3usize {
        let store = journal.view_from(&format!("az{}", r + 1));
        let registry = replicas.clone();
        let config = config.clone();
        let node = handle
            .create_node()
            .name(format!("cp-{r}"))
            .ip(format!("10.0.{}.2", r + 1).parse().unwrap())
            .init(move || {
                let (store, registry, config) = (store.clone(), registry.clone(), config.clone());
                async move {
                    let addr = format!("10.0.{}.2:7000", r + 1);
                    let cp = ControlPlane::open(config, Arc::new(store), Some(addr))
                        .await
                        .expect("replica opens");
                    lock(&registry).insert(r, cp);
                    std::future::pending::<()>().await
                }
            })
            .build();
        nodes.push(node);
    }
    Cluster {
        journal,
        meters,
        nodes,
        replicas,
    }
}

impl Cluster {
    /// The replica that leads (with a valid lease), other than `except`; waits up to 20 s.
    async fn leader(&self, except: Option<usize>) -> (usize, ControlPlane) {
        for _ in 0..400 {
            let found = lock(&self.replicas)
                .iter()
                .find(|(r, cp)| Some(**r) != except && cp.is_leader())
                .map(|(r, cp)| (*r, cp.clone()));
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no leader elected within 20 s");
    }
}

fn create(name: &str) -> Command {
    Command::CreateTopic {
        name: name.into(),
        partitions: 2,
        if_not_exists: true,
    }
}

fn commit(id: &str, records: u64) -> Command {
    Command::CommitFile {
        file: FileSpec {
            id: id.into(),
            key: format!("data/{id}"),
            size: 100,
            chunks: vec![ChunkSpec {
                topic: "t".into(),
                partition: 0,
                byte_start: 0,
                byte_len: 100,
                record_count: records,
                max_timestamp: 0,
                producer: None,
            }],
        },
        committed_at_ms: 0,
    }
}

fn base_offset(result: CommandResult) -> i64 {
    match result {
        CommandResult::FileCommitted { base_offsets } => base_offsets[0],
        other => panic!("commit not applied: {other:?}"),
    }
}

#[madsim::test]
async fn a_paused_leader_that_resumes_is_fenced_by_the_journal() {
    let c = cluster(ControlPlaneConfig::default());
    let (old, deposed) = c.leader(None).await;
    deposed.propose(create("t")).await.expect("topic created");
    let first = base_offset(deposed.propose(commit("f1", 5)).await.expect("f1"));
    assert_eq!(first, 0);
    let old_epoch = deposed.leading_epoch().expect("leads");

    // Pause the leader long enough for a follower to take over, and commit there.
    let handle = madsim::runtime::Handle::current();
    handle.pause(c.nodes[old].id());
    let (new, leader) = c.leader(Some(old)).await;
    assert_ne!(new, old);
    let second = base_offset(leader.propose(commit("f2", 3)).await.expect("f2"));
    assert_eq!(
        second, 5,
        "the new leader continues the old leader's offsets"
    );
    let new_epoch = leader.leading_epoch().expect("new leader");
    assert!(new_epoch > old_epoch);

    // The old leader wakes up still believing it leads, and tries to append.
    handle.resume(c.nodes[old].id());
    assert_eq!(
        deposed.leading_epoch(),
        Some(old_epoch),
        "unaware right after resume"
    );
    let attempt = deposed.propose(commit("f3", 7)).await;
    let err = attempt.expect_err("a deposed leader's append must fail");
    assert_eq!(err.kind, ErrorKind::NotLeader, "{err}");
    let fenced: Vec<_> = deposed
        .events()
        .into_iter()
        .filter(|e| matches!(e, ReplicaEvent::Fenced { .. }))
        .collect();
    assert_eq!(fenced.len(), 1, "events: {:?}", deposed.events());
    match &fenced[0] {
        ReplicaEvent::Fenced { epoch, winner, .. } => {
            assert_eq!(*epoch, old_epoch);
            assert_eq!(
                winner,
                leader.writer_id(),
                "fenced by the new leader's claim"
            );
        }
        _ => unreachable!(),
    }
    assert!(!deposed.is_leader());

    // Nothing of the fenced attempt exists anywhere; the deposed replica follows again.
    let f3 = base_offset(
        leader
            .propose(commit("f3", 7))
            .await
            .expect("f3 via leader"),
    );
    assert_eq!(f3, 8, "f3 lands after f2, once");
    for _ in 0..100 {
        if deposed.state() == leader.state() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        deposed.state(),
        leader.state(),
        "the deposed replica caught up"
    );
    assert_eq!(leader.state().partition("t", 0).unwrap().high_watermark, 15);
}

#[madsim::test]
async fn planted_no_fencing_lets_a_deposed_leader_reuse_offsets() {
    let mut config = ControlPlaneConfig::default();
    config.plants.0.insert(eddy_controlplane::Plant::NoFencing);
    let c = cluster(config);
    let (old, deposed) = c.leader(None).await;
    deposed.propose(create("t")).await.expect("topic created");
    base_offset(deposed.propose(commit("f1", 5)).await.expect("f1"));
    let handle = madsim::runtime::Handle::current();
    handle.pause(c.nodes[old].id());
    let (_, leader) = c.leader(Some(old)).await;
    let second = base_offset(leader.propose(commit("f2", 3)).await.expect("f2"));
    assert_eq!(second, 5);
    handle.resume(c.nodes[old].id());
    // The deposed leader loses the conditional write, carries on, and hands out offset 5
    // a second time: split brain.
    let third = base_offset(
        deposed
            .propose(commit("f3", 7))
            .await
            .expect("the unfenced leader acknowledges"),
    );
    assert_eq!(third, 5, "offset 5 assigned twice");
    assert!(deposed.is_leader(), "and it keeps answering reads");
}

#[madsim::test]
async fn every_replica_wiped_restores_from_object_storage_alone() {
    let config = ControlPlaneConfig {
        snapshot_entries: 4,
        ..ControlPlaneConfig::default()
    };
    let c = cluster(config);
    let (_, leader) = c.leader(None).await;
    leader.propose(create("t")).await.expect("topic created");
    let mut acked = BTreeMap::new();
    for i in 0..40 {
        let id = format!("f{i}");
        let offset = base_offset(
            leader
                .propose(commit(&id, 1 + i % 3))
                .await
                .expect("commit"),
        );
        acked.insert(id, offset);
    }
    // Let the last snapshot and the journal cleanup finish.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let journal_keys = c
        .journal
        .keys()
        .iter()
        .filter(|k| k.as_ref().starts_with("journal/"))
        .count();
    assert!(
        journal_keys < 20,
        "journal entries covered by snapshots are deleted ({journal_keys} left)"
    );
    assert!(
        c.journal
            .peek(&"journal/00000000000000000000".into())
            .is_none(),
        "the first entry is gone: only snapshots can restore it"
    );
    let before = leader.state();

    // Kill every replica (memory gone), then start them all again.
    let handle = madsim::runtime::Handle::current();
    lock(&c.replicas).clear();
    for n in &c.nodes {
        handle.kill(n.id());
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    for n in &c.nodes {
        handle.restart(n.id());
    }
    let (_, leader) = c.leader(None).await;
    let restored_from_snapshot = leader.events().iter().any(|e| {
        matches!(
            e,
            ReplicaEvent::Restored {
                snapshot_through: Some(_),
                ..
            }
        )
    });
    assert!(restored_from_snapshot, "events: {:?}", leader.events());
    let after = leader.state();
    assert_eq!(
        after.topics, before.topics,
        "partitions and extents survive"
    );
    for (id, offset) in &acked {
        let record = after.files.get(id).expect("acknowledged file kept");
        assert_eq!(record.base_offsets, vec![*offset], "{id}");
        // A retried commit gets the offsets first assigned.
        let again = base_offset(leader.propose(commit(id, 1)).await.expect("retry"));
        assert_eq!(again, *offset, "{id} retried");
    }
    let hw = after.partition("t", 0).unwrap().high_watermark;
    let next = base_offset(
        leader
            .propose(commit("after", 2))
            .await
            .expect("new commit"),
    );
    assert_eq!(next, hw, "new offsets continue after the restored ones");
}

fn join(member_id: &str) -> GroupRequest {
    GroupRequest::Join {
        group: "g".into(),
        member_id: member_id.into(),
        client_id: "c".into(),
        client_host: "/10.0.9.9".into(),
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), vec![])],
        // Long enough that no member expires during the test: only leadership may end it.
        session_timeout_ms: 600_000,
        rebalance_timeout_ms: 1_000,
    }
}

/// Join `g` alone at `cp` and sync: (member id, generation).
async fn join_and_sync(cp: &ControlPlane) -> (String, i32) {
    let (member_id, generation) = match cp.handle_group(join("")).await.expect("join") {
        GroupResponse::Joined {
            member_id,
            generation,
            ..
        } => (member_id, generation),
        other => panic!("not joined: {other:?}"),
    };
    let synced = cp
        .handle_group(GroupRequest::Sync {
            group: "g".into(),
            member_id: member_id.clone(),
            generation,
            assignments: vec![(member_id.clone(), vec![1])],
        })
        .await
        .expect("sync");
    assert!(matches!(synced, GroupResponse::Synced { .. }), "{synced:?}");
    (member_id, generation)
}

fn commit_offset(member_id: &str, generation: i32, offset: i64) -> GroupRequest {
    GroupRequest::CommitOffsets {
        group: "g".into(),
        member_id: member_id.into(),
        generation,
        offsets: vec![GroupOffset {
            topic: "t".into(),
            partition: 0,
            offset,
            metadata: None,
        }],
    }
}

async fn committed(cp: &ControlPlane) -> i64 {
    match cp
        .handle_group(GroupRequest::FetchOffsets {
            group: "g".into(),
            partitions: Some(vec![("t".into(), 0)]),
        })
        .await
        .expect("fetch")
    {
        GroupResponse::Offsets { offsets, .. } => offsets[0].offset,
        other => panic!("no offsets: {other:?}"),
    }
}

/// The failover bug behind commits going backwards: followers ran their own group
/// coordinators, and a replica leading again still honoured members of its earlier epoch,
/// so a member that another leader's group had replaced could commit an older position.
#[madsim::test]
async fn groups_are_coordinated_by_the_leader_for_its_epoch_only() {
    let c = cluster(ControlPlaneConfig::default());
    let (first, old_leader) = c.leader(None).await;
    old_leader
        .propose(create("t"))
        .await
        .expect("topic created");
    for _ in 0..100 {
        if lock(&c.replicas).len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let follower = lock(&c.replicas)
        .iter()
        .find(|(r, _)| **r != first)
        .map(|(_, cp)| cp.clone())
        .expect("a follower");
    let refused = follower.handle_group(join("")).await;
    assert_eq!(
        refused.map_err(|e| e.kind),
        Err(ErrorKind::NotLeader),
        "a follower must not form groups of its own"
    );

    // A member of the first leader's group commits 10.
    let (stale, stale_generation) = join_and_sync(&old_leader).await;
    let done = old_leader
        .handle_group(commit_offset(&stale, stale_generation, 10))
        .await;
    assert_eq!(done.expect("commit"), GroupResponse::Done);

    // The first leader stalls; under the next leader a new member takes over and commits 20.
    let handle = madsim::runtime::Handle::current();
    handle.pause(c.nodes[first].id());
    let (second, new_leader) = c.leader(Some(first)).await;
    let (fresh, fresh_generation) = join_and_sync(&new_leader).await;
    let done = new_leader
        .handle_group(commit_offset(&fresh, fresh_generation, 20))
        .await;
    assert_eq!(done.expect("commit"), GroupResponse::Done);

    // The first leader comes back, is fenced, and leads again once the others are gone.
    handle.resume(c.nodes[first].id());
    for r in 0..3 {
        if r != first {
            handle.kill(c.nodes[r].id());
        }
    }
    let mut leads_again = false;
    for _ in 0..400 {
        if old_leader.is_leader() && old_leader.leading_epoch() > new_leader.leading_epoch() {
            leads_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        leads_again,
        "replica {first} did not lead again (after {second})"
    );

    // The member of its earlier epoch is unknown now: its old position must not win.
    let stale_commit = old_leader
        .handle_group(commit_offset(&stale, stale_generation, 10))
        .await
        .expect("answered");
    assert_eq!(
        stale_commit,
        GroupResponse::Error(GroupError::UnknownMemberId),
        "a member of an earlier epoch's group committed"
    );
    assert_eq!(
        committed(&old_leader).await,
        20,
        "the committed offset went backwards"
    );
}

fn journal_gets(c: &Cluster) -> u64 {
    c.meters
        .bucket("journal")
        .map_or(0, |b| b.requests.get(RequestKind::Get))
}

/// A follower at the tail of an idle journal asks for the next entry only. Asking for a
/// window of 16 entries at every 50 ms poll cost two followers 640 GETs a second, nearly all
/// for entries not yet written; one catching up still reads ahead in parallel.
#[madsim::test]
async fn followers_at_the_tail_read_one_entry_per_poll() {
    let config = ControlPlaneConfig::default();
    let poll = config.follow_poll_ms;
    let c = cluster(config);
    let (_, leader) = c.leader(None).await;
    leader.propose(create("t")).await.expect("topic created");
    for i in 0..40 {
        base_offset(
            leader
                .propose(commit(&format!("f{i}"), 1))
                .await
                .expect("commit"),
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = journal_gets(&c);
    let idle = Duration::from_secs(10);
    tokio::time::sleep(idle).await;
    let gets = journal_gets(&c) - before;
    // Two followers, one GET per poll each (the leader reads nothing while it leads), plus
    // about two per entry the leader appends meanwhile (lease renewals). A 16-entry window
    // would be 16 per poll.
    let polls = 2 * idle.as_millis() as u64 / poll;
    assert!(
        gets <= 2 * polls,
        "{gets} journal GETs in {idle:?} of idle tailing (~{polls} polls)"
    );
    assert!(gets >= polls / 2, "followers stopped polling: {gets} GETs");
}

/// Ask the leader for partition t/0 from `offset`, long-polling up to `wait_ms`; returns the
/// high watermark answered and when the answer came.
async fn lookup(cp: &ControlPlane, offset: i64, wait_ms: u64) -> (i64, tokio::time::Instant) {
    let request = Request::Lookup {
        queries: vec![LookupQuery {
            topic: "t".into(),
            partition: 0,
            offset,
            max_bytes: 1 << 20,
            read_committed: false,
        }],
        wait_ms,
    };
    match cp.handle(request).await.expect("lookup answered") {
        Response::Lookups { results } => {
            let r = results[0].as_ref().expect("partition found");
            (r.high_watermark, tokio::time::Instant::now())
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

/// With `lookup_batch_ms`, lookups are answered in rounds: whenever they arrive, and also
/// when a long poll is woken by a commit, the answer comes at the next round boundary, all
/// on one grid; commits are not held back. Without it, a lookup is answered at once.
#[madsim::test]
async fn lookups_are_answered_in_rounds_when_asked_to() {
    let round = Duration::from_millis(200);
    let c = cluster(ControlPlaneConfig {
        lookup_batch_ms: round.as_millis() as u64,
        ..ControlPlaneConfig::default()
    });
    let (_, leader) = c.leader(None).await;
    leader.propose(create("t")).await.expect("topic created");
    base_offset(leader.propose(commit("f0", 5)).await.expect("commit"));

    // Lookups arriving at staggered moments: each waits less than a round, and all answers
    // share one phase.
    let mut answers = Vec::new();
    for i in 0..6u64 {
        tokio::time::sleep(Duration::from_millis(37 + 11 * i)).await;
        let asked = tokio::time::Instant::now();
        let (hw, at) = lookup(&leader, 0, 0).await;
        assert_eq!(hw, 5);
        assert!(at - asked <= round, "waited {:?} for a round", at - asked);
        answers.push(at);
    }
    // On the grid, give or take the simulator's timer granularity (well under 1 ms).
    let on_grid = |t: tokio::time::Instant| {
        let off = (t - answers[0]).as_micros() % round.as_micros();
        off < 1_000 || round.as_micros() - off < 1_000
    };
    for &at in &answers {
        assert!(on_grid(at), "answers off the round grid: {answers:?}");
    }
    assert!(
        answers.windows(2).any(|w| w[1] - w[0] >= round),
        "all lookups answered in one round: {answers:?}"
    );

    // A long poll woken by a commit still answers on the grid; the commit itself is not
    // delayed to a round.
    let poller = {
        let leader = leader.clone();
        tokio::spawn(async move { lookup(&leader, 5, 5_000).await })
    };
    tokio::time::sleep(Duration::from_millis(290)).await;
    let proposed = tokio::time::Instant::now();
    base_offset(leader.propose(commit("f1", 3)).await.expect("commit"));
    let committed = tokio::time::Instant::now();
    assert!(
        committed - proposed < Duration::from_millis(100),
        "commit took {:?}",
        committed - proposed
    );
    let (hw, at) = poller.await.expect("poller finished");
    assert_eq!(hw, 8, "the long poll sees the commit");
    assert!(at >= committed && at - committed <= round);
    assert!(on_grid(at), "long poll answered off the grid: {at:?}");
}

/// Without lookup rounds (the default) a lookup of data already there is answered at once.
#[madsim::test]
async fn lookups_are_answered_at_once_by_default() {
    let c = cluster(ControlPlaneConfig::default());
    let (_, leader) = c.leader(None).await;
    leader.propose(create("t")).await.expect("topic created");
    base_offset(leader.propose(commit("f0", 5)).await.expect("commit"));
    for i in 0..3u64 {
        tokio::time::sleep(Duration::from_millis(37 + 11 * i)).await;
        let asked = tokio::time::Instant::now();
        let (hw, at) = lookup(&leader, 0, 0).await;
        assert_eq!((hw, at - asked), (5, Duration::ZERO));
    }
}

/// A round longer than the clients' RPC timeout is refused when the replica opens.
#[test]
fn a_lookup_round_beyond_the_limit_is_refused() {
    let config = ControlPlaneConfig {
        lookup_batch_ms: eddy_controlplane::LOOKUP_BATCH_MS_MAX + 1,
        ..ControlPlaneConfig::default()
    };
    let e = config.validate().expect_err("refused");
    assert!(e.to_string().contains("lookup_batch_ms"), "{e}");
}

/// Connections to `slow` take longer than any connect timeout, the first `left` times (a
/// lost handshake); everything else is plain TCP.
struct SlowConnects {
    slow: std::net::SocketAddr,
    left: Arc<Mutex<usize>>,
}

impl eddy_controlplane::net::Transport for SlowConnects {
    fn connect(
        &self,
        addr: std::net::SocketAddr,
    ) -> futures::future::BoxFuture<'static, std::io::Result<eddy_controlplane::net::Conn>> {
        let stall = addr == self.slow && {
            let mut left = lock(&self.left);
            let stall = *left > 0;
            *left = left.saturating_sub(1);
            stall
        };
        Box::pin(async move {
            if stall {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            eddy_controlplane::net::PlainTcp.connect(addr).await
        })
    }

    fn accepted(
        &self,
        stream: tokio::net::TcpStream,
        peer: std::net::SocketAddr,
    ) -> eddy_controlplane::net::Conn {
        eddy_controlplane::net::PlainTcp.accepted(stream, peer)
    }
}

/// A follower names the leader; connecting to the leader then fails twice (slow
/// handshakes). The client must keep trying the leader, not fall back to a follower that
/// can only answer `NotLeader` again: one agent once spent 16 s bouncing between the two,
/// its heartbeats unanswered, and its consumer group stalled.
#[madsim::test]
async fn a_client_sent_to_the_leader_retries_a_slow_connect_there() {
    let handle = madsim::runtime::Handle::current();
    let storage = common::storage_node();
    let journal = common::bucket(
        "journal",
        StorageProfile::regional_log(),
        Meters::new(),
        7,
        &storage,
    );
    let replicas: Registry = Arc::new(Mutex::new(BTreeMap::new()));
    let addr =
        |r: usize| -> std::net::SocketAddr { format!("10.0.{}.2:7000", r + 1).parse().unwrap() };
    let mut nodes = Vec::new();
    for r in 0..3usize {
        let store = journal.view_from(&format!("az{}", r + 1));
        let registry = replicas.clone();
        nodes.push(
            handle
                .create_node()
                .name(format!("cp-{r}"))
                .ip(addr(r).ip())
                .init(move || {
                    let (store, registry) = (store.clone(), registry.clone());
                    async move {
                        let cp = ControlPlane::start_replica(
                            ControlPlaneConfig::default(),
                            Arc::new(store),
                            Arc::new(eddy_controlplane::net::PlainTcp),
                            "0.0.0.0:7000".parse().unwrap(),
                            Some(addr(r).to_string()),
                        )
                        .await
                        .expect("replica starts");
                        lock(&registry).insert(r, cp);
                        std::future::pending::<()>().await
                    }
                })
                .build(),
        );
    }
    let c = Cluster {
        journal,
        meters: Meters::new(),
        nodes,
        replicas,
    };
    let (leader, _) = c.leader(None).await;
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let client_node = handle
        .create_node()
        .name("agent")
        .ip("10.0.1.10".parse().unwrap())
        .build();
    client_node
        .spawn(async move {
            let transport = SlowConnects {
                slow: addr(leader),
                left: Arc::new(Mutex::new(2)),
            };
            // The follower first: it answers NotLeader, naming the leader.
            let client = eddy_controlplane::api::ControlPlaneClient::new(
                eddy_controlplane::api::ClientConfig::new(vec![
                    addr(follower),
                    addr(leader),
                    addr(other),
                ]),
                Arc::new(transport),
            );
            let ask = || Request::DescribeTopics { names: None };
            let first = client
                .call(ask())
                .await
                .expect_err("a follower answers reads");
            assert_eq!(first.kind, ErrorKind::NotLeader, "{first}");
            assert_eq!(
                client.target(),
                addr(leader),
                "the follower named the leader"
            );
            let second = client.call(ask()).await;
            assert!(
                matches!(second, Ok(Response::Topics { .. })),
                "the leader, reached on the third connection attempt, answers: {second:?}"
            );
            assert_eq!(client.target(), addr(leader));
        })
        .await
        .expect("client task");
}

/// Issue 20: when the journal's bucket refuses writes (a full disk, a read-only mount, a
/// policy that denies writes), the leader loses its lease and nobody can take over, but
/// what is committed stays readable: replicas answer reads from their applied state once a
/// journal read begun after the request found nothing newer. Writes fail with a retriable
/// error that says why, and everything works again once writes are accepted.
#[madsim::test]
async fn reads_are_answered_from_committed_state_while_the_journal_refuses_writes() {
    let config = ControlPlaneConfig::default();
    let lease = Duration::from_millis(config.lease_ms);
    let c = cluster(config);
    let (_, leader) = c.leader(None).await;
    leader.propose(create("t")).await.expect("topic created");
    assert_eq!(
        base_offset(leader.propose(commit("f1", 10)).await.expect("f1")),
        0
    );
    // Followers catch up.
    tokio::time::sleep(Duration::from_millis(500)).await;

    c.journal.set_faults(eddy_sim::StorageFaults {
        writes_refused: true,
        ..Default::default()
    });
    let outage = Duration::from_secs(12);
    let began = tokio::time::Instant::now();
    let (mut asked, mut answered, mut answered_late) = (0u32, 0u32, 0u32);
    let describe = Request::DescribeTopics {
        names: Some(vec!["t".into()]),
    };
    while began.elapsed() < outage {
        let replicas: Vec<ControlPlane> = lock(&c.replicas).values().cloned().collect();
        for cp in &replicas {
            asked += 1;
            // Each replica either answers with the committed state or refuses; never a
            // stale or a made-up answer.
            let got = cp.handle(describe.clone()).await;
            let Ok(Response::Topics { topics }) = got else {
                continue;
            };
            assert_eq!(topics.len(), 1);
            let (hw, _) = lookup(cp, 0, 0).await;
            assert_eq!(hw, 10, "the committed high watermark");
            answered += 1;
            if began.elapsed() > 2 * lease {
                answered_late += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Well after the lease ran out, reads are still answered (three replicas are asked
    // about 5 times a second for 12 s).
    assert!(
        answered_late >= 30,
        "reads answered after the lease: {answered_late} (of {answered} answered, {asked} asked)"
    );
    // Writes fail, retriably, saying why.
    let cp = lock(&c.replicas).values().next().cloned().unwrap();
    let err = match cp
        .handle(Request::CreateTopics {
            topics: vec![eddy_controlplane::api::TopicInfo {
                name: "u".into(),
                partitions: 1,
            }],
            if_not_exists: true,
        })
        .await
    {
        Err(e) => e,
        Ok(other) => panic!("a write succeeded while writes are refused: {other:?}"),
    };
    assert!(err.kind.is_retriable(), "{err}");
    assert!(err.message.contains("no journal entry for"), "{err}");

    c.journal.set_faults(eddy_sim::StorageFaults::none());
    let (_, leader) = c.leader(None).await;
    assert_eq!(
        base_offset(leader.propose(commit("f2", 5)).await.expect("f2")),
        10,
        "offsets continue after the outage"
    );
    let (hw, _) = lookup(&leader, 0, 0).await;
    assert_eq!(hw, 15);
}
