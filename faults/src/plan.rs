//! Fault families and plans: which families a run injects and how often and how long.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The kinds of fault a run can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// An agent process dies and comes back after a while.
    AgentCrash,
    /// The control-plane leader (or a replica) dies and comes back.
    ControlPlaneCrash,
    /// A node stops running (GC pause, slow VM) and then resumes.
    NodePause,
    /// Every link between one AZ and the others is cut, both ways.
    AzIsolation,
    /// The link between two nodes is cut both ways.
    LinkPartition,
    /// The link between two nodes is cut in one direction only.
    OneWayPartition,
    /// Messages are lost at some rate (TCP retransmits: they arrive late).
    PacketLoss,
    /// Object-storage requests fail before they are applied.
    StorageErrors,
    /// Object-storage requests are applied and then report an error (ambiguous).
    StorageAmbiguous,
    /// Object-storage first-byte latency jumps.
    LatencySpike,
    /// The S3 Express One Zone bucket's zone is down: every request is refused.
    ExpressOutage,
    /// The control-plane leader stops (a long GC pause, a frozen VM) and resumes, often
    /// after another replica took over: the case fencing exists for.
    ControlPlanePause,
    /// A consumer process dies and comes back (its group rebalances twice).
    ConsumerCrash,
    /// Requests to the control plane's journal bucket fail, before or after they are
    /// applied (drawn per fault), with extra latency: journal appends are retried, an
    /// ambiguous append must be recognised as the writer's own, and a leader that cannot
    /// write in time loses its lease.
    JournalStorageErrors,
    /// A server's responses are lost after their requests were served (the connection is
    /// reset): a commit lands and its caller cannot know; it must report the outcome as
    /// unknown, and a retry must not apply it twice.
    ReplyLoss,
    /// Every bucket (ingest and journal) refuses writes while reads succeed: a full disk,
    /// a read-only mount, a bucket policy that denies writes. Nothing can be produced or
    /// committed, but data already committed must stay readable.
    WriteOutage,
}

impl Family {
    /// The family's name as a scenario file writes it (`agent_crash`).
    pub fn name(self) -> String {
        let mut name = String::new();
        for (i, c) in format!("{self:?}").chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        }
        name
    }

    pub const ALL: [Family; 16] = [
        Family::AgentCrash,
        Family::ControlPlaneCrash,
        Family::NodePause,
        Family::AzIsolation,
        Family::LinkPartition,
        Family::OneWayPartition,
        Family::PacketLoss,
        Family::StorageErrors,
        Family::StorageAmbiguous,
        Family::LatencySpike,
        Family::ExpressOutage,
        Family::ControlPlanePause,
        Family::ConsumerCrash,
        Family::JournalStorageErrors,
        Family::ReplyLoss,
        Family::WriteOutage,
    ];

    /// What a swarm scenario picks from when it names no families, in this order (a seed's
    /// schedule depends on it). [`Family::ControlPlanePause`], [`Family::ConsumerCrash`] and
    /// [`Family::JournalStorageErrors`] came later and are opted into by name, so that
    /// existing swarm campaigns keep their seeds' schedules.
    pub const SWARM_DEFAULT: &'static [Family] = &[
        Family::AgentCrash,
        Family::ControlPlaneCrash,
        Family::NodePause,
        Family::AzIsolation,
        Family::LinkPartition,
        Family::OneWayPartition,
        Family::PacketLoss,
        Family::StorageErrors,
        Family::StorageAmbiguous,
        Family::LatencySpike,
        Family::ExpressOutage,
        Family::ReplyLoss,
        Family::WriteOutage,
    ];
}

/// How one family hits: on average every `mean_interval_ms`, each fault lasting between
/// `duration_ms_min` and `duration_ms_max`, with `severity` in [0, 1] (error probability,
/// loss rate, or the fraction of a 1 s spike, depending on the family).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Intensity {
    pub mean_interval_ms: u64,
    pub duration_ms_min: u64,
    pub duration_ms_max: u64,
    pub severity: f64,
}

