//! Collecting feedback: surveys versioned by their status, invitations
//! (opt-outs and customers invited already skipped), what to send and to
//! remind, response rates, erasure, retention and `copy`, on both backends,
//! every change of a survey audited.

use northstar_core::response::NewResponse;
use northstar_core::{Dimension, DimensionValues};
use northstar_store::StoreError;
use northstar_store::accounts::AuditQuery;
use northstar_store::backend::Backend;
use northstar_store::survey_records::{
    InvitationsCreated, MAX_EMAIL_BYTES, MAX_INVITATIONS_PER_CALL, MAX_SURVEY_DOCUMENT_BYTES,
    NewInvitation, RateCell, SurveyStatus,
};

use crate::TestDb;

fn refused<T: std::fmt::Debug>(result: Result<T, StoreError>, needle: &str) {
    match result {
        Err(StoreError::Refused(message)) => {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}")
        }
        other => panic!("expected a refusal with {needle:?}, got {other:?}"),
    }
}

fn limit<T: std::fmt::Debug>(result: Result<T, StoreError>, name: &str) {
    match result {
        Err(StoreError::Limit { field, .. }) => assert_eq!(field, name),
        other => panic!("expected the {name} limit, got {other:?}"),
    }
}

/// An invitation of `customer` to survey `survey` in `segment`.
fn invite(survey: i64, customer: &str, segment: &str) -> NewInvitation {
    NewInvitation {
        customer_id: customer.into(),
        email: format!("{}@example.com", customer.to_lowercase()),
        language: "en".into(),
        segment: segment.into(),
        channel: "email".into(),
        response_id: format!("s{survey}-{customer}"),
        token_hash: format!("token-s{survey}-{customer}"),
    }
}

/// The answer to an invitation: a response under its `response_id`.
fn answer(external_id: &str, submitted_unix: i64) -> NewResponse {
    let mut dims = DimensionValues::default();
    dims.set(Dimension::Survey, "pulse".into());
    NewResponse {
        external_id: external_id.into(),
        customer_id: None,
        submitted_at: jiff::Timestamp::from_second(submitted_unix)
            .unwrap()
            .to_string(),
        submitted_unix,
        dimensions: dims,
        nps: Some(9),
        csat: None,
        ces: None,
        fcr: None,
        comment: None,
        order_id: None,
        drivers: Default::default(),
        attributes: Default::default(),
    }
}

async fn actions(b: &dyn Backend) -> Vec<(String, String)> {
    let mut audit: Vec<(String, String)> = b
        .audit_entries(&AuditQuery {
            action: Some("survey.".into()),
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.detail))
        .collect();
    audit.sort();
    audit
}

