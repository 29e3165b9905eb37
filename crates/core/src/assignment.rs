//! Which customers get the pilot: a random split that anyone can redo.
//! Random so that nothing about a customer decides their group (the
//! comparison is then fair on average, measured or not); reproducible
//! from the seed so that the split can be audited and re-created, also
//! outside Rust (`tools/golden/make_golden_assignment.py` reimplements it
//! in Python and the golden test checks both agree).
//!
//! The algorithm, exactly:
//!
//! 1. `pilot_share` must lie strictly between 0 and 1. Customer ids must
//!    be unique (the smallest repeated id is reported).
//! 2. Sort the (customer, stratum) pairs by stratum, then customer id,
//!    both compared byte by byte as UTF-8 — the input order plays no part.
//! 3. Blocks: with `stratified`, each run of one stratum is a block,
//!    drawn from SplitMix64 seeded with `seed XOR FNV-1a-64(stratum)`, so
//!    adding or changing one stratum leaves every other stratum's draw as
//!    it was. Without, the whole sorted list is one block, drawn from
//!    SplitMix64 seeded with `seed` (strata are still reported).
//!    - FNV-1a-64 of the stratum's UTF-8 bytes: h = 0xcbf29ce484222325;
//!      for each byte b: h = (h XOR b) · 0x100000001b3 mod 2⁶⁴.
//!    - SplitMix64 (Steele, Lea & Flood 2014, "Fast splittable
//!      pseudorandom number generators", OOPSLA): state starts at the seed;
//!      each draw: state = state + 0x9e3779b97f4a7c15; z = state;
//!      z = (z XOR z>>30) · 0xbf58476d1ce4e5b9; z = (z XOR z>>27) ·
//!      0x94d049bb133111eb; return z XOR z>>31 (all mod 2⁶⁴).
//! 4. Shuffle each block of n with Fisher–Yates (Durstenfeld): for i from
//!    n − 1 down to 1, swap items i and j, j uniform in 0..=i drawn by
//!    Lemire's method (2019, "Fast random integer generation in an
//!    interval", ACM TOMACS 29(1)) for s = i + 1: m = draw · s (128-bit),
//!    l = m mod 2⁶⁴; if l < s { t = (2⁶⁴ − s) mod s; while l < t { m =
//!    draw · s; l = m mod 2⁶⁴ } }; j = m >> 64. Unbiased.
//! 5. The first ⌊share · n + 0.5⌋ of the shuffled block are the pilot, the
//!    rest the control.
//! 6. The result is listed in the sorted order of step 2.

use std::fmt;

/// Which arm a customer is in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Pilot,
    Control,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Pilot => "pilot",
            Group::Control => "control",
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An assignment that cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AssignmentError {
    #[error("pilot share {0} must lie strictly between 0 and 1 (0.5 for half)")]
    Share(f64),
    #[error("customer {0:?} is listed more than once")]
    Duplicate(String),
}

/// SplitMix64 (step 3 of the module's algorithm).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..s` by Lemire's method (step 4); `s` ≥ 1.
    pub fn below(&mut self, s: u64) -> u64 {
        let mut m = u128::from(self.next_u64()) * u128::from(s);
        let mut l = m as u64;
        if l < s {
            let t = s.wrapping_neg() % s;
            while l < t {
                m = u128::from(self.next_u64()) * u128::from(s);
                l = m as u64;
            }
        }
        (m >> 64) as u64
    }
}

/// FNV-1a, 64-bit, of the bytes (step 3).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Fisher–Yates with draws from `rng` (step 4).
fn shuffle<T>(items: &mut [T], rng: &mut SplitMix64) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// Assigns each `(customer_id, stratum)` to the pilot or the control by the
/// module's algorithm; returns `(customer_id, group, stratum)` sorted by
/// stratum and customer id. The same input, share and seed always give the
/// same assignment, in any input order.
pub fn assign(
    customers: &[(String, String)],
    pilot_share: f64,
    seed: u64,
    stratified: bool,
) -> Result<Vec<(String, Group, String)>, AssignmentError> {
    if !(pilot_share > 0.0 && pilot_share < 1.0) {
        return Err(AssignmentError::Share(pilot_share));
    }
    let mut ids: Vec<&str> = customers.iter().map(|(c, _)| c.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(AssignmentError::Duplicate(w[0].to_owned()));
    }
    let mut sorted: Vec<&(String, String)> = customers.iter().collect();
    sorted.sort_unstable_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));

    let mut out: Vec<(String, Group, String)> = Vec::with_capacity(sorted.len());
    let mut start = 0;
    while start < sorted.len() {
        let (end, mut rng) = if stratified {
            let stratum = &sorted[start].1;
            let len = sorted[start..]
                .iter()
                .take_while(|c| &c.1 == stratum)
                .count();
            (
                start + len,
                SplitMix64::new(seed ^ fnv1a64(stratum.as_bytes())),
            )
        } else {
            (sorted.len(), SplitMix64::new(seed))
        };
        let mut order: Vec<usize> = (start..end).collect();
        shuffle(&mut order, &mut rng);
        let pilots = (pilot_share * order.len() as f64 + 0.5).floor() as usize;
        let mut groups = vec![Group::Control; order.len()];
        for &i in &order[..pilots.min(order.len())] {
            groups[i - start] = Group::Pilot;
        }
        out.extend(
            sorted[start..end]
                .iter()
                .zip(groups)
                .map(|((c, s), g)| (c.clone(), g, s.clone())),
        );
        start = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // Vigna's splitmix64.c with seed 1234567.
        let mut r = SplitMix64::new(1234567);
        let got: Vec<u64> = (0..5).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423,
                4593380528125082431,
                16408922859458223821
            ]
        );
    }

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn bounded_draws_stay_in_range_and_cover_it() {
        let mut r = SplitMix64::new(7);
        let mut seen = [0u32; 6];
        for _ in 0..6000 {
            let j = r.below(6) as usize;
            seen[j] += 1;
        }
        assert!(seen.iter().all(|&k| (800..1200).contains(&k)), "{seen:?}");
        assert_eq!(r.below(1), 0);
    }
}
