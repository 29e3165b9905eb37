use axum::http::StatusCode;
use serde_json::json;

use crate::TestApp;

#[tokio::test]
async fn metrics_carry_their_provenance() {
    let app = TestApp::new().await;
    app.seed().await;
    let (status, body) = app
        .json(
            "GET",
            "/api/v1/metrics?metric=nps&group_by=department",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metric"], "nps");
    assert_eq!(body["confidence"], 0.95);
    assert!(body["method"].as_str().unwrap().contains("adjusted-Wald"));
    assert_eq!(body["period"]["from"], "2026-01-01");
    assert_eq!(body["period"]["to"], "2026-03-28");
    assert_eq!(body["overall"]["n"], 360);
    let groups = body["groups"].as_array().unwrap();
    let keys: Vec<&str> = groups.iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["billing", "logistics", "support"]);
    // support: answers 10, 9, 9, 8 → 75% promoters, 0 detractors → NPS 75.
    let support = &groups[2];
    assert_eq!(support["n"], 120);
    assert!((support["value"].as_f64().unwrap() - 75.0).abs() < 1e-9);
    assert!(
        support["ci_low"].as_f64().unwrap() < 75.0 && support["ci_high"].as_f64().unwrap() > 75.0
    );
    assert_eq!(support["versus_rest"]["significant"], true);
}

#[tokio::test]
async fn a_tiny_unanimous_group_is_not_called_significant() {
    let app = TestApp::new().await;
    app.seed().await;
    let tiny = json!([
        {"external_id": "legal-1", "submitted_at": "2026-02-01T09:00:00Z", "department": "legal", "nps": 10},
        {"external_id": "legal-2", "submitted_at": "2026-02-02T09:00:00Z", "department": "legal", "nps": 10},
    ]);
    assert_eq!(
        app.json("POST", "/api/v1/responses", Some(tiny)).await.0,
        StatusCode::OK
    );
    let (_, body) = app
        .json(
            "GET",
            "/api/v1/metrics?metric=nps&group_by=department",
            None,
        )
        .await;
    let legal = body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "legal")
        .unwrap()
        .clone();
    // The plain trinomial variance of two unanimous answers is zero, which
    // made z huge (p < 1e-6); the adjusted-Wald variance never is.
    assert!(
        legal["versus_rest"]["p_value"].as_f64().unwrap() > 0.05,
        "{legal}"
    );
    assert_eq!(legal["versus_rest"]["significant"], false, "{legal}");
    // Holm's adjustment never lowers a p-value.
    for g in body["groups"].as_array().unwrap() {
        let v = &g["versus_rest"];
        assert!(v["p_adjusted"].as_f64().unwrap() >= v["p_value"].as_f64().unwrap());
    }
}

#[tokio::test]
async fn filters_and_periods_narrow_the_figures() {
    let app = TestApp::new().await;
    app.seed().await;
    let (_, body) = app
        .json(
            "GET",
            "/api/v1/metrics?metric=csat&group_by=month&from=2026-02-01&to=2026-03-31&segment=smb",
            None,
        )
        .await;
    assert_eq!(body["filter"], json!({"segment": ["smb"]}));
    assert_eq!(body["overall"]["n"], 120);
    assert_eq!(body["period"]["requested_from"], "2026-02-01");
    let months: Vec<&str> = body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(months, ["2026-02", "2026-03"]);
    let (_, ces) = app
        .json("GET", "/api/v1/metrics?metric=ces&department=support", None)
        .await;
    assert_eq!(ces["overall"]["n"], 120);
}

