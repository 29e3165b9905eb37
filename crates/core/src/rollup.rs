//! The in-memory rollup cube: response summaries per (day, survey,
//! touchpoint, department, segment, channel), with month totals beside the
//! days so that a query merges whole months and only the partial months at
//! its edges day by day. A query's cost grows with the number of dimension
//! combinations and months it touches, not with the number of responses.
//!
//! Memory follows the cells present: day cells live in a sorted map and month
//! totals in a sorted vector of the months that have data, so two responses
//! 130 years apart cost two cells, not 1,560 months.

use std::collections::{BTreeMap, HashMap};

use crate::calendar::{self, Day, Month};
use crate::dimension::{Dimension, DimensionValues};
use crate::metric::Metric;
use crate::summary::{Mergeable, ResponseSummary};

/// How a query splits its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Dimension(Dimension),
    Month,
    /// Days of the organisation's time zone, from day cells (trends).
    Day,
    /// ISO 8601 weeks (Monday to Sunday), from day cells (trends).
    Week,
}

impl GroupBy {
    /// Parses a `group_by` parameter value: a dimension or `month` (days
    /// and weeks are asked for by trends, over a bounded range).
    pub fn parse(name: &str) -> Option<Self> {
        if name == "month" {
            Some(GroupBy::Month)
        } else {
            Dimension::parse(name).map(GroupBy::Dimension)
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Dimension(d) => d.as_str(),
            GroupBy::Month => "month",
            GroupBy::Day => "day",
            GroupBy::Week => "week",
        }
    }
}

/// A question for the cube: which cells (filter, inclusive day range) and
/// how to group them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CubeQuery {
    /// Every condition must hold; several values for one dimension mean any of them.
    pub filter: Vec<(Dimension, String)>,
    pub from: Option<Day>,
    pub to: Option<Day>,
    pub group_by: Option<GroupBy>,
}

/// A month label (`2026-03`, `-0001-12`) back to its month, for ordering.
fn month_order(label: &str) -> Option<Month> {
    let (year, month) = label.rsplit_once('-')?;
    Some(year.parse::<i32>().ok()? * 12 + month.parse::<i32>().ok()? - 1)
}

/// One group of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub key: String,
    pub summary: ResponseSummary,
}

/// The merged summaries a query asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CubeAnswer {
    pub overall: ResponseSummary,
    /// Sorted by key; empty when the query had no `group_by`.
    pub groups: Vec<Group>,
    /// Per metric (in [`Metric::ALL`] order), the first and last day inside
    /// the query's range with an answer to that metric: the period a figure
    /// shows is the span of its own answers, not of any answer.
    pub spans: [Option<(Day, Day)>; 4],
}

impl CubeAnswer {
    /// Adds the answer of a disjoint day range of the same question (its
    /// groups sorted like this one's; for months, all before or all after).
    pub fn merge(&mut self, other: CubeAnswer, group_by: Option<GroupBy>) {
        self.overall.merge(&other.overall);
        for (mine, theirs) in self.spans.iter_mut().zip(other.spans) {
            if let Some((f, l)) = theirs {
                *mine = Some(mine.map_or((f, l), |(mf, ml)| (mf.min(f), ml.max(l))));
            }
        }
        match group_by {
            Some(GroupBy::Month) => {
                // Disjoint months: the other's come all before or all after.
                let before = match (self.groups.first(), other.groups.first()) {
                    (Some(a), Some(b)) => month_order(&b.key) < month_order(&a.key),
                    _ => false,
                };
                if before {
                    let mut groups = other.groups;
                    groups.append(&mut self.groups);
                    self.groups = groups;
                } else {
                    self.groups.extend(other.groups);
                }
            }
            _ => {
                let mut all: BTreeMap<String, ResponseSummary> = BTreeMap::new();
                for g in self.groups.drain(..).chain(other.groups) {
                    all.entry(g.key)
                        .or_insert_with(ResponseSummary::empty)
                        .merge(&g.summary);
                }
                self.groups = all
                    .into_iter()
                    .map(|(key, summary)| Group { key, summary })
                    .collect();
            }
        }
    }

    /// First and last day with an answer to `metric`.
    pub fn span(&self, metric: Metric) -> Option<(Day, Day)> {
        self.spans[metric.index()]
    }

    /// First and last day with an answer to any metric.
    pub fn any_span(&self) -> Option<(Day, Day)> {
        self.spans.iter().flatten().fold(None, |acc, &(f, l)| {
            Some(acc.map_or((f, l), |(af, al): (Day, Day)| (af.min(f), al.max(l))))
        })
    }
}

