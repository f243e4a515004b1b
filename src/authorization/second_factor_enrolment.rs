//! Who may set up a second factor now. An authenticator set up right after the password
//! is trust on first use: whoever knows the password when the person has none yet becomes
//! the holder of their second factor. For administrators that would hand over
//! administration, so:
//! - someone who is not an administrator sets up their first authenticator after the
//!   password, as before;
//! - an administrator does so only with a setup link another administrator (signed in
//!   with the second factor) made for them (`mfa::create_setup_link`), spent with the
//!   enrolment;
//! - except the very first administrator: while no administrator has a second factor
//!   (right after the first-run setup, say), nobody could make a link, so the password
//!   alone is accepted, audited as `totp.first_administrator_enrolled` and logged as a
//!   warning.
//!
//! Every enrolment page asks [`decide_enrolment`] before showing a new secret and confirms
//! through [`confirm_permitted_enrolment`], which decides again on fresh data (an
//! administrator may have enrolled meanwhile) and spends the link with the activation.

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use super::people::{find_person, person_of, Person, PersonClaims};
use crate::audit::AuditLog;
use crate::crypto::MasterKey;
use crate::mfa::{
    confirm_enrolment, create_setup_link, find_setup_link, has_active_totp, EnrolmentBasis, MfaError, NewSetupLink,
    TotpSettings,
};
use crate::settings::admin_groups::AdminGroups;
use crate::storage::entities::{totp_credentials, users};

/// How many people with a second factor are read at a time while looking for an
/// administrator among them.
const BATCH: u64 = 500;

/// What an enrolment decision needs.
pub struct EnrolmentContext<'a> {
    pub db: &'a DatabaseConnection,
    pub master_key: &'a MasterKey,
    pub settings: &'a TotpSettings,
    /// Who administers Gatehouse (the live setting).
    pub admin_groups: &'a AdminGroups,
    pub audit: &'a AuditLog,
    pub now: i64,
}

/// Why an administrator's setup link did not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupLinkProblem {
    /// The browser brought no link.
    Missing,
    /// The link is wrong, used, replaced by a newer one, or expired.
    NotLive,
    /// The link was made for someone else.
    ForSomeoneElse,
}

impl SetupLinkProblem {
    /// A sentence for the person, after "Administrators set up their second factor with a
    /// setup link from another administrator."
    pub fn person_message(self) -> &'static str {
        match self {
            SetupLinkProblem::Missing => {
                "Ask another administrator to create a second-factor setup link for you on your page under People in \
                 the administration, then open it in this browser."
            }
            SetupLinkProblem::NotLive => {
                "The setup link this browser brought was used, replaced by a newer one, or has expired. Ask another \
                 administrator for a new one."
            }
            SetupLinkProblem::ForSomeoneElse => {
                "The setup link this browser brought was made for someone else. Ask another administrator for a link \
                 of your own."
            }
        }
    }
}

/// Whether the person may set up an authenticator now, and on what basis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrolmentDecision {
    Allowed(EnrolmentBasis),
    /// An administrator, while another administrator has a second factor, without a live
    /// setup link of their own.
    SetupLinkNeeded(SetupLinkProblem),
}

