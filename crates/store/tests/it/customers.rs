//! Customers per segment are kept on write (with churn dates), and who
//! answered is counted as distinct respondents through the customers table.

use northstar_core::calendar;
use northstar_store::RespondentQuery;
use northstar_store::import::ImportKind;

use crate::{TestDb, import_text};

async fn customer_counts_follow_replacements_and_churn_dates(db: TestDb) {
    let store = db.open().await;
    import_text(
        &*store,
        ImportKind::Customers,
        "customer_id,segment,churned_at\nC1,smb,\nC2,smb,2026-02-10\nC3,enterprise,\nC4,,\n",
    )
    .await
    .unwrap();
    let all = store.customer_segments(None).await.unwrap();
    assert_eq!(all, [("enterprise".to_string(), 1), ("smb".to_string(), 2)]);
    // C2 churned on 10 February: not in the base of a period from March.
    let march = calendar::parse_day("2026-03-01");
    assert_eq!(
        store.customer_segments(march).await.unwrap(),
        [("enterprise".to_string(), 1), ("smb".to_string(), 1)]
    );
    // Still a customer on the day it churned.
    let feb10 = calendar::parse_day("2026-02-10");
    assert_eq!(store.customer_segments(feb10).await.unwrap(), all);
    // C1 moves to enterprise: the counts move with it, on re-import too.
    for _ in 0..2 {
        import_text(
            &*store,
            ImportKind::Customers,
            "customer_id,segment\nC1,enterprise\n",
        )
        .await
        .unwrap();
    }
    assert_eq!(
        store.customer_segments(None).await.unwrap(),
        [("enterprise".to_string(), 2), ("smb".to_string(), 1)]
    );
}

async fn respondents_are_distinct_and_take_the_customer_s_segment(db: TestDb) {
    let store = db.open().await;
    import_text(
        &*store,
        ImportKind::Customers,
        "customer_id,segment\nC1,enterprise\nC2,smb\n",
    )
    .await
    .unwrap();
    // C1 answers three times, filed under the wrong segment once; C9 is not a
    // known customer; two answers have no customer at all; one has no NPS.
    import_text(
        &*store,
        ImportKind::Responses,
        "external_id,submitted_at,customer_id,segment,department,nps\n\
         r1,2026-03-01T10:00:00Z,C1,enterprise,support,9\n\
         r2,2026-03-02T10:00:00Z,C1,smb,support,7\n\
         r3,2026-03-20T10:00:00Z,C1,enterprise,billing,3\n\
         r4,2026-03-02T10:00:00Z,C2,smb,support,10\n\
         r5,2026-03-02T10:00:00Z,C9,smb,support,8\n\
         r6,2026-03-03T10:00:00Z,,smb,support,2\n\
         r7,2026-03-03T10:00:00Z,,enterprise,support,6\n\
         r8,2026-03-03T10:00:00Z,C2,smb,support,\n",
    )
    .await
    .unwrap();
    let all = store
        .respondents_by_segment(&RespondentQuery::default())
        .await
        .unwrap();
    assert_eq!(
        all.by_segment,
        [("enterprise".to_string(), 2), ("smb".to_string(), 3)]
    );
    assert_eq!((all.segment_from_response, all.anonymous), (1, 2));
    // Counts are cached per selection until customers or responses change.
    import_text(
        &*store,
        ImportKind::Customers,
        "customer_id,segment\nC9,enterprise\n",
    )
    .await
    .unwrap();
    let after = store
        .respondents_by_segment(&RespondentQuery::default())
        .await
        .unwrap();
    assert_eq!(
        after.by_segment,
        [("enterprise".to_string(), 3), ("smb".to_string(), 2)]
    );
    assert_eq!(after.segment_from_response, 0);
    import_text(
        &*store,
        ImportKind::Responses,
        "external_id,submitted_at,customer_id,nps\nr9,2026-04-01T10:00:00Z,C10,9\n",
    )
    .await
    .unwrap();
    let more = store
        .respondents_by_segment(&RespondentQuery::default())
        .await
        .unwrap();
    assert_eq!(more.segment_from_response, 1);
    let support_early_march = store
        .respondents_by_segment(&RespondentQuery {
            filter: vec![(northstar_core::Dimension::Department, "support".into())],
            from: calendar::parse_day("2026-03-02"),
            to: calendar::parse_day("2026-03-02"),
        })
        .await
        .unwrap();
    // C1 (enterprise, filed as smb), C2 (smb) and C9 (now enterprise).
    assert_eq!(
        support_early_march.by_segment,
        [("enterprise".to_string(), 2), ("smb".to_string(), 1)]
    );
}

