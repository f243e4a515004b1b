//! Where log lines go and how they look: text for people, or one JSON object per line
//! (`[log] format = "json"`) for log collectors. Both are written on standard error.
//!
//! A JSON line carries `time` (RFC 3339, UTC), `level`, `target`, `message`, the fields
//! of the event, and the fields of every span it happened in: a request's span
//! (`http::request_id`) adds `request_id`, `method`, `route`, and `client_id` and `sub`
//! once a handler knows them, so every line of a request can be found by its id.

use std::io::{IsTerminal, Write};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::clock::{Clock, SystemClock};
use crate::config::{LogConfig, LogFormat};

/// The environment variable whose filter, when set, wins over `[log] level`.
pub const LOG_FILTER_VARIABLE: &str = "GATEHOUSE_LOG";

/// Who is logging: the server (and `migrate`) logs what it does at `[log] level`; the
/// one-shot commands print their answer and log only warnings, so scripts read clean
/// output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogRole {
    Server,
    Command,
}

/// The filter: `GATEHOUSE_LOG` when set (and valid), else `[log] level` for the server
/// (default `info`), else `warn`.
pub fn log_filter(config: &LogConfig, role: LogRole, from_environment: Option<&str>) -> EnvFilter {
    if let Some(filter) = from_environment.and_then(|text| EnvFilter::builder().parse(text).ok()) {
        return filter;
    }
    let level = match role {
        LogRole::Server => config.level.as_deref().unwrap_or("info"),
        LogRole::Command => "warn",
    };
    EnvFilter::builder()
        .parse(level)
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber. Called once, by `main`, after the configuration is
/// read (a configuration that cannot be read is reported on standard error directly).
pub fn init_logging(config: &LogConfig, role: LogRole) {
    let environment = std::env::var(LOG_FILTER_VARIABLE).ok();
    let filter = log_filter(config, role, environment.as_deref());
    let installed = match config.format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry().with(filter).with(JsonLines).try_init(),
    };
    if let Err(error) = installed {
        eprintln!("warning: logging was already set up: {error}");
    }
}

/// The layer that writes one JSON object per event on standard error.
pub struct JsonLines;

/// The fields recorded on a span so far (kept in the span's extensions).
struct SpanFields(Map<String, Value>);

/// Names the line itself uses; an event field of the same name is written as `field.NAME`.
const RESERVED: [&str; 4] = ["time", "level", "target", "message"];

impl<S> Layer<S> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        attrs.record(&mut JsonFields(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<SpanFields>() {
                values.record(&mut JsonFields(&mut fields.0));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut spans = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    spans.extend(fields.0.iter().map(|(name, value)| (name.clone(), value.clone())));
                }
            }
        }
        let mut fields = Map::new();
        event.record(&mut JsonFields(&mut fields));
        let line = json_line(
            &SystemClock.now(),
            event.metadata().level(),
            event.metadata().target(),
            spans,
            fields,
        );
        let mut text = ordered_json(&line);
        text.push('\n');
        // One write per line, so lines of concurrent events never interleave; a line that
        // cannot be written has nowhere else to go.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// One line: time, level, target, message, then the spans' fields, then the event's (an
/// event's field wins over a span's of the same name). Events forwarded from the `log`
/// crate name their real target in `log.target`.
fn json_line(
    time: &time::OffsetDateTime,
    level: &tracing::Level,
    target: &str,
    spans: Map<String, Value>,
    mut fields: Map<String, Value>,
) -> Value {
    let mut line = Map::new();
    let time = time
        .to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    line.insert("time".into(), Value::String(time));
    line.insert("level".into(), Value::String(level.as_str().to_ascii_lowercase()));
    let target = match fields.remove("log.target") {
        Some(Value::String(real)) => real,
        _ => target.to_string(),
    };
    fields.retain(|name, _| !name.starts_with("log."));
    line.insert("target".into(), Value::String(target));
    line.insert(
        "message".into(),
        fields.remove("message").unwrap_or(Value::String(String::new())),
    );
    for (name, value) in spans.into_iter().chain(fields) {
        if RESERVED.contains(&name.as_str()) {
            line.insert(format!("field.{name}"), value);
        } else {
            line.insert(name, value);
        }
    }
    Value::Object(line)
}

/// The line as JSON text with `time`, `level`, `target` and `message` first (the map
/// itself keeps its keys sorted), so that people reading raw lines find them at once.
fn ordered_json(line: &Value) -> String {
    let Value::Object(members) = line else {
        return line.to_string();
    };
    let first = RESERVED.iter().filter_map(|name| members.get_key_value(*name));
    let rest = members.iter().filter(|(name, _)| !RESERVED.contains(&name.as_str()));
    let mut text = String::from("{");
    for (index, (name, value)) in first.chain(rest).enumerate() {
        if index > 0 {
            text.push(',');
        }
        text.push_str(&Value::String(name.clone()).to_string());
        text.push(':');
        text.push_str(&value.to_string());
    }
    text.push('}');
    text
}

/// Records fields as JSON values: numbers and booleans as such, everything else as text.
struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.0.insert(field.name().into(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::String(value.into()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, Value)]) -> Map<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn a_line_has_time_level_target_message_then_span_and_event_fields() {
        let time = time::macros::datetime!(2026-03-01 12:30:05.25 +02:00);
        let line = json_line(
            &time,
            &tracing::Level::WARN,
            "gatehouse::oidc",
            fields(&[("request_id", "r-1".into()), ("client_id", "span".into())]),
            fields(&[
                ("message", "refused".into()),
                ("client_id", "event".into()),
                ("status", 400.into()),
                ("level", "sneaky".into()),
            ]),
        );
        assert_eq!(line["time"], "2026-03-01T10:30:05.25Z");
        assert_eq!(line["level"], "warn");
        assert_eq!(line["target"], "gatehouse::oidc");
        assert_eq!(line["message"], "refused");
        assert_eq!(line["request_id"], "r-1");
        assert_eq!(line["client_id"], "event", "the event's field wins");
        assert_eq!(line["status"], 400);
        assert_eq!(line["field.level"], "sneaky");
        let text = ordered_json(&line);
        assert!(
            text.starts_with(
                r#"{"time":"2026-03-01T10:30:05.25Z","level":"warn","target":"gatehouse::oidc","message":"refused","#
            ),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), line);
    }

    #[test]
    fn events_from_the_log_crate_keep_their_target() {
        let line = json_line(
            &time::OffsetDateTime::UNIX_EPOCH,
            &tracing::Level::INFO,
            "log",
            Map::new(),
            fields(&[
                ("message", "hello".into()),
                ("log.target", "ldap3::conn".into()),
                ("log.line", 7.into()),
            ]),
        );
        assert_eq!(line["target"], "ldap3::conn");
        assert!(line.get("log.line").is_none());
        assert_eq!(line["time"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn the_environment_wins_and_commands_log_warnings() {
        let config = LogConfig {
            format: LogFormat::Json,
            level: Some("debug".into()),
        };
        assert_eq!(log_filter(&config, LogRole::Server, None).to_string(), "debug");
        assert_eq!(log_filter(&config, LogRole::Command, None).to_string(), "warn");
        assert_eq!(
            log_filter(&config, LogRole::Command, Some("error")).to_string(),
            "error"
        );
        assert_eq!(
            log_filter(&LogConfig::default(), LogRole::Server, None).to_string(),
            "info"
        );
    }
}
