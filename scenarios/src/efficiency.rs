//! Verdicts beyond safety judged from a run's meters: zone locality of client traffic and the
//! object-storage requests the design needs (the terms a cost per GiB ingested is made of).
//! Each bound follows from the scenario's own model — AZs, agents, batch timeout, file size
//! target, zone-cache page size, PUT attempts — so a what-if that changes the model moves the
//! bound with it; `verdicts` in the scenario file can set or switch them off.
//!
//! - **Cross-AZ traffic** (zone-aware workloads): a client with a zone hint is served by the
//!   agents of its AZ (`agents_for`), falling back to other AZs only while its AZ has no live
//!   agent. So the share of Kafka bytes that crossed AZs is at most a small allowance
//!   (metadata from bootstrap servers) plus the share of the producing window during which an
//!   agent was down or paused.
//! - **PUTs** to the ingest bucket: an agent cuts a file when its batch timeout expires or its
//!   file reaches the size target, so at most `agents × window / batch_timeout` timed cuts,
//!   one more per agent (the last flush), and `ingested bytes / batch_bytes_max` size cuts;
//!   each PUT may be attempted `put_attempts` times when storage faults ran. A slack of 1.25
//!   covers an agent restarting its timer after a crash.
//! - **GETs** per AZ from the data buckets: the zone cache reads each page of a file once per
//!   AZ, so about one GET per page written (a file of up to one page is one GET); compaction
//!   reads its sources once more. The bound allows 1.5 GETs per page without faults and 4
//!   with them (a crashed agent's cache is lost, a page whose peer cannot be reached is read
//!   from the bucket, storage errors retry).

use eddy_reports::{Class, RunReport, Violation};
use serde::Serialize;

use crate::run::RunOutput;
use crate::spec::Scenario;

/// Fault families that take agents away (their clients fall back to other AZs, their caches
/// are lost).
const AGENT_OUTAGES: [eddy_faults::Family; 3] = [
    eddy_faults::Family::AgentCrash,
    eddy_faults::Family::NodePause,
    eddy_faults::Family::AzIsolation,
];

/// Fault families that make PUTs fail and be retried.
const STORAGE_FAULTS: [eddy_faults::Family; 3] = [
    eddy_faults::Family::StorageErrors,
    eddy_faults::Family::StorageAmbiguous,
    eddy_faults::Family::ExpressOutage,
];

/// Share of client bytes allowed across AZs with every agent up (bootstrap metadata).
const CROSS_AZ_ALLOWANCE: f64 = 0.02;
/// PUT slack over the model's cuts.
const PUT_SLACK: f64 = 1.25;
/// GETs per page written, without and with faults.
const GETS_PER_PAGE: f64 = 1.5;
const GETS_PER_PAGE_FAULTS: f64 = 4.0;

/// What the efficiency verdict judged, for report.json.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EfficiencyVerdict {
    /// Zone-aware runs: the measured and allowed share of client bytes across AZs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_az: Option<Measured>,
    /// PUTs to the ingest bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest_puts: Option<Measured>,
    /// GETs from the data buckets, per AZ.
    pub gets_by_az: Vec<AzMeasured>,
    /// Why a check was not made (switched off, nothing to judge).
    pub not_judged: Vec<String>,
    #[serde(skip)]
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub value: f64,
    pub bound: f64,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AzMeasured {
    pub az: String,
    pub gets: u64,
    pub bound: f64,
    pub ok: bool,
}

/// Judge a finished run's meters against the scenario's model.
pub fn judge(scenario: &Scenario, out: &RunOutput, report: &RunReport) -> EfficiencyVerdict {
    let mut v = EfficiencyVerdict::default();
    let settings = &scenario.verdicts;
    if !settings.efficiency {
        v.not_judged
            .push("verdicts.efficiency is false".to_string());
        return v;
    }
    let window_s = report.window_s();
    if !(window_s > 0.0) {
        v.not_judged.push("no producing window".to_string());
        return v;
    }
    let window_ms = window_s * 1000.0;
    cross_az(scenario, out, window_ms, &mut v);
    ingest_puts(scenario, out, report, window_s, &mut v);
    gets(scenario, out, &mut v);
    v
}

/// Milliseconds of `[0, window_ms)` covered by faults of `families` (overlaps merged).
fn covered_ms(out: &RunOutput, families: &[eddy_faults::Family], window_ms: f64) -> f64 {
    let mut spans: Vec<(f64, f64)> = out
        .fault_events
        .iter()
        .filter(|f| families.contains(&f.family))
        .map(|f| (f.start_ms as f64, (f.end_ms as f64).min(window_ms)))
        .filter(|(s, e)| e > s)
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let (mut total, mut end) = (0.0, f64::MIN);
    for (s, e) in spans {
        let s = s.max(end);
        if e > s {
            total += e - s;
            end = e;
        }
    }
    total
}

fn had(out: &RunOutput, families: &[eddy_faults::Family]) -> bool {
    out.fault_events
        .iter()
        .any(|f| families.contains(&f.family))
}