async fn customer_segments_are_capped_like_dimensions(db: TestDb) {
    let store = db.open().await;
    let cap = northstar_store::MAX_DISTINCT_VALUES;
    let mut text = String::from("customer_id,segment\n");
    for i in 0..=cap {
        text.push_str(&format!("C{i},seg{i}\n"));
    }
    let e = import_text(&*store, ImportKind::Customers, &text)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("at most 1000 distinct segments"),
        "{e}"
    );
    assert!(store.customer_segments(None).await.unwrap().is_empty());
}

/// A filter value with a NUL character matches nothing, on both databases
/// (PostgreSQL cannot even be asked about one).
async fn filters_with_nul_characters_match_nothing(db: TestDb) {
    let store = db.open().await;
    let query = RespondentQuery {
        filter: vec![(northstar_core::Dimension::Segment, "smb\0".into())],
        from: None,
        to: None,
    };
    assert_eq!(
        store.respondents_by_segment(&query).await.unwrap(),
        Default::default()
    );
    let cube = northstar_core::rollup::CubeQuery {
        filter: query.filter.clone(),
        from: calendar::parse_day("2020-01-15"),
        to: calendar::parse_day("2020-02-10"),
        group_by: None,
    };
    assert_eq!(store.query_rollups(&cube).await.unwrap().overall.nps.n(), 0);
}

/// Breakdowns by an attribute that is not a rollup dimension: a response
/// attribute, the customer's region and a customer attribute, within the
/// selection, largest groups first, with a limit that says it cut.
async fn responses_break_down_by_attributes_outside_the_cube(db: TestDb) {
    use northstar_store::BreakdownAttribute;
    let store = db.open().await;
    import_text(
        &*store,
        ImportKind::Customers,
        "customer_id,segment,region,value_band\nC1,enterprise,EU,high\nC2,smb,US,low\n",
    )
    .await
    .unwrap();
    import_text(
        &*store,
        ImportKind::Responses,
        "external_id,submitted_at,customer_id,department,nps,fcr,journey_stage\n\
         r1,2026-01-05T10:00:00Z,C1,logistics,10,yes,onboarding\n\
         r2,2026-01-06T10:00:00Z,C1,logistics,9,no,onboarding\n\
         r3,2026-01-07T10:00:00Z,C2,support,3,yes,renewal\n\
         r4,2026-01-08T10:00:00Z,,logistics,6,,\n\
         r5,2026-03-01T10:00:00Z,C2,logistics,0,no,renewal\n",
    )
    .await
    .unwrap();
    // First from the database, then from the in-memory attribute cells.
    for pass in 0..2 {
        if pass == 1 {
            let built = store.refresh_attribute_cells().await.unwrap().unwrap();
            assert_eq!(built.responses, 5);
            assert!(store.refresh_attribute_cells().await.unwrap().is_none());
        }
        attribute_breakdowns_answer(&*store).await;
    }
    // The cells answer exactly as a database scan does.
    let queries = [
        RespondentQuery::default(),
        RespondentQuery {
            filter: vec![
                (northstar_core::Dimension::Department, "logistics".into()),
                (northstar_core::Dimension::Department, "support".into()),
            ],
            from: calendar::parse_day("2026-01-06"),
            to: None,
        },
        RespondentQuery {
            filter: vec![(northstar_core::Dimension::Department, "billing".into())],
            ..Default::default()
        },
    ];
    let attributes = [
        BreakdownAttribute::Response("journey_stage".into()),
        BreakdownAttribute::Response("no_such_column".into()),
        BreakdownAttribute::CustomerRegion,
        BreakdownAttribute::CustomerSegment,
        BreakdownAttribute::Customer("value_band".into()),
    ];
    for query in &queries {
        for attribute in &attributes {
            for limit in [1, 2, 10] {
                assert_eq!(
                    store
                        .attribute_summaries(query, attribute, limit)
                        .await
                        .unwrap(),
                    store
                        .backend()
                        .attribute_summaries(query, attribute, limit)
                        .await
                        .unwrap(),
                    "{query:?} {attribute:?} {limit}"
                );
            }
        }
    }
    // A write makes the cells stale: the database answers until a refresh.
    import_text(
        &*store,
        ImportKind::Responses,
        "external_id,submitted_at,customer_id,department,nps,journey_stage
         r6,2026-01-09T10:00:00Z,C2,logistics,10,onboarding
",
    )
    .await
    .unwrap();
    let stage = BreakdownAttribute::Response("journey_stage".into());
    for _ in 0..2 {
        let now = store
            .attribute_summaries(&RespondentQuery::default(), &stage, 10)
            .await
            .unwrap();
        assert_eq!(now.groups[0], {
            let scan = store
                .backend()
                .attribute_summaries(&RespondentQuery::default(), &stage, 10)
                .await
                .unwrap();
            scan.groups[0].clone()
        });
        assert_eq!(now.groups[0].0, "onboarding");
        assert_eq!(now.groups[0].1.nps.n(), 3);
        store.refresh_attribute_cells().await.unwrap();
    }
}

