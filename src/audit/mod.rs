//! The audit trail. One way to record an event: `AuditLog::record`. It never blocks the
//! request: events go through a channel to a background writer that stores them in
//! batches, and each one is also a tracing event (target `audit`). No secret is ever part
//! of an event.

use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::storage::entities::audit_events;

/// What happened. A name typed at sign-in is recorded only when it named a directory entry
/// (then as the directory spells it, with the entry's `sub`); a name that matched nobody
/// is never stored or logged, only a keyed fingerprint of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent {
    SignInSucceeded {
        username: String,
        sub: String,
    },
    SignInFailed {
        /// The directory's name for the entry the sign-in name found; `None` when it
        /// matched nobody (or several).
        username: Option<String>,
        sub: Option<String>,
        /// A keyed fingerprint of what was counted (the entry, or the normalised name), so
        /// repeated attempts can be told apart without keeping what was typed.
        attempt_key: String,
        reason: &'static str,
    },
    SignedOut {
        sub: String,
    },
    ConsentGranted {
        sub: String,
        client_id: String,
        scope: String,
    },
    ConsentDenied {
        sub: String,
        client_id: String,
    },
    AuthorizationCodeReplayed {
        client_id: String,
        sub: String,
    },
    /// An administrator (or the configuration file, actor `config`) changed the LDAP
    /// settings. `changed` names the keys that changed (`url`, `attributes.email`,
    /// `bind_password`...); values are not recorded, so no password can leak here.
    LdapSettingsChanged {
        actor: String,
        changed: Vec<String>,
    },
    /// The directory groups whose members administer Gatehouse were named (actor `setup`
    /// for the first-run page, `config` when seeded) or changed by an administrator.
    AdminGroupsChanged {
        actor: String,
        groups: Vec<String>,
    },
    /// A person confirmed a new TOTP authenticator (and got new recovery codes);
    /// `setup_link_by` names who made the setup link it used, if one was used.
    TotpEnrolled {
        sub: String,
        setup_link_by: Option<String>,
    },
    /// A TOTP code was accepted as the second factor.
    TotpVerified {
        sub: String,
    },
    /// A second-factor code (TOTP or recovery) was refused; `reason` is `wrong_code`,
    /// `replayed` or `wrong_recovery_code`. The code itself is never recorded.
    TotpFailed {
        sub: String,
        reason: &'static str,
    },
    /// Too many wrong codes: no code is checked before `until`.
    TotpLockedOut {
        sub: String,
        until: i64,
    },
    RecoveryCodeUsed {
        sub: String,
        remaining: usize,
    },
    RecoveryCodesRegenerated {
        sub: String,
    },
    /// The second factor of `sub` was removed by `by` (the person, or an administrator).
    TotpReset {
        sub: String,
        by: String,
    },
    /// An administrator rotated the signing keys by hand.
    SigningKeysRotated {
        actor: String,
        new_kid: Option<String>,
    },
    /// An administrator revoked a signing key (its tokens stop being accepted).
    SigningKeyRevoked {
        actor: String,
        kid: String,
    },
    /// A refresh token that had already been exchanged was presented again: the whole
    /// family (grant) was revoked (RFC 9700 section 4.14).
    RefreshTokenReused {
        client_id: String,
        sub: String,
        grant_id: String,
    },
    /// A client revoked a token (RFC 7009); `token_type` is `access_token` or
    /// `refresh_token`.
    TokenRevoked {
        client_id: String,
        sub: Option<String>,
        token_type: &'static str,
    },
    /// A token request from an address outside the client's allowlist. `credentials` is
    /// `valid` or `invalid` (the caller gets the same answer either way; a valid secret
    /// from a wrong address may mean the secret leaked).
    ClientAddressRefused {
        client_id: String,
        ip: String,
        credentials: &'static str,
    },
    PersonalAccessTokenCreated {
        sub: String,
        token_id: String,
        name: String,
        scope: String,
    },
    /// `by` is the owner, or the administrator who revoked it.
    PersonalAccessTokenRevoked {
        sub: String,
        token_id: String,
        by: String,
    },
    /// A personal access token was used from an address outside its allowlist.
    PersonalAccessTokenAddressRefused {
        sub: String,
        token_id: String,
        ip: String,
    },
    /// A request was refused with 429; `limit` names the rule (`token_per_ip`,
    /// `login_per_username`...), `key` the client id or address (usernames are hashed).
    RateLimited {
        limit: &'static str,
        key: String,
    },
    /// A person ended one of their sessions from the account page (or `by` an administrator).
    SessionEnded {
        sub: String,
        sid: String,
        by: String,
    },
    /// A person disconnected an application: consent forgotten, its tokens revoked.
    ApplicationDisconnected {
        sub: String,
        client_id: String,
    },
    /// An administrator ended every session and token of a person.
    EverythingRevoked {
        sub: String,
        by: String,
        sessions: u64,
        grants: u64,
        personal_access_tokens: u64,
    },
    /// The directory refused a person (gone, disabled, locked or expired) when their
    /// access was used: everything of theirs was revoked at once, in one step.
    PersonRefusedByDirectory {
        sub: String,
        reason: &'static str,
        sessions: u64,
        grants: u64,
        personal_access_tokens: u64,
    },
    /// An administrator ran "Test connection" on LDAP settings (`actor` is their sub, or
    /// `setup` on the first-run page): which servers, which bind DN, whether the stored
    /// bind password was used, and the outcome (`passed`, `failed` with the first failed
    /// step, or refused because the password had to be typed again). Never a password.
    LdapConnectionTested {
        actor: String,
        servers: Vec<String>,
        bind_dn: String,
        sample_username: String,
        stored_password_reused: bool,
        outcome: &'static str,
        first_failure: Option<String>,
    },
    /// `by` (an administrator's `sub`, or `cli`) made a second-factor setup link for `sub`,
    /// valid until `expires_at`; `replaced` when it revoked a live earlier one.
    TotpSetupLinkCreated {
        sub: String,
        by: String,
        expires_at: i64,
        replaced: bool,
    },
    /// The first administrator set up a second factor with the password alone (no
    /// administrator had one yet). Also logged as a warning.
    TotpFirstAdministratorEnrolled {
        sub: String,
    },
}