impl Default for Intensity {
    fn default() -> Self {
        Intensity {
            mean_interval_ms: 10_000,
            duration_ms_min: 500,
            duration_ms_max: 5_000,
            severity: 0.2,
        }
    }
}

impl Intensity {
    pub fn validate(&self, family: Family) -> Result<(), String> {
        if self.mean_interval_ms == 0 {
            return Err(format!("{family:?}: mean_interval_ms must be positive"));
        }
        if self.duration_ms_min > self.duration_ms_max {
            return Err(format!(
                "{family:?}: duration_ms_min exceeds duration_ms_max"
            ));
        }
        if !(0.0..=1.0).contains(&self.severity) {
            return Err(format!("{family:?}: severity must be within [0, 1]"));
        }
        Ok(())
    }
}

/// Which families are on, and how hard each hits; in swarm runs that draw it, the shape of
/// the producers too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    pub families: BTreeMap<Family, Intensity>,
    /// The producers' configuration this seed drew (see [`ProducerShape::swarm`]); `None`:
    /// the scenario's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer: Option<ProducerShape>,
}

/// A producer configuration drawn per swarm seed, the way librdkafka users set one up: with
/// or without idempotence, few or many requests in flight, no linger and small batches (so
/// several single-batch requests to one partition are in flight on a connection), short
/// timeouts (so requests are retried and batches expire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerShape {
    pub idempotent: bool,
    /// Produce requests in flight per connection: 1, 5 or 100 without idempotence; 1, 2
    /// or 5 with it (Kafka allows at most 5).
    pub max_in_flight: usize,
    pub linger_ms: u64,
    /// `None`: the scenario's batch size.
    pub batch_bytes_max: Option<usize>,
    /// `None`: the scenario's request timeout.
    pub request_timeout_ms: Option<u64>,
    /// `None`: the scenario's delivery timeout.
    pub delivery_timeout_ms: Option<u64>,
}

impl ProducerShape {
    /// Small batches: about 7 records of 1 KiB.
    pub const SMALL_BATCH_BYTES: usize = 8 * 1024;

    /// The shape of a swarm seed's producers. Deterministic in `seed`, and drawn from its
    /// own stream, so the families and schedule a seed draws do not depend on it.
    pub fn swarm(seed: u64) -> ProducerShape {
        let mut rng = SmallRng::seed_from_u64(crate::derive_seed(seed, "swarm.producers", 0));
        let idempotent = rng.gen_bool(0.5);
        let max_in_flight = if idempotent {
            [1, 2, 5][rng.gen_range(0..3)]
        } else {
            [1, 5, 100][rng.gen_range(0..3)]
        };
        let linger_ms = [0, 0, 5, 25][rng.gen_range(0..4)];
        // Small batches only where a partition can keep up: with 5 or more requests in
        // flight, 7-record batches carry well over the swarm's 25 records/s per partition.
        let small = linger_ms == 0 && max_in_flight >= 5 && rng.gen_bool(0.5);
        let short = rng.gen_bool(1.0 / 3.0);
        let request_timeout_ms = short.then(|| rng.gen_range(1_000..=3_000));
        let delivery_timeout_ms = short.then(|| rng.gen_range(5_000..=15_000));
        ProducerShape {
            idempotent,
            max_in_flight,
            linger_ms,
            batch_bytes_max: small.then_some(Self::SMALL_BATCH_BYTES),
            request_timeout_ms,
            delivery_timeout_ms,
        }
    }
}

impl FaultPlan {
    pub fn none() -> Self {
        FaultPlan::default()
    }

    /// No fault family is on (a drawn producer shape is no fault).
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    pub fn validate(&self) -> Result<(), String> {
        self.families.iter().try_for_each(|(f, i)| i.validate(*f))
    }

    /// Swarm testing: from `candidates`, turn each family on with probability 1/2 (at least
    /// one), each with random intensities. Deterministic in `seed`.
    pub fn swarm(seed: u64, candidates: &[Family]) -> FaultPlan {
        let mut rng = SmallRng::seed_from_u64(crate::derive_seed(seed, "swarm.families", 0));
        let mut families = BTreeMap::new();
        for family in candidates {
            if rng.gen_bool(0.5) {
                families.insert(*family, random_intensity(&mut rng, *family));
            }
        }
        if families.is_empty() && !candidates.is_empty() {
            let family = candidates[rng.gen_range(0..candidates.len())];
            families.insert(family, random_intensity(&mut rng, family));
        }
        FaultPlan {
            families,
            producer: None,
        }
    }
}

