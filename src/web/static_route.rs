//! `/static/{name}`: the embedded stylesheet and logo.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};

use crate::http::static_files::static_file;

pub async fn get_static(name: web::Path<String>) -> HttpResponse {
    match static_file(&name) {
        Some((bytes, content_type)) => HttpResponse::Ok()
            .content_type(content_type)
            .insert_header(CacheControl(vec![
                CacheDirective::Public,
                CacheDirective::MaxAge(86400),
            ]))
            .body(bytes),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("Not found"),
    }
}
