//! The leader's maintenance loop and the job RPCs.
//!
//! Every `tick_ms` the replica that leads reads its state, plans (compactions, log-start
//! advances, due deletions, orphan scans) and proposes the plans as journaled commands;
//! followers do nothing. Agents ask for work with `LeaseJob` and report with `FinishJob`;
//! both go through the journal, so a job survives a control-plane failover and the crash of
//! the agent running it (its lease lapses and another agent takes it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::command::{Command, CommandResult};
use crate::error::CpError;
use crate::jobs::{JobOutcome, JobSpec, MaintenanceCommand, MaintenanceResult};
use crate::server::ControlPlane;

/// Milliseconds of the control plane's clock (simulated time under the simulator).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Run the maintenance loop of `cp` forever (it acts only while `cp` leads).
pub async fn run(cp: ControlPlane) {
    let config = cp.inner.config.maintenance.clone();
    if !config.enabled {
        return;
    }
    let tick = Duration::from_millis(config.tick_ms);
    let mut last_scan_ms: Option<u64> = None;
    loop {
        tokio::time::sleep(tick).await;
        let now = now_ms();
        let Ok((compactions, retention)) = cp.read(|state| {
            (
                crate::compaction::planned(state, &config),
                crate::retention::planned(state, &config, now),
            )
        }) else {
            continue;
        };
        let mut commands = compactions;
        if !retention.is_empty() {
            commands.push(MaintenanceCommand::AdvanceLogStart {
                updates: retention,
                now_ms: now,
                delete_grace_ms: config.delete_grace_ms,
            });
        }
        let scan = last_scan_ms.is_none_or(|t| now.saturating_sub(t) >= config.orphan_scan_ms);
        commands.push(MaintenanceCommand::Schedule { now_ms: now, scan });
        for op in commands {
            match cp.propose(Command::Maintain { op }).await {
                Ok(CommandResult::Maintained(MaintenanceResult::Scheduled { .. })) if scan => {
                    last_scan_ms = Some(now);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "maintenance command not applied");
                    break;
                }
            }
        }
    }
}

impl ControlPlane {
    /// `LeaseJob`: the next job for `worker`, if any (journaled only when there is one).
    pub async fn lease_job(&self, worker: String) -> Result<Option<JobSpec>, CpError> {
        let config = &self.inner.config.maintenance;
        let now = now_ms();
        if !self.read(|state| crate::jobs::has_available_job(state, now))? {
            return Ok(None);
        }
        let op = MaintenanceCommand::Lease {
            worker,
            now_ms: now,
            lease_ms: config.job_lease_ms,
            extent_bytes_max: config.extent_bytes_max,
        };
        match self.propose(Command::Maintain { op }).await? {
            CommandResult::Maintained(MaintenanceResult::Leased { job }) => Ok(job),
            CommandResult::Rejected(e) => Err(e),
            other => Err(CpError::internal(format!("unexpected result {other:?}"))),
        }
    }

    /// `FinishJob`: journal the outcome. `Ok((false, why))` for a stale or unknown job.
    pub async fn finish_job(
        &self,
        job_id: u64,
        attempt: u32,
        outcome: JobOutcome,
    ) -> Result<(bool, String), CpError> {
        let config = &self.inner.config.maintenance;
        let op = MaintenanceCommand::Finish {
            job_id,
            attempt,
            outcome,
            now_ms: now_ms(),
            delete_grace_ms: config.delete_grace_ms,
            orphan_grace_ms: config.orphan_grace_ms,
        };
        match self.propose(Command::Maintain { op }).await? {
            CommandResult::Maintained(MaintenanceResult::Finished { accepted, message }) => {
                Ok((accepted, message))
            }
            CommandResult::Rejected(e) => Err(e),
            other => Err(CpError::internal(format!("unexpected result {other:?}"))),
        }
    }
}
