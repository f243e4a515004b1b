//! The `[shutdown]` section: how `serve` stops on SIGTERM or SIGINT.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ShutdownConfig {
    /// Seconds between the signal (from when `/readyz` answers 503) and closing the
    /// listener: the time load balancers get to notice and send new requests elsewhere.
    pub drain_delay: i64,
    /// Seconds the requests in flight when the listener closes get to finish (and then the
    /// background tasks to stop) before they are cut off.
    pub grace_period: i64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_delay: 5,
            grace_period: 30,
        }
    }
}

impl ShutdownConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        if !(0..=300).contains(&self.drain_delay) {
            problems.push("`shutdown.drain_delay` must be between 0 and 300 seconds".into());
        }
        if !(1..=3600).contains(&self.grace_period) {
            problems.push("`shutdown.grace_period` must be between 1 and 3600 seconds".into());
        }
    }
}