async fn attribute_breakdowns_answer(store: &dyn northstar_store::Store) {
    use northstar_store::BreakdownAttribute;
    let january = RespondentQuery {
        filter: vec![],
        from: calendar::parse_day("2026-01-01"),
        to: calendar::parse_day("2026-01-31"),
    };
    let stage = store
        .attribute_summaries(
            &january,
            &BreakdownAttribute::Response("journey_stage".into()),
            10,
        )
        .await
        .unwrap();
    let keys: Vec<(&str, i64, i64)> = stage
        .groups
        .iter()
        .map(|(k, s)| (k.as_str(), s.nps.n(), s.nps.promoters()))
        .collect();
    assert_eq!(keys, [("onboarding", 2, 2), ("", 1, 0), ("renewal", 1, 0)]);
    assert!(!stage.truncated);
    assert_eq!(stage.groups[0].1.fcr.trials, 2);
    assert_eq!(stage.groups[0].1.fcr.successes, 1);

    let logistics = RespondentQuery {
        filter: vec![(northstar_core::Dimension::Department, "logistics".into())],
        ..Default::default()
    };
    let region = store
        .attribute_summaries(&logistics, &BreakdownAttribute::CustomerRegion, 10)
        .await
        .unwrap();
    let keys: Vec<(&str, i64)> = region
        .groups
        .iter()
        .map(|(k, s)| (k.as_str(), s.nps.n()))
        .collect();
    assert_eq!(keys, [("EU", 2), ("", 1), ("US", 1)]);
    let band = store
        .attribute_summaries(
            &logistics,
            &BreakdownAttribute::Customer("value_band".into()),
            1,
        )
        .await
        .unwrap();
    assert_eq!(band.groups.len(), 1);
    assert_eq!(band.groups[0].0, "high");
    assert!(band.truncated);
    // A name that is no attribute, and one with quotes: one empty group.
    for name in ["no_such_column", "it's \"quoted\""] {
        let none = store
            .attribute_summaries(&january, &BreakdownAttribute::Response(name.into()), 10)
            .await
            .unwrap();
        assert_eq!(none.groups.len(), 1, "{name}");
        assert_eq!(none.groups[0].0, "");
        assert_eq!(none.groups[0].1.nps.n(), 4);
    }
}