fn random_intensity(rng: &mut SmallRng, family: Family) -> Intensity {
    // Crashes and outages are rarer and longer; error bursts and spikes more frequent.
    let (interval, dur_max) = match family {
        Family::AgentCrash | Family::ControlPlaneCrash | Family::ConsumerCrash => {
            (rng.gen_range(5_000..20_000), rng.gen_range(1_000..8_000))
        }
        Family::AzIsolation | Family::ExpressOutage | Family::WriteOutage => {
            (rng.gen_range(10_000..30_000), rng.gen_range(1_000..6_000))
        }
        // Long enough, often, for a follower to take over (2.5 s by default).
        Family::ControlPlanePause => (rng.gen_range(5_000..15_000), rng.gen_range(3_000..8_000)),
        _ => (rng.gen_range(2_000..12_000), rng.gen_range(200..4_000)),
    };
    let severity = match family {
        Family::PacketLoss => rng.gen_range(0.01..0.3),
        Family::StorageErrors | Family::StorageAmbiguous | Family::JournalStorageErrors => {
            rng.gen_range(0.05..0.6)
        }
        _ => rng.gen_range(0.1..1.0),
    };
    Intensity {
        mean_interval_ms: interval,
        duration_ms_min: dur_max / 4,
        duration_ms_max: dur_max,
        severity,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn producer_shapes_are_deterministic_valid_and_varied() {
        let shapes: Vec<ProducerShape> = (0..200).map(ProducerShape::swarm).collect();
        assert_eq!(
            shapes,
            (0..200).map(ProducerShape::swarm).collect::<Vec<_>>()
        );
        for p in &shapes {
            if p.idempotent {
                assert!([1, 2, 5].contains(&p.max_in_flight), "{p:?}");
            } else {
                assert!([1, 5, 100].contains(&p.max_in_flight), "{p:?}");
            }
            if p.batch_bytes_max.is_some() {
                assert!(p.linger_ms == 0 && p.max_in_flight >= 5, "{p:?}");
            }
            assert_eq!(
                p.request_timeout_ms.is_some(),
                p.delivery_timeout_ms.is_some()
            );
            if let (Some(r), Some(d)) = (p.request_timeout_ms, p.delivery_timeout_ms) {
                // Kafka: delivery.timeout.ms >= linger.ms + request.timeout.ms.
                assert!(d >= p.linger_ms + r, "{p:?}");
            }
        }
        let seen = |f: &dyn Fn(&ProducerShape) -> String| -> BTreeSet<String> {
            shapes.iter().map(f).collect()
        };
        assert_eq!(
            seen(&|p| format!("{}/{}", p.idempotent, p.max_in_flight)).len(),
            6,
            "every (idempotent, max_in_flight) pair"
        );
        assert_eq!(seen(&|p| p.linger_ms.to_string()).len(), 3);
        assert_eq!(
            seen(&|p| format!("{:?}", p.batch_bytes_max.is_some())).len(),
            2
        );
        assert_eq!(
            seen(&|p| format!("{:?}", p.request_timeout_ms.is_some())).len(),
            2
        );
        assert!(shapes
            .iter()
            .any(|p| p.idempotent && p.max_in_flight == 5 && p.batch_bytes_max.is_some()));
    }

    #[test]
    fn a_producer_shape_alone_is_no_fault() {
        let plan = FaultPlan {
            families: BTreeMap::new(),
            producer: Some(ProducerShape::swarm(1)),
        };
        assert!(plan.is_empty());
    }
}

#[cfg(test)]
mod family_name_tests {
    use super::Family;

    #[test]
    fn a_family_is_named_as_scenario_files_write_it() {
        for family in Family::ALL {
            let written = serde_json::to_value(family).unwrap();
            assert_eq!(written, serde_json::Value::String(family.name()));
        }
    }
}
