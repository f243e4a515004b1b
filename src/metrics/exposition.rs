//! The two text formats Prometheus reads: the classic text format (0.0.4, the default) and
//! OpenMetrics 1.0 (when the scraper asks for it in `Accept`, as Prometheus does).

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpositionFormat {
    /// `text/plain; version=0.0.4`.
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl ExpositionFormat {
    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` (with a non-zero weight), else the text format.
    pub fn for_accept(accept: Option<&str>) -> ExpositionFormat {
        if accept.is_some_and(wants_openmetrics) {
            ExpositionFormat::OpenMetrics
        } else {
            ExpositionFormat::Prometheus
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::Prometheus => prometheus_text::CONTENT_TYPE,
            ExpositionFormat::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    pub(super) fn encode(self, registry: &Registry) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        match self {
            ExpositionFormat::Prometheus => prometheus_text::encode(&mut out, registry)?,
            ExpositionFormat::OpenMetrics => text::encode(&mut out, registry)?,
        }
        Ok(out)
    }
}

/// Whether an `Accept` header value accepts OpenMetrics text (`q=0` refuses it).
pub fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let refused = parts.any(|param| {
            param
                .strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
    })
}