#[tokio::test]
async fn csv_rows_carry_their_own_provenance() {
    let app = TestApp::new().await;
    app.seed().await;
    let (status, text) = app
        .request(
            "GET",
            "/api/v1/metrics.csv?metric=nps&group_by=department&segment=smb",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| &r[col("key")]).collect();
    assert_eq!(keys, ["(all)", "billing", "logistics", "support"]);
    for r in &rows {
        assert_eq!(&r[col("filter")], "segment = smb");
        assert_eq!(&r[col("confidence")], "0.95");
        assert!(r[col("method")].contains("adjusted-Wald"));
        assert_eq!(&r[col("period_from")], "2026-01-01");
    }
    assert_eq!(&rows[0][col("n")], "180");
    let (status, _) = app
        .request("GET", "/api/v1/metrics.csv?metric=nope", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_parameters_get_a_400_that_names_them() {
    let app = TestApp::new().await;
    for (query, parameter) in [
        ("metric=happiness", "metric"),
        ("metric=nps&group_by=colour", "group_by"),
        ("metric=nps&from=03/01/2026", "from"),
        ("metric=nps&to=2026-02-31", "to"),
        ("metric=nps&region=north", "region"),
        ("group_by=segment", "metric"),
    ] {
        let (status, body) = app
            .json("GET", &format!("/api/v1/metrics?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(parameter)
        );
    }
}

#[tokio::test]
async fn batches_report_errors_by_index_and_keep_the_valid_items() {
    let app = TestApp::new().await;
    let batch = json!([
        {"external_id": "a", "submitted_at": "2026-03-01T09:00:00Z", "nps": 9, "department": "sales"},
        {"external_id": "b", "submitted_at": "not a time", "nps": 11},
        {"external_id": "a", "submitted_at": "2026-03-01T09:00:00Z", "nps": 1},
        {"external_id": "c", "submitted_at": "2026-03-02T09:00:00Z", "fcr": true, "driver_speed": 5, "store": "Leeds"},
    ]);
    let (status, body) = app
        .json("POST", "/api/v1/responses", Some(batch.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["received"].as_u64(), body["inserted"].as_u64()),
        (Some(4), Some(2))
    );
    let rejected: Vec<(u64, Vec<&str>)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["field"].as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [(1, vec!["nps", "submitted_at"]), (2, vec!["external_id"]),]
    );
    // The write is committed before the answer: it is readable at once, and idempotent.
    assert_eq!(
        app.store.response("c").await.unwrap().unwrap().attributes["store"],
        "Leeds"
    );
    let (_, again) = app.json("POST", "/api/v1/responses", Some(batch)).await;
    assert_eq!(
        (again["inserted"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(2))
    );
    let (status, body) = app
        .json(
            "POST",
            "/api/v1/responses",
            Some(json!({"external_id": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("JSON array")
    );
    // A field that looks like a known one is kept as an attribute, with a warning.
    let (_, body) = app
        .json(
            "POST",
            "/api/v1/responses",
            Some(json!([{"external_id": "w", "submitted_at": "2026-03-01T09:00:00Z", "NPS Score": 9}])),
        )
        .await;
    assert_eq!(body["warnings"][0]["field"], "NPS Score", "{body}");
    assert_eq!(body["inserted"], 1);
    // A shape the API document does not allow refuses the batch, naming the item.
    let (status, body) = app
        .json(
            "POST",
            "/api/v1/responses",
            Some(json!([{"external_id": "d"}, "not an object"])),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("item 1 is a string"),
        "{body}"
    );
    assert!(app.store.response("d").await.unwrap().is_none());
}

#[tokio::test]
async fn health_readiness_and_the_openapi_document() {
    let app = TestApp::new().await;
    assert_eq!(app.json("GET", "/healthz", None).await.0, StatusCode::OK);
    let (status, ready) = app.json("GET", "/readyz", None).await;
    assert_eq!(
        (status, ready["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    let (status, doc) = app.json("GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    assert!(doc["paths"]["/api/v1/metrics"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/responses"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/metrics.csv"]["get"].is_object());
    for path in ["/api/v1/metrics", "/api/v1/metrics.csv"] {
        let names: Vec<&str> = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "metric",
                "group_by",
                "from",
                "to",
                "survey",
                "touchpoint",
                "department",
                "segment",
                "channel"
            ],
            "{path}"
        );
        let metric = &doc["paths"][path]["get"]["parameters"][0];
        assert_eq!(metric["required"], true);
        assert_eq!(
            metric["schema"]["enum"],
            json!(["nps", "csat", "ces", "fcr"])
        );
    }
    assert!(doc["paths"]["/api/v1/representativeness"]["get"].is_object());
    assert_eq!(
        doc["paths"]["/api/v1/responses"]["post"]["responses"]["413"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    assert_eq!(
        doc["components"]["schemas"]["ResponseBatch"]["maxItems"],
        10_000
    );
    assert!(doc["components"]["schemas"]["MetricReport"].is_object());
}

#[tokio::test]
async fn a_real_listener_serves_requests_with_a_request_id() {
    let app = TestApp::new().await;
    let server = app.serve().await;
    let addr = server.addr;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("x-request-id:"),
        "{response}"
    );
    server.stop().await;
}

#[tokio::test]
async fn respondents_are_compared_with_the_customer_base() {
    let app = TestApp::new().await;
    app.seed().await;
    let (_, none) = app.json("GET", "/api/v1/representativeness", None).await;
    assert!(none["comparison"].is_null());
    assert!(
        none["summary"].as_str().unwrap().contains("No customers"),
        "{none}"
    );

    // 80% of customers are small businesses, but half the answers come from enterprise.
    let customers = (0..100)
        .map(|i| northstar_core::customer::NewCustomer {
            customer_id: format!("C{i}"),
            segment: Some(if i < 80 { "smb" } else { "enterprise" }.to_string()),
            region: None,
            annual_value: None,
            churned: None,
            churned_on: None,
            acquired_on: None,
            attributes: Default::default(),
        })
        .collect();
    app.store.write_customers(customers).await.unwrap();
    let (status, body) = app.json("GET", "/api/v1/representativeness", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["comparison"]["rows"].as_array().unwrap();
    let enterprise = rows.iter().find(|r| r["key"] == "enterprise").unwrap();
    assert!((enterprise["customer_share"].as_f64().unwrap() - 0.2).abs() < 1e-12);
    assert!((enterprise["answer_share"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert!((enterprise["ratio"].as_f64().unwrap() - 2.5).abs() < 1e-12);
    assert!(body["comparison"]["test"]["p_value"].as_f64().unwrap() < 0.001);
    assert!(
        body["summary"]
            .as_str()
            .unwrap()
            .starts_with("Respondents differ from the customer base"),
        "{body}"
    );

    let odd = json!([{"external_id": "odd-1", "submitted_at": "2026-02-01T09:00:00Z", "segment": "SMB ", "nps": 5}]);
    app.json("POST", "/api/v1/responses", Some(odd)).await;
    let (_, body) = app.json("GET", "/api/v1/representativeness", None).await;
    assert_eq!(body["comparison"]["answers_unmatched"], 1);
    let summary = body["summary"].as_str().unwrap();
    assert!(
        summary.contains("1 respondents carry a segment that no imported customer has"),
        "{summary}"
    );

    let (_, filtered) = app
        .json("GET", "/api/v1/representativeness?segment=smb", None)
        .await;
    assert!(
        filtered["summary"]
            .as_str()
            .unwrap()
            .contains("filtered by segment")
    );

    let (_, html) = app.request("GET", "/", None).await;
    assert!(html.contains("Who answered"));
    assert!(
        html.contains("over-represented") && html.contains("under-represented"),
        "{html}"
    );
}

/// The period shown with a figure is the span of that metric's own answers:
/// an FCR figure must not say January to December when FCR was asked only in
/// March.
#[tokio::test]
async fn each_figure_s_period_is_the_span_of_its_own_answers() {
    let app = TestApp::new().await;
    let batch = json!([
        {"external_id": "p-1", "submitted_at": "2026-01-05T09:00:00Z", "nps": 9},
        {"external_id": "p-2", "submitted_at": "2026-12-20T09:00:00Z", "nps": 3},
        {"external_id": "p-3", "submitted_at": "2026-03-02T09:00:00Z", "fcr": "yes"},
        {"external_id": "p-4", "submitted_at": "2026-03-30T09:00:00Z", "fcr": "no", "nps": 8},
    ]);
    assert_eq!(
        app.json("POST", "/api/v1/responses", Some(batch)).await.0,
        StatusCode::OK
    );
    let (_, fcr) = app.json("GET", "/api/v1/metrics?metric=fcr", None).await;
    assert_eq!(fcr["period"]["from"], "2026-03-02", "{fcr}");
    assert_eq!(fcr["period"]["to"], "2026-03-30", "{fcr}");
    let (_, nps) = app.json("GET", "/api/v1/metrics?metric=nps", None).await;
    assert_eq!(nps["period"]["from"], "2026-01-05", "{nps}");
    assert_eq!(nps["period"]["to"], "2026-12-20", "{nps}");
    let (_, csat) = app.json("GET", "/api/v1/metrics?metric=csat", None).await;
    assert!(csat["period"]["from"].is_null(), "{csat}");
    let (_, html) = app.request("GET", "/", None).await;
    assert!(
        html.contains("2026-03-02 to 2026-03-30"),
        "the FCR tile shows its own period"
    );
}

/// A realistic full batch fits the body limit with room to spare; a body
/// over the limit, or with more items than the cap, is a 413 that names the
/// limit; the decoder stops at the cap instead of building every item.
#[tokio::test]
async fn batch_bodies_are_bounded_by_items_and_bytes() {
    use northstar_server::api::responses::{MAX_BATCH, MAX_BODY_BYTES};
    use serde_json::Value;
    let app = TestApp::new().await;
    let comment = "x".repeat(200);
    let realistic: Vec<Value> = (0..MAX_BATCH)
        .map(|i| {
            json!({
                "external_id": format!("resp-2026-{i:08}"), "customer_id": format!("C-{i:07}"),
                "submitted_at": "2026-03-04T10:15:00Z", "survey": "relationship-2026",
                "touchpoint": "delivery", "department": format!("dept{}", i % 20), "segment": "mid_market",
                "channel": "email", "nps": i % 11, "csat": 1 + i % 5, "ces": 1 + i % 7, "fcr": i % 2 == 0,
                "comment": comment, "order_id": format!("SO-{i:08}"), "driver_delivery_speed": 4,
                "driver_price": 3, "driver_support": 5, "store": "Leeds", "carrier": "DHL",
            })
        })
        .collect();
    let body = serde_json::to_vec(&Value::Array(realistic)).unwrap();
    eprintln!(
        "a realistic batch of {MAX_BATCH} responses: {} bytes",
        body.len()
    );
    assert!(body.len() * 2 < MAX_BODY_BYTES, "{} bytes", body.len());
    let (status, report) = app.post_bytes("/api/v1/responses", body).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["inserted"], MAX_BATCH);

    // The body that took the old server to a 3.47 GB peak: zeros up to the limit.
    let mut zeros = b"[0".to_vec();
    while zeros.len() + 3 < MAX_BODY_BYTES {
        zeros.extend_from_slice(b",0");
    }
    zeros.push(b']');
    let (status, e) = app.post_bytes("/api/v1/responses", zeros).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 10000 items"),
        "{e}"
    );

    let too_big = vec![b' '; MAX_BODY_BYTES + 1];
    let (status, e) = app.post_bytes("/api/v1/responses", too_big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("16 MiB"),
        "{e}"
    );

    // Nested values and oversized items refuse the batch, naming the item;
    // an over-long value is that item's error, by index.
    let fields: serde_json::Map<String, Value> =
        (0..300).map(|i| (format!("f{i}"), json!(i))).collect();
    for (body, says) in [
        (
            json!([{"external_id": "n1", "submitted_at": "2026-03-01T00:00:00Z", "nps": [9, [10]]}]),
            "item 0: field \"nps\" is a list",
        ),
        (
            json!([{}, Value::Object(fields)]),
            "item 1 has 300 fields; the limit is 256",
        ),
    ] {
        let (status, e) = app.json("POST", "/api/v1/responses", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(says),
            "{e}"
        );
    }
    let (status, report) = app
        .json(
            "POST",
            "/api/v1/responses",
            Some(json!([
                {"external_id": "n3", "submitted_at": "2026-03-01T00:00:00Z", "segment": "s".repeat(101)},
            ])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let problem = report["rejected"][0]["errors"][0]["problem"]
        .as_str()
        .unwrap();
    assert!(
        problem.contains("limit for dimension values is 100"),
        "{report}"
    );
}
