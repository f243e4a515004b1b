//! Housekeeping: `purge_expired` deletes exactly the rows nothing can use any more, on the
//! rows real sign-ins leave behind and, table by table, on rows either side of each limit.

use gatehouse::clock::Clock;
use gatehouse::config::Lifetimes;
use gatehouse::storage::connect_database;
use gatehouse::storage::entities::{
    authorization_codes, browser_sessions, grants, login_failures, pending_authorizations, personal_access_tokens,
    refresh_tokens, revoked_access_tokens, second_factor_challenges, second_factor_setup_links, users,
};
use gatehouse::storage::purge::{
    purge_expired, PurgeReport, CODE_GRACE, LOGIN_FAILURE_RETENTION, PERSONAL_ACCESS_TOKEN_RETENTION, SESSION_RETENTION,
};
use reqwest::StatusCode;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, PaginatorTrait};

use crate::support::browser::Browser;
use crate::support::oauth::*;
use crate::support::spawn_app::*;

const CONFIDENTIAL: Option<(&str, &str)> = Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET));

async fn database(app: &TestApp) -> DatabaseConnection {
    connect_database(&app.database_url, 1).await.expect("database")
}

async fn ids<E>(db: &DatabaseConnection) -> Vec<String>
where
    E: EntityTrait,
    E::Model: Identified,
{
    let mut ids: Vec<String> = E::find()
        .all(db)
        .await
        .expect("read")
        .iter()
        .map(Identified::ident)
        .collect();
    ids.sort();
    ids
}

/// The key a test names its rows by.
trait Identified {
    fn ident(&self) -> String;
}

macro_rules! identified {
    ($($entity:ident => $field:ident),* $(,)?) => {
        $(impl Identified for $entity::Model {
            fn ident(&self) -> String {
                self.$field.clone()
            }
        })*
    };
}

identified! {
    authorization_codes => code_hash,
    browser_sessions => sid,
    grants => id,
    login_failures => username_hash,
    pending_authorizations => id,
    personal_access_tokens => id,
    refresh_tokens => token_hash,
    revoked_access_tokens => jti,
    second_factor_challenges => id_hash,
    second_factor_setup_links => user_id,
}

fn names(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn purge_keeps_what_a_real_sign_in_still_needs_and_removes_it_once_expired() {
    let app = spawn_app().await;
    let lifetimes = Lifetimes::default();
    let browser = Browser::new();
    let request = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT);
    let location = browser.authorize(&request.url(&app), "bob", "bob-password").await;
    let code = expect_code(&location, CONFIDENTIAL_REDIRECT);
    let reply = redeem_code(&app, CONFIDENTIAL, &code, CONFIDENTIAL_REDIRECT, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let access_token = reply.body["access_token"].as_str().expect("access token").to_string();
    // A second browser starts an authorization and never finishes it.
    let (status, _, _) = Browser::new().visit(&request.url(&app)).await;
    assert_eq!(status, StatusCode::FOUND);

    let db = database(&app).await;
    let count = |db: &DatabaseConnection| {
        let db = db.clone();
        async move {
            (
                authorization_codes::Entity::find().count(&db).await.expect("count"),
                pending_authorizations::Entity::find().count(&db).await.expect("count"),
                grants::Entity::find().count(&db).await.expect("count"),
                browser_sessions::Entity::find().count(&db).await.expect("count"),
            )
        }
    };
    let before = count(&db).await;
    assert_eq!((before.0, before.2, before.3), (1, 1, 1), "{before:?}");
    assert!(before.1 >= 1);

    // Now: nothing is expired.
    let report = purge_expired(&db, app.clock.now_unix(), &lifetimes)
        .await
        .expect("purge");
    assert_eq!(report, PurgeReport::default());
    assert_eq!(userinfo_with_header(&app, &access_token).await.status, StatusCode::OK);

    // The access token has expired, and one more access-token lifetime has passed: the
    // grant goes, and with it the redeemed code that could have revoked it. The pending
    // authorization is long gone; the session (8 hours) stays.
    app.clock.advance(2 * lifetimes.access_token + 1);
    let report = purge_expired(&db, app.clock.now_unix(), &lifetimes)
        .await
        .expect("purge");
    assert_eq!(report.grants, 1);
    assert_eq!(report.authorization_codes, 1);
    assert_eq!(report.pending_authorizations, before.1);
    assert_eq!(report.browser_sessions, 0);
    assert_eq!(count(&db).await, (0, 0, 0, 1));

    // The session expires, and is kept a week for the administrators' list.
    // (The clock also moves with real time: a minute of margin either side.)
    app.clock
        .advance(lifetimes.session + SESSION_RETENTION - 2 * lifetimes.access_token - 60);
    let report = purge_expired(&db, app.clock.now_unix(), &lifetimes)
        .await
        .expect("purge");
    assert_eq!(report.browser_sessions, 0, "not yet a week");
    app.clock.advance(120);
    let report = purge_expired(&db, app.clock.now_unix(), &lifetimes)
        .await
        .expect("purge");
    assert_eq!(report.browser_sessions, 1);
    assert_eq!(count(&db).await, (0, 0, 0, 0));
}

struct Rows<'a> {
    db: &'a DatabaseConnection,
    user: &'a str,
}

