//! Dollars from usage: the runner fills [`Usage`] from the simulator's meters (requests,
//! bytes and byte-seconds per bucket, bytes per AZ pair) and [`cost`] prices it with
//! [`Prices`]. Defaults are AWS us-east-1 list prices, each with its source.
//!
//! Units: AWS bills storage and transfer per "GB" of 2^30 bytes (the S3 FAQ's Express
//! examples divide KB by 1,048,576), so every GB here is a GiB. A month is 730 hours, the
//! figure AWS uses for monthly estimates.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Bytes per billed GB (binary, as AWS bills).
pub const BYTES_PER_GB: f64 = 1_073_741_824.0;
/// Seconds per billed month (730 hours).
pub const SECONDS_PER_MONTH: f64 = 730.0 * 3600.0;

/// What a run used, from the simulator's meters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Simulated seconds the meters cover.
    pub duration_s: f64,
    /// Seconds the per-day and per-month figures are scaled from: the producing window
    /// (0: `duration_s`). [`crate::RunReport::assemble`] sets it to
    /// [`crate::report::producing_window_s`], the window of the report's throughput, so every
    /// figure of a run scales from the same seconds.
    #[serde(default)]
    pub window_s: f64,
    /// Per-bucket meters.
    pub buckets: Vec<BucketUsage>,
    /// Bytes sent per (source AZ, destination AZ), same-AZ pairs included.
    pub az_bytes: Vec<AzFlow>,
    /// Payload bytes producers got acknowledged (the denominator of $/GiB).
    pub ingested_bytes: u64,
}

/// One bucket's meters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketUsage {
    /// Bucket name.
    pub bucket: String,
    /// "s3_standard" | "s3_express" | "regional_log".
    pub class: String,
    /// PUT requests (including conditional puts and multipart parts).
    pub puts: u64,
    /// GET requests (ranged or not).
    pub gets: u64,
    /// HEAD requests.
    pub heads: u64,
    /// LIST requests.
    pub lists: u64,
    /// DELETE requests.
    pub deletes: u64,
    /// COPY requests.
    pub copies: u64,
    /// Bytes uploaded.
    pub bytes_up: u64,
    /// Bytes downloaded.
    pub bytes_down: u64,
    /// Integral of bytes stored over simulated seconds.
    pub byte_seconds: f64,
}

/// Bytes sent from one AZ to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzFlow {
    /// Source AZ.
    pub src: String,
    /// Destination AZ.
    pub dst: String,
    /// Bytes.
    pub bytes: u64,
}

/// Prices of one storage class. Request prices are per 1,000 requests (or request units).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassPrices {
    /// PUT.
    pub put_per_1k: f64,
    /// COPY.
    pub copy_per_1k: f64,
    /// LIST.
    pub list_per_1k: f64,
    /// GET.
    pub get_per_1k: f64,
    /// HEAD.
    pub head_per_1k: f64,
    /// DELETE.
    pub delete_per_1k: f64,
    /// Per GB uploaded.
    pub upload_per_gb: f64,
    /// Per GB downloaded.
    pub retrieval_per_gb: f64,
    /// Per GB-month stored.
    pub storage_per_gb_month: f64,
    /// 0: a PUT is one request. Otherwise writes are billed in units of this many bytes,
    /// at least one per request: units = max(puts, ⌈bytes_up / write_unit_bytes⌉) (a lower
    /// bound when request sizes vary, since only totals are metered).
    pub write_unit_bytes: u64,
    /// Same for GETs and `bytes_down`.
    pub read_unit_bytes: u64,
}

/// Every price the cost model uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    /// S3 Standard.
    pub s3_standard: ClassPrices,
    /// S3 Express One Zone.
    pub s3_express: ClassPrices,
    /// A regional strongly consistent log (the control-plane journal), priced like a
    /// DynamoDB on-demand table.
    pub regional_log: ClassPrices,
    /// Per GB crossing between two AZs, both sides' charges together.
    pub inter_az_per_gb: f64,
}

