use super::*;
use std::time::Duration;

fn protocols() -> Vec<(String, Vec<u8>)> {
    vec![("range".to_string(), vec![1])]
}

async fn join(c: &Coordinator, member: &str) -> GroupResponse {
    c.join(
        "g".into(),
        member.into(),
        "client".into(),
        "/10.0.1.3".into(),
        "consumer".into(),
        protocols(),
        1_000,
        2_000,
    )
    .await
}

fn joined(r: &GroupResponse) -> (i32, String, String, usize) {
    match r {
        GroupResponse::Joined {
            generation,
            leader,
            member_id,
            members,
            ..
        } => (
            *generation,
            leader.clone(),
            member_id.clone(),
            members.len(),
        ),
        other => panic!("not joined: {other:?}"),
    }
}

#[madsim::test]
async fn members_join_one_generation_and_a_silent_member_is_expired() {
    let c = Coordinator::new();
    let c2 = c.clone();
    let (a, b) = tokio::join!(join(&c, ""), join(&c2, ""));
    let (ga, leader, ida, na) = joined(&a);
    let (gb, _, idb, nb) = joined(&b);
    assert_eq!(ga, gb, "both joined the same generation");
    assert_eq!(na + nb, 2, "only the leader gets the member list");
    assert!(leader == ida || leader == idb);
    // The leader assigns; the follower gets its share.
    let assignments = vec![(ida.clone(), vec![7]), (idb.clone(), vec![9])];
    let (sa, sb) = tokio::join!(
        c.sync(
            "g".into(),
            ida.clone(),
            ga,
            if leader == ida {
                assignments.clone()
            } else {
                vec![]
            }
        ),
        c.sync(
            "g".into(),
            idb.clone(),
            gb,
            if leader == idb {
                assignments.clone()
            } else {
                vec![]
            }
        ),
    );
    assert!(matches!(sa, GroupResponse::Synced { ref assignment, .. } if assignment == &vec![7]));
    assert!(matches!(sb, GroupResponse::Synced { ref assignment, .. } if assignment == &vec![9]));
    // Only `a` keeps heartbeating: `b`'s session (1 s) lapses and a rebalance starts.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = c.heartbeat("g", &ida, ga);
    }
    assert_eq!(c.members("g"), 1);
    assert_eq!(
        c.heartbeat("g", &ida, ga),
        GroupResponse::Error(GroupError::RebalanceInProgress)
    );
    assert_eq!(
        c.heartbeat("g", &idb, gb),
        GroupResponse::Error(GroupError::UnknownMemberId)
    );
    let (g2, _, _, n) = joined(&join(&c, &ida).await);
    assert!(g2 > ga);
    assert_eq!(n, 1);
    assert_eq!(
        c.may_commit("g", &ida, ga),
        Some(GroupError::IllegalGeneration),
        "a commit from the old generation is fenced"
    );
}

