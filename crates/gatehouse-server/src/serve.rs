use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::Gatehouse;
use crate::error::ServerError;
use crate::routes;

/// Bind `server.listen` and serve until SIGTERM or Ctrl-C, finishing requests in flight.
pub async fn serve(gatehouse: Arc<Gatehouse>) -> Result<(), ServerError> {
    // Supersession follows the configuration this instance starts with (DESIGN.md).
    crate::supersede::apply_all(&gatehouse).await?;
    let addr = gatehouse.config.server.listen.clone();
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|source| ServerError::Listen { addr, source })?;
    print!("{}", next_steps(&gatehouse));
    serve_on(gatehouse, listener, shutdown_signal()).await
}

/// What a person opens next, on stdout (the logs go to stderr): each realm's account page and
/// the discovery document applications are configured with.
pub fn next_steps(gatehouse: &Gatehouse) -> String {
    let base = gatehouse.config.server.public_url.trim_end_matches('/');
    let mut text = format!("Gatehouse is serving {base}\n");
    for realm in gatehouse.realms() {
        text.push_str(&format!(
            "  realm {name}:\n    account page  {base}/realms/{name}/account\n    discovery     {base}/realms/{name}/.well-known/openid-configuration\n",
            name = realm.name
        ));
    }
    text.push_str(
        "No account yet? Create the administrator: gatehouse admin bootstrap --realm REALM admin\n",
    );
    text
}

pub async fn serve_on(
    gatehouse: Arc<Gatehouse>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let local = listener.local_addr().map_err(ServerError::Serve)?;
    tracing::info!(listen = %local, public_url = %gatehouse.config.server.public_url, "serving");
    let metrics = crate::metrics::spawn_listener(&gatehouse).await?;
    let purge = tokio::spawn(purge_expired(gatehouse.store.clone()));
    // Connect info: the peer's address goes into the audit trail.
    let app =
        routes::router(gatehouse).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve);
    purge.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Expired sessions, login transactions, codes and tokens would otherwise pile up in the store.
/// Every instance may run this: the deletes are idempotent.
async fn purge_expired(store: gatehouse_store::Store) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        match store.purge_expired(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "purged expired sessions, codes and tokens"),
            Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