impl AuditEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            AuditEvent::SignInSucceeded { .. } => "sign_in.succeeded",
            AuditEvent::SignInFailed { .. } => "sign_in.failed",
            AuditEvent::SignedOut { .. } => "sign_out",
            AuditEvent::ConsentGranted { .. } => "consent.granted",
            AuditEvent::ConsentDenied { .. } => "consent.denied",
            AuditEvent::AuthorizationCodeReplayed { .. } => "authorization_code.replayed",
            AuditEvent::LdapSettingsChanged { .. } => "settings.ldap_changed",
            AuditEvent::AdminGroupsChanged { .. } => "settings.admin_groups_changed",
            AuditEvent::TotpEnrolled { .. } => "totp.enrolled",
            AuditEvent::TotpVerified { .. } => "totp.verified",
            AuditEvent::TotpFailed { .. } => "totp.failed",
            AuditEvent::TotpLockedOut { .. } => "totp.locked_out",
            AuditEvent::RecoveryCodeUsed { .. } => "recovery_code.used",
            AuditEvent::RecoveryCodesRegenerated { .. } => "recovery_codes.regenerated",
            AuditEvent::TotpReset { .. } => "totp.reset",
            AuditEvent::SigningKeysRotated { .. } => "keys.rotated",
            AuditEvent::SigningKeyRevoked { .. } => "keys.revoked",
            AuditEvent::RefreshTokenReused { .. } => "refresh_token.reused",
            AuditEvent::TokenRevoked { .. } => "token.revoked",
            AuditEvent::ClientAddressRefused { .. } => "client.address_refused",
            AuditEvent::PersonalAccessTokenCreated { .. } => "personal_access_token.created",
            AuditEvent::PersonalAccessTokenRevoked { .. } => "personal_access_token.revoked",
            AuditEvent::PersonalAccessTokenAddressRefused { .. } => "personal_access_token.address_refused",
            AuditEvent::RateLimited { .. } => "rate_limited",
            AuditEvent::SessionEnded { .. } => "session.ended",
            AuditEvent::ApplicationDisconnected { .. } => "application.disconnected",
            AuditEvent::EverythingRevoked { .. } => "user.everything_revoked",
            AuditEvent::PersonRefusedByDirectory { .. } => "person.refused_by_directory",
            AuditEvent::LdapConnectionTested { .. } => "ldap.connection_tested",
            AuditEvent::TotpSetupLinkCreated { .. } => "totp.setup_link_created",
            AuditEvent::TotpFirstAdministratorEnrolled { .. } => "totp.first_administrator_enrolled",
        }
    }

    fn actor(&self) -> Option<&str> {
        match self {
            AuditEvent::SignInSucceeded { sub, .. }
            | AuditEvent::SignedOut { sub }
            | AuditEvent::ConsentGranted { sub, .. }
            | AuditEvent::ConsentDenied { sub, .. }
            | AuditEvent::AuthorizationCodeReplayed { sub, .. } => Some(sub),
            AuditEvent::SignInFailed { sub, .. } => sub.as_deref(),
            AuditEvent::LdapSettingsChanged { actor, .. }
            | AuditEvent::AdminGroupsChanged { actor, .. }
            | AuditEvent::LdapConnectionTested { actor, .. } => Some(actor),
            AuditEvent::TotpEnrolled { sub, .. }
            | AuditEvent::TotpVerified { sub }
            | AuditEvent::TotpFailed { sub, .. }
            | AuditEvent::TotpLockedOut { sub, .. }
            | AuditEvent::RecoveryCodeUsed { sub, .. }
            | AuditEvent::RecoveryCodesRegenerated { sub } => Some(sub),
            AuditEvent::TotpReset { by, .. } => Some(by),
            AuditEvent::SigningKeysRotated { actor, .. } | AuditEvent::SigningKeyRevoked { actor, .. } => Some(actor),
            AuditEvent::RefreshTokenReused { sub, .. }
            | AuditEvent::PersonalAccessTokenCreated { sub, .. }
            | AuditEvent::PersonalAccessTokenAddressRefused { sub, .. }
            | AuditEvent::ApplicationDisconnected { sub, .. } => Some(sub),
            AuditEvent::TokenRevoked { client_id, .. } | AuditEvent::ClientAddressRefused { client_id, .. } => {
                Some(client_id)
            }
            AuditEvent::PersonalAccessTokenRevoked { by, .. }
            | AuditEvent::SessionEnded { by, .. }
            | AuditEvent::EverythingRevoked { by, .. } => Some(by),
            AuditEvent::RateLimited { key, .. } => Some(key),
            AuditEvent::PersonRefusedByDirectory { sub, .. } => Some(sub),
            AuditEvent::TotpSetupLinkCreated { by, .. } => Some(by),
            AuditEvent::TotpFirstAdministratorEnrolled { sub } => Some(sub),
        }
    }

    fn client_id(&self) -> Option<&str> {
        match self {
            AuditEvent::ConsentGranted { client_id, .. }
            | AuditEvent::ConsentDenied { client_id, .. }
            | AuditEvent::AuthorizationCodeReplayed { client_id, .. }
            | AuditEvent::RefreshTokenReused { client_id, .. }
            | AuditEvent::TokenRevoked { client_id, .. }
            | AuditEvent::ClientAddressRefused { client_id, .. }
            | AuditEvent::ApplicationDisconnected { client_id, .. } => Some(client_id),
            _ => None,
        }
    }

    fn detail(&self) -> Value {
        match self {
            AuditEvent::SignInSucceeded { username, .. } => json!({ "username": username }),
            AuditEvent::SignInFailed {
                username,
                attempt_key,
                reason,
                ..
            } => json!({ "reason": reason, "username": username, "attempt_key": attempt_key }),
            AuditEvent::ConsentGranted { scope, .. } => json!({ "scope": scope }),
            AuditEvent::AuthorizationCodeReplayed { .. } => {
                json!({ "action": "the tokens issued for the code were revoked" })
            }
            AuditEvent::LdapSettingsChanged { changed, .. } => json!({ "changed": changed }),
            AuditEvent::AdminGroupsChanged { groups, .. } => json!({ "groups": groups }),
            AuditEvent::TotpFailed { reason, .. } => json!({ "reason": reason }),
            AuditEvent::TotpLockedOut { until, .. } => json!({ "until": until }),
            AuditEvent::RecoveryCodeUsed { remaining, .. } => json!({ "remaining": remaining }),
            AuditEvent::TotpReset { sub, .. } => json!({ "sub": sub }),
            AuditEvent::SigningKeysRotated { new_kid, .. } => json!({ "now_signing": new_kid }),
            AuditEvent::SigningKeyRevoked { kid, .. } => json!({ "kid": kid }),
            AuditEvent::RefreshTokenReused { grant_id, .. } => {
                json!({ "grant_id": grant_id, "action": "the whole refresh token family was revoked" })
            }
            AuditEvent::TokenRevoked { sub, token_type, .. } => json!({ "sub": sub, "token_type": token_type }),
            AuditEvent::ClientAddressRefused { ip, credentials, .. } => {
                json!({ "ip": ip, "credentials": credentials })
            }
            AuditEvent::PersonalAccessTokenCreated {
                token_id, name, scope, ..
            } => json!({ "token_id": token_id, "name": name, "scope": scope }),
            AuditEvent::PersonalAccessTokenRevoked { sub, token_id, .. } => json!({ "sub": sub, "token_id": token_id }),
            AuditEvent::PersonalAccessTokenAddressRefused { token_id, ip, .. } => {
                json!({ "token_id": token_id, "ip": ip })
            }
            AuditEvent::RateLimited { limit, .. } => json!({ "limit": limit }),
            AuditEvent::SessionEnded { sub, sid, .. } => json!({ "sub": sub, "sid": sid }),
            AuditEvent::EverythingRevoked {
                sub,
                sessions,
                grants,
                personal_access_tokens,
                ..
            } => json!({
                "sub": sub,
                "sessions": sessions,
                "grants": grants,
                "personal_access_tokens": personal_access_tokens
            }),
            AuditEvent::PersonRefusedByDirectory {
                reason,
                sessions,
                grants,
                personal_access_tokens,
                ..
            } => json!({
                "reason": reason,
                "sessions": sessions,
                "grants": grants,
                "personal_access_tokens": personal_access_tokens
            }),
            AuditEvent::LdapConnectionTested {
                servers,
                bind_dn,
                sample_username,
                stored_password_reused,
                outcome,
                first_failure,
                ..
            } => json!({
                "servers": servers,
                "bind_dn": bind_dn,
                "sample_username": sample_username,
                "stored_password_reused": stored_password_reused,
                "outcome": outcome,
                "first_failure": first_failure,
            }),
            AuditEvent::TotpEnrolled { setup_link_by, .. } => {
                json!({ "setup_link": setup_link_by.is_some(), "setup_link_by": setup_link_by })
            }
            AuditEvent::TotpSetupLinkCreated {
                sub,
                expires_at,
                replaced,
                ..
            } => json!({ "sub": sub, "expires_at": expires_at, "replaced": replaced }),
            AuditEvent::TotpFirstAdministratorEnrolled { .. } => json!({ "setup_link": false }),
            AuditEvent::SignedOut { .. }
            | AuditEvent::ConsentDenied { .. }
            | AuditEvent::TotpVerified { .. }
            | AuditEvent::RecoveryCodesRegenerated { .. }
            | AuditEvent::ApplicationDisconnected { .. } => json!({}),
        }
    }
}

