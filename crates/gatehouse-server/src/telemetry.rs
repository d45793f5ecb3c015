use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, ServerConfig};

/// Log to stderr, as text or JSON. `GATEHOUSE_LOG` (a tracing filter) wins over `server.log_level`.
/// `level` replaces `server.log_level` (administrative commands log only warnings).
/// Calling it twice is harmless (the second call keeps the first subscriber).
pub fn init(server: &ServerConfig, level: Option<&str>) {
    let filter = std::env::var("GATEHOUSE_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(quiet_migrations(&f)).ok())
        .or_else(|| EnvFilter::try_new(quiet_migrations(level.unwrap_or(&server.log_level))).ok())
        .unwrap_or_else(|| EnvFilter::new(quiet_migrations("info")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match server.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// sea-orm-migration logs two lines per migration at `info`; the store logs one line for them
/// all. A filter that names `sea_orm_migration` itself is left as it is.
fn quiet_migrations(filter: &str) -> String {
    if filter.contains("sea_orm_migration") {
        filter.to_owned()
    } else {
        format!("{filter},sea_orm_migration=warn")
    }
}
