//! Gatehouse: a single-binary OpenID Connect identity provider for LDAP directories.
//!
//! Layers, lowest first (import only downward):
//! config, clock, crypto, private_files -> storage, directory, tls -> authorization, tokens, keys ->
//! oidc, web (HTTP edges, sharing `http`) -> app, cli.

pub mod clock;
pub mod config;
pub mod crypto;
pub mod metrics;
pub mod private_files;

pub mod directory;
pub mod storage;
pub mod tls;

pub mod audit;
pub mod authorization;
pub mod keys;
pub mod mfa;
pub mod ratelimit;
pub mod readiness;
pub mod settings;
pub mod tokens;

pub mod admin;
pub mod http;
pub mod oidc;
pub mod web;

pub mod app;
pub mod cli;

pub use app::startup::Application;
pub use config::Config;
