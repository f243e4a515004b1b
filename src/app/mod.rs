//! Wiring: the application state, the routes, and the server.

pub mod https;
pub mod logging;
pub mod metrics_server;
pub mod routes;
pub mod served_discovery;
pub mod shutdown;
pub mod startup;
pub mod state;