#[derive(Debug, Default, Clone)]
struct Dictionary {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Dictionary {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
}

#[derive(Debug, Clone)]
struct Combination {
    dims: [u32; Dimension::COUNT],
    /// Day cells, for days from the cube's horizon on (all days when it has
    /// none).
    days: BTreeMap<Day, ResponseSummary>,
    /// Month totals of the months with data, sorted by month: a query walks
    /// them as one contiguous slice (as fast as a dense array, measured),
    /// while memory follows the months present.
    month_keys: Vec<Month>,
    /// The totals of `month_keys`, in the same order. Keys apart from values
    /// keep the binary search within one cache line (measured: a vector of
    /// pairs was 40% slower on the 540-combination benchmark).
    months: Vec<ResponseSummary>,
    /// Per month of `month_keys` and metric, the first and last day with an
    /// answer: a figure's period inside whole months needs no day cells, so
    /// months before the horizon keep it without them.
    month_spans: Vec<[Option<Edges>; 4]>,
    /// Per metric, the first and last day with an answer, kept on add so a
    /// query whose range covers them needs no walk.
    spans: [Option<(Day, Day)>; 4],
}

/// The first and last day of a month with an answer to one metric, and
/// how many answers each has: a retraction on an edge day of a month whose
/// day cells were dropped keeps the span exact unless it empties that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Edges {
    first: Day,
    last: Day,
    first_n: u32,
    last_n: u32,
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn widen(span: &mut Option<(Day, Day)>, day: Day) {
    *span = Some(span.map_or((day, day), |(f, l)| (f.min(day), l.max(day))));
}

impl Combination {
    /// Keeps the month spans and `spans` right after `delta` was merged on
    /// `day` (into its day cell unless `compacted`). Returns false when a
    /// span can no longer be known exactly without the day cells (a
    /// retraction that empties the edge day of a compacted month).
    fn update_spans(&mut self, day: Day, delta: &ResponseSummary, compacted: bool) -> bool {
        let month = calendar::month_of_day(day);
        let index = self.month_keys.binary_search(&month).ok();
        let mut exact = true;
        for metric in Metric::ALL {
            if !metric.touches(delta) {
                continue;
            }
            let k = metric.index();
            let Some(i) = index else {
                // The month emptied: the combination may have lost an edge.
                self.respan(k);
                continue;
            };
            if metric.answers(&self.months[i]) == 0 {
                self.month_spans[i][k] = None;
                self.respan(k);
                continue;
            }
            let net = metric.answers(delta);
            // Answers on the day now, where its cell is kept.
            let on_day = (!compacted).then(|| self.days.get(&day).map_or(0, |s| metric.answers(s)));
            let before = self.month_spans[i][k];
            let after = match (before, on_day) {
                (None, n) => {
                    let n = n.unwrap_or(net);
                    if n <= 0 {
                        exact = false;
                    }
                    (n > 0).then(|| Edges {
                        first: day,
                        last: day,
                        first_n: count(n),
                        last_n: count(n),
                    })
                }
                (Some(mut e), Some(n)) if n > 0 => {
                    if day <= e.first {
                        (e.first, e.first_n) = (day, count(n));
                    }
                    if day >= e.last {
                        (e.last, e.last_n) = (day, count(n));
                    }
                    Some(e)
                }
                (Some(e), Some(_)) if day != e.first && day != e.last => Some(e),
                (Some(_), Some(_)) => {
                    // An edge day emptied: find the new edges in the day cells.
                    let (lo, hi) = (
                        calendar::first_day_of_month(month),
                        calendar::last_day_of_month(month),
                    );
                    let answers = |(d, s): (&Day, &ResponseSummary)| {
                        let n = metric.answers(s);
                        (n != 0).then_some((*d, count(n)))
                    };
                    let first = self.days.range(lo..=hi).find_map(answers);
                    let last = self.days.range(lo..=hi).rev().find_map(answers);
                    first.zip(last).map(|((f, fc), (l, lc))| Edges {
                        first: f,
                        last: l,
                        first_n: fc,
                        last_n: lc,
                    })
                }
                (Some(mut e), None) => {
                    // Day cells dropped: only the change on the day is known.
                    let (before_first, after_last) = (day < e.first, day > e.last);
                    for (edge, n, outside) in [
                        (&mut e.first, &mut e.first_n, before_first),
                        (&mut e.last, &mut e.last_n, after_last),
                    ] {
                        if outside {
                            if net > 0 {
                                (*edge, *n) = (day, count(net));
                            } else {
                                exact = false;
                            }
                        } else if day == *edge {
                            let left = i64::from(*n) + net;
                            if left > 0 {
                                *n = count(left);
                            } else {
                                exact = false;
                            }
                        }
                    }
                    Some(e)
                }
            };
            self.month_spans[i][k] = after;
            let widened = after
                .is_some_and(|e| before.is_none_or(|b| e.first <= b.first && e.last >= b.last));
            if widened && let Some(e) = after {
                widen(&mut self.spans[k], e.first);
                widen(&mut self.spans[k], e.last);
            } else {
                self.respan(k);
            }
        }
        exact
    }

