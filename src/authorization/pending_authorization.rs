//! Authorization requests waiting while the person signs in, proves a second factor or
//! decides on consent. Each records the step it is at and, once known, the person it is
//! for: a page completes only its own step (the consent page only a request waiting for
//! that person's consent), and every step ends in the one decision of
//! `complete_authorization::continue_authorization`.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::authorize_request::AuthorizationRequest;
use crate::crypto::random_token;
use crate::storage::entities::pending_authorizations;

/// Where a pending request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStep {
    /// The person must sign in (password).
    Login,
    /// The person signed in with the password and owes a second factor (or must set one up).
    SecondFactor,
    /// The person must approve what the application asks for.
    Consent,
}

impl FlowStep {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStep::Login => "login",
            FlowStep::SecondFactor => "second_factor",
            FlowStep::Consent => "consent",
        }
    }

    fn parse(text: &str) -> FlowStep {
        match text {
            "second_factor" => FlowStep::SecondFactor,
            "consent" => FlowStep::Consent,
            // Anything else (an older row) starts at the beginning.
            _ => FlowStep::Login,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    pub id: String,
    pub request: AuthorizationRequest,
    pub created_at: i64,
    pub step: FlowStep,
    /// The person the request is for, once they signed in.
    pub user_id: Option<String>,
    /// `user_id` approved the request on the consent page.
    pub consent_approved: bool,
    /// The session the sign-in for this very request started: only that one satisfies
    /// `prompt=login` and `max_age`.
    pub sign_in_sid: Option<String>,
}

impl PendingAuthorization {
    /// Whether the request waits at `step` for the person `user_id`.
    pub fn waits_for(&self, step: FlowStep, user_id: &str) -> bool {
        self.step == step && self.user_id.as_deref() == Some(user_id)
    }
}

/// Past the cap of live requests for one address.
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    #[error("too many sign-ins are in progress from this address")]
    TooManyFromAddress,
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

/// A request to keep while the person goes through the steps.
pub struct NewPendingAuthorization<'a> {
    pub request: &'a AuthorizationRequest,
    pub step: FlowStep,
    pub user_id: Option<&'a str>,
    /// The address it came from, and how many live requests one address may have
    /// (0: no cap).
    pub client_ip: Option<&'a str>,
    pub per_address_cap: u32,
    pub now: i64,
    pub lifetime: i64,
}

pub async fn save_pending_authorization(
    db: &impl ConnectionTrait,
    new: NewPendingAuthorization<'_>,
) -> Result<PendingAuthorization, PendingError> {
    if let (Some(ip), cap @ 1..) = (new.client_ip, new.per_address_cap) {
        // Counted, not reserved: a few concurrent requests may pass the cap by a little;
        // what matters is that the table cannot be filled from one address.
        let live = pending_authorizations::Entity::find()
            .filter(pending_authorizations::Column::ClientIp.eq(ip))
            .filter(pending_authorizations::Column::ExpiresAt.gt(new.now))
            .count(db)
            .await?;
        if live >= u64::from(cap) {
            return Err(PendingError::TooManyFromAddress);
        }
    }
    let id = random_token(24);
    let json = serde_json::to_string(new.request).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    pending_authorizations::Entity::insert(pending_authorizations::ActiveModel {
        id: Set(id.clone()),
        client_id: Set(new.request.client_id.clone()),
        request: Set(json),
        created_at: Set(new.now),
        expires_at: Set(new.now + new.lifetime),
        step: Set(new.step.as_str().to_string()),
        user_id: Set(new.user_id.map(str::to_string)),
        consent_approved: Set(false),
        sign_in_sid: Set(None),
        client_ip: Set(new.client_ip.map(str::to_string)),
    })
    .exec(db)
    .await?;
    Ok(PendingAuthorization {
        id,
        request: new.request.clone(),
        created_at: new.now,
        step: new.step,
        user_id: new.user_id.map(str::to_string),
        consent_approved: false,
        sign_in_sid: None,
    })
}

/// The pending request, unless it expired or never existed.
pub async fn find_pending_authorization(
    db: &impl ConnectionTrait,
    id: &str,
    now: i64,
) -> Result<Option<PendingAuthorization>, sea_orm::DbErr> {
    let Some(model) = pending_authorizations::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if model.expires_at <= now {
        pending_authorizations::Entity::delete_by_id(model.id).exec(db).await?;
        return Ok(None);
    }
    let Ok(request) = serde_json::from_str(&model.request) else {
        return Ok(None);
    };
    Ok(Some(PendingAuthorization {
        id: model.id,
        request,
        created_at: model.created_at,
        step: FlowStep::parse(&model.step),
        user_id: model.user_id,
        consent_approved: model.consent_approved,
        sign_in_sid: model.sign_in_sid,
    }))
}

/// Records that the request now waits at `step` for `user_id` (`None` at the login step:
/// whoever signs in next). Moving on forgets an approval given by someone else.
pub async fn move_to_step(
    db: &impl ConnectionTrait,
    pending: &mut PendingAuthorization,
    step: FlowStep,
    user_id: Option<&str>,
) -> Result<(), sea_orm::DbErr> {
    let same_person = pending.user_id.as_deref() == user_id;
    if pending.step == step && same_person {
        return Ok(());
    }
    let approved = pending.consent_approved && same_person;
    pending_authorizations::Entity::update_many()
        .col_expr(pending_authorizations::Column::Step, Expr::value(step.as_str()))
        .col_expr(
            pending_authorizations::Column::UserId,
            Expr::value(user_id.map(str::to_string)),
        )
        .col_expr(pending_authorizations::Column::ConsentApproved, Expr::value(approved))
        .filter(pending_authorizations::Column::Id.eq(pending.id.as_str()))
        .exec(db)
        .await?;
    pending.step = step;
    pending.user_id = user_id.map(str::to_string);
    pending.consent_approved = approved;
    Ok(())
}

/// Records that the sign-in for this request started the session `sid` (of `user_id`).
pub async fn record_sign_in_for_request(
    db: &impl ConnectionTrait,
    pending: &mut PendingAuthorization,
    sid: &str,
) -> Result<(), sea_orm::DbErr> {
    pending_authorizations::Entity::update_many()
        .col_expr(pending_authorizations::Column::SignInSid, Expr::value(sid))
        .filter(pending_authorizations::Column::Id.eq(pending.id.as_str()))
        .exec(db)
        .await?;
    pending.sign_in_sid = Some(sid.to_string());
    Ok(())
}

/// Records `user_id`'s approval of a request that waits for exactly that at the consent
/// step. False (nothing recorded) when it does not: the consent page completes only its
/// own step, for the person it was asked of.
pub async fn record_consent_approval(
    db: &impl ConnectionTrait,
    pending: &mut PendingAuthorization,
    user_id: &str,
) -> Result<bool, sea_orm::DbErr> {
    let result = pending_authorizations::Entity::update_many()
        .col_expr(pending_authorizations::Column::ConsentApproved, Expr::value(true))
        .filter(pending_authorizations::Column::Id.eq(pending.id.as_str()))
        .filter(pending_authorizations::Column::Step.eq(FlowStep::Consent.as_str()))
        .filter(pending_authorizations::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    if result.rows_affected == 1 {
        pending.consent_approved = true;
    }
    Ok(result.rows_affected == 1)
}

/// Ends the request. True when this call removed it, so two concurrent completions cannot
/// both issue a code.
pub async fn delete_pending_authorization(db: &impl ConnectionTrait, id: &str) -> Result<bool, sea_orm::DbErr> {
    let result = pending_authorizations::Entity::delete_by_id(id.to_string())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
