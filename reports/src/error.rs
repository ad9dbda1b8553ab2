//! The crate's one error type. `reports` judges finished runs, so every error is about its
//! input: a history or usage file that cannot be read, parsed or priced.

/// Everything that can go wrong while reading, validating or pricing a finished run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a history stream failed.
    #[error("I/O error on history line {line}: {source}")]
    Io {
        /// 1-based line number (0 when writing).
        line: usize,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A history line is not a valid JSON `Op` (see HISTORY.md for the schema).
    #[error("history line {line}: {source}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What serde_json objected to.
        source: serde_json::Error,
    },
    /// The history parses but breaks a rule of the schema (duplicate ids or values, …).
    #[error("invalid history ({location}): {reason}")]
    Invalid {
        /// Where: "line N" when read from JSONL, "op index N" otherwise.
        location: String,
        /// What rule was broken.
        reason: String,
    },
    /// A bucket's storage class has no price.
    #[error("bucket {bucket:?}: unknown storage class {class:?} (expected s3_standard, s3_express or regional_log)")]
    UnknownStorageClass {
        /// The bucket name.
        bucket: String,
        /// The class it claimed.
        class: String,
    },
}