impl Default for Prices {
    /// AWS us-east-1 list prices.
    fn default() -> Self {
        Prices {
            // https://aws.amazon.com/s3/pricing/ (S3 Standard, us-east-1): PUT, COPY, POST,
            // LIST $0.005 per 1,000; GET, SELECT and all other requests $0.0004 per 1,000;
            // DELETE free; storage $0.023 per GB-month (first 50 TB); no per-GB charge for
            // transfer into S3 or to EC2 in the same region.
            s3_standard: ClassPrices {
                put_per_1k: 0.005,
                copy_per_1k: 0.005,
                list_per_1k: 0.005,
                get_per_1k: 0.0004,
                head_per_1k: 0.0004,
                delete_per_1k: 0.0,
                upload_per_gb: 0.0,
                retrieval_per_gb: 0.0,
                storage_per_gb_month: 0.023,
                write_unit_bytes: 0,
                read_unit_bytes: 0,
            },
            // https://aws.amazon.com/s3/pricing/ and the S3 FAQ's Express One Zone examples
            // (https://aws.amazon.com/s3/faqs/), after the April 2025 price cut: PUT
            // $0.00113 per 1,000, GET $0.00003 per 1,000, data upload $0.0032 per GB, data
            // retrieval $0.0006 per GB, storage $0.11 per GB-month, DELETE free. LIST and
            // COPY priced like PUT, HEAD like GET, as for the other classes.
            s3_express: ClassPrices {
                put_per_1k: 0.00113,
                copy_per_1k: 0.00113,
                list_per_1k: 0.00113,
                get_per_1k: 0.00003,
                head_per_1k: 0.00003,
                delete_per_1k: 0.0,
                upload_per_gb: 0.0032,
                retrieval_per_gb: 0.0006,
                storage_per_gb_month: 0.11,
                write_unit_bytes: 0,
                read_unit_bytes: 0,
            },
            // https://aws.amazon.com/dynamodb/pricing/on-demand/ (us-east-1, since the
            // November 2024 cut): $0.625 per million write request units (1 KB each),
            // $0.125 per million read request units (one strongly consistent read of up to
            // 4 KB), storage $0.25 per GB-month. LIST is a query: read-priced.
            regional_log: ClassPrices {
                put_per_1k: 0.000625,
                copy_per_1k: 0.000625,
                list_per_1k: 0.000125,
                get_per_1k: 0.000125,
                head_per_1k: 0.000125,
                delete_per_1k: 0.000625,
                upload_per_gb: 0.0,
                retrieval_per_gb: 0.0,
                storage_per_gb_month: 0.25,
                write_unit_bytes: 1024,
                read_unit_bytes: 4096,
            },
            // https://aws.amazon.com/ec2/pricing/on-demand/ ("Data Transfer within the same
            // AWS Region"): $0.01 per GB in each direction, i.e. charged to the sender and
            // to the receiver: $0.02 per GB that crosses AZs.
            inter_az_per_gb: 0.02,
        }
    }
}

impl Prices {
    /// The figures of the seed document: inter-zone transfer $0.05 per GB crossing and
    /// object storage (S3 Standard) $0.02 per GB-month; everything else as [`Default`].
    pub fn seed_document() -> Self {
        let defaults = Prices::default();
        Prices {
            inter_az_per_gb: 0.05,
            s3_standard: ClassPrices {
                storage_per_gb_month: 0.02,
                ..defaults.s3_standard.clone()
            },
            ..defaults
        }
    }

    /// The prices of a class by its name in [`BucketUsage::class`].
    pub fn class(&self, class: &str) -> Option<&ClassPrices> {
        match class {
            "s3_standard" => Some(&self.s3_standard),
            "s3_express" => Some(&self.s3_express),
            "regional_log" => Some(&self.regional_log),
            _ => None,
        }
    }
}

