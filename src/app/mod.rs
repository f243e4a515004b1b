//! Wiring: the application state, the routes, and the server.

pub mod routes;
pub mod startup;
pub mod state;
