use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse credential federation broker"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG", default_value = gatehouse_server::config::DEFAULT_PATH)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the migrations, then serve HTTP until SIGTERM or Ctrl-C.
    Serve,
    /// Create or upgrade the store's tables.
    Migrate,
    /// Validate the configuration (the same checks as at `serve` start); exit 2 when invalid.
    CheckConfig,
    /// Manage accounts and their provider links.
    #[command(subcommand)]
    User(UserCommand),
    /// Break-glass administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The realm's token-signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Realm-wide account maintenance.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Show which providers a login would be tried against, in order, and why others are skipped;
    /// with --policy, also the steps that authentication policy would take that login through.
    Explain {
        #[command(flatten)]
        realm: RealmArg,
        /// An authentication policy id of the realm (`default` when it configures none).
        #[arg(long)]
        policy: Option<String>,
        login: String,
    },
    /// Run a real login (password on stdin) and show the providers tried; exit 1 when refused.
    Login {
        #[command(flatten)]
        realm: RealmArg,
        login: String,
    },
    /// Show the realm's audit trail, newest first: every login attempt and account change.
    Audit(AuditArgs),
}

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub realm: RealmArg,
    /// Only this login (normalised as the realm does, e.g. case-folded).
    #[arg(long)]
    pub login: Option<String>,
    /// Only this account id.
    #[arg(long)]
    pub account: Option<String>,
    /// Only events at or after: an RFC 3339 time, a date (UTC), or a span back (90s, 15m, 2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Only this result code (success, invalid_credentials, csrf, expired, replayed, …).
    #[arg(long)]
    pub result: Option<String>,
    /// At most this many events.
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
    /// One JSON object a line instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct RealmArg {
    /// The realm.
    #[arg(long, env = "GATEHOUSE_REALM")]
    pub realm: String,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account.
    Add {
        #[command(flatten)]
        realm: RealmArg,
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// Set the password of a database link (password on stdin); creates the link if needed.
    SetPassword {
        #[command(flatten)]
        realm: RealmArg,
        /// A database provider; default: the realm's first one.
        #[arg(long)]
        provider: Option<String>,
        username: String,
    },
    /// Link an account to a provider (for directories and IdPs: the external id it knows the user by).
    Link {
        #[command(flatten)]
        realm: RealmArg,
        #[arg(long)]
        provider: String,
        username: String,
        #[arg(long)]
        external_id: Option<String>,
    },
    /// Remove an account's link to a provider.
    Unlink {
        #[command(flatten)]
        realm: RealmArg,
        #[arg(long)]
        provider: String,
        username: String,
        /// Also remove the break-glass administrator's protected link.
        #[arg(long)]
        force: bool,
    },
    /// Disable an account (it can no longer log in).
    Disable {
        #[command(flatten)]
        realm: RealmArg,
        username: String,
        #[arg(long, default_value = "disabled by an administrator")]
        reason: String,
    },
    /// Enable a disabled account.
    Enable {
        #[command(flatten)]
        realm: RealmArg,
        username: String,
    },
    /// Lift a brute-force lock and delays: forget every failure counted against the account.
    Unlock {
        #[command(flatten)]
        realm: RealmArg,
        username: String,
    },
    /// Show an account, its state, statistics, and every link per provider.
    Show {
        #[command(flatten)]
        realm: RealmArg,
        username: String,
    },
    /// List a realm's accounts.
    List {
        #[command(flatten)]
        realm: RealmArg,
    },
    /// An account's second factors (reset, show).
    #[command(subcommand)]
    Mfa(crate::commands::MfaCommand),
}

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Disable the accounts a superseding provider leaves without a live link, and restore those
    /// it no longer does (also done at `serve` start). Prints one line per account changed.
    Supersede {
        #[command(flatten)]
        realm: RealmArg,
        /// List what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create (or repair) the break-glass administrator: role admin and a database link that is
    /// never superseded. Password on stdin.
    Bootstrap {
        #[command(flatten)]
        realm: RealmArg,
        username: String,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key; older keys stay in the JWKS until their tokens have expired.
    Rotate {
        #[command(flatten)]
        realm: RealmArg,
    },
    /// List the keys published in the realm's JWKS (the first one signs).
    List {
        #[command(flatten)]
        realm: RealmArg,
    },
}
