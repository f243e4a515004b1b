//! The `[log]` section: how log lines are written.

use serde::{Deserialize, Serialize};

/// How each log line is written on standard error.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One human-readable line per event (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for Loki, Elasticsearch and other collectors.
    Json,
}

/// The longest `log.level` filter accepted.
const MAX_LEVEL_BYTES: usize = 1024;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// What `serve` and `migrate` log: a level (`info`) or a filter in the `RUST_LOG`
    /// syntax (`info,gatehouse::directory=debug`). Default `info`. The `GATEHOUSE_LOG`
    /// environment variable, when set, wins over it (and applies to every command).
    pub level: Option<String>,
}

impl LogConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        if let Some(level) = &self.level {
            if level.trim().is_empty() || level.len() > MAX_LEVEL_BYTES {
                problems.push(
                    "`log.level` must be a level such as `info`, or a filter such as `info,gatehouse=debug`".into(),
                );
            } else if let Err(error) = tracing_subscriber::EnvFilter::builder().parse(level) {
                problems.push(format!("`log.level` is not a valid filter: {error}"));
            }
        }
    }
}
