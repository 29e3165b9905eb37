//! Rollups equal a rebuild from raw rows after any sequence of imports,
//! re-imports and changed rows; the in-memory cube follows every write.

use northstar_core::response::NewResponse;
use northstar_core::rollup::{CubeQuery, GroupBy};
use northstar_core::{Dimension, DimensionValues, Mergeable, ResponseSummary};
use proptest::prelude::*;

use crate::fresh_store;

fn response(
    id: u8,
    day: i64,
    dept: u8,
    nps: Option<u8>,
    csat: Option<u8>,
    ces: Option<u8>,
    fcr: Option<bool>,
) -> NewResponse {
    let mut dims = DimensionValues::default();
    dims.set(Dimension::Department, format!("d{dept}"));
    dims.set(
        Dimension::Segment,
        if id.is_multiple_of(2) {
            "smb".into()
        } else {
            "enterprise".into()
        },
    );
    let submitted_unix = 1_767_225_600 + day * 86_400 + i64::from(id) * 37;
    NewResponse {
        external_id: format!("r{id}"),
        customer_id: None,
        submitted_at: jiff::Timestamp::from_second(submitted_unix)
            .unwrap()
            .to_string(),
        submitted_unix,
        dimensions: dims,
        nps,
        csat,
        ces,
        fcr,
        comment: None,
        order_id: None,
        drivers: Default::default(),
        attributes: Default::default(),
    }
}

fn responses() -> impl Strategy<Value = Vec<NewResponse>> {
    prop::collection::vec(
        (
            0u8..30,
            0i64..90,
            0u8..3,
            prop::option::of(0u8..=10),
            prop::option::of(1u8..=5),
            prop::option::of(1u8..=7),
            prop::option::of(any::<bool>()),
        )
            .prop_map(|(id, day, dept, nps, csat, ces, fcr)| {
                response(id, day, dept, nps, csat, ces, fcr)
            }),
        0..25,
    )
}

fn cube_total(cells: &[northstar_store::RollupCell]) -> ResponseSummary {
    ResponseSummary::merge_all(cells.iter().map(|c| &c.2))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn rollups_equal_a_rebuild_after_any_sequence_of_writes(batches in prop::collection::vec(responses(), 1..6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (store, _dir) = fresh_store().await;
            // Load the cube first so that it is maintained incrementally.
            store.query_rollups(&CubeQuery::default()).await.unwrap();
            for batch in &batches {
                store.write_responses(batch.clone()).await.unwrap();
                // Re-importing a batch changes nothing.
                let again = store.write_responses(batch.clone()).await.unwrap();
                prop_assert_eq!(again.inserted + again.replaced, 0);
            }
            let stored = store.rollup_cells().await.unwrap();
            let rebuilt = store.rollup_cells_from_raw().await.unwrap();
            prop_assert_eq!(&stored, &rebuilt);

            // The cube kept up to date write by write answers like one
            // loaded afresh from a rebuild, for groupings and date ranges.
            let start = 20_454; // 2026-01-01
            let queries = [
                CubeQuery { group_by: Some(GroupBy::Dimension(Dimension::Department)), ..Default::default() },
                CubeQuery { group_by: Some(GroupBy::Month), ..Default::default() },
                CubeQuery { from: Some(start + 17), to: Some(start + 48), group_by: Some(GroupBy::Month), ..Default::default() },
                CubeQuery { to: Some(start + 40), filter: vec![(Dimension::Segment, "smb".into())], group_by: Some(GroupBy::Dimension(Dimension::Segment)), ..Default::default() },
            ];
            let incremental = store.query_rollups_many(&queries).await.unwrap();
            prop_assert_eq!(incremental[0].overall, cube_total(&stored));

            store.rebuild_rollups().await.unwrap();
            prop_assert_eq!(store.rollup_cells().await.unwrap(), rebuilt);
            prop_assert_eq!(store.query_rollups_many(&queries).await.unwrap(), incremental);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn a_second_process_writing_is_seen_by_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let server = northstar_store::open(&url).await.unwrap();
    let cli = northstar_store::open(&url).await.unwrap();
    assert_eq!(
        server
            .query_rollups(&CubeQuery::default())
            .await
            .unwrap()
            .overall
            .nps
            .n(),
        0
    );
    cli.write_responses(vec![response(1, 3, 0, Some(10), None, None, None)])
        .await
        .unwrap();
    assert_eq!(
        server
            .query_rollups(&CubeQuery::default())
            .await
            .unwrap()
            .overall
            .nps
            .n(),
        1
    );
}