/// The longest actor or client id stored, in bytes: an actor can be a username as typed
/// into the sign-in form, which can be anything.
const MAX_FIELD_BYTES: usize = 256;
/// The longest text inside `detail`, in bytes, and the most items of a list there.
const MAX_DETAIL_TEXT_BYTES: usize = 1024;
const MAX_DETAIL_ITEMS: usize = 100;

/// `text` cut to at most `max` bytes (at a character boundary, ending in `…` when cut).
fn bounded_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let marker = "…";
    let mut cut = max.saturating_sub(marker.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{marker}", text.get(..cut).unwrap_or_default())
}

/// Every text and list in `detail` cut to its bound, so no event stores more than a few
/// kilobytes whatever a request carried.
fn bound_detail(detail: &mut Value) {
    match detail {
        Value::String(text) if text.len() > MAX_DETAIL_TEXT_BYTES => {
            *text = bounded_text(text, MAX_DETAIL_TEXT_BYTES);
        }
        Value::Array(items) => {
            items.truncate(MAX_DETAIL_ITEMS);
            items.iter_mut().for_each(bound_detail);
        }
        Value::Object(members) => members.values_mut().for_each(bound_detail),
        _ => {}
    }
}

enum Message {
    Record(audit_events::ActiveModel),
    Flush(oneshot::Sender<()>),
}

