//! Fault schedules: concrete faults at concrete times, drawn from a plan and a seed.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp};
use serde::{Deserialize, Serialize};

use crate::plan::{Family, FaultPlan};

/// What the runner can aim at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Agent number `i` (in topology order).
    Agent(usize),
    /// Control-plane replica `i`.
    ControlPlane(usize),
    /// Whichever control-plane replica leads when the fault starts.
    ControlPlaneLeader,
    /// Availability zone `i`.
    Zone(usize),
    /// Workload consumer `i` (in topology order).
    Consumer(usize),
}

/// One fault, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    Crash {
        target: Target,
    },
    Pause {
        target: Target,
    },
    IsolateZone {
        zone: usize,
    },
    /// Cut traffic between two targets; `one_way`: only from `from` to `to`.
    Partition {
        from: Target,
        to: Target,
        one_way: bool,
    },
    PacketLoss {
        rate: f64,
    },
    /// Responses of a server (agent or control-plane replica) are lost with `probability`,
    /// each after its request was served, and the connection is reset.
    ReplyLoss {
        target: Target,
        probability: f64,
    },
    /// Object-storage errors on the ingest bucket; `applied_first`: the ambiguous kind.
    StorageErrors {
        probability: f64,
        applied_first: bool,
    },
    /// Object-storage errors and extra latency on the control plane's journal bucket.
    JournalErrors {
        probability: f64,
        applied_first: bool,
        extra_ms: f64,
    },
    LatencySpike {
        extra_ms: f64,
    },
    ExpressOutage,
    /// Every bucket refuses writes; reads succeed.
    WriteOutage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledFault {
    pub at_ms: u64,
    pub duration_ms: u64,
    pub family: Family,
    pub fault: Fault,
}

/// The deployment a schedule is drawn for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub agents: usize,
    pub controlplanes: usize,
    pub zones: usize,
    /// Workload consumers (not the final drain reader).
    pub consumers: usize,
    /// Whether an S3 Express bucket exists (an Express outage means nothing otherwise).
    pub express: bool,
}

/// Draw the faults of the chaos phase `[0, chaos_ms)`: per family, Poisson arrivals at its
/// mean interval, durations uniform in its range, targets uniform. Sorted by start time;
/// deterministic in `seed`.
pub fn schedule(plan: &FaultPlan, shape: &Shape, chaos_ms: u64, seed: u64) -> Vec<ScheduledFault> {
    let mut out = Vec::new();
    for (family, intensity) in &plan.families {
        let mut rng = SmallRng::seed_from_u64(crate::derive_seed(
            seed,
            &format!("faults.{}", family.name()),
            0,
        ));
        let Ok(gaps) = Exp::new(1.0 / intensity.mean_interval_ms.max(1) as f64) else {
            continue;
        };
        let mut t = gaps.sample(&mut rng);
        while (t as u64) < chaos_ms {
            let duration_ms = rng.gen_range(intensity.duration_ms_min..=intensity.duration_ms_max);
            if let Some(fault) = draw(*family, intensity.severity, shape, &mut rng) {
                out.push(ScheduledFault {
                    at_ms: t as u64,
                    duration_ms,
                    family: *family,
                    fault,
                });
            }
            t += gaps.sample(&mut rng);
        }
    }
    out.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.family.cmp(&b.family)));
    out
}

