//! Mergeable summaries: small monoids (`empty`, `merge`) from which every
//! metric is computed. Counts are signed so that a rollup delta can retract a
//! replaced response; a summary of real rows never holds a negative count.

/// A commutative monoid: `merge(empty, x) == x`, and merge is associative
/// and commutative, so per-group summaries can be combined in any order.
pub trait Mergeable: Sized + Clone {
    /// The summary of no rows.
    fn empty() -> Self;
    /// Adds `other` into `self`.
    fn merge(&mut self, other: &Self);
    /// Merges everything an iterator yields.
    fn merge_all<'a>(items: impl IntoIterator<Item = &'a Self>) -> Self
    where
        Self: 'a,
    {
        let mut total = Self::empty();
        for item in items {
            total.merge(item);
        }
        total
    }
}

/// Counts of answers per value on a fixed integer scale `LOW..LOW+N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleCounts<const LOW: u8, const N: usize> {
    counts: [i64; N],
}

impl<const LOW: u8, const N: usize> ScaleCounts<LOW, N> {
    /// Lowest value on the scale.
    pub const LOW: u8 = LOW;
    /// Highest value on the scale.
    pub const HIGH: u8 = LOW + N as u8 - 1;

    /// A summary from counts, lowest value first.
    pub fn from_counts(counts: [i64; N]) -> Self {
        Self { counts }
    }

    /// Counts per scale value, lowest value first.
    pub fn counts(&self) -> &[i64; N] {
        &self.counts
    }

    /// Records one answer; values off the scale are ignored (validation
    /// rejects them before they get here).
    pub fn add(&mut self, value: u8) {
        self.add_weighted(value, 1);
    }

    /// Records `weight` answers of `value` (a negative weight retracts).
    pub fn add_weighted(&mut self, value: u8, weight: i64) {
        if let Some(slot) = value
            .checked_sub(LOW)
            .and_then(|i| self.counts.get_mut(usize::from(i)))
        {
            *slot += weight;
        }
    }

    /// Number of answers.
    pub fn n(&self) -> i64 {
        self.counts.iter().sum()
    }

    /// Number of answers with a value in `low..=high`.
    pub fn count_between(&self, low: u8, high: u8) -> i64 {
        (low..=high)
            .filter_map(|v| v.checked_sub(LOW))
            .filter_map(|i| self.counts.get(usize::from(i)))
            .sum()
    }

    /// Negates every count (used to retract a replaced response).
    pub fn negated(&self) -> Self {
        Self {
            counts: self.counts.map(|c| -c),
        }
    }

    /// True when every count is zero.
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }

    /// The answers as a mean summary (for interval estimates of the mean).
    pub fn to_mean(&self) -> MeanSummary {
        let mut mean = MeanSummary::empty();
        for (i, &c) in self.counts.iter().enumerate() {
            let x = f64::from(LOW) + i as f64;
            mean.n += c;
            mean.sum += c as f64 * x;
            mean.sum_sq += c as f64 * x * x;
        }
        mean
    }
}

impl<const LOW: u8, const N: usize> Mergeable for ScaleCounts<LOW, N> {
    fn empty() -> Self {
        Self { counts: [0; N] }
    }
    fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
    }
}

/// Net Promoter Score answers: counts of 0..=10.
pub type NpsSummary = ScaleCounts<0, 11>;
/// Customer satisfaction answers: counts of 1..=5.
pub type CsatSummary = ScaleCounts<1, 5>;
/// Customer effort answers: counts of 1..=7.
pub type CesSummary = ScaleCounts<1, 7>;

impl NpsSummary {
    /// Answers of 9 or 10.
    pub fn promoters(&self) -> i64 {
        self.count_between(9, 10)
    }
    /// Answers of 7 or 8.
    pub fn passives(&self) -> i64 {
        self.count_between(7, 8)
    }
    /// Answers of 0 to 6.
    pub fn detractors(&self) -> i64 {
        self.count_between(0, 6)
    }
}

/// Successes out of trials: first-contact resolution, conversion, retention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProportionSummary {
    pub successes: i64,
    pub trials: i64,
}

impl ProportionSummary {
    /// Records one yes/no answer.
    pub fn add(&mut self, success: bool) {
        self.trials += 1;
        self.successes += i64::from(success);
    }
}

impl Mergeable for ProportionSummary {
    fn empty() -> Self {
        Self::default()
    }
    fn merge(&mut self, other: &Self) {
        self.successes += other.successes;
        self.trials += other.trials;
    }
}