    /// Recomputes the combination's span of metric `k` from its month spans.
    fn respan(&mut self, k: usize) {
        let first = self.month_spans.iter().find_map(|s| s[k]).map(|e| e.first);
        let last = self
            .month_spans
            .iter()
            .rev()
            .find_map(|s| s[k])
            .map(|e| e.last);
        self.spans[k] = first.zip(last);
    }

    fn add_to_month(&mut self, month: Month, delta: &ResponseSummary) {
        match self.month_keys.binary_search(&month) {
            Ok(i) => {
                self.months[i].merge(delta);
                if self.months[i].is_empty() {
                    self.months.remove(i);
                    self.month_keys.remove(i);
                    self.month_spans.remove(i);
                }
            }
            Err(i) => {
                if !delta.is_empty() {
                    self.months.insert(i, *delta);
                    self.month_keys.insert(i, month);
                    self.month_spans.insert(i, [None; 4]);
                }
            }
        }
    }

    /// Indexes of the months within `lo..=hi`.
    fn month_range(&self, lo: Month, hi: Month) -> std::ops::Range<usize> {
        let start = self.month_keys.partition_point(|m| *m < lo);
        let end = self.month_keys.partition_point(|m| *m <= hi).max(start);
        start..end
    }

    /// Month totals within `lo..=hi`, with their months.
    fn months_between(
        &self,
        lo: Month,
        hi: Month,
    ) -> impl DoubleEndedIterator<Item = (Month, &ResponseSummary)> {
        let range = self.month_range(lo, hi);
        self.month_keys[range.clone()]
            .iter()
            .copied()
            .zip(&self.months[range])
    }

    /// First day in `from..=to` (and before `before`) with an answer to
    /// `metric`. Within a month the month's span answers, unless the range
    /// starts inside the month after its first answer (then the day cells;
    /// the cube never asks this of a month whose day cells it dropped).
    fn first_answer(&self, metric: Metric, from: Day, to: Day, before: Option<Day>) -> Option<Day> {
        let to = before.map_or(to, |b| to.min(b.saturating_sub(1)));
        if from > to {
            return None;
        }
        let k = metric.index();
        for i in self.month_range(calendar::month_of_day(from), calendar::month_of_day(to)) {
            let m = self.month_keys[i];
            let start = from.max(calendar::first_day_of_month(m));
            let end = to.min(calendar::last_day_of_month(m));
            let Some(Edges {
                first: f, last: l, ..
            }) = self.month_spans[i][k]
            else {
                continue;
            };
            if f > end || l < start {
                continue;
            }
            if f >= start {
                return Some(f);
            }
            if let Some((&d, _)) = self
                .days
                .range(start..=end)
                .find(|(_, s)| metric.answers(s) != 0)
            {
                return Some(d);
            }
        }
        None
    }

    /// Last day in `from..=to` (and after `after`) with an answer to `metric`.
    fn last_answer(&self, metric: Metric, from: Day, to: Day, after: Option<Day>) -> Option<Day> {
        let from = after.map_or(from, |a| from.max(a.saturating_add(1)));
        if from > to {
            return None;
        }
        let k = metric.index();
        for i in self
            .month_range(calendar::month_of_day(from), calendar::month_of_day(to))
            .rev()
        {
            let m = self.month_keys[i];
            let start = from.max(calendar::first_day_of_month(m));
            let end = to.min(calendar::last_day_of_month(m));
            let Some(Edges {
                first: f, last: l, ..
            }) = self.month_spans[i][k]
            else {
                continue;
            };
            if f > end || l < start {
                continue;
            }
            if l <= end {
                return Some(l);
            }
            if let Some((&d, _)) = self
                .days
                .range(start..=end)
                .rev()
                .find(|(_, s)| metric.answers(s) != 0)
            {
                return Some(d);
            }
        }
        None
    }
}

/// Response summaries by day and dimension combination.
#[derive(Debug, Clone, Default)]
pub struct RollupCube {
    dictionaries: [Dictionary; Dimension::COUNT],
    combination_ids: HashMap<[u32; Dimension::COUNT], usize>,
    combinations: Vec<Combination>,
    /// Day cells are kept for this month and later; earlier months keep
    /// only their totals and spans (see [`RollupCube::keep_days_from`]).
    days_from: Option<Month>,
    /// A retraction hit the edge of a compacted month's span.
    inexact: bool,
}

fn merge_into<K: Ord + Copy>(
    map: &mut BTreeMap<K, ResponseSummary>,
    key: K,
    delta: &ResponseSummary,
) {
    let cell = map.entry(key).or_insert_with(ResponseSummary::empty);
    cell.merge(delta);
    if cell.is_empty() {
        // Retractions can empty a cell; drop it so the cube equals a rebuild.
        map.remove(&key);
    }
}

impl RollupCube {
    pub fn new() -> Self {
        Self::default()
    }

