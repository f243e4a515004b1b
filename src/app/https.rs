//! Wiring of native TLS (`[tls]`): the certificate the main listener serves, its reloads,
//! and the optional plain-http listener that only redirects to https.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::http::https_redirect::{redirect_to_https, HttpsOrigin};
use crate::tls::{check_certificate_pair, server_config, watch_for_reloads, ReloadingCertificate};

/// What `[tls]` adds to the server.
pub struct Https {
    pub certificate: Arc<ReloadingCertificate>,
    /// The redirect listener, running once the application's task polls it.
    redirect: Option<(Server, SocketAddr)>,
}

impl Https {
    /// The rustls configuration of the main listener.
    pub fn server_config(&self) -> anyhow::Result<rustls::ServerConfig> {
        server_config(self.certificate.clone()).context("while configuring TLS")
    }

    /// The address of the plain-http redirect listener, when there is one.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect.as_ref().map(|(_, addr)| *addr)
    }
}

/// Loads the certificate and key of `[tls]` (a pair that cannot be served stops the start
/// here, with the reason) and binds the redirect listener. `None` without `[tls]`.
pub async fn prepare_https(config: &Config) -> anyhow::Result<Option<Https>> {
    let Some(tls) = &config.tls else {
        return Ok(None);
    };
    let certificate = ReloadingCertificate::load(tls).await.with_context(|| {
        format!(
            "the TLS certificate ({}) and key ({}) cannot be served",
            tls.cert_file.display(),
            tls.key_file.display()
        )
    })?;
    // What `check-config` reports, logged: an expired or misnamed certificate still
    // starts (a renewal may be on its way) but every client would refuse it.
    let (checked, issuer) = (tls.clone(), config.issuer.clone());
    let report =
        tokio::task::spawn_blocking(move || check_certificate_pair(&checked, &issuer, SystemClock.now_unix())).await?;
    for problem in report.problems {
        tracing::error!("{problem}");
    }
    for warning in report.warnings {
        tracing::warn!("{warning}");
    }
    let redirect = match &tls.redirect_listen {
        Some(listen) => Some(redirect_server(&config.issuer, listen)?),
        None => None,
    };
    Ok(Some(Https { certificate, redirect }))
}

/// The plain-http listener: redirects only, one worker, stopped with the application.
fn redirect_server(issuer: &str, listen: &str) -> anyhow::Result<(Server, SocketAddr)> {
    let origin = url::Url::parse(issuer)
        .context("while reading the issuer")?
        .origin()
        .ascii_serialization();
    let listener = TcpListener::bind(listen).with_context(|| format!("while binding tls.redirect_listen {listen}"))?;
    let addr = listener.local_addr()?;
    let origin = web::Data::new(HttpsOrigin(origin));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(origin.clone())
            .default_service(web::to(redirect_to_https))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    tracing::info!(%addr, "redirecting plain http to https");
    Ok((server, addr))
}

/// Runs until `stop` (the application's shutdown): certificate reloads (on schedule and
/// on SIGHUP) and the redirect listener, which is then stopped too. Without `[tls]`,
/// SIGHUP is answered with a log line.
pub async fn run_https_upkeep(https: Option<Https>, stop: CancellationToken) {
    let Some(https) = https else {
        tokio::select! {
            () = watch_for_reloads(None) => {}
            () = stop.cancelled() => {}
        }
        return;
    };
    let mut watch = std::pin::pin!(watch_for_reloads(Some(https.certificate)));
    let Some((server, _)) = https.redirect else {
        tokio::select! {
            () = &mut watch => {}
            () = stop.cancelled() => {}
        }
        return;
    };
    let handle = server.handle();
    let mut server = std::pin::pin!(server);
    tokio::select! {
        () = &mut watch => {}
        () = stop.cancelled() => {
            // The redirect listener stops with the application (it is still polled here).
            let (_, stopped) = tokio::join!(handle.stop(true), &mut server);
            if let Err(error) = stopped {
                tracing::error!(error = %error, "the plain-http redirect listener failed while stopping");
            }
        }
        stopped = &mut server => {
            if let Err(error) = stopped {
                tracing::error!(error = %error, "the plain-http redirect listener stopped");
            }
            tokio::select! {
                () = &mut watch => {}
                () = stop.cancelled() => {}
            }
        }
    }
}