/// What a cost line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostKind {
    /// PUT requests (or write units).
    Put,
    /// GET requests (or read units).
    Get,
    /// HEAD, LIST, COPY and DELETE requests.
    OtherRequests,
    /// Per-GB upload charge (S3 Express).
    TransferIn,
    /// Per-GB retrieval charge (S3 Express).
    TransferOut,
    /// Storage.
    Storage,
    /// Bytes crossing AZs.
    InterAz,
}

/// One priced item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    /// Bucket name, or "src -> dst" for inter-AZ transfer.
    pub item: String,
    /// Storage class, or "inter_az".
    pub class: String,
    /// What is charged.
    pub kind: CostKind,
    /// How much of it.
    pub quantity: f64,
    /// Unit of `quantity`: "requests", "write units", "read units", "GB", "GB-month".
    pub unit: String,
    /// Dollars.
    pub dollars: f64,
}

/// The priced run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostBreakdown {
    /// Non-zero lines: per bucket and kind, then per AZ pair.
    pub lines: Vec<CostLine>,
    /// Sum of request lines (put, get, other).
    pub requests_dollars: f64,
    /// Sum of per-GB storage-class transfer lines (Express upload and retrieval).
    pub storage_transfer_dollars: f64,
    /// Sum of storage lines.
    pub storage_dollars: f64,
    /// Sum of inter-AZ lines.
    pub inter_az_dollars: f64,
    /// Everything.
    pub total_dollars: f64,
    /// Ingested payload, GiB.
    pub ingested_gib: f64,
    /// Total per GiB ingested (`None` when nothing was ingested).
    pub dollars_per_gib_ingested: Option<f64>,
    /// Seconds the per-day and per-month figures scale from (see [`Usage::window_s`]);
    /// a line's cost per day is `dollars / window_s * 86,400`.
    #[serde(default)]
    pub window_s: f64,
    /// Total scaled to a day at the measured rate (`None` for a zero-length run).
    pub dollars_per_day: Option<f64>,
    /// Total scaled to a 730-hour month at the measured rate.
    pub dollars_per_month: Option<f64>,
}

