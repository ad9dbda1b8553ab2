//! Price presets selectable on the command line.

use eddy_reports::Prices;

/// Which price list a run is priced with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PricePreset {
    /// AWS us-east-1 list prices ([`Prices::default`]).
    Aws,
    /// The seed document's figures: inter-zone $0.05/GB, object storage $0.02/GB-month.
    Seed,
}

impl PricePreset {
    pub fn prices(self) -> Prices {
        match self {
            PricePreset::Aws => Prices::default(),
            PricePreset::Seed => Prices::seed_document(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PricePreset::Aws => "aws (us-east-1 list prices)",
            PricePreset::Seed => "seed (inter-zone $0.05/GB, object storage $0.02/GB-month)",
        }
    }

    pub fn flag(self) -> &'static str {
        match self {
            PricePreset::Aws => "aws",
            PricePreset::Seed => "seed",
        }
    }
}
