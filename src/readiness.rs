//! Whether this instance can serve sign-ins: the database answers and the directory
//! accepts the service account's bind and a read of the search base.
//!
//! Load balancers and orchestrators ask often, and anyone who can reach `/readyz` can ask
//! as often as they like, so the answer is computed by one request at a time and kept for
//! [`READINESS_CACHE_TIME`] (by the app clock) on each instance: probes that arrive while
//! a check runs wait for it and share its answer, and probes within the window get the
//! kept answer. A flood of probes costs at most one database ping and one directory check
//! per window per instance.

use std::sync::atomic::{AtomicBool, Ordering};

use time::{Duration, OffsetDateTime};
use tokio::sync::Mutex;

use crate::clock::Clock;
use crate::directory::Directory;
use crate::storage::{ping, Db};

/// How long a readiness answer is kept. Short, so that a load balancer notices an outage
/// (or a recovery) within a few seconds; long enough that any rate of probes costs at most
/// one check per window.
pub const READINESS_CACHE_TIME: Duration = Duration::seconds(5);

/// What the last check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub database: bool,
    pub directory: bool,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.database && self.directory
    }
}

/// The kept answer of one instance.
#[derive(Debug, Default)]
pub struct ReadinessCheck {
    /// The last answer and when it was computed. The lock is held during a check, so that
    /// concurrent probes wait for that one instead of starting their own.
    last: Mutex<Option<(OffsetDateTime, Readiness)>>,
    /// Set when the instance is stopping: unready from then on, whatever the checks say.
    draining: AtomicBool,
}

impl ReadinessCheck {
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on the instance is unready: it is stopping (`app::shutdown`).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The kept answer while it is younger than [`READINESS_CACHE_TIME`], else a new check
    /// (which the probes arriving meanwhile share).
    pub async fn current(&self, db: &Db, directory: &dyn Directory, clock: &dyn Clock) -> Readiness {
        let mut last = self.last.lock().await;
        if let Some((checked_at, readiness)) = *last {
            let age = clock.now() - checked_at;
            // A clock set back makes the age negative: the answer is not trusted then.
            if age >= Duration::ZERO && age < READINESS_CACHE_TIME {
                return readiness;
            }
        }
        let readiness = check(db, directory).await;
        *last = Some((clock.now(), readiness));
        readiness
    }
}

/// Asks the database and the directory, logging what is wrong.
async fn check(db: &Db, directory: &dyn Directory) -> Readiness {
    let (database, directory) = tokio::join!(ping(db), directory.check_health());
    if let Err(error) = &database {
        tracing::warn!(error = %error, "readiness: database unreachable");
    }
    if let Err(error) = &directory {
        tracing::warn!(error = %error, "readiness: directory unreachable");
    }
    Readiness {
        database: database.is_ok(),
        directory: directory.is_ok(),
    }
}
