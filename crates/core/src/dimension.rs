//! The dimensions every response is filed under, and rollups are keyed by.

use serde::Serialize;

/// A dimension of the rollup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Survey,
    Touchpoint,
    Department,
    Segment,
    Channel,
}

impl Dimension {
    /// How many dimensions there are. Adding one is a variant here, its name
    /// in [`Dimension::as_str`], and a migration adding the column to
    /// `responses` and `rollups_daily` (with its key) on both backends: every
    /// column list, key array and parameter list is derived from this type.
    pub const COUNT: usize = 5;

    /// All dimensions, in key order.
    pub const ALL: [Dimension; Self::COUNT] = [
        Dimension::Survey,
        Dimension::Touchpoint,
        Dimension::Department,
        Dimension::Segment,
        Dimension::Channel,
    ];

    /// The column and parameter name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Dimension::Survey => "survey",
            Dimension::Touchpoint => "touchpoint",
            Dimension::Department => "department",
            Dimension::Segment => "segment",
            Dimension::Channel => "channel",
        }
    }

    /// Parses a column or parameter name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// The names of all dimensions, comma-separated, in key order: the
    /// column list of `responses` and `rollups_daily`, and the list of
    /// parameter names an error message offers.
    pub fn column_list() -> &'static str {
        static LIST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            Dimension::ALL
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        });
        &LIST
    }

    /// Position in [`Dimension::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Dimension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value per dimension; an empty string means "not given".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DimensionValues(pub [String; Dimension::COUNT]);

impl DimensionValues {
    /// The value of one dimension.
    pub fn get(&self, d: Dimension) -> &str {
        &self.0[d.index()]
    }

    /// Sets the value of one dimension.
    pub fn set(&mut self, d: Dimension, value: String) {
        self.0[d.index()] = value;
    }
}
