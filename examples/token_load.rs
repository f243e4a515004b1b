//! Closed-loop load generator for the machine endpoints of an OpenID provider (Gatehouse or
//! any other): `concurrency` workers each send one request, wait for the answer, and send
//! the next, over keep-alive HTTP/1.1 connections.
//!
//!   cargo run --release --example token_load -- --url http://127.0.0.1:8080 \
//!       --client-id bench --secret S [--concurrency 32] [--seconds 20] [--warmup 2] \
//!       [--scenario client_credentials|jwks|discovery|introspect] [--scope api] \
//!       [--token-path /token] [--introspect-path /introspect] [--jwks-path PATH] [--pid PID]
//!
//! Scenarios:
//!   client_credentials  POST token-path, grant_type=client_credentials (+ scope), HTTP Basic;
//!                       every 2xx answer must be JSON with a non-empty access_token
//!   introspect          gets one access token that way, then POSTs it to introspect-path
//!                       (HTTP Basic) again and again; every 2xx answer must say active: true
//!   jwks                GET jwks-path (default: the jwks_uri of the discovery document);
//!                       every 2xx answer must be JSON with a non-empty keys array
//!   discovery           GET /.well-known/openid-configuration; must be JSON with an issuer
//!
//! After `warmup` seconds that are not counted, it counts the answers that arrive within
//! `seconds` and prints requests/s, latency percentiles, the answers by status (a 429 shows
//! up there), transport errors, the 2xx answers that failed the check above, and the CPU
//! the generator itself used in the window (it shares the machine with the server). With
//! --pid: the server's CPU in the window (all threads of that one process, from
//! /proc/PID/stat; for a multi-process server give each worker's pid in turn or add them up)
//! and CPU time per answer, and its resident memory (VmRSS, VmHWM from /proc/PID/status)
//! before and after. --threads sets the generator's own threads (default 1, to leave the
//! server as much of a small machine as possible).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
enum Scenario {
    ClientCredentials,
    Jwks,
    Discovery,
    Introspect,
}

#[derive(Parser, Debug)]
#[command(about = "Closed-loop load generator for an OpenID provider's machine endpoints")]
struct Options {
    /// The provider's base URL (the issuer), without a trailing slash.
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "")]
    client_id: String,
    #[arg(long, default_value = "")]
    secret: String,
    /// Requests in flight at any time (one connection each).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds, after the warm-up.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Seconds of load before the measurement starts, not counted.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    #[arg(long, value_enum, default_value = "client_credentials")]
    scenario: Scenario,
    /// Scope for client_credentials (empty: no scope parameter).
    #[arg(long, default_value = "")]
    scope: String,
    #[arg(long, default_value = "/token")]
    token_path: String,
    #[arg(long, default_value = "/introspect")]
    introspect_path: String,
    /// JWKS path; default: the jwks_uri from the discovery document.
    #[arg(long)]
    jwks_path: Option<String>,
    /// The server's process id, to report its resident memory before and after.
    #[arg(long)]
    pid: Option<u32>,
    /// Tokio worker threads of the generator itself.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Setup(String),
    #[error("runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// What one request looks like; built once, cloned per request.
#[derive(Clone)]
enum Request {
    Get { url: String },
    PostForm { url: String, body: String },
}

/// What a 2xx answer must contain to count as correct.
#[derive(Clone, Copy)]
enum Check {
    AccessToken,
    Active,
    Keys,
    Issuer,
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u64>,
    by_status: BTreeMap<u16, u64>,
    transport_errors: u64,
    bad_bodies: u64,
    first_problem: Option<String>,
}

fn body_ok(check: Check, body: &[u8]) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| format!("answer is not JSON: {error}"))?;
    let ok = match check {
        Check::AccessToken => value["access_token"].as_str().is_some_and(|token| !token.is_empty()),
        Check::Active => value["active"].as_bool() == Some(true),
        Check::Keys => value["keys"].as_array().is_some_and(|keys| !keys.is_empty()),
        Check::Issuer => value["issuer"].as_str().is_some_and(|issuer| !issuer.is_empty()),
    };
    if ok {
        Ok(())
    } else {
        let mut shown = value.to_string();
        shown.truncate(200);
        Err(format!("unexpected answer: {shown}"))
    }
}

fn form_encode(pairs: &[(&str, &str)]) -> Result<String, LoadError> {
    serde_urlencoded::to_string(pairs).map_err(|error| LoadError::Setup(format!("form: {error}")))
}