/// Prices a run's usage. Fails on a bucket whose class has no price, or on a negative or
/// non-finite duration or byte-seconds figure.
pub fn cost(usage: &Usage, prices: &Prices) -> Result<CostBreakdown, Error> {
    if !usage.duration_s.is_finite() || usage.duration_s < 0.0 {
        return Err(invalid(format!("duration_s is {}", usage.duration_s)));
    }
    let mut lines = Vec::new();
    for b in &usage.buckets {
        let p = prices
            .class(&b.class)
            .ok_or_else(|| Error::UnknownStorageClass {
                bucket: b.bucket.clone(),
                class: b.class.clone(),
            })?;
        if !b.byte_seconds.is_finite() || b.byte_seconds < 0.0 {
            return Err(invalid(format!(
                "bucket {:?}: byte_seconds is {}",
                b.bucket, b.byte_seconds
            )));
        }
        let mut line = |kind, quantity: f64, unit: &str, dollars: f64| {
            if quantity > 0.0 && dollars > 0.0 {
                lines.push(CostLine {
                    item: b.bucket.clone(),
                    class: b.class.clone(),
                    kind,
                    quantity,
                    unit: unit.to_string(),
                    dollars: round_nano(dollars),
                });
            }
        };
        let (writes, write_unit) = units(b.puts, b.bytes_up, p.write_unit_bytes, "write units");
        line(
            CostKind::Put,
            writes,
            write_unit,
            writes / 1000.0 * p.put_per_1k,
        );
        let (reads, read_unit) = units(b.gets, b.bytes_down, p.read_unit_bytes, "read units");
        line(
            CostKind::Get,
            reads,
            read_unit,
            reads / 1000.0 * p.get_per_1k,
        );
        let other = b.heads as f64 / 1000.0 * p.head_per_1k
            + b.lists as f64 / 1000.0 * p.list_per_1k
            + b.copies as f64 / 1000.0 * p.copy_per_1k
            + b.deletes as f64 / 1000.0 * p.delete_per_1k;
        line(
            CostKind::OtherRequests,
            (b.heads + b.lists + b.copies + b.deletes) as f64,
            "requests",
            other,
        );
        let up_gb = b.bytes_up as f64 / BYTES_PER_GB;
        line(CostKind::TransferIn, up_gb, "GB", up_gb * p.upload_per_gb);
        let down_gb = b.bytes_down as f64 / BYTES_PER_GB;
        line(
            CostKind::TransferOut,
            down_gb,
            "GB",
            down_gb * p.retrieval_per_gb,
        );
        let gb_months = b.byte_seconds / BYTES_PER_GB / SECONDS_PER_MONTH;
        line(
            CostKind::Storage,
            gb_months,
            "GB-month",
            gb_months * p.storage_per_gb_month,
        );
    }
    let mut flows: Vec<&AzFlow> = usage
        .az_bytes
        .iter()
        .filter(|f| f.src != f.dst && f.bytes > 0)
        .collect();
    flows.sort_by(|a, b| (&a.src, &a.dst).cmp(&(&b.src, &b.dst)));
    for f in flows {
        let gb = f.bytes as f64 / BYTES_PER_GB;
        if gb * prices.inter_az_per_gb > 0.0 {
            lines.push(CostLine {
                item: format!("{} -> {}", f.src, f.dst),
                class: "inter_az".to_string(),
                kind: CostKind::InterAz,
                quantity: gb,
                unit: "GB".to_string(),
                dollars: round_nano(gb * prices.inter_az_per_gb),
            });
        }
    }
    let sum = |kinds: &[CostKind]| {
        round_nano(
            lines
                .iter()
                .filter(|l| kinds.contains(&l.kind))
                .map(|l| l.dollars)
                .sum(),
        )
    };
    let requests_dollars = sum(&[CostKind::Put, CostKind::Get, CostKind::OtherRequests]);
    let storage_transfer_dollars = sum(&[CostKind::TransferIn, CostKind::TransferOut]);
    let storage_dollars = sum(&[CostKind::Storage]);
    let inter_az_dollars = sum(&[CostKind::InterAz]);
    let total_dollars = round_nano(
        requests_dollars + storage_transfer_dollars + storage_dollars + inter_az_dollars,
    );
    let ingested_gib = usage.ingested_bytes as f64 / BYTES_PER_GB;
    let window_s = if usage.window_s > 0.0 && usage.window_s.is_finite() {
        usage.window_s
    } else {
        usage.duration_s
    };
    let per_second = (window_s > 0.0).then(|| total_dollars / window_s);
    Ok(CostBreakdown {
        lines,
        requests_dollars,
        storage_transfer_dollars,
        storage_dollars,
        inter_az_dollars,
        total_dollars,
        ingested_gib,
        dollars_per_gib_ingested: (usage.ingested_bytes > 0)
            .then(|| round_nano(total_dollars / ingested_gib)),
        window_s,
        dollars_per_day: per_second.map(|r| round_nano(r * 86_400.0)),
        dollars_per_month: per_second.map(|r| round_nano(r * SECONDS_PER_MONTH)),
    })
}

/// Billed units for `requests` moving `bytes`: plain requests, or size-based units.
fn units(
    requests: u64,
    bytes: u64,
    unit_bytes: u64,
    unit_name: &'static str,
) -> (f64, &'static str) {
    if unit_bytes == 0 {
        (requests as f64, "requests")
    } else {
        (requests.max(bytes.div_ceil(unit_bytes)) as f64, unit_name)
    }
}

/// Dollars rounded to nano-dollars, so reports print no binary noise (and no "-0": an
/// empty float sum is negative zero).
fn round_nano(x: f64) -> f64 {
    (x * 1e9).round() / 1e9 + 0.0
}

fn invalid(reason: String) -> Error {
    Error::Invalid {
        location: "usage".to_string(),
        reason,
    }
}
