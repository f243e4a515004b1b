//! `/`: who is signed in here, with a sign-out button.

use crate::http::csrf::set_csrf_cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::state::AppState;
use crate::authorization::people::find_person;
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::pages::HomePage;

pub async fn get_home(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let person = match state.current_session(&req).await? {
        Some(session) => find_person(&state.db, &session.user_id).await?,
        None => None,
    };
    let csrf = state.csrf.issue(&req, state.secure_cookies());
    let page = HomePage {
        demo: state.config.demo,
        csrf_token: csrf.token,
        username: person.as_ref().map(|p| p.claims.username.clone()),
        name: person.and_then(|p| p.claims.name),
    };
    let mut builder = html_response(StatusCode::OK);
    set_csrf_cookie(&mut builder, csrf.cookie);
    Ok(render_page(&mut builder, &page))
}