fn memory(pid: u32) -> String {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => {
            let field = |name: &str| {
                status
                    .lines()
                    .find(|line| line.starts_with(name))
                    .map(|line| line[name.len()..].trim().to_string())
                    .unwrap_or_else(|| "?".to_string())
            };
            format!("VmRSS {} (peak VmHWM {})", field("VmRSS:"), field("VmHWM:"))
        }
        Err(error) => format!("cannot read /proc/{pid}/status: {error}"),
    }
}

/// User + system CPU seconds of a process (all its threads), from /proc/PID/stat (Linux);
/// `None` for this process.
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    let after_name = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3 of stat(5), utime 14 and stime 15 -> indexes 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux configuration in practice.
    Some((utime + stime) / 100.0)
}

async fn fetch_token(client: &reqwest::Client, options: &Options) -> Result<String, LoadError> {
    let mut pairs = vec![("grant_type", "client_credentials")];
    if !options.scope.is_empty() {
        pairs.push(("scope", options.scope.as_str()));
    }
    let response = client
        .post(format!("{}{}", options.url, options.token_path))
        .basic_auth(&options.client_id, Some(&options.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_encode(&pairs)?)
        .send()
        .await?;
    let status = response.status();
    let value: serde_json::Value = response.json().await?;
    value["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| LoadError::Setup(format!("the token request answered {status}: {value}")))
}

async fn jwks_url(client: &reqwest::Client, options: &Options) -> Result<String, LoadError> {
    if let Some(path) = &options.jwks_path {
        return Ok(format!("{}{path}", options.url));
    }
    let discovery: serde_json::Value = client
        .get(format!("{}/.well-known/openid-configuration", options.url))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    discovery["jwks_uri"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| LoadError::Setup("the discovery document has no jwks_uri".to_string()))
}

async fn worker(
    client: reqwest::Client,
    request: Request,
    basic: Option<(String, String)>,
    check: Check,
    measure_from: Instant,
    measure_until: Instant,
) -> WorkerResult {
    let mut result = WorkerResult::default();
    loop {
        let started = Instant::now();
        if started >= measure_until {
            break;
        }
        let mut builder = match &request {
            Request::Get { url } => client.get(url),
            Request::PostForm { url, body } => client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone()),
        };
        if let Some((id, secret)) = &basic {
            builder = builder.basic_auth(id, Some(secret));
        }
        let outcome = match builder.send().await {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.map(|body| (status, body))
            }
            Err(error) => Err(error),
        };
        let finished = Instant::now();
        // Only answers that arrive within the measured window count.
        let counted = started >= measure_from && finished <= measure_until;
        match outcome {
            Ok((status, body)) => {
                if !counted {
                    continue;
                }
                result
                    .latencies_us
                    .push(u64::try_from(finished.duration_since(started).as_micros()).unwrap_or(u64::MAX));
                *result.by_status.entry(status.as_u16()).or_default() += 1;
                if status.is_success() {
                    if let Err(problem) = body_ok(check, &body) {
                        result.bad_bodies += 1;
                        result.first_problem.get_or_insert(problem);
                    }
                } else if result.first_problem.is_none() {
                    let mut shown = String::from_utf8_lossy(&body).into_owned();
                    shown.truncate(200);
                    result.first_problem = Some(format!("{status}: {shown}"));
                }
            }
            Err(error) => {
                if counted {
                    result.transport_errors += 1;
                    result.first_problem.get_or_insert(format!("transport: {error}"));
                }
                // A refused connection would otherwise spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    result
}

fn percentile(sorted: &[u64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1000.0
}

async fn run(options: Options) -> Result<(), LoadError> {
    if options.concurrency == 0 || options.seconds == 0 {
        return Err(LoadError::Setup(
            "--concurrency and --seconds must be at least 1".to_string(),
        ));
    }
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let client = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(options.concurrency)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()?;

    let basic = Some((options.client_id.clone(), options.secret.clone()));
    let (request, basic, check) = match options.scenario {
        Scenario::ClientCredentials => {
            let mut pairs = vec![("grant_type", "client_credentials")];
            if !options.scope.is_empty() {
                pairs.push(("scope", options.scope.as_str()));
            }
            let url = format!("{}{}", options.url, options.token_path);
            (
                Request::PostForm {
                    url,
                    body: form_encode(&pairs)?,
                },
                basic,
                Check::AccessToken,
            )
        }
        Scenario::Introspect => {
            let token = fetch_token(&client, &options).await?;
            let url = format!("{}{}", options.url, options.introspect_path);
            let body = form_encode(&[("token", token.as_str()), ("token_type_hint", "access_token")])?;
            (Request::PostForm { url, body }, basic, Check::Active)
        }
        Scenario::Jwks => (
            Request::Get {
                url: jwks_url(&client, &options).await?,
            },
            None,
            Check::Keys,
        ),
        Scenario::Discovery => {
            let url = format!("{}/.well-known/openid-configuration", options.url);
            (Request::Get { url }, None, Check::Issuer)
        }
    };

    let memory_before = options.pid.map(memory);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(options.warmup);
    let measure_until = measure_from + Duration::from_secs(options.seconds);
    // CPU time of the generator and of the server within the measured window only.
    let server_pid = options.pid;
    let cpu_window = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = (cpu_seconds(None), server_pid.and_then(|pid| cpu_seconds(Some(pid))));
        tokio::time::sleep_until(measure_until.into()).await;
        let after = (cpu_seconds(None), server_pid.and_then(|pid| cpu_seconds(Some(pid))));
        (before, after)
    });
    let workers: Vec<_> = (0..options.concurrency)
        .map(|_| {
            tokio::spawn(worker(
                client.clone(),
                request.clone(),
                basic.clone(),
                check,
                measure_from,
                measure_until,
            ))
        })
        .collect();
    let mut total = WorkerResult::default();
    for handle in workers {
        let result = handle
            .await
            .map_err(|error| LoadError::Setup(format!("worker: {error}")))?;
        total.latencies_us.extend(result.latencies_us);
        for (status, count) in result.by_status {
            *total.by_status.entry(status).or_default() += count;
        }
        total.transport_errors += result.transport_errors;
        total.bad_bodies += result.bad_bodies;
        if total.first_problem.is_none() {
            total.first_problem = result.first_problem;
        }
    }
    let ((own_before, server_before), (own_after, server_after)) = cpu_window
        .await
        .map_err(|error| LoadError::Setup(format!("CPU sampler: {error}")))?;
    let memory_after = options.pid.map(memory);

    total.latencies_us.sort_unstable();
    let answers = total.latencies_us.len();
    let seconds = options.seconds as f64;
    println!(
        "scenario {:?}, concurrency {}, {} s measured after {} s warm-up, {}",
        options.scenario, options.concurrency, options.seconds, options.warmup, options.url
    );
    println!(
        "  requests/s   {:>10.0}   ({answers} answers)",
        answers as f64 / seconds
    );
    println!(
        "  latency ms   p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        percentile(&total.latencies_us, 0.50),
        percentile(&total.latencies_us, 0.90),
        percentile(&total.latencies_us, 0.99),
        percentile(&total.latencies_us, 1.0)
    );
    let statuses: Vec<String> = total
        .by_status
        .iter()
        .map(|(status, count)| format!("{status}: {count}"))
        .collect();
    println!("  by status    {}", statuses.join(", "));
    let non_2xx: u64 = total
        .by_status
        .iter()
        .filter(|(status, _)| !(200..300).contains(*status))
        .map(|(_, count)| count)
        .sum();
    println!(
        "  non-2xx {non_2xx}, 429 {}, transport errors {}, 2xx failing the body check {}",
        total.by_status.get(&429).copied().unwrap_or(0),
        total.transport_errors,
        total.bad_bodies
    );
    if let Some(problem) = &total.first_problem {
        println!("  first problem: {problem}");
    }
    if let (Some(before), Some(after)) = (own_before, own_after) {
        println!(
            "  generator CPU {:.0}% of one core over the measured window",
            (after - before) / seconds * 100.0
        );
    }
    if let (Some(before), Some(after)) = (server_before, server_after) {
        let used = after - before;
        let per_request = if answers == 0 { 0.0 } else { used / answers as f64 * 1e6 };
        println!(
            "  server CPU    {:.0}% of one core over the measured window, {per_request:.1} µs CPU per answer",
            used / seconds * 100.0
        );
    }
    if let (Some(pid), Some(before), Some(after)) = (options.pid, memory_before, memory_after) {
        println!("  server {pid} memory before: {before}");
        println!("  server {pid} memory after:  {after}");
    }
    Ok(())
}

fn main() -> Result<(), LoadError> {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run(options))
}