/// Whether any administrator (by the groups stored at their last sign-in, not refused by
/// the directory since) has an active second factor.
pub async fn any_administrator_has_second_factor(
    db: &DatabaseConnection,
    admin_groups: &AdminGroups,
) -> Result<bool, sea_orm::DbErr> {
    let with_second_factor = Query::select()
        .column(totp_credentials::Column::UserId)
        .from(totp_credentials::Entity)
        .and_where(totp_credentials::Column::Secret.is_not_null())
        .to_owned();
    let mut batches = users::Entity::find()
        .filter(users::Column::Id.in_subquery(with_second_factor))
        .filter(users::Column::RefusedAt.is_null())
        .order_by_asc(users::Column::Id)
        .paginate(db, BATCH);
    while let Some(models) = batches.fetch_and_next().await? {
        for model in models {
            match serde_json::from_str::<PersonClaims>(&model.claims) {
                Ok(claims) if admin_groups.admits(&claims.groups, &claims.group_dns) => return Ok(true),
                Ok(_) => {}
                // Unreadable: counted as an administrator, the side on which the password
                // alone is not enough.
                Err(error) => {
                    tracing::warn!(sub = %model.id, error = %error, "stored claims are unreadable");
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// Decides whether `person` (who has no active second factor) may set one up now, with the
/// setup link token their browser brought, if any.
pub async fn decide_enrolment(
    ctx: &EnrolmentContext<'_>,
    person: &Person,
    setup_token: Option<&str>,
) -> Result<EnrolmentDecision, MfaError> {
    let link = match setup_token {
        Some(token) => find_setup_link(ctx.db, token, ctx.now).await?,
        None => None,
    };
    let problem = match (setup_token, link) {
        (_, Some(link)) if link.user_id == person.id => {
            return Ok(EnrolmentDecision::Allowed(EnrolmentBasis::SetupLink(link)));
        }
        (_, Some(_)) => SetupLinkProblem::ForSomeoneElse,
        (Some(_), None) => SetupLinkProblem::NotLive,
        (None, None) => SetupLinkProblem::Missing,
    };
    if !ctx.admin_groups.admits(&person.claims.groups, &person.claims.group_dns) {
        return Ok(EnrolmentDecision::Allowed(EnrolmentBasis::Password));
    }
    if !any_administrator_has_second_factor(ctx.db, ctx.admin_groups).await? {
        return Ok(EnrolmentDecision::Allowed(EnrolmentBasis::FirstAdministrator));
    }
    Ok(EnrolmentDecision::SetupLinkNeeded(problem))
}

/// Why an enrolment was not confirmed.
#[derive(Debug, thiserror::Error)]
pub enum EnrolmentError {
    /// An administrator without a live setup link of their own (see [`decide_enrolment`]).
    #[error("an administrator needs a setup link to set up a second factor ({0:?})")]
    SetupLinkNeeded(SetupLinkProblem),
    #[error(transparent)]
    Mfa(#[from] MfaError),
}

/// Confirms the person's pending enrolment with `code` if they may enrol now (decided
/// again here, on fresh data), spending their setup link in the same transaction as the
/// activation.
pub async fn confirm_permitted_enrolment(
    ctx: &EnrolmentContext<'_>,
    person: &Person,
    setup_token: Option<&str>,
    code: &str,
) -> Result<Vec<String>, EnrolmentError> {
    let basis = match decide_enrolment(ctx, person, setup_token).await? {
        EnrolmentDecision::Allowed(basis) => basis,
        EnrolmentDecision::SetupLinkNeeded(problem) => {
            tracing::info!(sub = %person.id, ?problem, "an administrator's enrolment without a setup link was refused");
            return Err(EnrolmentError::SetupLinkNeeded(problem));
        }
    };
    confirm_enrolment(
        ctx.db,
        ctx.master_key,
        ctx.settings,
        &person.id,
        code,
        &basis,
        ctx.audit,
        ctx.now,
    )
    .await
    .map_err(|error| match error {
        // The link was spent or replaced between the decision and the activation.
        MfaError::SetupLinkNeeded => EnrolmentError::SetupLinkNeeded(SetupLinkProblem::NotLive),
        other => EnrolmentError::Mfa(other),
    })
}

/// The path of a setup link; the token follows as `?token=`.
pub const SETUP_LINK_PATH: &str = "/login/totp/setup";

/// The address a person opens to use a setup link.
pub fn setup_link_url(issuer: &str, token: &str) -> String {
    format!("{}{SETUP_LINK_PATH}?token={token}", issuer.trim_end_matches('/'))
}

/// Why no setup link was made.
#[derive(Debug, thiserror::Error)]
pub enum SetupLinkError {
    #[error("nobody with this sub has signed in to Gatehouse")]
    UnknownPerson,
    /// A link would do nothing: enrolment never replaces a second factor. Reset it first.
    #[error("the person has a second factor already")]
    AlreadyEnrolled,
    #[error(transparent)]
    Mfa(#[from] MfaError),
}

/// Makes a setup link for `user_id` (someone who signed in before and has no second
/// factor now) on the order of `by`, replacing their previous link; audited as
/// `totp.setup_link_created`. The caller shows the token once.
pub async fn issue_setup_link(
    db: &DatabaseConnection,
    user_id: &str,
    by: &str,
    audit: &AuditLog,
    now: i64,
) -> Result<NewSetupLink, SetupLinkError> {
    if find_person(db, user_id).await.map_err(MfaError::from)?.is_none() {
        return Err(SetupLinkError::UnknownPerson);
    }
    if has_active_totp(db, user_id).await? {
        return Err(SetupLinkError::AlreadyEnrolled);
    }
    let link = create_setup_link(db, user_id, by, audit, now).await?;
    tracing::info!(sub = %user_id, by = %by, replaced = link.replaced, "a second-factor setup link was made");
    Ok(link)
}

/// The stored person whose `sub` is `who`, or else whose username is `who` (for the
/// command line). `None` when nobody, or several people, match.
pub async fn find_person_by_sub_or_username(
    db: &DatabaseConnection,
    who: &str,
) -> Result<Option<Person>, sea_orm::DbErr> {
    if let Some(person) = find_person(db, who).await? {
        return Ok(Some(person));
    }
    let mut named = users::Entity::find()
        .filter(users::Column::Username.eq(who))
        .all(db)
        .await?;
    if named.len() != 1 {
        return Ok(None);
    }
    Ok(named.pop().map(person_of))
}
