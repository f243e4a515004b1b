//! Stopping cleanly on SIGTERM or SIGINT. First `/readyz` answers 503, so that load
//! balancers stop sending new requests; after `[shutdown] drain_delay` the listener
//! closes and the requests in flight get `[shutdown] grace_period` to finish; then the
//! background tasks are told to stop (each finishes the step it is in) and the audit
//! events still queued are stored. A second signal cuts the drain delay short.

use std::future::Future;
use std::time::Duration;

use actix_web::dev::Server;
use tokio::task::JoinHandle;
use tokio::time::Interval;
use tokio_util::sync::CancellationToken;

use crate::config::ShutdownConfig;
use crate::readiness::ReadinessCheck;

/// Waits for SIGTERM or SIGINT and names it. When the signals cannot be watched (which
/// does not happen on a normal system), waits forever: the process is then stopped the
/// hard way.
pub async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut terminate), Ok(mut interrupt)) => tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        },
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(error = %error, "cannot watch for SIGTERM and SIGINT; stopping will not be graceful");
            std::future::pending().await
        }
    }
}

/// Serves until the server stops on its own or a stop signal arrives, then drains and
/// stops it gracefully.
pub async fn serve_until_signalled(
    mut server: Server,
    readiness: &ReadinessCheck,
    config: &ShutdownConfig,
) -> std::io::Result<()> {
    let signal = tokio::select! {
        result = &mut server => return result,
        signal = stop_signal() => signal,
    };
    readiness.start_draining();
    let drain_delay = Duration::from_secs(config.drain_delay.unsigned_abs());
    tracing::info!(
        signal,
        drain_delay_seconds = drain_delay.as_secs(),
        grace_period_seconds = config.grace_period,
        "stopping: /readyz answers 503 from now on; the listener closes after the drain delay"
    );
    tokio::select! {
        () = tokio::time::sleep(drain_delay) => {}
        signal = stop_signal() => tracing::info!(signal, "second signal: the drain delay is cut short"),
        result = &mut server => return result,
    }
    tracing::info!("closing the listener; the requests in flight are finishing");
    let handle = server.handle();
    let (result, ()) = tokio::join!(server, handle.stop(true));
    result
}

/// The background tasks of a server, stopped together.
pub struct BackgroundTasks {
    stop: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Default for BackgroundTasks {
    fn default() -> Self {
        Self::new()
    }
}

impl BackgroundTasks {
    pub fn new() -> Self {
        BackgroundTasks {
            stop: CancellationToken::new(),
            tasks: Vec::new(),
        }
    }

    /// The signal a task watches between two steps of its work.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push((name, tokio::spawn(task)));
    }

    /// Tells every task to stop and waits for them, at most `limit` in all; a task still
    /// busy then is aborted (and named in a warning).
    pub async fn stop_within(self, limit: Duration) {
        self.stop.cancel();
        let deadline = tokio::time::Instant::now() + limit;
        for (name, mut task) in self.tasks {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(task = name, error = %error, "a background task failed"),
                Err(_) => {
                    tracing::warn!(task = name, "a background task did not stop in time and was aborted");
                    task.abort();
                }
            }
        }
    }
}

/// Waits for the next tick, or for the stop: `false` when the task should stop. The work
/// between two ticks is never interrupted.
pub async fn tick_unless_stopped(interval: &mut Interval, stop: &CancellationToken) -> bool {
    tokio::select! {
        biased;
        () = stop.cancelled() => false,
        _ = interval.tick() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_finish_their_step_and_a_stuck_one_is_aborted() {
        let mut tasks = BackgroundTasks::new();
        let stop = tasks.stop_token();
        let (done_sender, done) = tokio::sync::oneshot::channel();
        tasks.spawn("ticker", async move {
            let mut interval = tokio::time::interval(Duration::from_millis(10));
            let mut ticks = 0;
            while tick_unless_stopped(&mut interval, &stop).await {
                ticks += 1;
            }
            let _ = done_sender.send(ticks);
        });
        tasks.spawn("stuck", std::future::pending());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = tokio::time::Instant::now();
        tasks.stop_within(Duration::from_millis(200)).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        let ticks = done.await.expect("the ticker ended on its own");
        assert!(ticks >= 1);
    }
}