    /// Merges `delta` (which may retract) into the cell for `day` and `dims`.
    pub fn add(&mut self, day: Day, dims: &DimensionValues, delta: &ResponseSummary) {
        let mut key = [0u32; Dimension::COUNT];
        for d in Dimension::ALL {
            key[d.index()] = self.dictionaries[d.index()].intern(dims.get(d));
        }
        let index = match self.combination_ids.get(&key) {
            Some(&i) => i,
            None => {
                self.combinations.push(Combination {
                    dims: key,
                    days: BTreeMap::new(),
                    month_keys: Vec::new(),
                    months: Vec::new(),
                    month_spans: Vec::new(),
                    spans: [None; 4],
                });
                let i = self.combinations.len() - 1;
                self.combination_ids.insert(key, i);
                i
            }
        };
        let month = calendar::month_of_day(day);
        let compacted = self.days_from.is_some_and(|from| month < from);
        let combination = &mut self.combinations[index];
        if !compacted {
            merge_into(&mut combination.days, day, delta);
        }
        combination.add_to_month(month, delta);
        if !combination.update_spans(day, delta, compacted) {
            self.inexact = true;
        }
    }

    /// Keeps day cells only from `month` on (`None`: every day); earlier
    /// months keep their totals and per-metric spans. Memory then grows with
    /// months, not days, beyond the horizon; a question about single days
    /// before it ([`RollupCube::missing_days`]) needs the day cells from the
    /// database ([`RollupCube::query_with`]). Moving the horizon later drops
    /// day cells; moving it earlier needs a reload.
    pub fn keep_days_from(&mut self, month: Option<Month>) {
        self.days_from = month;
        if let Some(month) = month {
            let first = calendar::first_day_of_month(month);
            for c in &mut self.combinations {
                c.days = c.days.split_off(&first);
            }
        }
    }

    /// Gives back the spare capacity of the month vectors (after a load:
    /// they grew by doubling while the cells arrived).
    pub fn shrink_to_fit(&mut self) {
        for c in &mut self.combinations {
            c.month_keys.shrink_to_fit();
            c.months.shrink_to_fit();
            c.month_spans.shrink_to_fit();
        }
        self.combinations.shrink_to_fit();
    }

    /// The month from which day cells are kept, if any.
    pub fn days_kept_from(&self) -> Option<Month> {
        self.days_from
    }

    /// True when a retraction on the edge day of a month before the horizon
    /// left a span that cannot be known without day cells: load the cube
    /// again from the database.
    pub fn is_inexact(&self) -> bool {
        self.inexact
    }

    /// The day ranges a query needs whose day cells the cube dropped: a
    /// range starting or ending inside a month before the horizon.
    pub fn missing_days(&self, q: &CubeQuery) -> Vec<(Day, Day)> {
        let Some(horizon) = self.days_from else {
            return Vec::new();
        };
        let (from, to) = (q.from.unwrap_or(Day::MIN), q.to.unwrap_or(Day::MAX));
        if from > to {
            return Vec::new();
        }
        if matches!(q.group_by, Some(GroupBy::Day | GroupBy::Week)) {
            // Every day before the horizon is asked about one by one.
            let kept_from = calendar::first_day_of_month(horizon);
            return if from < kept_from {
                vec![(from, to.min(kept_from.saturating_sub(1)))]
            } else {
                Vec::new()
            };
        }
        let mut missing = Vec::new();
        if let Some(f) = q.from {
            let m = calendar::month_of_day(f);
            if m < horizon && f > calendar::first_day_of_month(m) {
                missing.push((f, to.min(calendar::last_day_of_month(m))));
            }
        }
        if let Some(t) = q.to {
            let m = calendar::month_of_day(t);
            let start = from.max(calendar::first_day_of_month(m));
            if m < horizon
                && t < calendar::last_day_of_month(m)
                && missing.last().is_none_or(|&(_, end)| end < start)
            {
                missing.push((start, t));
            }
        }
        missing
    }

    /// Answers `q` with the day cells of [`RollupCube::missing_days`]
    /// supplied in `days` (a cube of at least those cells, e.g. read from
    /// the database): the rest from this cube, those days from `days`.
    pub fn query_with(&self, q: &CubeQuery, days: &RollupCube) -> CubeAnswer {
        let missing = self.missing_days(q);
        if missing.is_empty() {
            return self.query(q);
        }
        let from = q.from.unwrap_or(Day::MIN);
        let mut main = q.clone();
        let mut before = None;
        let mut after = None;
        for &(lo, hi) in &missing {
            let part = CubeQuery {
                from: Some(lo),
                to: Some(hi),
                ..q.clone()
            };
            if lo == from {
                main.from = Some(hi.saturating_add(1));
                before = Some(days.query(&part));
            } else {
                main.to = Some(lo.saturating_sub(1));
                after = Some(days.query(&part));
            }
        }
        let mut answer = self.query(&main);
        for part in [before, after].into_iter().flatten() {
            answer.merge(part, q.group_by);
        }
        answer
    }

