//! Breakdowns by attributes that are not rollup dimensions (a response
//! attribute such as `language`, the customer's region, segment or another
//! customer attribute), answered from memory.
//!
//! Multiplying every attribute into the rollup key would multiply the cube
//! by the product of their value counts. Instead each attribute gets its
//! own cells: (day, dimension combination, attribute value) → summary and
//! response count, built in one pass over the responses (joined to their
//! customers) and kept beside the cube. Their number grows with days ×
//! combinations × values of that one attribute, not with responses, and a
//! breakdown merges the cells a filter selects: a few hundred thousand
//! additions instead of a scan of every response.
//!
//! The cells describe the data at the versions they were built at; the
//! store answers from them only while the data versions are unchanged and
//! otherwise scans the database (and a background refresh rebuilds them).

use std::collections::{BTreeMap, HashMap};

use northstar_core::calendar::Day;
use northstar_core::{Dimension, DimensionValues, Mergeable, ResponseSummary};

use crate::backend::{AttributeSummaries, BreakdownAttribute, DataVersions, RespondentQuery};

/// Most distinct values an attribute may have to be kept in memory; one
/// with more (an identifier, free text) is answered by a database scan.
pub const MAX_VALUES_PER_ATTRIBUTE: usize = 1_000;

/// Most cells held over all attributes, while building too (about 250
/// bytes each with their map, so ~250 MB at most); the attribute with the
/// most cells is dropped whenever a new cell would pass it.
pub const MAX_CELLS: usize = 1_000_000;

/// Responses read per page while building.
pub const BUILD_PAGE: u32 = 20_000;

/// One response as the build reads it.
#[derive(Debug, Clone, Default)]
pub struct AttributeRow {
    pub external_id: String,
    pub day: Day,
    pub dimensions: DimensionValues,
    pub nps: Option<u8>,
    pub csat: Option<u8>,
    pub ces: Option<u8>,
    pub fcr: Option<bool>,
    /// The response's own attribute columns.
    pub attributes: BTreeMap<String, String>,
    /// The answering customer's record, when there is one.
    pub customer: Option<CustomerAttributes>,
}

/// What a customer record adds to a breakdown.
#[derive(Debug, Clone, Default)]
pub struct CustomerAttributes {
    pub region: Option<String>,
    pub segment: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// A summary and how many responses it covers (a breakdown orders groups
/// by responses, answered or not).
type Counted = (i64, ResponseSummary);

fn add_counted(into: &mut Counted, other: &Counted) {
    into.0 += other.0;
    into.1.merge(&other.1);
}

/// One cell: a day, a dimension combination, an attribute value code.
#[derive(Debug, Clone)]
struct Cell {
    day: Day,
    combination: u32,
    value: u16,
    counted: Counted,
}

/// The cells of one attribute, for its non-empty values only: the
/// responses without the attribute (or with it empty) are the rest of the
/// base cells, so the "" group is the base minus the other groups, exactly.
#[derive(Debug, Default)]
struct AttributeIndex {
    values: Vec<String>,
    cells: Vec<Cell>,
}

/// While building one attribute: its value codes and cells by key.
#[derive(Default)]
struct IndexBuilder {
    codes: HashMap<String, u16>,
    values: Vec<String>,
    cells: HashMap<(Day, u32, u16), Counted>,
    /// More distinct values than [`MAX_VALUES_PER_ATTRIBUTE`]: dropped.
    too_many: bool,
}

impl IndexBuilder {
    /// Adds a response; returns how many cells that created (0 or 1).
    fn add(&mut self, key: (Day, u32), value: &str, counted: &Counted) -> usize {
        if self.too_many {
            return 0;
        }
        let code = match self.codes.get(value) {
            Some(c) => *c,
            None if self.values.len() >= MAX_VALUES_PER_ATTRIBUTE => {
                self.drop_cells();
                return 0;
            }
            None => {
                let c = self.values.len() as u16;
                self.codes.insert(value.to_string(), c);
                self.values.push(value.to_string());
                c
            }
        };
        let before = self.cells.len();
        let cell = self
            .cells
            .entry((key.0, key.1, code))
            .or_insert_with(|| (0, ResponseSummary::empty()));
        add_counted(cell, counted);
        self.cells.len() - before
    }