impl Rows<'_> {
    async fn grant(&self, id: &str, expires_at: i64, revoked_at: Option<i64>) {
        grants::Entity::insert(grants::ActiveModel {
            id: Set(id.into()),
            client_id: Set(CONFIDENTIAL_ID.into()),
            user_id: Set(Some(self.user.into())),
            sid: Set(None),
            scope: Set("openid".into()),
            created_at: Set(0),
            expires_at: Set(expires_at),
            revoked_at: Set(revoked_at),
        })
        .exec(self.db)
        .await
        .expect("insert grant");
    }

    async fn code(&self, hash: &str, expires_at: i64, redeemed: Option<(i64, &str)>) {
        authorization_codes::Entity::insert(authorization_codes::ActiveModel {
            code_hash: Set(hash.into()),
            client_id: Set(CONFIDENTIAL_ID.into()),
            user_id: Set(self.user.into()),
            sid: Set("sid".into()),
            redirect_uri: Set(CONFIDENTIAL_REDIRECT.into()),
            scope: Set("openid".into()),
            nonce: Set(None),
            code_challenge: Set(None),
            code_challenge_method: Set(None),
            auth_time: Set(0),
            amr: Set("pwd".into()),
            created_at: Set(expires_at - 60),
            expires_at: Set(expires_at),
            redeemed_at: Set(redeemed.map(|(at, _)| at)),
            grant_id: Set(redeemed.map(|(_, grant)| grant.to_string())),
        })
        .exec(self.db)
        .await
        .expect("insert code");
    }

    async fn refresh_token(&self, hash: &str, grant: &str, expires_at: i64) {
        refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
            token_hash: Set(hash.into()),
            grant_id: Set(grant.into()),
            client_id: Set(CONFIDENTIAL_ID.into()),
            user_id: Set(self.user.into()),
            scope: Set("openid offline_access".into()),
            sid: Set(None),
            auth_time: Set(0),
            amr: Set("pwd".into()),
            created_at: Set(0),
            expires_at: Set(expires_at),
            used_at: Set(None),
        })
        .exec(self.db)
        .await
        .expect("insert refresh token");
    }

    async fn session(&self, sid: &str, expires_at: i64, ended_at: Option<i64>) {
        browser_sessions::Entity::insert(browser_sessions::ActiveModel {
            id_hash: Set(format!("hash-{sid}")),
            sid: Set(sid.into()),
            user_id: Set(self.user.into()),
            auth_time: Set(0),
            amr: Set("pwd".into()),
            created_at: Set(0),
            last_seen_at: Set(0),
            expires_at: Set(expires_at),
            ended_at: Set(ended_at),
            ip: Set(Some("192.0.2.1".into())),
            user_agent: Set(None),
        })
        .exec(self.db)
        .await
        .expect("insert session");
    }

    async fn personal_access_token(&self, id: &str, expires_at: i64, revoked_at: Option<i64>) {
        personal_access_tokens::Entity::insert(personal_access_tokens::ActiveModel {
            id: Set(id.into()),
            user_id: Set(self.user.into()),
            name: Set(id.into()),
            token_hash: Set(format!("hash-{id}")),
            scope: Set("openid".into()),
            allowed_ips: Set("[]".into()),
            created_at: Set(0),
            expires_at: Set(expires_at),
            last_used_at: Set(None),
            last_used_ip: Set(None),
            revoked_at: Set(revoked_at),
        })
        .exec(self.db)
        .await
        .expect("insert personal access token");
    }
}