fn cross_az(scenario: &Scenario, out: &RunOutput, window_ms: f64, v: &mut EfficiencyVerdict) {
    if !scenario.workload.zone_aware {
        v.not_judged
            .push("cross_az_traffic: the workload is not zone-aware".to_string());
        return;
    }
    let total: u64 = out.client_traffic.iter().map(|t| t.bytes).sum();
    if total == 0 {
        v.not_judged
            .push("cross_az_traffic: no client traffic".to_string());
        return;
    }
    let cross: u64 = out
        .client_traffic
        .iter()
        .filter(|t| t.src != t.dst)
        .map(|t| t.bytes)
        .sum();
    let share = cross as f64 / total as f64;
    let outage = covered_ms(out, &AGENT_OUTAGES, window_ms) / window_ms;
    let bound = scenario
        .verdicts
        .cross_az_share_max
        .unwrap_or(CROSS_AZ_ALLOWANCE + outage);
    let ok = share <= bound;
    if !ok {
        v.violations.push(Violation::of_run(
            Class::CrossAzTraffic,
            Vec::new(),
            format!(
                "zone-aware clients moved {:.1}% of their Kafka bytes across AZs ({cross} of {total} bytes); \
                 the bound is {:.1}% ({:.0}% allowance plus {:.1}% of the producing window with an agent down, paused or isolated)",
                share * 100.0,
                bound * 100.0,
                CROSS_AZ_ALLOWANCE * 100.0,
                outage * 100.0
            ),
        ));
    }
    v.cross_az = Some(Measured {
        value: share,
        bound,
        ok,
    });
}

fn ingest_puts(
    scenario: &Scenario,
    out: &RunOutput,
    report: &RunReport,
    window_s: f64,
    v: &mut EfficiencyVerdict,
) {
    let Some(m) = out.meters.buckets.get(crate::usage::DATA_BUCKET) else {
        return;
    };
    let puts = m.requests.put + m.requests.multipart_part;
    let a = &scenario.agent;
    let agents = (scenario.topology.azs.len() * scenario.topology.agents_per_az) as f64;
    let cuts = agents * (window_s * 1000.0 / a.batch_timeout_ms.max(1) as f64 + 1.0)
        + report.throughput.ingested_bytes as f64 / a.batch_bytes_max.max(1) as f64;
    let attempts = if had(out, &STORAGE_FAULTS) {
        a.put_attempts.max(1) as f64
    } else {
        1.0
    };
    let bound = cuts * attempts * PUT_SLACK;
    let ok = puts as f64 <= bound;
    if !ok {
        v.violations.push(Violation::of_run(
            Class::StorageRequests,
            Vec::new(),
            format!(
                "{puts} PUTs to the ingest bucket over a {window_s:.1} s producing window; the model allows {bound:.0}: \
                 {agents} agents cutting a file every {} ms or every {} bytes ({cuts:.0} files), × {attempts} attempt(s) × {PUT_SLACK} slack",
                a.batch_timeout_ms, a.batch_bytes_max
            ),
        ));
    }
    v.ingest_puts = Some(Measured {
        value: puts as f64,
        bound,
        ok,
    });
}

fn gets(scenario: &Scenario, out: &RunOutput, v: &mut EfficiencyVerdict) {
    if !scenario.agent.zone_cache {
        // Without the cache every fetch reads its ranges itself: no per-page model.
        v.not_judged
            .push("storage_requests GETs: the zone cache is off".to_string());
        return;
    }
    let page = scenario.agent.zone_cache_page_bytes.max(1) as f64;
    let data: Vec<(&String, &eddy_sim::BucketMeters)> = out
        .meters
        .buckets
        .iter()
        .filter(|(name, _)| name.as_str() != "journal")
        .collect();
    // Pages written: a file of up to one page is one page.
    let pages_of = |m: &eddy_sim::BucketMeters| {
        (m.requests.put + m.requests.multipart_part) as f64 + m.bytes_uploaded as f64 / page
    };
    let written: f64 = data.iter().map(|(_, m)| pages_of(m)).sum();
    // Compaction reads every page it compacts once more (from the AZ of the compactor).
    let compacted = if scenario.controlplane.maintenance.enabled {
        written
    } else {
        0.0
    };
    let per_page = if out.fault_events.is_empty() {
        GETS_PER_PAGE
    } else {
        GETS_PER_PAGE_FAULTS
    };
    let bound = per_page * (written + compacted) + 1.0;
    let mut by_az: std::collections::BTreeMap<&str, u64> = Default::default();
    for (_, m) in &data {
        for (az, r) in &m.reads_by_az {
            *by_az.entry(az.as_str()).or_default() += r.gets;
        }
    }
    for (az, gets) in by_az {
        let ok = gets as f64 <= bound;
        if !ok {
            v.violations.push(Violation::of_run(
                Class::StorageRequests,
                Vec::new(),
                format!(
                    "{gets} GETs from the data buckets by the nodes of {az}; the model allows {bound:.0}: \
                     {per_page} per page written ({written:.0} pages of {page:.0} bytes, {compacted:.0} read again by compaction)"
                ),
            ));
        }
        v.gets_by_az.push(AzMeasured {
            az: az.to_string(),
            gets,
            bound,
            ok,
        });
    }
}

impl EfficiencyVerdict {
    /// Adds this verdict's violations and judged counts to the run's verdict.
    pub fn apply(&self, verdict: &mut eddy_reports::Verdict) {
        verdict.add_judged(Class::CrossAzTraffic, self.cross_az.is_some() as u64);
        verdict.add_judged(
            Class::StorageRequests,
            self.ingest_puts.is_some() as u64 + self.gets_by_az.len() as u64,
        );
        for x in &self.violations {
            verdict.add(x.clone());
        }
    }
}
