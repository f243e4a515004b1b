//! Wiring: the application state, the routes, and the server.

pub mod metrics_server;
pub mod routes;
pub mod served_discovery;
pub mod startup;
pub mod state;