/// The expectation gap's inputs: one department's records of a measure
/// joined by order_id to CSAT answers (any response department), by value,
/// within the responses' selection; the most common target.
async fn operations_link_to_csat_answers_by_order(db: TestDb) {
    use northstar_store::GapQuery;
    let store = db.open().await;
    import_text(
        &*store,
        ImportKind::Operations,
        "order_id,department,delivery_days,target_days\n\
         O1,logistics,2,5\nO2,logistics,2,5\nO3,logistics,6,5\nO4,logistics,4,4\nO5,billing,2,5\n",
    )
    .await
    .unwrap();
    import_text(
        &*store,
        ImportKind::Responses,
        "external_id,submitted_at,order_id,department,segment,csat\n\
         r1,2026-01-05T10:00:00Z,O1,logistics,smb,5\n\
         r2,2026-01-05T10:00:00Z,O2,support,smb,2\n\
         r3,2026-01-06T10:00:00Z,O3,logistics,enterprise,1\n\
         r4,2026-01-06T10:00:00Z,O3,logistics,smb,4\n\
         r5,2026-02-06T10:00:00Z,O4,logistics,smb,4\n\
         r6,2026-01-06T10:00:00Z,O5,billing,smb,1\n\
         r7,2026-01-06T10:00:00Z,O9,logistics,smb,1\n",
    )
    .await
    .unwrap();
    let query = GapQuery {
        department: "logistics".into(),
        measure: "delivery_days".into(),
        responses: RespondentQuery::default(),
    };
    let gap = store.gap_counts(&query).await.unwrap();
    assert_eq!(gap.by_value, [(2.0, 1, 2), (4.0, 1, 1), (6.0, 1, 2)]);
    assert_eq!(gap.target, Some((5.0, 3)));
    assert_eq!(gap.other_targets, 1);
    let day = |d: &str| calendar::parse_day(d).unwrap();
    assert_eq!(
        gap.period,
        Some((day("2026-01-05"), day("2026-02-06"))),
        "the linked responses' first and last day"
    );
    let smb_january = GapQuery {
        responses: RespondentQuery {
            filter: vec![(northstar_core::Dimension::Segment, "smb".into())],
            from: calendar::parse_day("2026-01-01"),
            to: calendar::parse_day("2026-01-31"),
        },
        ..query.clone()
    };
    let gap = store.gap_counts(&smb_january).await.unwrap();
    assert_eq!(gap.by_value, [(2.0, 1, 2), (6.0, 1, 1)]);
    assert_eq!(gap.period, Some((day("2026-01-05"), day("2026-01-06"))));
    let nothing = GapQuery {
        measure: "no_such_measure".into(),
        ..query
    };
    assert_eq!(
        store.gap_counts(&nothing).await.unwrap(),
        Default::default()
    );
}