fn draw(family: Family, severity: f64, shape: &Shape, rng: &mut SmallRng) -> Option<Fault> {
    let agent = |rng: &mut SmallRng| {
        (shape.agents > 0).then(|| Target::Agent(rng.gen_range(0..shape.agents)))
    };
    let any_node = |rng: &mut SmallRng| -> Option<Target> {
        let n = shape.agents + shape.controlplanes;
        if n == 0 {
            return None;
        }
        let i = rng.gen_range(0..n);
        Some(if i < shape.agents {
            Target::Agent(i)
        } else {
            Target::ControlPlane(i - shape.agents)
        })
    };
    Some(match family {
        Family::AgentCrash => Fault::Crash {
            target: agent(rng)?,
        },
        Family::ConsumerCrash => {
            if shape.consumers == 0 {
                return None;
            }
            Fault::Crash {
                target: Target::Consumer(rng.gen_range(0..shape.consumers)),
            }
        }
        Family::ControlPlaneCrash => {
            if shape.controlplanes == 0 {
                return None;
            }
            if rng.gen_bool(0.7) {
                Fault::Crash {
                    target: Target::ControlPlaneLeader,
                }
            } else {
                Fault::Crash {
                    target: Target::ControlPlane(rng.gen_range(0..shape.controlplanes)),
                }
            }
        }
        Family::NodePause => Fault::Pause {
            target: any_node(rng)?,
        },
        Family::ControlPlanePause => {
            if shape.controlplanes == 0 {
                return None;
            }
            Fault::Pause {
                target: Target::ControlPlaneLeader,
            }
        }
        Family::AzIsolation => {
            if shape.zones < 2 {
                return None;
            }
            Fault::IsolateZone {
                zone: rng.gen_range(0..shape.zones),
            }
        }
        Family::LinkPartition | Family::OneWayPartition => {
            let from = any_node(rng)?;
            let to = any_node(rng)?;
            if from == to {
                return None;
            }
            Fault::Partition {
                from,
                to,
                one_way: family == Family::OneWayPartition,
            }
        }
        Family::PacketLoss => Fault::PacketLoss {
            rate: severity.clamp(0.0, 0.5),
        },
        Family::ReplyLoss => Fault::ReplyLoss {
            target: any_node(rng)?,
            probability: severity.clamp(0.05, 0.5),
        },
        Family::StorageErrors => Fault::StorageErrors {
            probability: severity,
            applied_first: false,
        },
        Family::StorageAmbiguous => Fault::StorageErrors {
            probability: severity,
            applied_first: true,
        },
        Family::JournalStorageErrors => Fault::JournalErrors {
            probability: severity,
            applied_first: rng.gen_bool(0.5),
            extra_ms: rng.gen_range(0.0..200.0),
        },
        Family::LatencySpike => Fault::LatencySpike {
            extra_ms: 50.0 + severity * 950.0,
        },
        Family::WriteOutage => Fault::WriteOutage,
        Family::ExpressOutage => {
            if !shape.express {
                return None;
            }
            Fault::ExpressOutage
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            agents: 6,
            controlplanes: 3,
            zones: 3,
            consumers: 3,
            express: true,
        }
    }

    #[test]
    fn schedules_are_deterministic_sorted_and_inside_the_chaos_window() {
        let plan = FaultPlan::swarm(7, &Family::ALL);
        let a = schedule(&plan, &shape(), 60_000, 7);
        let b = schedule(&plan, &shape(), 60_000, 7);
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        assert!(a.iter().all(|f| f.at_ms < 60_000));
        assert!(a.iter().all(|f| plan.families.contains_key(&f.family)));
    }

    #[test]
    fn swarm_varies_the_families_across_seeds() {
        let subsets: std::collections::BTreeSet<Vec<Family>> = (0..40)
            .map(|s| {
                FaultPlan::swarm(s, &Family::ALL)
                    .families
                    .keys()
                    .copied()
                    .collect()
            })
            .collect();
        assert!(
            subsets.len() > 20,
            "only {} distinct subsets in 40 seeds",
            subsets.len()
        );
        assert!((0..40).all(|s| !FaultPlan::swarm(s, &Family::ALL).is_empty()));
    }

    #[test]
    fn impossible_faults_are_skipped_not_invented() {
        let plan = FaultPlan::swarm(1, &[Family::ExpressOutage, Family::AzIsolation]);
        let lone = Shape {
            agents: 1,
            controlplanes: 1,
            zones: 1,
            consumers: 3,
            express: false,
        };
        assert!(schedule(&plan, &lone, 600_000, 1).is_empty());
    }

    #[test]
    fn plans_round_trip_through_json_and_reject_nonsense() {
        let plan = FaultPlan::swarm(3, &Family::ALL);
        let text = serde_json::to_string(&plan).unwrap();
        let back: FaultPlan = serde_json::from_str(&text).unwrap();
        assert_eq!(plan, back);
        assert!(
            serde_json::from_str::<FaultPlan>(r#"{"families": {"meteor_strike": {}}}"#).is_err()
        );
        let mut bad = FaultPlan::none();
        bad.families.insert(
            Family::PacketLoss,
            crate::Intensity {
                severity: 2.0,
                ..Default::default()
            },
        );
        assert!(bad.validate().is_err());
    }

    #[test]
    fn swarm_default_is_every_family_but_the_opt_in_ones() {
        assert_eq!(Family::SWARM_DEFAULT.len(), Family::ALL.len() - 3);
        assert!(!Family::SWARM_DEFAULT.contains(&Family::JournalStorageErrors));
        assert!(!Family::SWARM_DEFAULT.contains(&Family::ControlPlanePause));
        assert!(!Family::SWARM_DEFAULT.contains(&Family::ConsumerCrash));
        // The order a seed's schedule depends on: ALL's, without the opt-in families.
        let expected: Vec<Family> = Family::ALL
            .into_iter()
            .filter(|f| {
                !matches!(
                    f,
                    Family::ControlPlanePause
                        | Family::ConsumerCrash
                        | Family::JournalStorageErrors
                )
            })
            .collect();
        assert_eq!(Family::SWARM_DEFAULT, expected.as_slice());
        assert!(Family::SWARM_DEFAULT
            .iter()
            .all(|f| Family::ALL.contains(f)));
    }
}
