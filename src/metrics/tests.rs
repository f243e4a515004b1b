use std::time::Duration;

use super::*;

#[test]
fn openmetrics_is_served_only_when_asked_for() {
    assert!(wants_openmetrics(
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
    ));
    assert!(!wants_openmetrics("text/plain;version=0.0.4"));
    assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
    assert_eq!(ExpositionFormat::for_accept(None), ExpositionFormat::Prometheus);
}

#[test]
fn counters_and_histograms_are_named_the_prometheus_way() {
    let metrics = Metrics::new("1.2.3");
    metrics.sign_in(SignInOutcome::WrongPassword);
    metrics.observe_http_request("/token", "BREW", 200, Duration::from_millis(3));
    let text = metrics
        .scrape(&ScrapeSample::default(), ExpositionFormat::Prometheus)
        .unwrap();
    assert!(text.contains("# TYPE gatehouse_sign_ins_total counter"), "{text}");
    assert!(
        text.contains("gatehouse_sign_ins_total{outcome=\"wrong_password\"} 1"),
        "{text}"
    );
    assert!(text.contains("gatehouse_sign_ins_total{outcome=\"ok\"} 0"), "{text}");
    assert!(text.contains("gatehouse_build_info{version=\"1.2.3\"} 1"), "{text}");
    assert!(
        text.contains(
            "gatehouse_http_request_duration_seconds_count{route=\"/token\",method=\"other\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(!text.contains("# EOF"));
    let open = metrics
        .scrape(&ScrapeSample::default(), ExpositionFormat::OpenMetrics)
        .unwrap();
    assert!(open.ends_with("# EOF\n"), "{open}");
}

#[test]
fn every_exported_name_is_listed() {
    let metrics = Metrics::new("0");
    let sample = ScrapeSample {
        ldap_servers: vec![LdapServerSample {
            url: "ldap://a".into(),
            up: true,
            pool_in_use: 0,
            pool_idle: 1,
        }],
        database_pool: Some((2, 1)),
        signing_keys: vec![SigningKeySample {
            algorithm: "RS256",
            age: 5,
            next_rotation_in: 10,
        }],
    };
    metrics.token_issued("client_credentials", "app");
    metrics.refresh_token_reused("app");
    metrics.rate_limited("token_per_ip");
    metrics.observe_http_request("/", "GET", 200, Duration::ZERO);
    metrics.ldap().server("ldap://a").observe_bind(Duration::ZERO);
    let text = metrics.scrape(&sample, ExpositionFormat::Prometheus).unwrap();
    let exported: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split(' ').next())
        .collect();
    let listed: std::collections::BTreeSet<&str> = METRIC_NAMES.iter().copied().collect();
    assert_eq!(exported, listed);
}