    /// Gives the attribute up to the database, freeing its cells.
    fn drop_cells(&mut self) {
        self.too_many = true;
        self.cells = HashMap::new();
        self.codes = HashMap::new();
        self.values = Vec::new();
    }
}

/// Most attribute names kept while building; later names are left to the
/// database.
pub const MAX_ATTRIBUTES: usize = 256;

/// Builds [`AttributeCells`] from every response, a page at a time.
pub struct AttributeCellsBuilder {
    max_cells: usize,
    combinations: HashMap<DimensionValues, u32>,
    combination_list: Vec<DimensionValues>,
    base: HashMap<(Day, u32), Counted>,
    attributes: HashMap<BreakdownAttribute, IndexBuilder>,
    responses: u64,
    /// Cells held now (base and attributes): kept under [`MAX_CELLS`]
    /// while building, so memory follows the cap, not the attributes.
    cells: usize,
}

impl Default for AttributeCellsBuilder {
    fn default() -> Self {
        Self::with_max_cells(MAX_CELLS)
    }
}

impl AttributeCellsBuilder {
    /// A builder that holds at most `max_cells` cells.
    pub fn with_max_cells(max_cells: usize) -> Self {
        Self {
            max_cells,
            combinations: HashMap::new(),
            combination_list: Vec::new(),
            base: HashMap::new(),
            attributes: HashMap::new(),
            responses: 0,
            cells: 0,
        }
    }

    pub fn add(&mut self, row: &AttributeRow) {
        self.responses += 1;
        let combination = match self.combinations.get(&row.dimensions) {
            Some(c) => *c,
            None => {
                let c = self.combination_list.len() as u32;
                self.combinations.insert(row.dimensions.clone(), c);
                self.combination_list.push(row.dimensions.clone());
                c
            }
        };
        let mut summary = ResponseSummary::empty();
        summary.add_answers(row.nps, row.csat, row.ces, row.fcr);
        let counted: Counted = (1, summary);
        let key = (row.day, combination);
        let base_len = self.base.len();
        add_counted(
            self.base
                .entry(key)
                .or_insert_with(|| (0, ResponseSummary::empty())),
            &counted,
        );
        self.cells += self.base.len() - base_len;
        let mut seen: Vec<(BreakdownAttribute, &str)> = Vec::new();
        if let Some(c) = &row.customer {
            seen.push((
                BreakdownAttribute::CustomerRegion,
                c.region.as_deref().unwrap_or(""),
            ));
            seen.push((
                BreakdownAttribute::CustomerSegment,
                c.segment.as_deref().unwrap_or(""),
            ));
            for (name, value) in &c.attributes {
                seen.push((BreakdownAttribute::Customer(name.clone()), value));
            }
        }
        for (name, value) in &row.attributes {
            seen.push((BreakdownAttribute::Response(name.clone()), value));
        }
        for (attribute, value) in seen {
            // "" is what a missing attribute reads as: left to the base.
            if value.is_empty() {
                continue;
            }
            let known = self.attributes.len();
            let index = match self.attributes.get_mut(&attribute) {
                Some(index) => index,
                None if known >= MAX_ATTRIBUTES => {
                    let mut dropped = IndexBuilder::default();
                    dropped.drop_cells();
                    self.attributes.insert(attribute, dropped);
                    continue;
                }
                None => self.attributes.entry(attribute).or_default(),
            };
            let before = index.cells.len();
            self.cells += index.add(key, value, &counted);
            if index.too_many {
                self.cells -= before;
            }
            if self.cells > self.max_cells {
                self.drop_largest();
            }
        }
    }

    /// Gives the attribute with the most cells up to the database.
    fn drop_largest(&mut self) {
        if let Some(largest) = self
            .attributes
            .values_mut()
            .filter(|b| !b.too_many)
            .max_by_key(|b| b.cells.len())
        {
            self.cells -= largest.cells.len();
            largest.drop_cells();
        }
    }

