//! Who may call what: every route of the router (from the same table the
//! router is folded from) for every role and for nobody, and department
//! scoping asked around by filter.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use northstar_core::access::{self, Scope};
use northstar_core::account::Role;
use northstar_server::routes::{Access, specs};
use serde_json::Value;

use crate::{TestApp, token_for};

/// The principals of the matrix: nobody, then one token per role
/// (department roles in `support`).
async fn principals(app: &TestApp) -> Vec<(String, Option<(Role, String)>)> {
    let mut out = vec![("nobody".to_string(), None)];
    for role in Role::ALL {
        let department = role.is_department_scoped().then_some("support");
        let secret = token_for(&*app.store, &format!("matrix-{role}"), role, department).await;
        out.push((role.to_string(), Some((role, secret))));
    }
    out
}

fn request(method: &Method, uri: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method.clone()).uri(uri);
    if let Some(t) = token {
        builder = builder.header("authorization", format!("Bearer {t}"));
    }
    let body = if *method == Method::POST {
        builder = builder.header("content-type", "application/x-www-form-urlencoded");
        Body::from("")
    } else {
        Body::empty()
    };
    builder.body(body).unwrap()
}

#[tokio::test]
async fn every_route_for_every_role() {
    let app = TestApp::new().await;
    app.seed().await;
    let principals = principals(&app).await;
    let routes = specs();
    assert!(routes.len() >= 20, "the table has every route");
    let mut checked = 0;
    for route in &routes {
        for (name, principal) in &principals {
            let token = principal.as_ref().map(|(_, t)| t.as_str());
            let (status, headers, body) =
                app.raw(request(&route.method, route.example, token)).await;
            let allowed = match (route.access, principal) {
                (Access::Public, _) => true,
                (_, None) => false,
                (Access::SignedIn, Some(_)) => true,
                (Access::Needs(c), Some((role, _))) => access::allows(*role, c),
                (Access::NeedsAll(cs), Some((role, _))) => {
                    cs.iter().all(|c| access::allows(*role, *c))
                }
            };
            let location = headers
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let sent_to_sign_in = location.starts_with("/sign-in?next=");
            let what = format!(
                "{} {} as {name}: {status} {location} {}",
                route.method,
                route.path,
                &body[..body.len().min(200)]
            );
            if route.access == Access::Public {
                // Nothing to deny (a sign-in with wrong credentials is a 401 of its own).
                assert!(
                    status != StatusCode::FORBIDDEN && !sent_to_sign_in,
                    "{what}"
                );
                assert!(!status.is_server_error(), "{what}");
            } else if allowed {
                assert!(
                    status != StatusCode::UNAUTHORIZED
                        && status != StatusCode::FORBIDDEN
                        && !sent_to_sign_in,
                    "allowed, but {what}"
                );
                assert!(!status.is_server_error(), "{what}");
            } else if principal.is_none() {
                let page_get = !route.path.starts_with("/api/") && route.method == Method::GET;
                if page_get {
                    assert!(status.is_redirection() && sent_to_sign_in, "{what}");
                } else {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
                }
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * (Role::ALL.len() + 1));
}

#[tokio::test]
async fn the_api_document_lists_only_routes_of_the_table() {
    let app = TestApp::new().await;
    let (status, doc) = app.json("GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let table: Vec<String> = specs().iter().map(|s| s.path.to_string()).collect();
    for path in doc["paths"].as_object().unwrap().keys() {
        let axum_path = path.clone();
        assert!(
            table.contains(&axum_path),
            "{path} is documented but not routed"
        );
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["session"]["in"], "cookie", "{schemes}");
}

async fn get_as(app: &TestApp, token: &str, uri: &str) -> (StatusCode, Value) {
    let (status, _, body) = app.raw(request(&Method::GET, uri, Some(token))).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn department_roles_see_their_department_whatever_they_ask() {
    let app = TestApp::new().await;
    app.seed().await;
    for role in [Role::DepartmentLead, Role::Ambassador] {
        let token = token_for(
            &*app.store,
            &format!("scoped-{role}"),
            role,
            Some("support"),
        )
        .await;
        // Nothing asked: their department, and the organisation as a summary.
        let (status, r) = get_as(&app, &token, "/api/v1/metrics?metric=nps").await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["overall"]["n"], 120, "{r}");
        assert_eq!(r["restricted_to"], "support");
        assert_eq!(r["organisation"]["n"], 360, "{r}");
        // Another department by filter: nothing, not that department.
        let (_, r) = get_as(
            &app,
            &token,
            "/api/v1/metrics?metric=nps&department=billing",
        )
        .await;
        assert_eq!(r["overall"]["n"], 0, "{r}");
        // Their own among others (any-of): only their own.
        let (_, r) = get_as(
            &app,
            &token,
            "/api/v1/metrics?metric=nps&department=billing&department=support&department=logistics",
        )
        .await;
        assert_eq!(r["overall"]["n"], 120, "{r}");
        // A breakdown by department has their department only.
        let (_, r) = get_as(
            &app,
            &token,
            "/api/v1/metrics?metric=nps&group_by=department",
        )
        .await;
        let keys: Vec<&str> = r["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["support"], "{r}");
        // Other filters still narrow within the department.
        let (_, r) = get_as(&app, &token, "/api/v1/metrics?metric=nps&segment=smb").await;
        assert_eq!(r["overall"]["n"], 60, "{r}");
        // The empty department value is not a way around the scope.
        let (_, r) = get_as(&app, &token, "/api/v1/metrics?metric=nps&department=").await;
        assert_eq!(r["overall"]["n"], 120, "{r}");
        // Who answered: their department's respondents only.
        let (_, r) = get_as(
            &app,
            &token,
            "/api/v1/representativeness?department=billing",
        )
        .await;
        assert_eq!(r["anonymous_answers"], 0, "{r}");
        let (_, r) = get_as(&app, &token, "/api/v1/representativeness").await;
        assert_eq!(r["anonymous_answers"], 120, "{r}");
    }
    // A department role without a department sees nothing rather than all.
    assert_eq!(Scope::of(Role::Ambassador, None).restrict(&[]), None);
}

#[tokio::test]
async fn the_overview_offers_a_department_role_only_its_own_values() {
    let app = TestApp::new().await;
    app.seed().await;
    let token = token_for(&*app.store, "lead", Role::DepartmentLead, Some("billing")).await;
    let (status, _, html) = app.raw(request(&Method::GET, "/", Some(&token))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<option value=\"billing\""),
        "its own department"
    );
    for other in ["support", "logistics"] {
        assert!(
            !html.contains(&format!("<option value=\"{other}\"")),
            "{other} is not offered"
        );
    }
    assert!(html.contains("your role sees only the department billing"));
    assert!(html.contains("Whole organisation, same period"));
    let (status, _, html) = app
        .raw(request(&Method::GET, "/?department=support", Some(&token)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("n = 0"),
        "another department's figures are empty"
    );
}

#[tokio::test]
async fn tokens_are_refused_when_unknown_revoked_or_malformed() {
    let app = TestApp::new().await;
    let token = token_for(&*app.store, "etl", Role::CxLead, None).await;
    let (status, _) = get_as(&app, &token, "/api/v1/metrics?metric=nps").await;
    assert_eq!(status, StatusCode::OK);
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let (status, _, body) = app
        .raw(
            Request::get("/api/v1/metrics?metric=nps")
                .header("authorization", format!("BEARER  {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.store
        .backend()
        .revoke_api_token("etl", 1)
        .await
        .unwrap();
    let (status, body) = get_as(&app, &token, "/api/v1/metrics?metric=nps").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    for header in [
        "Basic abc",
        "Bearer ",
        "nst_abc",
        &format!("Bearer {}", "x".repeat(300)),
    ] {
        let (status, headers, _) = app
            .raw(
                Request::get("/api/v1/metrics?metric=nps")
                    .header("authorization", header)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header}");
        assert!(headers.contains_key("www-authenticate"));
    }
    // Public routes answer whatever credentials come along (a proxy's
    // Basic auth, a revoked token): health checks keep working.
    for (path, header) in [
        ("/healthz", "Basic dXNlcjpwYXNz"),
        ("/healthz", "Bearer nst_revoked"),
        ("/api/v1/openapi.json", "Bearer nst_revoked"),
        ("/sign-in", "Bearer nst_revoked"),
    ] {
        let (status, _, _) = app
            .raw(
                Request::get(path)
                    .header("authorization", header)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{path} with {header}");
    }
    // A page asked for with a refused token says why, not "sign in".
    let (status, _, body) = app
        .raw(
            Request::get("/responses")
                .header("authorization", "Bearer nst_revoked")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("unknown or revoked"), "{body}");
    // What a signed-in caller reads is not cached.
    let admin = app.admin_token.clone();
    let (_, headers, _) = app
        .raw(request(&Method::GET, "/api/v1/responses", Some(&admin)))
        .await;
    assert_eq!(headers["cache-control"], "no-store");
    // Token use is audited, at most once an hour per token.
    let uses = app
        .store
        .backend()
        .audit_entries(&northstar_store::accounts::AuditQuery {
            action: Some("token.use".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        uses.iter().filter(|e| e.target == "etl").count(),
        1,
        "{uses:?}"
    );
}

#[tokio::test]
async fn filter_parameters_carry_injection_attempts_as_plain_values() {
    let app = TestApp::new().await;
    app.seed().await;
    let token = token_for(&*app.store, "lead", Role::DepartmentLead, Some("support")).await;
    for attempt in [
        "support' OR '1'='1",
        "support\" OR 1=1 --",
        "'; DROP TABLE responses; --",
        "%27%20OR%201%3D1",
        "<script>alert(1)</script>",
        "support%00",
    ] {
        let encoded = northstar_server_encode(attempt);
        for (who, t) in [
            ("admin", app.admin_token.as_str()),
            ("lead", token.as_str()),
        ] {
            for param in ["department", "segment", "survey", "touchpoint", "channel"] {
                let (status, r) = get_as(
                    &app,
                    t,
                    &format!("/api/v1/metrics?metric=nps&{param}={encoded}"),
                )
                .await;
                assert!(
                    status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
                    "{who} {param} {attempt}: {status} {r}"
                );
                if status == StatusCode::OK {
                    assert_eq!(r["overall"]["n"], 0, "{who} {param} {attempt}: {r}");
                }
            }
        }
        let (status, _, html) = app
            .raw(request(
                &Method::GET,
                &format!("/?segment={encoded}"),
                Some(&app.admin_token),
            ))
            .await;
        assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST);
        assert!(!html.contains("<script>alert(1)</script>"), "escaped");
    }
    let (_, r) = get_as(&app, &app.admin_token, "/api/v1/metrics?metric=nps").await;
    assert_eq!(r["overall"]["n"], 360, "nothing was dropped");
}

fn northstar_server_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn single_responses_are_scoped_and_masked_by_role() {
    let app = TestApp::new().await;
    let items = serde_json::json!([
        {"external_id": "s-1", "customer_id": "C-77", "submitted_at": "2026-03-01T10:00:00Z",
         "department": "support", "nps": 3,
         "comment": "Call me on +44 20 7946 0958 or jane.doe@example.com about order SO-12345678 (€1,299.00 on 2026-03-01)",
         "favourite_contact": "jane.doe@example.com"},
        {"external_id": "b-1", "customer_id": "C-78", "submitted_at": "2026-03-01T10:00:00Z",
         "department": "billing", "nps": 9, "comment": "fine"},
    ]);
    let (status, body) = app.json("POST", "/api/v1/responses", Some(items)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lead = token_for(&*app.store, "lead", Role::DepartmentLead, Some("support")).await;
    let cx = token_for(&*app.store, "cx", Role::CxLead, None).await;
    let viewer = token_for(&*app.store, "viewer", Role::Viewer, None).await;

    let (status, r) = get_as(&app, &lead, "/api/v1/responses/s-1").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        r["customer_id"],
        Value::Null,
        "no customer ids for a department lead"
    );
    assert_eq!(r["personal_data_masked"], true);
    let comment = r["comment"].as_str().unwrap();
    assert_eq!(
        comment,
        "Call me on [phone] or [email] about order SO-12345678 (€1,299.00 on 2026-03-01)"
    );
    assert_eq!(r["attributes"]["favourite_contact"], "[email]");
    // Another department's response reads as missing, exactly like a missing one.
    let (status, other) = get_as(&app, &lead, "/api/v1/responses/b-1").await;
    let (status_missing, missing) = get_as(&app, &lead, "/api/v1/responses/nope").await;
    assert_eq!(
        (status, status_missing),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(
        other["error"]["message"]
            .as_str()
            .unwrap()
            .replace("b-1", "X"),
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .replace("nope", "X")
    );
    // The CX lead reads everything unmasked; a viewer reads no single responses.
    let (_, r) = get_as(&app, &cx, "/api/v1/responses/s-1").await;
    assert_eq!(r["customer_id"], "C-77");
    assert!(
        r["comment"]
            .as_str()
            .unwrap()
            .contains("jane.doe@example.com")
    );
    let (status, _) = get_as(&app, &viewer, "/api/v1/responses/s-1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn comment_lists_pages_and_exports_are_scoped_and_masked() {
    let app = TestApp::new().await;
    let mut items = Vec::new();
    for i in 0..30 {
        let dept = ["support", "billing"][i % 2];
        items.push(serde_json::json!({
            "external_id": format!("c-{i:02}"), "customer_id": format!("C{i}"),
            "submitted_at": format!("2026-03-{:02}T10:00:00Z", 1 + i % 28),
            "department": dept, "nps": i % 11,
            "comment": format!("reach me at user{i}@example.com, invoice INV-{i}"),
        }));
    }
    let (status, body) = app
        .json("POST", "/api/v1/responses", Some(Value::Array(items)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lead = token_for(&*app.store, "lead", Role::DepartmentLead, Some("support")).await;
    // Paging with the cursor returns each of its department's responses once, masked.
    let mut seen = Vec::new();
    let mut uri = "/api/v1/responses?limit=4".to_string();
    loop {
        let (status, page) = get_as(&app, &lead, &uri).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["restricted_to"], "support");
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["department"], "support");
            assert_eq!(item["customer_id"], Value::Null);
            let comment = item["comment"].as_str().unwrap();
            assert!(
                comment.starts_with("reach me at [email], invoice INV-"),
                "{comment}"
            );
            seen.push(item["external_id"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(next) => {
                uri = format!(
                    "/api/v1/responses?limit=4&before={}",
                    northstar_server_encode(next)
                )
            }
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (15, 15));
    // Asking for another department by filter: nothing.
    let (_, page) = get_as(&app, &lead, "/api/v1/responses?department=billing").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0, "{page}");
    // Bad cursors and limits name the parameter.
    for bad in ["before=xyz", "limit=0", "limit=501", "with_comment=maybe"] {
        let (status, body) = get_as(&app, &lead, &format!("/api/v1/responses?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // The CSV export is scoped, masked and audited.
    let (status, _, csv) = app
        .raw(request(
            &axum::http::Method::GET,
            "/api/v1/responses.csv",
            Some(&lead),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(csv.lines().count(), 16, "{csv}");
    assert!(
        !csv.contains("@example.com") && !csv.contains("billing"),
        "{csv}"
    );
    let exports = app
        .store
        .backend()
        .audit_entries(&northstar_store::accounts::AuditQuery {
            action: Some("export".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        exports
            .iter()
            .any(|e| e.actor == "token:lead" && e.target == "responses.csv"),
        "{exports:?}"
    );
    // The page shows the same, with the masking said.
    let (status, _, html) = app
        .raw(request(&axum::http::Method::GET, "/responses", Some(&lead)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("reach me at [email]") && !html.contains("@example.com"));
    assert!(html.contains("masked"));
    assert!(!html.contains("<option value=\"billing\""));
    // The CX lead sees personal data.
    let (_, page) = get_as(&app, &app.admin_token, "/api/v1/responses?limit=1").await;
    assert!(
        page["items"][0]["comment"]
            .as_str()
            .unwrap()
            .contains("@example.com")
    );
}

/// The CSV export streams page after page, in order without repeats, and
/// stops at its row limit however many responses match.
#[tokio::test]
async fn the_responses_export_pages_through_and_stops_at_its_limit() {
    use northstar_server::api::verbatims::MAX_EXPORT_ROWS;
    let app = TestApp::new().await;
    let total = MAX_EXPORT_ROWS + 1;
    let batch: Vec<northstar_core::response::NewResponse> = (0..total)
        .map(|i| {
            let submitted_unix = 1_767_225_600 + (i as i64) * 60;
            northstar_core::response::NewResponse {
                external_id: format!("x{i:06}"),
                customer_id: None,
                submitted_at: jiff::Timestamp::from_second(submitted_unix)
                    .unwrap()
                    .to_string(),
                submitted_unix,
                dimensions: Default::default(),
                nps: Some((i % 11) as u8),
                csat: None,
                ces: None,
                fcr: None,
                comment: Some(format!("comment {i}")),
                order_id: None,
                drivers: Default::default(),
                attributes: Default::default(),
            }
        })
        .collect();
    app.store.write_responses(batch).await.unwrap();
    let admin = app.admin_token.clone();
    let (status, _, csv) = app
        .raw(request(&Method::GET, "/api/v1/responses.csv", Some(&admin)))
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids.len(), MAX_EXPORT_ROWS);
    // Newest first: from the last one written down, no gap, no repeat.
    let expected: Vec<String> = (1..=MAX_EXPORT_ROWS)
        .rev()
        .map(|i| format!("x{i:06}"))
        .collect();
    assert!(ids.iter().zip(&expected).all(|(a, b)| a == b));
    // Asked for less, the export is complete.
    let (_, _, csv) = app
        .raw(request(
            &Method::GET,
            "/api/v1/responses.csv?from=2026-01-01&to=2026-01-01",
            Some(&admin),
        ))
        .await;
    assert_eq!(csv.lines().count(), 1 + 24 * 60);
}

/// A department role's CSV says whose figures they are: the restriction on
/// every row, and the whole organisation as its own, unfiltered row.
#[tokio::test]
async fn a_department_roles_metrics_csv_carries_its_restriction() {
    let app = TestApp::new().await;
    app.seed().await;
    let token = token_for(&*app.store, "lead", Role::DepartmentLead, Some("billing")).await;
    let (status, _, csv) = app
        .raw(request(
            &Method::GET,
            "/api/v1/metrics.csv?metric=nps&department=support",
            Some(&token),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header = rows.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2, "{csv}");
    let (all, organisation) = (&records[0], &records[1]);
    assert_eq!(&all[column("key")], "(all)");
    assert_eq!(&all[column("n")], "0", "support is outside billing's scope");
    assert_eq!(&all[column("restricted_to")], "billing");
    assert_eq!(&organisation[column("key")], "(organisation)");
    assert_eq!(&organisation[column("n")], "360");
    assert_eq!(
        &organisation[column("filter")],
        "(none: whole organisation)"
    );
}
