//! eddy-faults: faults as plain data, and fault schedules drawn from a seed.
//!
//! A [`FaultPlan`] says which fault families are on and how hard they hit; [`schedule`]
//! turns a plan, the shape of the deployment and a seed into a list of [`ScheduledFault`]s
//! for the chaos phase. Swarm testing ([`FaultPlan::swarm`]) lets every seed pick its own
//! subset of families and intensities, so different seeds stress different mixes, and
//! optionally its own producer configuration ([`ProducerShape::swarm`]).
//!
//! Nothing here touches a running system: the runner applies the schedule.

pub mod plan;
pub mod schedule;
pub mod seed;

pub use plan::{Family, FaultPlan, Intensity, ProducerShape};
pub use schedule::{schedule, Fault, ScheduledFault, Shape, Target};
pub use seed::derive_seed;