/// A draft's edit replaces its version; a live survey's makes the next
/// one; a closed survey is refused until reopened. Names and slugs are
/// unique and look a survey up; surveys list by name (bytes).
async fn surveys_version_by_status(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    assert!(b.surveys().await.unwrap().is_empty());
    let id = b
        .create_survey("pulse", "slug-pulse", "{\"v\":1}", "cx", 100)
        .await
        .unwrap();
    let other = b
        .create_survey("Zeta", "slug-zeta", "{}", "cx", 101)
        .await
        .unwrap();
    refused(
        b.create_survey("pulse", "slug-new", "{}", "cx", 102).await,
        "pulse",
    );
    refused(
        b.create_survey("new", "slug-pulse", "{}", "cx", 102).await,
        "link",
    );
    let listed = b.surveys().await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [other, id],
        "by name, in byte order"
    );
    let survey = b.survey(id).await.unwrap().unwrap();
    assert_eq!(
        (
            survey.status,
            survey.current_version,
            survey.public_slug.as_str()
        ),
        (SurveyStatus::Draft, 1, "slug-pulse")
    );
    assert_eq!(
        b.survey_by_slug("slug-pulse").await.unwrap(),
        Some(survey.clone())
    );
    assert_eq!(b.survey_by_name("pulse").await.unwrap(), Some(survey));
    assert_eq!(b.survey_by_slug("nope").await.unwrap(), None);
    assert_eq!(b.survey_by_name("nope").await.unwrap(), None);
    assert_eq!(b.survey(id + 100).await.unwrap(), None);

    // A draft is edited in place.
    assert_eq!(
        b.update_survey(id, "{\"v\":2}", "editor", 110)
            .await
            .unwrap(),
        1
    );
    let versions = b.survey_versions(id).await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].document, "{\"v\":2}");
    let survey = b.survey(id).await.unwrap().unwrap();
    assert_eq!(
        (survey.updated_by.as_str(), survey.updated_unix),
        ("editor", 110)
    );

    // Live: each edit is a new version, which becomes current.
    b.set_survey_status(id, SurveyStatus::Live, "cx", 120)
        .await
        .unwrap();
    assert_eq!(
        b.update_survey(id, "{\"v\":3}", "editor", 130)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        b.update_survey(id, "{\"v\":4}", "editor", 140)
            .await
            .unwrap(),
        3
    );
    let versions = b.survey_versions(id).await.unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version, v.document.as_str()))
            .collect::<Vec<_>>(),
        [(1, "{\"v\":2}"), (2, "{\"v\":3}"), (3, "{\"v\":4}")]
    );
    let v2 = b.survey_version(id, 2).await.unwrap().unwrap();
    assert_eq!(
        (v2.survey_id, v2.created_by.as_str(), v2.created_unix),
        (id, "editor", 130)
    );
    assert_eq!(b.survey_version(id, 4).await.unwrap(), None);
    assert_eq!(b.survey(id).await.unwrap().unwrap().current_version, 3);

    // Closed: no edits, no invitations, until it reopens.
    b.set_survey_status(id, SurveyStatus::Closed, "cx", 150)
        .await
        .unwrap();
    refused(b.update_survey(id, "{}", "editor", 160).await, "closed");
    refused(
        b.create_invitations(id, &[invite(id, "C1", "smb")], 1000, "cx", 160)
            .await,
        "closed",
    );
    b.set_survey_status(id, SurveyStatus::Live, "cx", 170)
        .await
        .unwrap();
    assert_eq!(
        b.update_survey(id, "{\"v\":5}", "editor", 180)
            .await
            .unwrap(),
        4
    );

    // Only draft → live → closed → live.
    refused(
        b.set_survey_status(id, SurveyStatus::Live, "cx", 190).await,
        "a draft goes live",
    );
    refused(
        b.set_survey_status(id, SurveyStatus::Draft, "cx", 190)
            .await,
        "cannot become draft",
    );
    refused(
        b.set_survey_status(other, SurveyStatus::Closed, "cx", 190)
            .await,
        "draft, which cannot become closed",
    );
    b.set_survey_status(id, SurveyStatus::Closed, "cx", 200)
        .await
        .unwrap();
    refused(
        b.set_survey_status(id, SurveyStatus::Draft, "cx", 210)
            .await,
        "closed",
    );
    assert!(matches!(
        b.set_survey_status(id + 100, SurveyStatus::Live, "cx", 210)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        b.update_survey(id + 100, "{}", "cx", 210).await,
        Err(StoreError::NotFound(_))
    ));

    let audit = actions(b).await;
    let count = |action: &str| audit.iter().filter(|(a, _)| a == action).count();
    assert_eq!(
        (
            count("survey.create"),
            count("survey.update"),
            count("survey.status")
        ),
        (2, 4, 4),
        "{audit:?}"
    );
    assert!(audit.contains(&("survey.status".into(), "live → closed".into())));
}