/// Revenue at risk's inputs: each customer in the loyalty group of their
/// latest NPS answer (per department when split so), with churn flags and
/// annual values from the customers file.
async fn customers_fall_in_the_loyalty_group_of_their_latest_answer(db: TestDb) {
    use northstar_store::LoyaltyBy;
    let store = db.open().await;
    import_text(
        &*store,
        ImportKind::Customers,
        "customer_id,segment,annual_value,churned\n\
         C1,smb,100,yes\nC2,smb,200,no\nC3,enterprise,1000,\nC4,enterprise,,no\n",
    )
    .await
    .unwrap();
    // C1: promoter then detractor (latest); C2 passive; C3 promoter; C4
    // detractor in billing, promoter in support (later); C5 unknown.
    import_text(
        &*store,
        ImportKind::Responses,
        "external_id,submitted_at,customer_id,department,nps\n\
         a,2026-01-01T10:00:00Z,C1,support,10\n\
         b,2026-01-05T10:00:00Z,C1,support,3\n\
         c,2026-01-05T10:00:00Z,C2,support,7\n\
         d,2026-01-05T10:00:00Z,C3,support,9\n\
         e,2026-01-02T10:00:00Z,C4,billing,2\n\
         f,2026-01-06T10:00:00Z,C4,support,10\n\
         g,2026-01-06T10:00:00Z,C5,support,0\n\
         h,2026-01-06T10:00:00Z,,support,0\n",
    )
    .await
    .unwrap();
    let all = store
        .loyalty_customers(&RespondentQuery::default(), None)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    let l = &all[0].1;
    assert_eq!(
        (
            l.promoters.customers,
            l.passives.customers,
            l.detractors.customers
        ),
        (2, 1, 2)
    );
    // Detractors: C1 (churned, 100) and C5 (no record).
    assert_eq!((l.detractors.churn_known, l.detractors.churned), (1, 1));
    assert_eq!(
        (l.detractors.value_known, l.detractors.annual_value_sum),
        (1, 100.0)
    );
    // Promoters: C3 (1000, no flag) and C4 (no value, not churned).
    assert_eq!((l.promoters.churn_known, l.promoters.churned), (1, 0));
    assert_eq!(l.promoters.annual_value_sum, 1000.0);
    let by_department = store
        .loyalty_customers(&RespondentQuery::default(), Some(LoyaltyBy::Department))
        .await
        .unwrap();
    let keys: Vec<(&str, u64, u64)> = by_department
        .iter()
        .map(|(k, l)| (k.as_str(), l.promoters.customers, l.detractors.customers))
        .collect();
    assert_eq!(keys, [("billing", 0, 1), ("support", 2, 2)]);
    let by_segment = store
        .loyalty_customers(&RespondentQuery::default(), Some(LoyaltyBy::Segment))
        .await
        .unwrap();
    let keys: Vec<&str> = by_segment.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["", "enterprise", "smb"]);
    // The period narrows which answer is the latest.
    let early = RespondentQuery {
        to: calendar::parse_day("2026-01-01"),
        ..Default::default()
    };
    let first = store.loyalty_customers(&early, None).await.unwrap();
    assert_eq!(first[0].1.promoters.customers, 1);
    assert_eq!(first[0].1.detractors.customers, 0);
    // Read again after the customers change (the store keeps loyalty groups
    // until the data changes): C3 has churned now.
    import_text(
        &*store,
        ImportKind::Customers,
        "customer_id,segment,annual_value,churned\nC3,enterprise,1000,yes\n",
    )
    .await
    .unwrap();
    let again = store
        .loyalty_customers(&RespondentQuery::default(), None)
        .await
        .unwrap();
    assert_eq!(
        (
            again[0].1.promoters.churn_known,
            again[0].1.promoters.churned
        ),
        (2, 1),
        "a customer write is seen by the next read"
    );
}

/// Weighting's inputs: respondents who are known customers in cells of
/// customer attributes, and customers per value (active at a day).
async fn respondents_fall_in_cells_of_customer_attributes(db: TestDb) {
    use northstar_store::BreakdownAttribute;
    let store = db.open().await;
    import_text(
        &*store,
        ImportKind::Customers,
        "customer_id,segment,region,churned_at,tier\n\
         C1,smb,EU,,gold\nC2,smb,US,2026-01-01,\nC3,enterprise,EU,,gold\nC4,enterprise,,,\n",
    )
    .await
    .unwrap();
    import_text(
        &*store,
        ImportKind::Responses,
        "external_id,submitted_at,customer_id,nps\n\
         a,2026-02-01T10:00:00Z,C1,10\nb,2026-02-02T10:00:00Z,C1,9\n\
         c,2026-02-01T10:00:00Z,C3,2\nd,2026-02-01T10:00:00Z,C9,5\ne,2026-02-01T10:00:00Z,,5\n",
    )
    .await
    .unwrap();
    let attributes = [
        BreakdownAttribute::CustomerSegment,
        BreakdownAttribute::CustomerRegion,
    ];
    let cells = store
        .respondent_cells(&RespondentQuery::default(), &attributes, 100)
        .await
        .unwrap();
    let got: Vec<(Vec<String>, u64, i64)> = cells
        .iter()
        .map(|c| (c.values.clone(), c.respondents, c.summary.nps.n()))
        .collect();
    assert_eq!(
        got,
        [
            (vec!["enterprise".to_string(), "EU".to_string()], 1, 1),
            (vec!["smb".to_string(), "EU".to_string()], 1, 2),
        ]
    );
    let regions = store
        .customer_margin(&BreakdownAttribute::CustomerRegion, None, 100)
        .await
        .unwrap();
    assert_eq!(
        regions,
        [
            ("".to_string(), 1),
            ("EU".to_string(), 2),
            ("US".to_string(), 1)
        ]
    );
    // C2 churned on 1 January: not in a base from February.
    let february = store
        .customer_margin(
            &BreakdownAttribute::CustomerSegment,
            calendar::parse_day("2026-02-01"),
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        february,
        [("enterprise".to_string(), 2), ("smb".to_string(), 1)]
    );
    let tiers = store
        .customer_margin(&BreakdownAttribute::Customer("tier".into()), None, 1)
        .await
        .unwrap();
    assert_eq!(tiers.len(), 2, "limit + 1 rows say there are more");
}