/// The handle request handlers hold; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sender: mpsc::Sender<Message>,
}

const CHANNEL_CAPACITY: usize = 10_000;
const BATCH: usize = 200;

impl AuditLog {
    /// Starts the background writer on the current tokio runtime.
    pub fn start(db: DatabaseConnection) -> AuditLog {
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        tokio::spawn(write_batches(db, receiver));
        AuditLog { sender }
    }

    pub fn record(&self, event: AuditEvent, now: i64) {
        let mut detail = event.detail();
        bound_detail(&mut detail);
        let actor = event.actor().map(|actor| bounded_text(actor, MAX_FIELD_BYTES));
        let client_id = event.client_id().map(|id| bounded_text(id, MAX_FIELD_BYTES));
        // A log line too: target `audit`, the event's name as the message and in `event`.
        // Inside a request, the line carries the request's id like the others.
        tracing::info!(
            target: "audit",
            event = event.kind(),
            actor = actor.as_deref(),
            client_id = client_id.as_deref(),
            detail = %detail,
            "{}",
            event.kind()
        );
        let row = audit_events::ActiveModel {
            occurred_at: Set(now),
            kind: Set(event.kind().to_string()),
            actor: Set(actor),
            client_id: Set(client_id),
            detail: Set(detail.to_string()),
            ..Default::default()
        };
        if self.sender.try_send(Message::Record(row)).is_err() {
            tracing::error!(target: "audit", kind = event.kind(), "audit writer is behind; event kept in the log only");
        }
    }