/// n, Σx and Σx²: enough for a mean and its standard error.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeanSummary {
    pub n: i64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl MeanSummary {
    /// Records one observation.
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        self.sum += x;
        self.sum_sq += x * x;
    }

    /// The sample mean, if there is at least one observation.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// The sample variance (n − 1 denominator), if n ≥ 2.
    pub fn variance(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        let ss = self.sum_sq - self.sum * self.sum / n;
        Some((ss / (n - 1.0)).max(0.0))
    }
}

impl Mergeable for MeanSummary {
    fn empty() -> Self {
        Self::default()
    }
    fn merge(&mut self, other: &Self) {
        self.n += other.n;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
    }
}

/// Everything a rollup cell keeps about the responses in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseSummary {
    pub nps: NpsSummary,
    pub csat: CsatSummary,
    pub ces: CesSummary,
    pub fcr: ProportionSummary,
}

impl Default for ResponseSummary {
    fn default() -> Self {
        Self::empty()
    }
}

impl ResponseSummary {
    /// Number of counters, in the order of [`ResponseSummary::to_counters`].
    pub const COUNTERS: usize = 11 + 5 + 7 + 2;

    /// Records one response's answers.
    pub fn add_answers(
        &mut self,
        nps: Option<u8>,
        csat: Option<u8>,
        ces: Option<u8>,
        fcr: Option<bool>,
    ) {
        if let Some(v) = nps {
            self.nps.add(v);
        }
        if let Some(v) = csat {
            self.csat.add(v);
        }
        if let Some(v) = ces {
            self.ces.add(v);
        }
        if let Some(v) = fcr {
            self.fcr.add(v);
        }
    }

    /// The summary with every count negated.
    pub fn negated(&self) -> Self {
        Self {
            nps: self.nps.negated(),
            csat: self.csat.negated(),
            ces: self.ces.negated(),
            fcr: ProportionSummary {
                successes: -self.fcr.successes,
                trials: -self.fcr.trials,
            },
        }
    }

    /// True when the summary counts nothing.
    pub fn is_empty(&self) -> bool {
        self.nps.is_empty()
            && self.csat.is_empty()
            && self.ces.is_empty()
            && self.fcr.trials == 0
            && self.fcr.successes == 0
    }

    /// The counters flattened: nps 0..=10, csat 1..=5, ces 1..=7, fcr yes, fcr no.
    pub fn to_counters(&self) -> [i64; Self::COUNTERS] {
        let mut out = [0; Self::COUNTERS];
        out[..11].copy_from_slice(self.nps.counts());
        out[11..16].copy_from_slice(self.csat.counts());
        out[16..23].copy_from_slice(self.ces.counts());
        out[23] = self.fcr.successes;
        out[24] = self.fcr.trials - self.fcr.successes;
        out
    }

    /// The inverse of [`ResponseSummary::to_counters`].
    pub fn from_counters(c: &[i64; Self::COUNTERS]) -> Self {
        let mut nps = [0; 11];
        nps.copy_from_slice(&c[..11]);
        let mut csat = [0; 5];
        csat.copy_from_slice(&c[11..16]);
        let mut ces = [0; 7];
        ces.copy_from_slice(&c[16..23]);
        Self {
            nps: NpsSummary::from_counts(nps),
            csat: CsatSummary::from_counts(csat),
            ces: CesSummary::from_counts(ces),
            fcr: ProportionSummary {
                successes: c[23],
                trials: c[23] + c[24],
            },
        }
    }
}