/// Key drivers' inputs: moments of (outcome, drivers…) per driver set.
async fn driver_ratings_sum_into_moments_per_driver_set(db: TestDb) {
    let store = db.open().await;
    import_text(
        &*store,
        ImportKind::Responses,
        "external_id,submitted_at,department,nps,csat,driver_price,driver_delivery\n\
         a,2026-02-01T10:00:00Z,logistics,10,5,4,5\n\
         b,2026-02-01T10:00:00Z,logistics,6,3,2,3\n\
         c,2026-02-03T10:00:00Z,logistics,8,,,4\n\
         d,2026-02-01T10:00:00Z,support,9,4,,\n\
         e,2026-02-01T10:00:00Z,logistics,,2,1,1\n",
    )
    .await
    .unwrap();
    let logistics = RespondentQuery {
        filter: vec![(northstar_core::Dimension::Department, "logistics".into())],
        ..Default::default()
    };
    let nps = store
        .driver_moments(&logistics, northstar_core::Metric::Nps)
        .await
        .unwrap();
    assert_eq!(nps.without_drivers, 0);
    let sets: Vec<(Vec<String>, i64)> = nps
        .by_set
        .iter()
        .map(|(names, m)| (names.clone(), m.n()))
        .collect();
    assert_eq!(
        sets,
        [
            (vec!["delivery".to_string(), "price".to_string()], 2),
            (vec!["delivery".to_string()], 1),
        ]
    );
    // Each set's first and last day of answers.
    let day = |d: &str| northstar_core::calendar::parse_day(d).unwrap();
    assert_eq!(
        nps.set_days,
        [
            (day("2026-02-01"), day("2026-02-01")),
            (day("2026-02-03"), day("2026-02-03")),
        ]
    );
    // Outcome first, then delivery, then price: Σ = (16, 8, 6).
    assert_eq!(nps.by_set[0].1.sums(), [16.0, 8.0, 6.0]);
    // Σ nps·delivery = 10·5 + 6·3.
    assert_eq!(nps.by_set[0].1.product_sum(0, 1), Some(68.0));
    let csat = store
        .driver_moments(&RespondentQuery::default(), northstar_core::Metric::Csat)
        .await
        .unwrap();
    assert_eq!(csat.without_drivers, 1);
    assert_eq!(csat.by_set[0].1.n(), 3);
}

crate::conformance!(
    driver_ratings_sum_into_moments_per_driver_set,
    respondents_fall_in_cells_of_customer_attributes,
    customers_fall_in_the_loyalty_group_of_their_latest_answer,
    operations_link_to_csat_answers_by_order,
    responses_break_down_by_attributes_outside_the_cube,
    filters_with_nul_characters_match_nothing,
    customer_counts_follow_replacements_and_churn_dates,
    respondents_are_distinct_and_take_the_customer_s_segment,
    customer_segments_are_capped_like_dimensions,
);
