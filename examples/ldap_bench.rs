//! Sign-in latency against a real OpenLDAP directory of a given size: does a directory of
//! 10,000 people sign people in as fast as one of ten?
//!
//!   cargo run --release --example ldap_bench                 # 10 and 10,000 people
//!   cargo run --release --example ldap_bench -- 10 100000 --sign-ins 5000 --concurrency 8
//!
//! For each size it writes a seed LDIF (people in 20 groupOfNames groups), starts a
//! throwaway slapd through scripts/start-directory.sh on a free loopback port, and times
//! `LdapDirectory::authenticate_user` (service search, user bind on a fresh connection,
//! group search) for random people. It prints median, p99 and throughput per size.
//! Needs slapd (scripts/test.sh or scripts/quickstart.sh install it).

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::config::{LdapConfig, LdapGroups, Secret};
use gatehouse::directory::{Directory, LdapDirectory};

const GROUPS: usize = 20;

struct Options {
    sizes: Vec<usize>,
    sign_ins: usize,
    concurrency: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        sizes: Vec::new(),
        sign_ins: 2000,
        concurrency: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--sign-ins" => options.sign_ins = number("--sign-ins")?,
            "--concurrency" => options.concurrency = number("--concurrency")?.max(1),
            other => options
                .sizes
                .push(other.parse().map_err(|_| format!("not a directory size: {other}"))?),
        }
    }
    if options.sizes.is_empty() {
        options.sizes = vec![10, 10_000];
    }
    Ok(options)
}

fn seed_ldif(people: usize) -> String {
    let mut ldif = String::from(
        "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Bench\n\n\
         dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,dc=example,dc=org\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: ou=services,dc=example,dc=org\nobjectClass: organizationalUnit\nou: services\n\n\
         dn: cn=gatehouse,ou=services,dc=example,dc=org\nobjectClass: organizationalRole\n\
         objectClass: simpleSecurityObject\ncn: gatehouse\nuserPassword: gatehouse-service-password\n\n",
    );
    for i in 0..people {
        ldif.push_str(&format!(
            "dn: uid=user{i:06},ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: user{i:06}\n\
             cn: User {i}\nsn: {i}\nmail: user{i:06}@example.org\nuserPassword: password-{i:06}\n\n"
        ));
    }
    for g in 0..GROUPS {
        ldif.push_str(&format!(
            "dn: cn=group{g:02},ou=groups,dc=example,dc=org\nobjectClass: groupOfNames\ncn: group{g:02}\n"
        ));
        for i in (g..people).step_by(GROUPS) {
            ldif.push_str(&format!("member: uid=user{i:06},ou=people,dc=example,dc=org\n"));
        }
        if g >= people {
            // groupOfNames needs at least one member.
            ldif.push_str("member: cn=gatehouse,ou=services,dc=example,dc=org\n");
        }
        ldif.push('\n');
    }
    ldif
}

struct Slapd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_slapd(people: usize) -> Result<Slapd, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let seed = dir.path().join("seed.ldif");
    std::fs::write(&seed, seed_ldif(people)).map_err(|e| e.to_string())?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/start-directory.sh");
    let child = Command::new("bash")
        .arg(script)
        .arg(dir.path().join("slapd"))
        .arg(port.to_string())
        .arg(&seed)
        .env("GATEHOUSE_SLAPD_STOP_WITH_STDIN", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    Ok(Slapd {
        child,
        url: format!("ldap://127.0.0.1:{port}"),
        _dir: dir,
    })
}

fn ldap_config(url: &str) -> LdapConfig {
    LdapConfig {
        url: url.to_string(),
        bind_dn: "cn=gatehouse,ou=services,dc=example,dc=org".into(),
        bind_password: Secret::new("gatehouse-service-password"),
        base_dn: "ou=people,dc=example,dc=org".into(),
        groups: LdapGroups {
            base_dn: "ou=groups,dc=example,dc=org".into(),
            ..LdapGroups::default()
        },
        ..LdapConfig::default()
    }
}

/// A small deterministic generator, so runs are comparable.
fn next_random(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

async fn measure(directory: Arc<LdapDirectory>, people: usize, options: &Options) -> Result<Vec<Duration>, String> {
    let per_task = options.sign_ins.div_ceil(options.concurrency);
    let mut tasks = Vec::new();
    for task in 0..options.concurrency {
        let directory = directory.clone();
        tasks.push(tokio::spawn(async move {
            let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ task as u64;
            let mut latencies = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let i = next_random(&mut state) as usize % people;
                let started = Instant::now();
                let user = directory
                    .authenticate_user(&format!("user{i:06}"), &format!("password-{i:06}"))
                    .await
                    .map_err(|e| format!("sign-in of user{i:06} failed: {e}"))?;
                latencies.push(started.elapsed());
                if user.groups.is_empty() {
                    return Err(format!("user{i:06} came back without groups"));
                }
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.map_err(|e| e.to_string())??);
    }
    Ok(all)
}

async fn wait_until_ready(directory: &LdapDirectory) -> Result<(), String> {
    let started = Instant::now();
    loop {
        match directory.check_health().await {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() > Duration::from_secs(60) => return Err(format!("slapd never came up: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let options = parse_options()?;
    println!(
        "{:>9} {:>9} {:>11} {:>10} {:>10} {:>12}",
        "people", "sign-ins", "concurrency", "median", "p99", "sign-ins/s"
    );
    for &people in &options.sizes {
        let slapd = start_slapd(people.max(1))?;
        let directory = Arc::new(LdapDirectory::new(ldap_config(&slapd.url)));
        wait_until_ready(&directory).await?;
        // Warm the pool and slapd's caches.
        let warm = Options {
            sizes: Vec::new(),
            sign_ins: 50.min(options.sign_ins),
            concurrency: 1,
        };
        measure(directory.clone(), people.max(1), &warm).await?;
        let started = Instant::now();
        let mut latencies = measure(directory.clone(), people.max(1), &options).await?;
        let elapsed = started.elapsed();
        latencies.sort();
        println!(
            "{:>9} {:>9} {:>11} {:>8.2}ms {:>8.2}ms {:>12.0}",
            people,
            latencies.len(),
            options.concurrency,
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            latencies.len() as f64 / elapsed.as_secs_f64(),
        );
        std::io::stdout().flush().ok();
        drop(slapd);
    }
    Ok(())
}
