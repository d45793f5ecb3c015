//! Drives the real `gatehouse` binary against a test store (SQLite file or PostgreSQL schema).
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use gatehouse_store::testing::TestStore;

pub mod page_script;
mod port;
pub mod rp;
pub mod upstream;

pub use port::free_port;

pub const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub store: TestStore,
}

impl Env {
    /// A configuration made of `realms` (TOML for one or more `[realms.X]`) on `store`.
    pub fn new(store: TestStore, realms: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("gatehouse.toml");
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://127.0.0.1\"\n[store]\nurl = \"{}\"\n{realms}",
            store.url()
        );
        std::fs::write(&config, text).unwrap();
        Env { dir, config, store }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("GATEHOUSE_LOG", "warn")
            .current_dir(self.dir.path());
        cmd
    }

    /// Run to completion with `stdin` piped in.
    pub fn run(&self, args: &[&str], stdin: &str) -> Run {
        self.run_with(args, stdin, &[])
    }

    pub fn ok(&self, args: &[&str], stdin: &str) -> String {
        let run = self.run(args, stdin);
        assert_eq!(run.code(), 0, "gatehouse {args:?} failed:\n{}", run.all());
        run.stdout()
    }
}

pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    pub fn all(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr())
    }
}

/// A `gatehouse serve` child on a free port, killed on drop. Its stderr (the logs) goes to a file.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl Server {
    pub async fn start(env: &Env) -> Server {
        Self::start_with(env, &[]).await
    }

    pub async fn start_with(env: &Env, vars: &[(&str, &str)]) -> Server {
        let port = free_port();
        let log = env.dir.path().join(format!("serve-{port}.log"));
        let child = env
            .command(&["serve"])
            .env("GATEHOUSE_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("{}/healthz", server.base)).await
                && r.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "gatehouse serve did not answer /healthz within 30 s:\n{}",
            server.logs()
        );
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "gatehouse serve ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const ONE_DATABASE_REALM: &str = include_str!("../../../../fixtures/realms/one-database.toml");

/// Two real password providers (two database instances with their own links) in chain order.
pub const MIXED_REALM: &str = include_str!("../../../../fixtures/realms/mixed-database.toml");

pub const SUPERSEDING_REALM: &str = include_str!("../../../../fixtures/realms/superseding.toml");

// --- OpenID Provider tests (oidc_rp.rs, oidc_instances.rs) ---

/// Confidential clients, a public one, a service and a password-grant client; a second realm whose
/// codes live 2 s. Secrets are `env:` references to [`OIDC_SECRETS`].
pub const OIDC_REALM: &str = include_str!("../../../../fixtures/realms/oidc.toml");

/// The client secrets of [`OIDC_REALM`], for the environment of every `gatehouse` command.
pub const OIDC_SECRETS: [(&str, &str); 4] = [
    ("NODE_RP_SECRET", "node-rp-secret-0123456789"),
    ("PY_RP_SECRET", "py-rp-secret-0123456789"),
    ("SERVICE_SECRET", "service-secret-0123456789"),
    ("LEGACY_SECRET", "legacy-secret-0123456789"),
];

/// The clone's root (where `tests/` and `fixtures/` are).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Env {
    /// [`Env::run`] with extra environment variables.
    pub fn run_with(&self, args: &[&str], stdin: &str, vars: &[(&str, &str)]) -> Run {
        let mut child = self
            .command(args)
            .envs(vars.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        Run(child.wait_with_output().unwrap())
    }

    /// [`Env::ok`] with extra environment variables.
    pub fn ok_with(&self, args: &[&str], stdin: &str, vars: &[(&str, &str)]) -> String {
        let run = self.run_with(args, stdin, vars);
        assert_eq!(run.code(), 0, "gatehouse {args:?} failed:\n{}", run.all());
        run.stdout()
    }
}

impl Server {
    /// `gatehouse serve` on `port` (e.g. again on the port of a stopped instance). The caller sets
    /// `GATEHOUSE_SERVER__PUBLIC_URL` in `vars` when the issuer matters.
    pub async fn start_at(env: &Env, port: u16, vars: &[(&str, &str)]) -> Server {
        let log = env.dir.path().join(format!(
            "serve-{port}-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let child = env
            .command(&["serve"])
            .env("GATEHOUSE_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("{}/healthz", server.base)).await
                && r.status().is_success()
            {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("gatehouse serve exited with {status}:\n{}", server.logs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "gatehouse serve did not answer /healthz within 30 s:\n{}",
            server.logs()
        );
    }
}
pub mod browser;
