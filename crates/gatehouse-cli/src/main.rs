//! `gatehouse`: serve the broker and administer its realms.

mod cli;
mod commands;
mod password_input;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

// glibc's malloc spent ~17 % of a directory login's CPU in the ldap_login bench (its
// consolidation of freed chunks); mimalloc raised the resolver's throughput by about a tenth of
// the raw ldap3 baseline there (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes: 0 done, 1 refused or failed, 2 configuration or usage error.
pub enum Failure {
    Refused,
    Config(String),
    Other(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Other(e.to_string())
    }
}

fn main() -> ExitCode {
    // Two rustls crypto providers are linked in (ring through sqlx, aws-lc-rs through ldap3 and
    // reqwest): without a process default, the first TLS connection that relies on it panics.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused) => ExitCode::from(1),
        Err(Failure::Config(message)) => {
            eprintln!("error: {}", message.trim_end());
            ExitCode::from(2)
        }
        Err(Failure::Other(message)) => {
            eprintln!("error: {}", message.trim_end());
            ExitCode::from(1)
        }
    }
}