#[madsim::test]
async fn groups_are_listed_and_described_with_their_state_and_members() {
    let c = Coordinator::new();
    assert_eq!(c.describe("g", false).state, "Dead", "nobody knows g yet");
    assert_eq!(
        c.describe("g", true).state,
        "Empty",
        "g has committed offsets only"
    );
    let listed = c.list(vec!["offsets-only".into()]);
    assert_eq!(
        listed,
        vec![GroupListing {
            group: "offsets-only".into(),
            protocol_type: String::new(),
            state: "Empty".into(),
        }]
    );

    let (generation, leader, member, _) = joined(&join(&c, "").await);
    assert_eq!(leader, member);
    // Formed, waiting for the leader's assignment: members shown, no protocol data yet.
    let d = c.describe("g", false);
    assert_eq!(
        (d.state.as_str(), d.protocol.as_str()),
        ("CompletingRebalance", "")
    );
    assert_eq!(d.members.len(), 1);
    assert!(d.members[0].metadata.is_empty() && d.members[0].assignment.is_empty());

    let synced = c
        .sync(
            "g".into(),
            member.clone(),
            generation,
            vec![(member.clone(), vec![4, 2])],
        )
        .await;
    assert!(matches!(synced, GroupResponse::Synced { .. }), "{synced:?}");
    let d = c.describe("g", true);
    assert_eq!(
        d,
        GroupDescription {
            group: "g".into(),
            state: "Stable".into(),
            protocol_type: "consumer".into(),
            protocol: "range".into(),
            members: vec![MemberDescription {
                member_id: member.clone(),
                client_id: "client".into(),
                client_host: "/10.0.1.3".into(),
                metadata: vec![1],
                assignment: vec![4, 2],
            }],
        }
    );
    let listed = c.list(vec!["g".into(), "offsets-only".into()]);
    let states: Vec<(&str, &str, &str)> = listed
        .iter()
        .map(|l| (l.group.as_str(), l.protocol_type.as_str(), l.state.as_str()))
        .collect();
    assert_eq!(
        states,
        vec![("g", "consumer", "Stable"), ("offsets-only", "", "Empty")],
        "each group once, the live state winning over the offsets-only entry"
    );

    // The last member leaves: the group is empty (and still listed).
    assert_eq!(c.leave("g", &[member]), GroupResponse::Done);
    assert_eq!(c.describe("g", true).state, "Empty");
    assert!(c.describe("g", true).members.is_empty());
}

#[madsim::test]
async fn commits_follow_kafkas_rules_and_a_zombie_never_commits() {
    let c = Coordinator::new();
    // No group yet: a consumer without group management commits; a member is unknown
    // (a member of a group an earlier leader coordinated).
    assert_eq!(c.may_commit("g", "", -1), None);
    assert_eq!(
        c.may_commit("g", "ghost", 4),
        Some(GroupError::UnknownMemberId)
    );
    let (g1, _, a, _) = joined(&join(&c, "").await);
    // Formed, assignment not given yet: REBALANCE_IN_PROGRESS, as Kafka's
    // CompletingRebalance.
    assert_eq!(
        c.may_commit("g", &a, g1),
        Some(GroupError::RebalanceInProgress)
    );
    let synced = c
        .sync("g".into(), a.clone(), g1, vec![(a.clone(), vec![1])])
        .await;
    assert!(matches!(synced, GroupResponse::Synced { .. }), "{synced:?}");
    assert_eq!(
        c.may_commit("g", &a, g1),
        None,
        "the current member commits"
    );
    // Only members may commit while the group has some.
    assert_eq!(c.may_commit("g", "", -1), Some(GroupError::UnknownMemberId));
    assert_eq!(
        c.may_commit("g", &a, -1),
        Some(GroupError::IllegalGeneration),
        "a member id with generation -1 is checked as a member"
    );
    // `a` goes silent (a long pause): expelled at its session timeout (1 s).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(c.members("g"), 0);
    assert_eq!(
        c.may_commit("g", &a, g1),
        Some(GroupError::UnknownMemberId),
        "the expelled member's commit is refused"
    );
    // `b` forms a new generation; `a` rejoins under its new id and gets a later one.
    let (g2, _, b, _) = joined(&join(&c, "").await);
    assert!(g2 > g1);
    assert_eq!(c.may_commit("g", &a, g1), Some(GroupError::UnknownMemberId));
    let (ga, gb) = tokio::join!(join(&c, ""), join(&c, &b));
    let (g3, _, a2, _) = joined(&ga);
    assert_eq!(joined(&gb).0, g3);
    assert_eq!(
        c.may_commit("g", &b, g2),
        Some(GroupError::IllegalGeneration),
        "a commit delayed past a rebalance carries an older generation"
    );
    assert_ne!(a2, a);

    // With the planted bug every one of them is accepted.
    let planted = Coordinator::with_plants(crate::plants::Plants(
        [crate::plants::Plant::ZombieCommitAccepted].into(),
    ));
    assert_eq!(planted.may_commit("g", &a, g1), None);
}
