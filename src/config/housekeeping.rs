//! The `[housekeeping]` section.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HousekeepingConfig {
    /// Seconds between two purges of expired rows.
    pub interval: i64,
}

impl Default for HousekeepingConfig {
    fn default() -> Self {
        HousekeepingConfig { interval: 600 }
    }
}

impl HousekeepingConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        if !(10..=86_400).contains(&self.interval) {
            problems.push("`housekeeping.interval` must be between 10 and 86400 seconds".into());
        }
    }
}
