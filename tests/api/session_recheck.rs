//! A signed-in person who is removed or disabled in the directory loses their session at
//! the next check (every `ldap.recheck_interval` seconds), while a directory outage signs
//! nobody out.

use std::collections::HashSet;

use crate::support::browser::Browser;
use crate::support::oauth::{is_signed_in, sign_in};
use crate::support::slapd::TestSlapd;
use crate::support::spawn_app::spawn_app_with;

const INTERVAL: i64 = 120;

#[tokio::test]
async fn people_removed_or_disabled_in_the_directory_lose_their_sessions_at_the_next_check() {
    let slapd = TestSlapd::start().await;
    let ldap = slapd.ldap_config();
    let app = spawn_app_with(|config| {
        config.ldap = ldap;
        config.ldap.recheck_interval = INTERVAL;
    })
    .await;
    let bob = Browser::new();
    let alice = Browser::new();
    let carol = Browser::new();
    sign_in(&app, &bob, "bob", "bob-password").await;
    sign_in(&app, &alice, "alice", "alice-password").await;
    sign_in(&app, &carol, "carol", "carol-password").await;

    let mut admin = slapd.admin_connection().await;
    admin
        .delete(&format!("uid=bob,{}", slapd.people_dn))
        .await
        .unwrap()
        .success()
        .unwrap();
    admin
        .modify(
            &format!("uid=alice,{}", slapd.people_dn),
            vec![ldap3::Mod::Replace(
                "pwdAccountLockedTime",
                HashSet::from(["000001010000Z"]),
            )],
        )
        .await
        .unwrap()
        .success()
        .unwrap();

    // Not due yet: the directory is not asked on every request.
    app.clock.advance(INTERVAL / 2);
    assert!(
        is_signed_in(&app, &bob).await,
        "checked only once the interval has passed"
    );
    assert!(is_signed_in(&app, &alice).await);

    app.clock.advance(INTERVAL);
    assert!(!is_signed_in(&app, &bob).await, "a removed person is signed out");
    assert!(!is_signed_in(&app, &alice).await, "a disabled person is signed out");
    assert!(is_signed_in(&app, &carol).await, "everyone else stays signed in");
}

#[tokio::test]
async fn a_directory_outage_signs_nobody_out() {
    let mut slapd = TestSlapd::start().await;
    let mut ldap = slapd.ldap_config();
    ldap.connect_timeout = 1;
    ldap.operation_timeout = 1;
    let app = spawn_app_with(|config| {
        config.ldap = ldap;
        config.ldap.recheck_interval = INTERVAL;
    })
    .await;
    let browser = Browser::new();
    sign_in(&app, &browser, "bob", "bob-password").await;
    slapd.stop();
    app.clock.advance(INTERVAL + 1);
    assert!(is_signed_in(&app, &browser).await, "an outage keeps sessions");
    slapd.restart().await;
    app.clock.advance(INTERVAL + 1);
    assert!(is_signed_in(&app, &browser).await);
}
