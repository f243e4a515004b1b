//! Administration: first-run setup, the admin pages under `/admin` and the JSON admin API
//! under `/admin/api`. Every route here needs a signed-in member of the administrator
//! groups (`access::AdminSession`), except the one-time setup page.

pub mod access;
pub mod api_error;
pub mod keys;
pub mod ldap_form;
pub mod ldap_settings;
pub mod people;
pub mod people_pages;
pub mod personal_access_tokens;
pub mod second_factor;
pub mod setup;

use actix_web::web;

pub fn configure_admin_routes(cfg: &mut web::ServiceConfig) {
    access::configure(cfg);
    setup::configure(cfg);
    ldap_settings::configure(cfg);
    keys::configure(cfg);
    personal_access_tokens::configure(cfg);
    second_factor::configure(cfg);
    people::configure(cfg);
    people_pages::configure(cfg);
}
