//! Core integration tests: the statistical methods against reference values
//! computed by scipy/statsmodels (tools/golden/*.json; each file records
//! the package versions and the script that made it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod assignment;
mod business_case;
mod departments;
mod did;
mod drivers;
mod expectation_gap;
mod golden;
mod nps_coverage;
mod power;
mod trends;
mod weighting;