    /// The cells, at the data versions read before the build began.
    pub fn finish(self, versions: DataVersions) -> AttributeCells {
        let sorted = |cells: HashMap<(Day, u32, u16), Counted>| {
            let mut v: Vec<Cell> = cells
                .into_iter()
                .map(|((day, combination, value), counted)| Cell {
                    day,
                    combination,
                    value,
                    counted,
                })
                .collect();
            v.sort_by_key(|c| (c.day, c.combination, c.value));
            v
        };
        let (too_many, fitting): (Vec<_>, Vec<_>) =
            self.attributes.into_iter().partition(|(_, b)| b.too_many);
        let attributes_too_many: Vec<BreakdownAttribute> =
            too_many.into_iter().map(|(a, _)| a).collect();
        let mut attributes: Vec<(BreakdownAttribute, AttributeIndex)> = fitting
            .into_iter()
            .map(|(a, b)| {
                (
                    a,
                    AttributeIndex {
                        values: b.values,
                        cells: sorted(b.cells),
                    },
                )
            })
            .collect();
        // Within the cell budget, the smallest attributes first.
        attributes.sort_by_key(|(_, index)| index.cells.len());
        let mut budget = self.max_cells.saturating_sub(self.base.len());
        let mut kept = HashMap::new();
        let mut dropped: std::collections::HashSet<BreakdownAttribute> =
            attributes_too_many.into_iter().collect();
        for (attribute, index) in attributes {
            if index.cells.len() <= budget {
                budget -= index.cells.len();
                kept.insert(attribute, index);
            } else {
                dropped.insert(attribute);
            }
        }
        let mut base: Vec<(Day, u32, Counted)> = self
            .base
            .into_iter()
            .map(|((day, combination), counted)| (day, combination, counted))
            .collect();
        base.sort_by_key(|(day, combination, _)| (*day, *combination));
        AttributeCells {
            versions,
            combinations: self.combination_list,
            base,
            attributes: kept,
            responses: self.responses,
            dropped,
        }
    }
}

/// The in-memory cells of every attribute kept, at one data version.
#[derive(Debug)]
pub struct AttributeCells {
    pub versions: DataVersions,
    combinations: Vec<DimensionValues>,
    base: Vec<(Day, u32, Counted)>,
    attributes: HashMap<BreakdownAttribute, AttributeIndex>,
    /// Responses read.
    pub responses: u64,
    /// Attributes left to the database (too many values, or beyond the
    /// cell budget).
    pub dropped: std::collections::HashSet<BreakdownAttribute>,
}

impl AttributeCells {
    /// Cells held, base and attributes.
    pub fn cells(&self) -> usize {
        self.base.len()
            + self
                .attributes
                .values()
                .map(|i| i.cells.len())
                .sum::<usize>()
    }