#[tokio::test]
async fn purge_deletes_exactly_the_rows_past_each_limit() {
    let app = spawn_app().await;
    let db = database(&app).await;
    let now = app.clock.now_unix();
    let lifetimes = Lifetimes::default();
    let token = lifetimes.access_token;
    users::Entity::insert(users::ActiveModel {
        id: Set("person-1".into()),
        username: Set("person".into()),
        claims: Set("{}".into()),
        created_at: Set(0),
        last_login_at: Set(0),
        checked_at: Set(0),
        refused_at: Set(None),
    })
    .exec(&db)
    .await
    .expect("insert user");
    let rows = Rows {
        db: &db,
        user: "person-1",
    };

    // Grants: live; expired but maybe with a token still out; expired long enough;
    // revoked recently; revoked long enough.
    rows.grant("g-live", now + 100, None).await;
    rows.grant("g-expired-recently", now - token + 1, None).await;
    rows.grant("g-expired-long", now - token - 1, None).await;
    rows.grant("g-revoked-recently", now + 100, Some(now - token + 1)).await;
    rows.grant("g-revoked-long", now + 100, Some(now - token - 1)).await;

    // Refresh tokens: live; past their idle expiry; of a grant that goes now; of a grant
    // that never existed.
    rows.refresh_token("r-live", "g-live", now + 100).await;
    rows.refresh_token("r-expired", "g-live", now - 1).await;
    rows.refresh_token("r-grant-purged", "g-expired-long", now + 100).await;
    rows.refresh_token("r-orphan", "g-missing", now + 100).await;

    // Codes: fresh; expired within the grace; expired past it (never redeemed); redeemed
    // past the grace with a live grant (kept: a replay must still revoke it), with a
    // revoked grant, with a grant that goes now.
    rows.code("c-fresh", now + 30, None).await;
    rows.code("c-expired-recently", now - CODE_GRACE + 1, None).await;
    rows.code("c-expired-long", now - CODE_GRACE - 1, None).await;
    rows.code(
        "c-redeemed-live-grant",
        now - CODE_GRACE - 1,
        Some((now - CODE_GRACE - 30, "g-live")),
    )
    .await;
    rows.code(
        "c-redeemed-revoked-grant",
        now - CODE_GRACE - 1,
        Some((now - CODE_GRACE - 30, "g-revoked-recently")),
    )
    .await;
    rows.code(
        "c-redeemed-purged-grant",
        now - CODE_GRACE - 1,
        Some((now - CODE_GRACE - 30, "g-expired-long")),
    )
    .await;

    for (id, expires_at) in [("p-live", now + 1), ("p-expired", now - 1)] {
        pending_authorizations::Entity::insert(pending_authorizations::ActiveModel {
            id: Set(id.into()),
            client_id: Set(CONFIDENTIAL_ID.into()),
            request: Set("{}".into()),
            created_at: Set(0),
            expires_at: Set(expires_at),
            step: Set("login".into()),
            user_id: Set(None),
            consent_approved: Set(false),
            sign_in_sid: Set(None),
            client_ip: Set(None),
        })
        .exec(&db)
        .await
        .expect("insert pending authorization");
        second_factor_challenges::Entity::insert(second_factor_challenges::ActiveModel {
            id_hash: Set(id.replace("p-", "s-")),
            user_id: Set("person-1".into()),
            request_id: Set(None),
            next_path: Set(None),
            session_sid: Set(None),
            created_at: Set(0),
            expires_at: Set(expires_at),
        })
        .exec(&db)
        .await
        .expect("insert challenge");
        second_factor_setup_links::Entity::insert(second_factor_setup_links::ActiveModel {
            user_id: Set(id.replace("p-", "l-")),
            token_hash: Set(id.into()),
            created_by: Set("admin-1".into()),
            created_at: Set(0),
            expires_at: Set(expires_at),
        })
        .exec(&db)
        .await
        .expect("insert setup link");
    }

    rows.session("b-live", now + 100, None).await;
    rows.session("b-ended-recently", now + 100, Some(now - SESSION_RETENTION + 1))
        .await;
    rows.session("b-ended-long", now + 100, Some(now - SESSION_RETENTION - 1))
        .await;
    rows.session("b-expired-recently", now - SESSION_RETENTION + 1, None)
        .await;
    rows.session("b-expired-long", now - SESSION_RETENTION - 1, None).await;

    for (jti, expires_at) in [("j-live", now + 1), ("j-expired", now - 1)] {
        revoked_access_tokens::Entity::insert(revoked_access_tokens::ActiveModel {
            jti: Set(jti.into()),
            expires_at: Set(expires_at),
        })
        .exec(&db)
        .await
        .expect("insert deny-list entry");
    }

    let keep = PERSONAL_ACCESS_TOKEN_RETENTION;
    rows.personal_access_token("t-live", now + 100, None).await;
    rows.personal_access_token("t-expired-recently", now - keep + 1, None)
        .await;
    rows.personal_access_token("t-expired-long", now - keep - 1, None).await;
    rows.personal_access_token("t-revoked-recently", now + 100, Some(now - keep + 1))
        .await;
    rows.personal_access_token("t-revoked-long", now + 100, Some(now - keep - 1))
        .await;

    for (hash, window_start) in [("f-current", now - 60), ("f-old", now - LOGIN_FAILURE_RETENTION - 1)] {
        login_failures::Entity::insert(login_failures::ActiveModel {
            username_hash: Set(hash.into()),
            window_start: Set(window_start),
            failures: Set(3),
        })
        .exec(&db)
        .await
        .expect("insert login failures");
    }

    let report = purge_expired(&db, now, &lifetimes).await.expect("purge");
    assert_eq!(
        report,
        PurgeReport {
            authorization_codes: 3,
            pending_authorizations: 1,
            second_factor_challenges: 1,
            second_factor_setup_links: 1,
            browser_sessions: 2,
            grants: 2,
            refresh_tokens: 3,
            revoked_access_tokens: 1,
            personal_access_tokens: 2,
            login_failures: 1,
        }
    );
    assert_eq!(
        ids::<grants::Entity>(&db).await,
        names(&["g-live", "g-expired-recently", "g-revoked-recently"])
    );
    assert_eq!(ids::<refresh_tokens::Entity>(&db).await, names(&["r-live"]));
    assert_eq!(
        ids::<authorization_codes::Entity>(&db).await,
        names(&["c-fresh", "c-expired-recently", "c-redeemed-live-grant",])
    );
    assert_eq!(ids::<pending_authorizations::Entity>(&db).await, names(&["p-live"]));
    assert_eq!(ids::<second_factor_challenges::Entity>(&db).await, names(&["s-live"]));
    assert_eq!(ids::<second_factor_setup_links::Entity>(&db).await, names(&["l-live"]));
    assert_eq!(
        ids::<browser_sessions::Entity>(&db).await,
        names(&["b-live", "b-ended-recently", "b-expired-recently"])
    );
    assert_eq!(ids::<revoked_access_tokens::Entity>(&db).await, names(&["j-live"]));
    assert_eq!(
        ids::<personal_access_tokens::Entity>(&db).await,
        names(&["t-live", "t-expired-recently", "t-revoked-recently"])
    );
    assert_eq!(ids::<login_failures::Entity>(&db).await, names(&["f-current"]));

    // A second run (another instance, say) finds nothing left.
    let again = purge_expired(&db, now, &lifetimes).await.expect("purge");
    assert_eq!(again, PurgeReport::default());
}