    /// Waits until every event recorded so far is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_batches(db: DatabaseConnection, mut receiver: mpsc::Receiver<Message>) {
    while let Some(first) = receiver.recv().await {
        let mut rows = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Record(row) => rows.push(row),
                Message::Flush(done) => flushes.push(done),
            }
            next = if rows.len() < BATCH {
                receiver.try_recv().ok()
            } else {
                None
            };
        }
        if !rows.is_empty() {
            let count = rows.len();
            if let Err(error) = audit_events::Entity::insert_many(rows).exec(&db).await {
                tracing::error!(target: "audit", error = %error, count, "could not store audit events");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::QueryOrder;

    #[test]
    fn texts_and_lists_are_bounded() {
        assert_eq!(bounded_text("alice", 256), "alice");
        let cut = bounded_text(&"x".repeat(60_000), 256);
        assert!(cut.len() <= 256 && cut.ends_with('…'), "{}", cut.len());
        // Never inside a character.
        let cut = bounded_text(&"é".repeat(300), 256);
        assert!(cut.len() <= 256 && cut.starts_with("éé"));

        let mut detail = json!({ "groups": vec!["g".repeat(5000); 500], "scope": "openid" });
        bound_detail(&mut detail);
        let groups = detail["groups"].as_array().unwrap();
        assert_eq!(groups.len(), MAX_DETAIL_ITEMS);
        assert!(groups
            .iter()
            .all(|g| g.as_str().unwrap().len() <= MAX_DETAIL_TEXT_BYTES));
        assert_eq!(detail["scope"], "openid");
    }

    #[tokio::test]
    async fn events_are_stored_in_order_and_flush_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("audit.sqlite").display());
        let db = crate::storage::connect_database(&url, 2).await.unwrap();
        crate::storage::run_pending_migrations(&db).await.unwrap();
        let audit = AuditLog::start(db.clone());
        for i in 0..250 {
            audit.record(
                AuditEvent::SignInFailed {
                    username: Some(format!("user{i}")),
                    sub: Some(format!("sub{i}")),
                    attempt_key: format!("entry:{i}"),
                    reason: "invalid_credentials",
                },
                1000 + i,
            );
        }
        audit.record(
            AuditEvent::ConsentGranted {
                sub: "s".into(),
                client_id: "app".into(),
                scope: "openid".into(),
            },
            2000,
        );
        audit.flush().await;
        let rows = audit_events::Entity::find()
            .order_by_asc(audit_events::Column::Id)
            .all(&db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 251);
        assert_eq!(rows[0].kind, "sign_in.failed");
        assert_eq!(rows[0].actor.as_deref(), Some("sub0"));
        assert_eq!(rows[250].client_id.as_deref(), Some("app"));
        assert_eq!(rows[250].detail, r#"{"scope":"openid"}"#);
    }
}