    /// The answer a database scan gives, when the attribute is kept:
    /// response summaries per value ("" for none) of the selected
    /// responses, most responses first (ties by value), at most `limit`.
    /// `None` when the attribute is not in memory (ask the database).
    pub fn summaries(
        &self,
        query: &RespondentQuery,
        attribute: &BreakdownAttribute,
        limit: usize,
    ) -> Option<AttributeSummaries> {
        if self.dropped.contains(attribute) {
            return None;
        }
        // An attribute no response has (or only empty) has no index: every
        // selected response falls under "".
        let index = self.attributes.get(attribute);
        let selected: Vec<bool> = self
            .combinations
            .iter()
            .map(|dims| dimensions_pass(dims, &query.filter))
            .collect();
        let in_range =
            |day: Day| query.from.is_none_or(|f| day >= f) && query.to.is_none_or(|t| day <= t);
        let mut total: Counted = (0, ResponseSummary::empty());
        for (day, combination, counted) in &self.base {
            if in_range(*day) && selected[*combination as usize] {
                add_counted(&mut total, counted);
            }
        }
        let mut groups: Vec<Counted> = Vec::new();
        let mut values: &[String] = &[];
        if let Some(index) = index {
            values = &index.values;
            groups = vec![(0, ResponseSummary::empty()); index.values.len()];
            for cell in &index.cells {
                if in_range(cell.day) && selected[cell.combination as usize] {
                    add_counted(&mut groups[cell.value as usize], &cell.counted);
                }
            }
        }
        // The rest of the selection has the attribute missing or empty.
        let mut rest = total;
        for g in &groups {
            rest.0 -= g.0;
            rest.1.merge(&g.1.negated());
        }
        let mut out: Vec<(String, i64, ResponseSummary)> = values
            .iter()
            .zip(groups)
            .filter(|(_, g)| g.0 > 0)
            .map(|(v, g)| (v.clone(), g.0, g.1))
            .collect();
        if rest.0 > 0 {
            out.push((String::new(), rest.0, rest.1));
        }
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let truncated = out.len() > limit;
        out.truncate(limit);
        Some(AttributeSummaries {
            groups: out.into_iter().map(|(v, _, s)| (v, s)).collect(),
            truncated,
        })
    }
}

/// Whether a combination passes a filter (several values of one dimension:
/// any of them).
pub(crate) fn dimensions_pass(dims: &DimensionValues, filter: &[(Dimension, String)]) -> bool {
    Dimension::ALL.iter().all(|d| {
        let mut wanted = filter.iter().filter(|(fd, _)| fd == d).peekable();
        wanted.peek().is_none() || wanted.any(|(_, v)| v == dims.get(*d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize, attributes: &[(&str, String)]) -> AttributeRow {
        AttributeRow {
            external_id: format!("r{i}"),
            day: (i % 5) as Day,
            nps: Some((i % 11) as u8),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            ..Default::default()
        }
    }

    /// Memory stays under the cap while building: the attribute with the
    /// most cells is given up (to the database), the others stay exact.
    #[test]
    fn the_cell_cap_holds_while_building() {
        let mut b = AttributeCellsBuilder::with_max_cells(200);
        for i in 0..1_000 {
            b.add(&row(
                i,
                &[("wide", format!("v{i}")), ("narrow", format!("{}", i % 2))],
            ));
            assert!(b.cells <= 200, "{} cells after row {i}", b.cells);
        }
        let cells = b.finish(DataVersions::default());
        let wide = BreakdownAttribute::Response("wide".into());
        let narrow = BreakdownAttribute::Response("narrow".into());
        assert!(cells.dropped.contains(&wide));
        let q = RespondentQuery::default();
        assert!(cells.summaries(&q, &wide, 10).is_none());
        let groups = cells.summaries(&q, &narrow, 10).unwrap().groups;
        let counts: Vec<(String, i64)> =
            groups.iter().map(|(v, s)| (v.clone(), s.nps.n())).collect();
        assert_eq!(counts, [("0".to_string(), 500), ("1".to_string(), 500)]);
    }

    /// Responses without the attribute form the "" group: the base minus
    /// the other values, exactly.
    #[test]
    fn missing_values_are_the_rest_of_the_base() {
        let mut b = AttributeCellsBuilder::default();
        for i in 0..30 {
            let attrs: Vec<(&str, String)> = if i % 3 == 0 {
                vec![("stage", "onboarding".into())]
            } else if i % 3 == 1 {
                vec![("stage", String::new())]
            } else {
                vec![]
            };
            b.add(&row(i, &attrs));
        }
        let cells = b.finish(DataVersions::default());
        let q = RespondentQuery {
            from: Some(1),
            ..Default::default()
        };
        let groups = cells
            .summaries(&q, &BreakdownAttribute::Response("stage".into()), 10)
            .unwrap()
            .groups;
        let counts: Vec<(String, i64)> =
            groups.iter().map(|(v, s)| (v.clone(), s.nps.n())).collect();
        // Days 1 to 4 hold 24 responses; 8 of them are onboarding (i % 3 == 0).
        assert_eq!(counts, [(String::new(), 16), ("onboarding".to_string(), 8)]);
    }
}
