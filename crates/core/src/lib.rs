//! Northstar's domain and analytics, as pure functions over plain values.
//!
//! Nothing here does I/O: the store hands this crate rows and summaries, and
//! the server presents what it returns. Every metric is computed from a
//! mergeable summary ([`summary`]) so that the same code answers a query over
//! one day, one month or a year of rollups.

pub mod access;
pub mod account;
pub mod assignment;
pub mod balance;
pub mod business_case;
pub mod calendar;
pub mod comparison;
pub mod customer;
pub mod department;
pub mod did;
pub mod dimension;
pub mod drivers;
pub mod estimate;
pub mod expectation_gap;
pub mod field;
pub mod header;
pub mod lifecycle;
pub mod metric;
pub mod operation;
pub mod personal_data;
pub mod pilot;
pub mod power;
pub mod representativeness;
pub mod response;
pub mod revenue;
pub mod rollup;
pub mod summary;
pub mod survey;
pub mod trends;
pub mod weighting;

pub use dimension::{Dimension, DimensionValues};
pub use estimate::{DifferenceTest, Estimate};
pub use field::FieldError;
pub use metric::Metric;
pub use summary::{
    CesSummary, CsatSummary, MeanSummary, Mergeable, NpsSummary, ProportionSummary, ResponseSummary,
};