    /// Month totals of the months before `month`, in no particular order
    /// (with [`RollupCube::cells`] from `month` on, the whole cube).
    pub fn month_cells_before(
        &self,
        month: Month,
    ) -> impl Iterator<Item = (Month, DimensionValues, &ResponseSummary)> + '_ {
        self.combinations.iter().flat_map(move |c| {
            let dims = self.values_of(&c.dims);
            c.months_between(Month::MIN, month - 1)
                .map(move |(m, s)| (m, dims.clone(), s))
        })
    }

    /// Every non-empty day cell the cube keeps, in no particular order.
    pub fn cells(&self) -> impl Iterator<Item = (Day, DimensionValues, &ResponseSummary)> + '_ {
        self.combinations.iter().flat_map(move |c| {
            let dims = self.values_of(&c.dims);
            c.days.iter().map(move |(&day, s)| (day, dims.clone(), s))
        })
    }

    fn values_of(&self, ids: &[u32; Dimension::COUNT]) -> DimensionValues {
        DimensionValues(
            Dimension::ALL
                .map(|d| self.dictionaries[d.index()].names[ids[d.index()] as usize].clone()),
        )
    }

    /// Distinct values of a dimension that still have data, sorted.
    pub fn values(&self, d: Dimension) -> Vec<String> {
        let names = &self.dictionaries[d.index()].names;
        let mut used = vec![false; names.len()];
        for c in self
            .combinations
            .iter()
            .filter(|c| !c.month_keys.is_empty())
        {
            used[c.dims[d.index()] as usize] = true;
        }
        let mut v: Vec<String> = names
            .iter()
            .zip(used)
            .filter(|(_, u)| *u)
            .map(|(n, _)| n.clone())
            .collect();
        v.sort();
        v
    }

    /// Number of dimension combinations seen.
    pub fn combinations(&self) -> usize {
        self.combinations.len()
    }

    /// Answers a query by merging month cells, and day cells at partial-month edges.
    pub fn query(&self, q: &CubeQuery) -> CubeAnswer {
        let mut allowed: [Option<Vec<u32>>; Dimension::COUNT] = Default::default();
        for (d, value) in &q.filter {
            let ids = allowed[d.index()].get_or_insert_with(Vec::new);
            if let Some(&id) = self.dictionaries[d.index()].ids.get(value) {
                ids.push(id);
            }
        }
        let from = q.from.unwrap_or(Day::MIN);
        let to = q.to.unwrap_or(Day::MAX);
        let mut overall = ResponseSummary::empty();
        let mut by_id: Vec<ResponseSummary> = Vec::new();
        let mut by_month: BTreeMap<Month, ResponseSummary> = BTreeMap::new();
        // Day or week start → summary, when grouping by days or weeks.
        let mut by_day: BTreeMap<Day, ResponseSummary> = BTreeMap::new();
        let daily = matches!(q.group_by, Some(GroupBy::Day | GroupBy::Week));
        if let Some(GroupBy::Dimension(d)) = q.group_by {
            by_id = vec![ResponseSummary::empty(); self.dictionaries[d.index()].names.len()];
        }
        let mut spans: [Option<(Day, Day)>; 4] = [None; 4];
        if from > to {
            return CubeAnswer {
                overall,
                groups: Vec::new(),
                spans,
            };
        }
        let bounded = q.from.is_some() || q.to.is_some();
        let (m_lo, m_hi) = (
            q.from.map_or(Month::MIN, calendar::month_of_day),
            q.to.map_or(Month::MAX, calendar::month_of_day),
        );
        let lo_full = q
            .from
            .is_none_or(|f| f <= calendar::first_day_of_month(m_lo));
        let hi_full = q.to.is_none_or(|t| t >= calendar::last_day_of_month(m_hi));

        for c in &self.combinations {
            let admitted = Dimension::ALL.iter().all(|d| {
                allowed[d.index()]
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&c.dims[d.index()]))
            });
            if !admitted {
                continue;
            }
            // No answer of any metric within the range (from the kept spans,
            // without descending the day map).
            if c.spans.iter().flatten().all(|&(f, l)| l < from || f > to) {
                continue;
            }
            for metric in Metric::ALL {
                let Some((cf, cl)) = c.spans[metric.index()] else {
                    continue;
                };
                if cl < from || cf > to {
                    continue;
                }
                let span = &mut spans[metric.index()];
                // Answers in range lie within cf.max(from)..=cl.min(to): if
                // the span found so far covers that, nothing can widen it.
                if span.is_some_and(|(f, l)| f <= cf.max(from) && l >= cl.min(to)) {
                    continue;
                }
                if cf >= from && cl <= to {
                    // The combination's own span lies inside the range.
                    *span = Some(span.map_or((cf, cl), |(f, l)| (f.min(cf), l.max(cl))));
                    continue;
                }
                // Only a day before the best first (after the best last) can
                // change the span, so most combinations stop at once.
                if let Some(f) = c.first_answer(metric, from, to, span.map(|s| s.0)) {
                    *span = Some(span.map_or((f, f), |(_, l)| (f, l)));
                }
                if let Some((_, l0)) = *span
                    && let Some(l) = c.last_answer(metric, from, to, Some(l0))
                {
                    *span = span.map(|(f, _)| (f, l));
                }
            }
            let mut add = |month: Month, day: Option<Day>, s: &ResponseSummary| {
                overall.merge(s);
                match q.group_by {
                    Some(GroupBy::Dimension(d)) => by_id[c.dims[d.index()] as usize].merge(s),
                    Some(GroupBy::Month) => by_month
                        .entry(month)
                        .or_insert_with(ResponseSummary::empty)
                        .merge(s),
                    Some(GroupBy::Day | GroupBy::Week) => {
                        let day = day.unwrap_or(Day::MIN);
                        let key = match q.group_by {
                            Some(GroupBy::Week) => calendar::week_start(day),
                            _ => day,
                        };
                        by_day
                            .entry(key)
                            .or_insert_with(ResponseSummary::empty)
                            .merge(s)
                    }
                    None => {}
                }
            };
            for (m, month_summary) in c.months_between(m_lo, m_hi) {
                let full =
                    !daily && (!bounded || ((m != m_lo || lo_full) && (m != m_hi || hi_full)));
                if full {
                    add(m, None, month_summary);
                } else {
                    let start = from.max(calendar::first_day_of_month(m));
                    let end = to.min(calendar::last_day_of_month(m));
                    for (&day, s) in c.days.range(start..=end) {
                        add(m, Some(day), s);
                    }
                }
            }
        }
        let groups = match q.group_by {
            Some(GroupBy::Dimension(d)) => {
                let names = &self.dictionaries[d.index()].names;
                let mut g: Vec<Group> = by_id
                    .into_iter()
                    .enumerate()
                    .filter(|(_, s)| !s.is_empty())
                    .map(|(i, summary)| Group {
                        key: names[i].clone(),
                        summary,
                    })
                    .collect();
                g.sort_by(|a, b| a.key.cmp(&b.key));
                g
            }
            Some(GroupBy::Month) => by_month
                .into_iter()
                .map(|(m, summary)| Group {
                    key: calendar::month_label(m),
                    summary,
                })
                .collect(),
            Some(GroupBy::Day | GroupBy::Week) => by_day
                .into_iter()
                .map(|(day, summary)| Group {
                    key: match q.group_by {
                        Some(GroupBy::Week) => calendar::week_label(day),
                        _ => calendar::day_label(day),
                    },
                    summary,
                })
                .collect(),
            None => Vec::new(),
        };
        CubeAnswer {
            overall,
            groups,
            spans,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct Row {
        day: Day,
        dims: [u8; Dimension::COUNT],
        nps: u8,
    }

    fn dims_of(r: &Row) -> DimensionValues {
        DimensionValues(r.dims.map(|v| format!("v{v}")))
    }

    fn summary_of(nps: u8) -> ResponseSummary {
        let mut s = ResponseSummary::empty();
        s.add_answers(Some(nps), None, None, None);
        s
    }

    fn rows() -> impl Strategy<Value = Vec<Row>> {
        // ~14 months around 2026, few values per dimension so combinations repeat.
        prop::collection::vec(
            (20_400i32..20_830, prop::array::uniform5(0u8..3), 0u8..=10)
                .prop_map(|(day, dims, nps)| Row { day, dims, nps }),
            0..300,
        )
    }

    fn naive(rows: &[Row], q: &CubeQuery) -> (ResponseSummary, BTreeMap<String, ResponseSummary>) {
        let mut overall = ResponseSummary::empty();
        let mut groups = BTreeMap::new();
        for r in rows {
            let dims = dims_of(r);
            let in_range = q.from.is_none_or(|f| r.day >= f) && q.to.is_none_or(|t| r.day <= t);
            let by_dim = Dimension::ALL.iter().all(|d| {
                let wanted: Vec<&String> = q
                    .filter
                    .iter()
                    .filter(|(fd, _)| fd == d)
                    .map(|(_, v)| v)
                    .collect();
                wanted.is_empty() || wanted.iter().any(|v| v.as_str() == dims.get(*d))
            });
            if !(in_range && by_dim) {
                continue;
            }
            let s = summary_of(r.nps);
            overall.merge(&s);
            let key = match q.group_by {
                Some(GroupBy::Dimension(d)) => Some(dims.get(d).to_string()),
                Some(GroupBy::Month) => Some(calendar::month_label(calendar::month_of_day(r.day))),
                Some(GroupBy::Day) => Some(calendar::day_label(r.day)),
                Some(GroupBy::Week) => Some(calendar::week_label(r.day)),
                None => None,
            };
            if let Some(k) = key {
                groups
                    .entry(k)
                    .or_insert_with(ResponseSummary::empty)
                    .merge(&s);
            }
        }
        (overall, groups)
    }

    fn query() -> impl Strategy<Value = CubeQuery> {
        (
            prop::option::of(20_380i32..20_850),
            prop::option::of(0i32..200),
            prop::collection::vec((0usize..5, 0u8..4), 0..3),
            prop::option::of(0usize..8),
        )
            .prop_map(|(from, len, filter, group)| CubeQuery {
                filter: filter
                    .into_iter()
                    .map(|(d, v)| (Dimension::ALL[d], format!("v{v}")))
                    .collect(),
                // Closed, open-ended, open-started and unbounded ranges.
                from: from.filter(|f| f % 3 != 0),
                to: match (from, len) {
                    (Some(f), Some(l)) => Some(f + l),
                    (None, Some(l)) => Some(20_400 + 2 * l),
                    _ => None,
                },
                group_by: group.map(|g| match g {
                    5 => GroupBy::Month,
                    6 => GroupBy::Day,
                    7 => GroupBy::Week,
                    _ => GroupBy::Dimension(Dimension::ALL[g]),
                }),
            })
    }

    proptest! {
        #[test]
        fn queries_equal_a_scan_of_the_rows(rows in rows(), q in query()) {
            let mut cube = RollupCube::new();
            for r in &rows {
                cube.add(r.day, &dims_of(r), &summary_of(r.nps));
            }
            let answer = cube.query(&q);
            let (overall, groups) = naive(&rows, &q);
            prop_assert_eq!(answer.overall, overall);
            let days = || rows.iter().map(|r| r.day).filter(|&d| {
                q.from.is_none_or(|f| d >= f) && q.to.is_none_or(|t| d <= t)
            });
            let admitted_days: Vec<Day> = days()
                .zip(rows.iter().filter(|r| q.from.is_none_or(|f| r.day >= f) && q.to.is_none_or(|t| r.day <= t)))
                .filter(|(_, r)| naive(std::slice::from_ref(*r), &q).0.nps.n() > 0)
                .map(|(d, _)| d)
                .collect();
            let expected = admitted_days.iter().min().zip(admitted_days.iter().max()).map(|(a, b)| (*a, *b));
            prop_assert_eq!(answer.span(Metric::Nps), expected);
            prop_assert_eq!(answer.span(Metric::Fcr), None);
            let got: BTreeMap<String, ResponseSummary> =
                answer.groups.into_iter().map(|g| (g.key, g.summary)).collect();
            prop_assert_eq!(got, groups);
        }

        #[test]
        fn spans_follow_retractions(rows in rows(), keep in prop::collection::vec(any::<bool>(), 300), q in query()) {
            let mut cube = RollupCube::new();
            for r in &rows {
                cube.add(r.day, &dims_of(r), &summary_of(r.nps));
            }
            let mut kept = Vec::new();
            for (r, k) in rows.iter().zip(keep.iter().chain(std::iter::repeat(&true))) {
                if *k {
                    kept.push(r.clone());
                } else {
                    cube.add(r.day, &dims_of(r), &summary_of(r.nps).negated());
                }
            }
            let answer = cube.query(&q);
            let admitted: Vec<Day> = kept
                .iter()
                .filter(|r| naive(std::slice::from_ref(*r), &q).0.nps.n() > 0)
                .map(|r| r.day)
                .collect();
            let expected = admitted.iter().min().zip(admitted.iter().max()).map(|(a, b)| (*a, *b));
            prop_assert_eq!(answer.span(Metric::Nps), expected);
            prop_assert_eq!(answer.overall, naive(&kept, &q).0);
        }

        /// A cube that keeps day cells only from a horizon on answers every
        /// question exactly like the full cube once the missing days are
        /// supplied (as the store does from the database), through adds,
        /// retractions, and a horizon moved while data arrives.
        #[test]
        fn a_compacted_cube_answers_like_the_full_one(
            rows in rows(),
            keep in prop::collection::vec(any::<bool>(), 300),
            horizon in 20_400i32..20_850,
            early in any::<bool>(),
            q in query(),
        ) {
            let horizon = calendar::month_of_day(horizon);
            let mut full = RollupCube::new();
            let mut compact = RollupCube::new();
            if early {
                compact.keep_days_from(Some(horizon));
            }
            for r in &rows {
                full.add(r.day, &dims_of(r), &summary_of(r.nps));
                compact.add(r.day, &dims_of(r), &summary_of(r.nps));
            }
            compact.keep_days_from(Some(horizon));
            for (r, k) in rows.iter().zip(keep.iter().chain(std::iter::repeat(&true))) {
                if !*k {
                    full.add(r.day, &dims_of(r), &summary_of(r.nps).negated());
                    compact.add(r.day, &dims_of(r), &summary_of(r.nps).negated());
                }
            }
            let expected = full.query(&q);
            let got = compact.query_with(&q, &full);
            prop_assert_eq!(&got.overall, &expected.overall);
            prop_assert_eq!(&got.groups, &expected.groups);
            if !compact.is_inexact() {
                prop_assert_eq!(got.spans, expected.spans);
            }
            prop_assert_eq!(compact.values(Dimension::Survey), full.values(Dimension::Survey));
            prop_assert!(compact.cells().all(|(d, _, _)| calendar::month_of_day(d) >= horizon));
        }

        #[test]
        fn retracting_everything_empties_the_cube(rows in rows()) {
            let mut cube = RollupCube::new();
            for r in &rows {
                cube.add(r.day, &dims_of(r), &summary_of(r.nps));
            }
            for r in &rows {
                cube.add(r.day, &dims_of(r), &summary_of(r.nps).negated());
            }
            prop_assert_eq!(cube.cells().count(), 0);
            prop_assert!(cube.values(Dimension::Department).is_empty());
            prop_assert_eq!(cube.query(&CubeQuery::default()).any_span(), None);
            prop_assert!(cube.combinations.iter().all(|c| c.months.is_empty() && c.month_keys.is_empty() && c.spans == [None; 4]));
        }
    }

    /// A retraction on the edge day of a month whose day cells were
    /// dropped keeps the span exact while that day still has answers.
    #[test]
    fn compacted_edges_count_their_answers() {
        let dims = DimensionValues(["s", "t", "d", "seg", "c"].map(String::from));
        let (jan3, jan9, jan20) = (20_456, 20_462, 20_473); // 2026-01-03, -09, -20
        let mut cube = RollupCube::new();
        cube.keep_days_from(Some(calendar::month_of_day(20_500)));
        for day in [jan3, jan3, jan9, jan20] {
            cube.add(day, &dims, &summary_of(9));
        }
        let q = CubeQuery::default();
        assert_eq!(cube.query(&q).span(Metric::Nps), Some((jan3, jan20)));
        cube.add(jan3, &dims, &summary_of(9).negated());
        assert!(!cube.is_inexact(), "January 3 still has an answer");
        assert_eq!(cube.query(&q).span(Metric::Nps), Some((jan3, jan20)));
        cube.add(jan9, &dims, &summary_of(9).negated());
        assert!(!cube.is_inexact(), "an inner day");
        cube.add(jan3, &dims, &summary_of(9).negated());
        assert!(
            cube.is_inexact(),
            "the first day emptied; the next is unknown"
        );
        assert_eq!(std::mem::size_of::<[Option<Edges>; 4]>(), 80);
    }

    #[test]
    fn period_is_the_span_of_data_in_range() {
        let mut cube = RollupCube::new();
        let dims = DimensionValues::default();
        for day in [20_500, 20_510, 20_600] {
            cube.add(day, &dims, &summary_of(9));
        }
        let a = cube.query(&CubeQuery {
            from: Some(20_505),
            ..Default::default()
        });
        assert_eq!(a.any_span(), Some((20_510, 20_600)));
        assert_eq!(a.span(Metric::Nps), Some((20_510, 20_600)));
        assert_eq!(a.overall.nps.n(), 2);
    }

    /// An FCR tile must not say Jan–Dec when FCR was asked only in March.
    #[test]
    fn each_metric_has_the_span_of_its_own_answers() {
        let mut cube = RollupCube::new();
        let jan1 = calendar::parse_day("2026-01-01").unwrap();
        let dec31 = calendar::parse_day("2026-12-31").unwrap();
        let (mar3, mar20) = (jan1 + 61, jan1 + 78);
        let other = DimensionValues(["s".into(), "t".into(), "d".into(), "g".into(), "c".into()]);
        for day in [jan1, dec31] {
            cube.add(day, &DimensionValues::default(), &summary_of(9));
        }
        for (day, dims) in [(mar3, &other), (mar20, &DimensionValues::default())] {
            let mut s = ResponseSummary::empty();
            s.add_answers(None, None, None, Some(true));
            cube.add(day, dims, &s);
        }
        let a = cube.query(&CubeQuery::default());
        assert_eq!(a.span(Metric::Nps), Some((jan1, dec31)));
        assert_eq!(a.span(Metric::Fcr), Some((mar3, mar20)));
        assert_eq!(a.span(Metric::Csat), None);
        assert_eq!(a.any_span(), Some((jan1, dec31)));
        let bounded = cube.query(&CubeQuery {
            from: Some(mar3 + 1),
            to: Some(dec31 - 1),
            ..Default::default()
        });
        assert_eq!(bounded.span(Metric::Fcr), Some((mar20, mar20)));
        assert_eq!(bounded.span(Metric::Nps), None);
    }

    /// Two answers 130 years apart cost two month cells, not 1,560.
    #[test]
    fn memory_follows_the_months_present() {
        let mut cube = RollupCube::new();
        let dims = DimensionValues::default();
        cube.add(0, &dims, &summary_of(9));
        cube.add(
            calendar::parse_day("2099-12-31").unwrap(),
            &dims,
            &summary_of(3),
        );
        assert_eq!(cube.combinations[0].month_keys.len(), 2);
        assert_eq!(cube.query(&CubeQuery::default()).overall.nps.n(), 2);
    }
}