/// Invitations skip addresses that opted out and customers the survey
/// invited already (the first invitation stands, within a call too); a
/// link's token hash finds its invitation; the first opening stands.
async fn invitations_skip_opted_out_and_already_invited(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let id = b
        .create_survey("pulse", "slug", "{}", "cx", 1)
        .await
        .unwrap();
    let second = b
        .create_survey("onboarding", "slug-2", "{}", "cx", 1)
        .await
        .unwrap();
    // Hashed lower-cased and trimmed.
    b.opt_out(" C2@Example.COM", 5).await.unwrap();
    b.opt_out("c2@example.com", 6).await.unwrap();
    assert!(b.opted_out("c2@example.com").await.unwrap());
    assert!(!b.opted_out("c1@example.com").await.unwrap());

    let mut repeat = invite(id, "C1", "enterprise");
    repeat.email = "other@example.com".into();
    repeat.response_id = "s1-C1-again".into();
    repeat.token_hash = "token-again".into();
    let done = b
        .create_invitations(
            id,
            &[
                invite(id, "C1", "smb"),
                invite(id, "C2", "smb"),
                invite(id, "C3", "enterprise"),
                repeat,
            ],
            10_000,
            "cx",
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        done,
        InvitationsCreated {
            created: 2,
            opted_out: 1,
            already_invited: 1
        }
    );
    // Again, with the same links: only the new customer is invited.
    let done = b
        .create_invitations(
            id,
            &[invite(id, "C1", "smb"), invite(id, "C4", "smb")],
            10_000,
            "cx",
            200,
        )
        .await
        .unwrap();
    assert_eq!(
        done,
        InvitationsCreated {
            created: 1,
            opted_out: 0,
            already_invited: 1
        }
    );
    // Another survey invites the same customer.
    let done = b
        .create_invitations(second, &[invite(second, "C1", "smb")], 10_000, "cx", 300)
        .await
        .unwrap();
    assert_eq!(done.created, 1);
    assert!(matches!(
        b.create_invitations(id + 100, &[], 1, "cx", 1).await,
        Err(StoreError::NotFound(_))
    ));

    let all = b.invitations(id, 0, 100).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|i| (i.customer_id.as_str(), i.email.as_str(), i.segment.as_str()))
            .collect::<Vec<_>>(),
        [
            ("C1", "c1@example.com", "smb"),
            ("C3", "c3@example.com", "enterprise"),
            ("C4", "c4@example.com", "smb"),
        ],
        "by id; the first invitation of C1 stands"
    );
    let first = &all[0];
    assert_eq!(
        (
            first.survey_id,
            first.language.as_str(),
            first.channel.as_str(),
            first.response_id.clone(),
            first.created_unix,
            first.expires_unix,
            first.sent_unix,
            first.reminded_unix,
            first.reminders,
            first.opened_unix,
            first.answered_unix,
            first.opted_out,
        ),
        (
            id,
            "en",
            "email",
            format!("s{id}-C1"),
            100,
            10_000,
            None,
            None,
            0,
            None,
            None,
            false
        )
    );
    // Pages by id.
    let page = b.invitations(id, all[0].id, 1).await.unwrap();
    assert_eq!(page, [all[1].clone()]);
    assert!(b.invitations(id, all[2].id, 10).await.unwrap().is_empty());

    // Opting out later shows on the invitation (a join).
    b.opt_out("C3@example.com", 400).await.unwrap();
    let by_token = b
        .invitation_by_token(&format!("token-s{id}-C3"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((by_token.id, by_token.opted_out), (all[1].id, true));
    assert_eq!(b.invitation_by_token("token-none").await.unwrap(), None);

    b.mark_invitation_opened(first.id, 500).await.unwrap();
    b.mark_invitation_opened(first.id, 600).await.unwrap();
    let opened = b
        .invitation_by_token(&format!("token-s{id}-C1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(opened.opened_unix, Some(500), "the first opening stands");
    assert!(matches!(
        b.mark_invitation_opened(first.id + 1000, 600).await,
        Err(StoreError::NotFound(_))
    ));

    // Counts only in the log; one opt-out entry per address.
    let audit = actions(b).await;
    assert!(
        audit.contains(&(
            "survey.invite".into(),
            "2 invited, 1 opted out, 1 already invited".into()
        )),
        "{audit:?}"
    );
    assert!(
        audit.iter().all(|(_, detail)| !detail.contains('@')),
        "{audit:?}"
    );
    assert_eq!(
        audit.iter().filter(|(a, _)| a == "survey.opt_out").count(),
        2
    );
}

/// Thousands of invitations in one call are written in several
/// statements; marking them sent is too.
async fn many_invitations_in_chunks(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let id = b
        .create_survey("pulse", "slug", "{}", "cx", 1)
        .await
        .unwrap();
    for c in 0..7 {
        b.opt_out(&format!("c{c}@example.com"), 2).await.unwrap();
    }
    let rows: Vec<NewInvitation> = (0..2_500)
        .map(|c| invite(id, &format!("C{c}"), "smb"))
        .collect();
    let done = b
        .create_invitations(id, &rows, 10_000, "cx", 100)
        .await
        .unwrap();
    assert_eq!(
        done,
        InvitationsCreated {
            created: 2_493,
            opted_out: 7,
            already_invited: 0
        }
    );
    let done = b
        .create_invitations(id, &rows, 10_000, "cx", 100)
        .await
        .unwrap();
    assert_eq!((done.created, done.already_invited), (0, 2_493));
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let page = b.invitations(id, after, 1_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        ids.extend(page.iter().map(|i| i.id));
    }
    assert_eq!(ids.len(), 2_493);
    assert_eq!(
        b.invitations_to_send(id, 200, 5_000).await.unwrap().len(),
        2_493
    );
    b.mark_invitations_sent(&ids, false, 300).await.unwrap();
    assert!(
        b.invitations_to_send(id, 400, 5_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        b.invitations_to_remind(id, 300, 1, 400, 100_000)
            .await
            .unwrap()
            .len(),
        2_493
    );
}

/// What to send: unsent, unexpired, not opted out. What to remind: sent
/// or last reminded at or before the quiet time, unanswered (a response
/// under its id), unexpired, under the reminder limit, not opted out.
async fn send_and_remind_select_as_documented(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let id = b
        .create_survey("pulse", "slug", "{}", "cx", 1)
        .await
        .unwrap();
    b.create_invitations(
        id,
        &[
            invite(id, "A", "smb"),
            invite(id, "B", "smb"),
            invite(id, "C", "smb"),
            invite(id, "D", "smb"),
        ],
        10_000,
        "cx",
        1_000,
    )
    .await
    .unwrap();
    b.create_invitations(id, &[invite(id, "E", "smb")], 1_500, "cx", 1_001)
        .await
        .unwrap();
    b.opt_out("d@example.com", 1_002).await.unwrap();
    let customers = |v: Vec<northstar_store::survey_records::Invitation>| -> Vec<String> {
        v.into_iter().map(|i| i.customer_id).collect()
    };
    assert_eq!(
        customers(b.invitations_to_send(id, 1_100, 100).await.unwrap()),
        ["A", "B", "C", "E"]
    );
    assert_eq!(
        customers(b.invitations_to_send(id, 1_500, 100).await.unwrap()),
        ["A", "B", "C"],
        "E expired at 1500"
    );
    assert_eq!(
        customers(b.invitations_to_send(id, 1_500, 2).await.unwrap()),
        ["A", "B"]
    );
    let all = b.invitations(id, 0, 100).await.unwrap();
    let ids: Vec<i64> = all.iter().map(|i| i.id).collect();
    b.mark_invitations_sent(&ids[..3], false, 2_000)
        .await
        .unwrap();
    // Sending again keeps the first time.
    b.mark_invitations_sent(&ids[..1], false, 2_500)
        .await
        .unwrap();
    assert!(
        b.invitations_to_send(id, 2_000, 100)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .write_responses(vec![answer(&format!("s{id}-B"), 2_600)])
        .await
        .unwrap();
    let all = b.invitations(id, 0, 100).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|i| (i.customer_id.as_str(), i.sent_unix, i.answered_unix))
            .collect::<Vec<_>>(),
        [
            ("A", Some(2_000), None),
            ("B", Some(2_000), Some(2_600)),
            ("C", Some(2_000), None),
            ("D", None, None),
            ("E", None, None),
        ]
    );
    assert!(all[3].opted_out);

    assert!(
        b.invitations_to_remind(id, 1_999, 2, 3_000, 100)
            .await
            .unwrap()
            .is_empty(),
        "sent after the quiet time"
    );
    assert_eq!(
        customers(
            b.invitations_to_remind(id, 2_000, 2, 3_000, 100)
                .await
                .unwrap()
        ),
        ["A", "C"],
        "B answered"
    );
    assert_eq!(
        customers(
            b.invitations_to_remind(id, 2_000, 2, 3_000, 1)
                .await
                .unwrap()
        ),
        ["A"]
    );
    b.mark_invitations_sent(&[ids[0], ids[2]], true, 3_000)
        .await
        .unwrap();
    assert!(
        b.invitations_to_remind(id, 2_999, 2, 3_100, 100)
            .await
            .unwrap()
            .is_empty(),
        "reminded after the quiet time"
    );
    assert_eq!(
        customers(
            b.invitations_to_remind(id, 3_000, 2, 3_100, 100)
                .await
                .unwrap()
        ),
        ["A", "C"]
    );
    b.mark_invitations_sent(&[ids[0], ids[2]], true, 4_000)
        .await
        .unwrap();
    let a = &b.invitations(id, 0, 1).await.unwrap()[0];
    assert_eq!(
        (a.sent_unix, a.reminded_unix, a.reminders),
        (Some(2_000), Some(4_000), 2)
    );
    assert!(
        b.invitations_to_remind(id, 5_000, 2, 5_000, 100)
            .await
            .unwrap()
            .is_empty(),
        "two reminders given"
    );
    assert_eq!(
        customers(
            b.invitations_to_remind(id, 5_000, 3, 5_000, 100)
                .await
                .unwrap()
        ),
        ["A", "C"]
    );
    assert!(
        b.invitations_to_remind(id, 10_000, 3, 10_000, 100)
            .await
            .unwrap()
            .is_empty(),
        "expired"
    );
    // An opt-out stops reminders too.
    b.opt_out("c@example.com", 5_000).await.unwrap();
    assert_eq!(
        customers(
            b.invitations_to_remind(id, 5_000, 3, 5_000, 100)
                .await
                .unwrap()
        ),
        ["A"]
    );
    b.mark_invitations_sent(&[], true, 5_000).await.unwrap();
}

/// Rates count a survey's invitations made in [from, to) by segment and
/// channel (ordered by bytes): invited, sent, opened, answered.
async fn response_rates_by_segment_and_channel(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let id = b
        .create_survey("pulse", "slug", "{}", "cx", 1)
        .await
        .unwrap();
    let other = b
        .create_survey("other", "slug-2", "{}", "cx", 1)
        .await
        .unwrap();
    let mut sms = invite(id, "S1", "acme");
    sms.channel = "sms".into();
    b.create_invitations(
        id,
        &[
            invite(id, "A1", "acme"),
            invite(id, "A2", "acme"),
            invite(id, "A3", "acme"),
            invite(id, "Z1", "Zed"),
            invite(id, "Z2", "Zed"),
            invite(id, "N1", ""),
            sms,
        ],
        100_000,
        "cx",
        1_000,
    )
    .await
    .unwrap();
    b.create_invitations(id, &[invite(id, "A4", "acme")], 100_000, "cx", 5_000)
        .await
        .unwrap();
    b.create_invitations(other, &[invite(other, "A1", "acme")], 100_000, "cx", 1_000)
        .await
        .unwrap();
    let all = b.invitations(id, 0, 100).await.unwrap();
    let by = |c: &str| all.iter().find(|i| i.customer_id == c).unwrap().id;
    b.mark_invitations_sent(&[by("A1"), by("A2"), by("Z1"), by("S1")], false, 2_000)
        .await
        .unwrap();
    b.mark_invitation_opened(by("A1"), 2_100).await.unwrap();
    b.mark_invitation_opened(by("Z1"), 2_100).await.unwrap();
    store
        .write_responses(vec![
            answer(&format!("s{id}-A1"), 2_200),
            answer(&format!("s{id}-Z1"), 2_200),
        ])
        .await
        .unwrap();
    let cell = |segment: &str, channel: &str, invited, sent, opened, answered| RateCell {
        segment: segment.into(),
        channel: channel.into(),
        invited,
        sent,
        opened,
        answered,
    };
    assert_eq!(
        b.response_rates(id, 1_000, 5_000).await.unwrap(),
        [
            cell("", "email", 1, 0, 0, 0),
            cell("Zed", "email", 2, 1, 1, 1),
            cell("acme", "email", 3, 2, 1, 1),
            cell("acme", "sms", 1, 1, 0, 0),
        ]
    );
    assert_eq!(
        b.response_rates(id, 1_001, 5_001).await.unwrap(),
        [cell("acme", "email", 1, 0, 0, 0)]
    );
    assert!(b.response_rates(id, 0, 1_000).await.unwrap().is_empty());
}

/// Documents, addresses and calls are bounded; the error names the field.
async fn survey_limits(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let big = "x".repeat(MAX_SURVEY_DOCUMENT_BYTES + 1);
    let fits = "x".repeat(MAX_SURVEY_DOCUMENT_BYTES);
    limit(
        b.create_survey("s", "slug", &big, "cx", 1).await,
        "document",
    );
    let id = b.create_survey("s", "slug", &fits, "cx", 1).await.unwrap();
    limit(b.update_survey(id, &big, "cx", 2).await, "document");
    b.set_survey_status(id, SurveyStatus::Live, "cx", 3)
        .await
        .unwrap();
    limit(b.update_survey(id, &big, "cx", 4).await, "document");
    assert_eq!(b.survey_versions(id).await.unwrap().len(), 1);
    assert_eq!(
        b.survey_version(id, 1)
            .await
            .unwrap()
            .unwrap()
            .document
            .len(),
        MAX_SURVEY_DOCUMENT_BYTES
    );

    let mut long = invite(id, "C2", "smb");
    long.email = format!("{}@example.com", "x".repeat(MAX_EMAIL_BYTES));
    limit(
        b.create_invitations(id, &[invite(id, "C1", "smb"), long.clone()], 100, "cx", 5)
            .await,
        "email",
    );
    limit(b.opt_out(&long.email, 5).await, "email");
    assert!(
        b.invitations(id, 0, 100).await.unwrap().is_empty(),
        "nothing made"
    );
    let mut edge = invite(id, "C3", "smb");
    edge.email = format!("{}@e.io", "x".repeat(MAX_EMAIL_BYTES - 5));
    assert_eq!(edge.email.len(), MAX_EMAIL_BYTES);
    b.create_invitations(id, &[edge], 100, "cx", 5)
        .await
        .unwrap();
    let many: Vec<NewInvitation> = (0..=MAX_INVITATIONS_PER_CALL)
        .map(|c| invite(id, &format!("M{c}"), "smb"))
        .collect();
    limit(
        b.create_invitations(id, &many, 100, "cx", 6).await,
        "invitations",
    );
    let too_many_ids: Vec<i64> = (0..=MAX_INVITATIONS_PER_CALL as i64).collect();
    limit(
        b.mark_invitations_sent(&too_many_ids, false, 7).await,
        "ids",
    );
}

/// Erasing a customer deletes its invitations (they hold its address);
/// its opt-out stays. Retention deletes the invitations made before the
/// cutoff.
async fn erasure_and_retention_remove_invitations(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let id = b
        .create_survey("pulse", "slug", "{}", "cx", 1)
        .await
        .unwrap();
    let second = b
        .create_survey("other", "slug-2", "{}", "cx", 1)
        .await
        .unwrap();
    b.create_invitations(
        id,
        &[invite(id, "C1", "smb"), invite(id, "C2", "smb")],
        100_000,
        "cx",
        1_000,
    )
    .await
    .unwrap();
    b.create_invitations(second, &[invite(second, "C1", "smb")], 100_000, "cx", 1_000)
        .await
        .unwrap();
    b.create_invitations(id, &[invite(id, "C3", "smb")], 100_000, "cx", 50_000)
        .await
        .unwrap();
    b.opt_out("c1@example.com", 1_500).await.unwrap();
    let erased = store.erase_customer("C1").await.unwrap();
    assert_eq!(erased.invitations, 2);
    let left = |v: Vec<northstar_store::survey_records::Invitation>| -> Vec<String> {
        v.into_iter().map(|i| i.customer_id).collect()
    };
    assert_eq!(left(b.invitations(id, 0, 100).await.unwrap()), ["C2", "C3"]);
    assert!(b.invitations(second, 0, 100).await.unwrap().is_empty());
    assert_eq!(
        b.invitation_by_token(&format!("token-s{id}-C1"))
            .await
            .unwrap(),
        None
    );
    assert!(
        b.opted_out("c1@example.com").await.unwrap(),
        "the opt-out stays"
    );
    assert_eq!(
        store.erase_customer("C1").await.unwrap(),
        Default::default()
    );

    let done = store.anonymise_before(10_000).await.unwrap();
    assert_eq!(done.invitations, 1);
    assert_eq!(left(b.invitations(id, 0, 100).await.unwrap()), ["C3"]);
    assert_eq!(
        store.anonymise_before(10_000).await.unwrap(),
        Default::default()
    );
}

/// `copy` carries surveys, versions, invitations (with their token hashes
/// and what happened to them) and opt-outs with their ids; ids made after
/// the copy continue after them; `compare` sees a difference.
async fn survey_records_are_copied(db: TestDb) {
    let source_db = TestDb::sqlite();
    let source = source_db.open().await;
    let target = db.open().await;
    let b = source.backend();
    let first = b
        .create_survey("pulse", "slug", "{\"v\":1}", "cx", 10)
        .await
        .unwrap();
    let second = b
        .create_survey("other", "slug-2", "{}", "cx", 11)
        .await
        .unwrap();
    b.set_survey_status(first, SurveyStatus::Live, "cx", 12)
        .await
        .unwrap();
    b.update_survey(first, "{\"v\":2}", "cx", 13).await.unwrap();
    b.opt_out("x@example.com", 14).await.unwrap();
    b.create_invitations(
        first,
        &[invite(first, "C1", "smb"), invite(first, "C2", "")],
        10_000,
        "cx",
        20,
    )
    .await
    .unwrap();
    let ids: Vec<i64> = b
        .invitations(first, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    b.mark_invitations_sent(&ids, false, 30).await.unwrap();
    b.mark_invitations_sent(&ids[..1], true, 40).await.unwrap();
    b.mark_invitation_opened(ids[1], 50).await.unwrap();
    // 2 surveys, 3 versions, 2 invitations, 1 opt-out.
    let rows = 8;
    for run in 0..2u64 {
        let copied = northstar_store::copy::copy_all(&*source, &*target, &mut |_, _, _| {})
            .await
            .unwrap();
        let t = copied.iter().find(|t| t.table == "survey_records").unwrap();
        assert_eq!(t.written.accepted(), rows);
        assert_eq!(t.written.unchanged, run * rows);
        let cmp = northstar_store::copy::compare(&*source, &*target)
            .await
            .unwrap();
        assert!(cmp.identical(), "{cmp:?}");
    }
    let t = target.backend();
    let copied = t.survey_data().await.unwrap();
    assert_eq!(copied, b.survey_data().await.unwrap());
    assert_eq!(copied.rows(), rows);
    assert_eq!(
        copied.surveys.iter().map(|s| s.id).collect::<Vec<_>>(),
        [first, second]
    );
    assert_eq!(
        t.invitations(first, 0, 10).await.unwrap(),
        b.invitations(first, 0, 10).await.unwrap()
    );
    assert!(t.opted_out("X@example.com").await.unwrap());
    assert_eq!(
        t.invitation_by_token(&format!("token-s{first}-C1"))
            .await
            .unwrap()
            .map(|i| i.id),
        Some(ids[0])
    );
    let third = t
        .create_survey("third", "slug-3", "{}", "cx", 60)
        .await
        .unwrap();
    assert!(third > second);
    t.create_invitations(first, &[invite(first, "C3", "smb")], 10_000, "cx", 61)
        .await
        .unwrap();
    let made = t.invitations(first, ids[1], 10).await.unwrap();
    assert_eq!(made.len(), 1);
    assert!(made[0].id > ids[1]);
    let cmp = northstar_store::copy::compare(&*source, &*target)
        .await
        .unwrap();
    assert_eq!(
        cmp.differences,
        ["the surveys, their versions, the invitations or the opt-outs differ"]
    );
}

/// A segment's contacts come from the customers' `email` (and `language`)
/// attributes, whatever the column's case; stored segments by id.
async fn contacts_of_a_segment(db: TestDb) {
    let store = db.open().await;
    let customer = |id: &str, segment: &str, attributes: &[(&str, &str)]| {
        northstar_core::customer::NewCustomer {
            customer_id: id.into(),
            segment: Some(segment.into()),
            region: None,
            annual_value: None,
            churned: None,
            churned_on: None,
            acquired_on: None,
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    };
    store
        .write_customers(vec![
            customer(
                "C1",
                "smb",
                &[("email", "a@example.com"), ("language", "de")],
            ),
            customer("C2", "smb", &[("Email", "b@example.com")]),
            customer("C3", "smb", &[("phone", "123")]),
            customer("C4", "enterprise", &[("email", "d@example.com")]),
        ])
        .await
        .unwrap();
    let b = store.backend();
    let smb = b.customer_contacts("smb", 10).await.unwrap();
    let got: Vec<(&str, &str, Option<&str>)> = smb
        .iter()
        .map(|c| {
            (
                c.customer_id.as_str(),
                c.email.as_str(),
                c.language.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("C1", "a@example.com", Some("de")),
            ("C2", "b@example.com", None)
        ]
    );
    assert_eq!(b.customer_contacts("smb", 1).await.unwrap().len(), 1);
    assert!(b.customer_contacts("none", 10).await.unwrap().is_empty());
    let mut segments = b
        .customer_segments_of(&["C4".into(), "C1".into(), "C9".into()])
        .await
        .unwrap();
    segments.sort();
    assert_eq!(
        segments,
        [
            ("C1".to_string(), "smb".to_string()),
            ("C4".into(), "enterprise".into())
        ]
    );
}

crate::conformance!(
    contacts_of_a_segment,
    surveys_version_by_status,
    invitations_skip_opted_out_and_already_invited,
    many_invitations_in_chunks,
    send_and_remind_select_as_documented,
    response_rates_by_segment_and_channel,
    survey_limits,
    erasure_and_retention_remove_invitations,
    survey_records_are_copied,
);
