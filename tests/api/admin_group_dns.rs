//! Administrator groups named by DN: `[admin] groups` (and the setup page) accept a group's
//! full DN, matched without regard to case or spacing against the DNs of the person's
//! groups, so a group with the same name in another part of the directory does not admit.
//! Against a slapd of its own, with a second `admins` group under another OU.

use std::collections::HashSet;

use gatehouse::clock::Clock;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::browser::{hidden_field, Browser};
use crate::support::oauth::*;
use crate::support::second_factor::sign_in_for_administration;
use crate::support::slapd::TestSlapd;
use crate::support::spawn_app::*;

/// Adds `cn=admins,ou=contractors,<groups>` with bob as member: the same name as the real
/// administrators' group (`cn=admins,<groups>`, alice), another DN. Returns its DN.
async fn add_same_named_group(slapd: &TestSlapd) -> String {
    let mut ldap = slapd.admin_connection().await;
    let unit = format!("ou=contractors,{}", slapd.groups_dn);
    let bob = format!("uid=bob,{}", slapd.people_dn);
    let group = format!("cn=admins,{unit}");
    ldap.add(
        &unit,
        vec![
            ("objectClass", HashSet::from(["organizationalUnit"])),
            ("ou", HashSet::from(["contractors"])),
        ],
    )
    .await
    .and_then(|result| result.success())
    .unwrap_or_else(|e| panic!("add {unit}: {e}"));
    ldap.add(
        &group,
        vec![
            ("objectClass", HashSet::from(["groupOfNames"])),
            ("cn", HashSet::from(["admins"])),
            ("member", HashSet::from([bob.as_str()])),
        ],
    )
    .await
    .and_then(|result| result.success())
    .unwrap_or_else(|e| panic!("add {group}: {e}"));
    group
}

#[tokio::test]
async fn an_administrator_group_named_by_dn_admits_its_members_and_not_a_same_named_group() {
    let slapd = TestSlapd::start().await;
    let contractors = add_same_named_group(&slapd).await;
    // The real group's DN, spelt as an operator might: other case, spaces after commas.
    let admins_dn = format!("CN=Admins, {}", slapd.groups_dn.to_uppercase());
    let app = spawn_app_with(|config| {
        config.ldap = slapd.ldap_config();
        config.admin.groups = vec![admins_dn.clone()];
    })
    .await;

    // alice is in cn=admins,ou=groups: she administers.
    let alice = Browser::new();
    sign_in_for_administration(&app, &alice, "alice", "alice-password").await;
    let (status, _, body) = alice.visit(&app.url("/admin")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // bob's groups claim says `admins` as well, from the contractors' group...
    let session = JsonReply::read(alice.http.get(app.url("/admin/api/session")).send().await.expect("GET")).await;
    let token = session.body["csrf_token"].as_str().expect("csrf_token").to_string();
    let report = JsonReply::read(
        alice
            .http
            .post(app.url("/admin/api/ldap/test"))
            .header("X-CSRF-Token", token)
            .json(&json!({ "sample_username": "bob" }))
            .send()
            .await
            .expect("POST"),
    )
    .await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    assert!(
        report.body["user"]["groups"]
            .as_array()
            .is_some_and(|groups| groups.contains(&json!("admins"))),
        "{:?}",
        report.body
    );
    assert!(
        report.body["user"]["group_dns"]
            .as_array()
            .is_some_and(|dns| dns.contains(&json!(contractors))),
        "{:?}",
        report.body
    );
    // ...but the administrator group is named by DN, and his is another one.
    let bob = Browser::new();
    sign_in(&app, &bob, "bob", "bob-password").await;
    let (status, _, body) = bob.visit(&app.url("/admin")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let reply = JsonReply::read(bob.http.get(app.url("/admin/api/ldap")).send().await.expect("GET")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{:?}", reply.body);
    // Administration asks him for no second factor: he is not an administrator.
    let (status, location, _) = Browser::new()
        .submit_login(&app.url("/login?next=%2Fadmin"), "bob", "bob-password")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(app.url("/admin").as_str()));
}

#[tokio::test]
async fn first_run_setup_names_an_administrator_group_by_dn() {
    let slapd = TestSlapd::start().await;
    add_same_named_group(&slapd).await;
    let app = spawn_app_with(|config| config.ldap = slapd.ldap_config()).await;
    let db = gatehouse::storage::connect_database(&app.database_url, 1)
        .await
        .expect("database");
    let token = gatehouse::settings::admin_groups::ensure_setup_token(&db, app.clock.now_unix())
        .await
        .expect("setup token")
        .expect("no administrator group yet, so a token");
    let operator = Browser::new();
    let (status, _, page) = operator.visit(&app.url(&format!("/setup?token={token}"))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let csrf = hidden_field(&page, "csrf_token").expect("csrf_token");
    let admins_dn = format!("cn=admins,{}", slapd.groups_dn);
    // A malformed DN is refused with a plain reason.
    let (status, _, body) = operator
        .post_form(
            &app.url("/setup"),
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("admin_groups", "cn=admins,ou groups"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("not a valid DN"), "{body}");
    // A DN is one entry, commas and all (one entry per line).
    let (status, _, body) = operator
        .post_form(
            &app.url("/setup"),
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("admin_groups", &format!("{admins_dn}\nsecurity-officers")),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(&admins_dn), "{body}");

    let alice = Browser::new();
    sign_in_for_administration(&app, &alice, "alice", "alice-password").await;
    assert_eq!(alice.visit(&app.url("/admin")).await.0, StatusCode::OK);
    let bob = Browser::new();
    sign_in(&app, &bob, "bob", "bob-password").await;
    assert_eq!(bob.visit(&app.url("/admin")).await.0, StatusCode::FORBIDDEN);
}