impl Mergeable for ResponseSummary {
    fn empty() -> Self {
        Self {
            nps: NpsSummary::empty(),
            csat: CsatSummary::empty(),
            ces: CesSummary::empty(),
            fcr: ProportionSummary::empty(),
        }
    }
    fn merge(&mut self, other: &Self) {
        self.nps.merge(&other.nps);
        self.csat.merge(&other.csat);
        self.ces.merge(&other.ces);
        self.fcr.merge(&other.fcr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Answers = (Option<u8>, Option<u8>, Option<u8>, Option<bool>);

    fn answers() -> impl Strategy<Value = Answers> {
        (
            proptest::option::of(0u8..=10),
            proptest::option::of(1u8..=5),
            proptest::option::of(1u8..=7),
            proptest::option::of(any::<bool>()),
        )
    }

    fn summarise(rows: &[Answers]) -> ResponseSummary {
        let mut s = ResponseSummary::empty();
        for &(n, c, e, f) in rows {
            s.add_answers(n, c, e, f);
        }
        s
    }

    fn mean_of(xs: &[i32]) -> MeanSummary {
        let mut m = MeanSummary::empty();
        for &x in xs {
            m.add(f64::from(x));
        }
        m
    }

    proptest! {
        #[test]
        fn merge_is_associative(a in prop::collection::vec(answers(), 0..40),
                                b in prop::collection::vec(answers(), 0..40),
                                c in prop::collection::vec(answers(), 0..40)) {
            let (sa, sb, sc) = (summarise(&a), summarise(&b), summarise(&c));
            let mut left = sa;
            left.merge(&sb);
            left.merge(&sc);
            let mut bc = sb;
            bc.merge(&sc);
            let mut right = sa;
            right.merge(&bc);
            prop_assert_eq!(left, right);
        }

        #[test]
        fn merge_is_commutative_with_identity(a in prop::collection::vec(answers(), 0..40),
                                              b in prop::collection::vec(answers(), 0..40)) {
            let (sa, sb) = (summarise(&a), summarise(&b));
            let mut ab = sa;
            ab.merge(&sb);
            let mut ba = sb;
            ba.merge(&sa);
            prop_assert_eq!(ab, ba);
            let mut with_empty = sa;
            with_empty.merge(&ResponseSummary::empty());
            prop_assert_eq!(with_empty, sa);
        }

        #[test]
        fn merged_groups_equal_summary_of_all_rows(
            rows in prop::collection::vec((0usize..5, answers()), 0..200)) {
            let mut groups = vec![ResponseSummary::empty(); 5];
            for &(g, (n, c, e, f)) in &rows {
                groups[g].add_answers(n, c, e, f);
            }
            let all: Vec<Answers> = rows.iter().map(|&(_, a)| a).collect();
            prop_assert_eq!(ResponseSummary::merge_all(&groups), summarise(&all));
        }

        #[test]
        fn retracting_undoes_adding(a in prop::collection::vec(answers(), 0..40),
                                    b in prop::collection::vec(answers(), 0..40)) {
            let (sa, sb) = (summarise(&a), summarise(&b));
            let mut s = sa;
            s.merge(&sb);
            s.merge(&sb.negated());
            prop_assert_eq!(s, sa);
        }

        #[test]
        fn counters_round_trip(a in prop::collection::vec(answers(), 0..40)) {
            let s = summarise(&a);
            prop_assert_eq!(ResponseSummary::from_counters(&s.to_counters()), s);
        }

        #[test]
        fn mean_summaries_merge_like_rows(a in prop::collection::vec(-1000i32..1000, 0..50),
                                          b in prop::collection::vec(-1000i32..1000, 0..50),
                                          c in prop::collection::vec(-1000i32..1000, 0..50)) {
            // Integer-valued data keeps the float sums exact, so equality is exact.
            let mut left = mean_of(&a);
            left.merge(&mean_of(&b));
            left.merge(&mean_of(&c));
            let mut bc = mean_of(&c);
            bc.merge(&mean_of(&b));
            let mut right = bc;
            right.merge(&mean_of(&a));
            let all: Vec<i32> = a.iter().chain(&b).chain(&c).copied().collect();
            prop_assert_eq!(left, right);
            prop_assert_eq!(left, mean_of(&all));
        }

        #[test]
        fn proportions_merge_like_rows(a in prop::collection::vec(any::<bool>(), 0..50),
                                       b in prop::collection::vec(any::<bool>(), 0..50)) {
            let p = |xs: &[bool]| { let mut s = ProportionSummary::empty(); for &x in xs { s.add(x); } s };
            let mut ab = p(&a);
            ab.merge(&p(&b));
            let mut ba = p(&b);
            ba.merge(&p(&a));
            let all: Vec<bool> = a.iter().chain(&b).copied().collect();
            prop_assert_eq!(ab, ba);
            prop_assert_eq!(ab, p(&all));
        }
    }

    #[test]
    fn nps_groups_partition_the_scale() {
        let mut s = NpsSummary::empty();
        for v in 0..=10 {
            s.add(v);
        }
        assert_eq!((s.detractors(), s.passives(), s.promoters()), (7, 2, 2));
        assert_eq!(s.n(), 11);
    }
}
