//! The control plane's side: group requests answered under the leader's lease, offsets
//! committed through the journal and read from the state.

use tokio::time::Instant;

use crate::command::{Command, CommandResult};
use crate::error::CpError;
use crate::server::ControlPlane;
use crate::sync::lock;
use crate::types::GroupOffset;

use super::*;

impl ControlPlane {
    /// The epoch this replica leads with a valid lease; `NotLeader` otherwise.
    fn coordinating_epoch(&self) -> Result<u64, CpError> {
        let core = lock(&self.inner.core);
        core.leads(Instant::now())
            .ok_or_else(|| self.not_leader(&core))
    }

    /// Answer one group request: only as the leader, from the soft state of the epoch it
    /// leads. An answer that waited (JoinGroup, SyncGroup) is given only if this replica
    /// still leads that epoch: otherwise the member was in a group no leader knows anymore.
    pub async fn handle_group(&self, request: GroupRequest) -> Result<GroupResponse, CpError> {
        let epoch = self.coordinating_epoch()?;
        let c = self.groups();
        c.enter_epoch(epoch);
        let waits = !request.wait_hint().is_zero();
        let response = self.handle_group_in_epoch(c, request).await?;
        if waits && (self.coordinating_epoch()? != epoch || !c.in_epoch(epoch)) {
            eddy_probe::hit("cp.group.answer_dropped");
            let core = lock(&self.inner.core);
            return Err(self.not_leader(&core));
        }
        Ok(response)
    }

    /// Whether the group coordinator refuses a TxnOffsetCommit of `member_id` in
    /// `generation` (leader only, like every group call).
    pub(crate) async fn txn_commit_refusal(
        &self,
        group: &str,
        member_id: &str,
        generation: i32,
    ) -> Result<Option<GroupError>, CpError> {
        let epoch = self.coordinating_epoch()?;
        let c = self.groups();
        c.enter_epoch(epoch);
        let guard = c.offset_lock(group);
        let _held = guard.lock().await;
        Ok(c.may_commit_txn(group, member_id, generation))
    }

    async fn handle_group_in_epoch(
        &self,
        c: &Coordinator,
        request: GroupRequest,
    ) -> Result<GroupResponse, CpError> {
        Ok(match request {
            GroupRequest::Join {
                group,
                member_id,
                client_id,
                client_host,
                protocol_type,
                protocols,
                session_timeout_ms,
                rebalance_timeout_ms,
            } => {
                c.join(
                    group,
                    member_id,
                    client_id,
                    client_host,
                    protocol_type,
                    protocols,
                    session_timeout_ms,
                    rebalance_timeout_ms,
                )
                .await
            }
            GroupRequest::Sync {
                group,
                member_id,
                generation,
                assignments,
            } => c.sync(group, member_id, generation, assignments).await,
            GroupRequest::Heartbeat {
                group,
                member_id,
                generation,
            } => c.heartbeat(&group, &member_id, generation),
            GroupRequest::Leave { group, member_ids } => c.leave(&group, &member_ids),
            GroupRequest::CommitOffsets {
                group,
                member_id,
                generation,
                offsets,
            } => {
                let guard = c.offset_lock(&group);
                let _held = guard.lock().await;
                if let Some(e) = c.may_commit(&group, &member_id, generation) {
                    return Ok(GroupResponse::Error(e));
                }
                match self
                    .propose(Command::CommitOffsets { group, offsets })
                    .await?
                {
                    CommandResult::OffsetsCommitted => GroupResponse::Done,
                    CommandResult::Rejected(e) => return Err(e),
                    other => return Err(CpError::internal(format!("unexpected result {other:?}"))),
                }
            }
            GroupRequest::FetchOffsets { group, partitions } => {
                let guard = c.offset_lock(&group);
                let _held = guard.lock().await;
                // Leader-only read: a deposed replica must not answer with older offsets.
                let offsets: Vec<GroupOffset> = self.read(|s| match partitions {
                    Some(ps) => ps
                        .into_iter()
                        .map(|(topic, partition)| GroupOffset {
                            offset: s.committed_offset(&group, &topic, partition).unwrap_or(-1),
                            topic,
                            partition,
                            metadata: None,
                        })
                        .collect(),
                    None => s
                        .group_offsets
                        .get(&group)
                        .into_iter()
                        .flat_map(|g| g.iter())
                        .flat_map(|(topic, ps)| {
                            ps.iter().map(move |(p, o)| GroupOffset {
                                topic: topic.clone(),
                                partition: *p,
                                offset: *o,
                                metadata: None,
                            })
                        })
                        .collect(),
                })?;
                let unstable = self.read(|s| {
                    let mut out: Vec<(String, i32)> = s
                        .transactions
                        .by_id
                        .values()
                        .filter(|r| r.status == crate::txn::TxnStatus::Ongoing)
                        .filter_map(|r| r.pending_offsets.get(&group))
                        .flat_map(|topics| {
                            topics
                                .iter()
                                .flat_map(|(t, ps)| ps.keys().map(move |p| (t.clone(), *p)))
                        })
                        .filter(|tp| {
                            offsets
                                .iter()
                                .any(|o| o.topic == tp.0 && o.partition == tp.1)
                        })
                        .collect();
                    out.sort();
                    out.dedup();
                    out
                })?;
                if !unstable.is_empty() {
                    eddy_probe::hit("cp.txn.offsets_unstable");
                }
                GroupResponse::Offsets { offsets, unstable }
            }
            GroupRequest::List => {
                // Leader-only read, like FetchOffsets: groups known by their offsets only.
                let with_offsets: Vec<String> = self.read(|s| {
                    s.group_offsets
                        .iter()
                        .filter(|(_, o)| !o.is_empty())
                        .map(|(g, _)| g.clone())
                        .collect()
                })?;
                GroupResponse::Listed {
                    groups: c.list(with_offsets),
                }
            }
            GroupRequest::Describe { groups } => {
                let with_offsets: Vec<bool> = self.read(|s| {
                    groups
                        .iter()
                        .map(|g| s.group_offsets.get(g).is_some_and(|o| !o.is_empty()))
                        .collect()
                })?;
                GroupResponse::Described {
                    groups: groups
                        .iter()
                        .zip(with_offsets)
                        .map(|(g, offsets)| c.describe(g, offsets))
                        .collect(),
                }
            }
        })
    }
}
