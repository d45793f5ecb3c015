use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::password_hash::{self, PasswordHasher, PasswordVerifier, try_generate_salt};
use argon2::{Algorithm, Argon2, Params, Version};
use gatehouse_core::Secret;
use tokio::sync::Semaphore;

use crate::error::DatabaseError;
use crate::settings::Argon2Settings;

/// Ceilings on the cost a *stored* hash may ask for, unless the configured cost is higher. A
/// corrupt or hostile row saying `m=4294967295` would otherwise abort the process on allocation,
/// or hold a pool slot for hours and starve every other login.
const MAX_STORED_MEMORY_KIB: u32 = 1 << 20; // 1 GiB
const MAX_STORED_ITERATIONS: u32 = 64;
const MAX_STORED_PARALLELISM: u32 = 64;

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matched: bool,
    /// The stored hash's algorithm, version or parameters differ from the configured ones, so a
    /// fresh hash should replace it once the password is known to be right.
    pub needs_rehash: bool,
}

/// Bounds the argon2 work of the whole process. Each computation runs on tokio's blocking pool so
/// it never occupies an async worker, and only `max_concurrent` run at once because each one holds
/// its full memory cost (19 MiB by default) until it finishes: a burst of logins queues here
/// instead of growing the process by hundreds of MiB.
#[derive(Clone)]
pub struct HashPool {
    permits: Arc<Semaphore>,
    stats: Arc<Stats>,
    max_concurrent: usize,
}

#[derive(Default)]
struct Stats {
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    completed: AtomicU64,
}

/// Counts a computation while it runs; dropped before the permit so `in_flight` never exceeds the
/// bound, and on unwind too so a panic cannot leave the counter high.
struct InFlight<'a>(&'a Stats);

impl<'a> InFlight<'a> {
    fn enter(stats: &'a Stats) -> Self {
        let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        stats.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(stats)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.completed.fetch_add(1, Ordering::SeqCst);
    }
}

impl Default for HashPool {
    /// One computation per CPU: more would only add memory, not throughput.
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl fmt::Debug for HashPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashPool")
            .field("max_concurrent", &self.max_concurrent)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl HashPool {
    /// `max_concurrent` is raised to 1: a pool that never runs anything would hang every login.
    pub fn new(max_concurrent: usize) -> Self {
        let max_concurrent = max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent)),
            stats: Arc::default(),
            max_concurrent,
        }
    }

    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// Computations running right now.
    pub fn in_flight(&self) -> usize {
        self.stats.in_flight.load(Ordering::SeqCst)
    }

    /// The most computations ever seen running at once.
    pub fn peak_in_flight(&self) -> usize {
        self.stats.peak_in_flight.load(Ordering::SeqCst)
    }

    /// Computations finished (hashes and verifications, dummy ones included).
    pub fn completed(&self) -> u64 {
        self.stats.completed.load(Ordering::SeqCst)
    }

    /// A new argon2id PHC string for `password`, with a random salt.
    pub async fn hash(
        &self,
        settings: &Argon2Settings,
        password: &Secret,
    ) -> Result<String, DatabaseError> {
        let params = settings.params().map_err(DatabaseError::InvalidSettings)?;
        let password = password.clone();
        self.run(move || hash_blocking(params, &password)).await?
    }

    /// Checks `password` against the stored `phc`, with the stored hash's own parameters, and says
    /// whether it should be upgraded to `settings`.
    pub async fn verify(
        &self,
        settings: &Argon2Settings,
        password: &Secret,
        phc: &str,
    ) -> Result<Verification, DatabaseError> {
        let target = settings.params().map_err(DatabaseError::InvalidSettings)?;
        // Parsed before queueing: a malformed row costs no pool slot.
        let stored = parse_stored(phc, &target)?;
        let needs_rehash = differs(&stored, &target);
        let password = password.clone();
        let outcome = self
            .run(move || Argon2::default().verify_password(password.expose().as_bytes(), &stored))
            .await?;
        match outcome {
            Ok(()) => Ok(Verification {
                matched: true,
                needs_rehash,
            }),
            Err(password_hash::Error::PasswordInvalid) => Ok(Verification {
                matched: false,
                needs_rehash,
            }),
            Err(e) => Err(classify(e)),
        }
    }

    async fn run<T, F>(&self, job: F) -> Result<T, DatabaseError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| DatabaseError::TaskFailed)?;
        let stats = Arc::clone(&self.stats);
        // The permit moves into the blocking task: if the caller's future is dropped mid-hash, the
        // computation still runs to the end and must keep counting against the bound until then.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _counted = InFlight::enter(&stats);
            job()
        })
        .await
        .map_err(|_| DatabaseError::TaskFailed)
    }
}

fn hash_blocking(params: Params, password: &Secret) -> Result<String, DatabaseError> {
    let salt = try_generate_salt().map_err(|_| DatabaseError::Hashing("no randomness".into()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_with_salt(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(classify)
}

/// A well-formed argon2id PHC string with `settings`' parameters that no password matches (its
/// output is zero; a real output being all zero has probability 2⁻²⁵⁶). Verifying against it costs
/// exactly what verifying a real hash made with `settings` costs, with no hashing up front.
pub(crate) fn dummy_phc(settings: &Argon2Settings) -> Result<String, DatabaseError> {
    let params = settings.params().map_err(DatabaseError::InvalidSettings)?;
    let internal = |e: &dyn fmt::Display| DatabaseError::Hashing(e.to_string());
    let salt = try_generate_salt().map_err(|_| DatabaseError::Hashing("no randomness".into()))?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| internal(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| internal(&e))?),
        hash: Some(Output::new(&[0u8; Params::DEFAULT_OUTPUT_LEN]).map_err(|e| internal(&e))?),
    };
    Ok(hash.to_string())
}

fn parse_stored(phc: &str, target: &Params) -> Result<PasswordHash, DatabaseError> {
    let malformed = |why: &str| DatabaseError::MalformedHash(why.to_owned());
    let hash = PasswordHash::new(phc).map_err(|_| malformed("not a PHC string"))?;
    Algorithm::new(hash.algorithm.as_str()).map_err(|_| malformed("not an argon2 hash"))?;
    if let Some(v) = hash.version {
        Version::try_from(v).map_err(|_| malformed("unknown argon2 version"))?;
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(malformed("salt or output missing"));
    }
    let params = Params::try_from(&hash).map_err(|_| malformed("invalid argon2 parameters"))?;
    if params.m_cost() > MAX_STORED_MEMORY_KIB.max(target.m_cost())
        || params.t_cost() > MAX_STORED_ITERATIONS.max(target.t_cost())
        || params.p_cost() > MAX_STORED_PARALLELISM.max(target.p_cost())
    {
        return Err(malformed("argon2 cost above the allowed ceiling"));
    }
    Ok(hash)
}

/// Whether a hash made now with `target` would differ in anything but salt and output.
fn differs(stored: &PasswordHash, target: &Params) -> bool {
    let Ok(params) = Params::try_from(stored) else {
        return true;
    };
    stored.algorithm != argon2::ARGON2ID_IDENT
        || stored.version != Some(Version::V0x13.into())
        || params.m_cost() != target.m_cost()
        || params.t_cost() != target.t_cost()
        || params.p_cost() != target.p_cost()
        || params.output_len() != Some(Params::DEFAULT_OUTPUT_LEN)
        || !params.keyid().is_empty()
        || !params.data().is_empty()
}

/// argon2 failures that say nothing about the stored value are ours, not the row's.
fn classify(e: password_hash::Error) -> DatabaseError {
    use password_hash::Error as E;
    match e {
        E::OutOfMemory | E::Crypto | E::Internal | E::RngFailure => {
            DatabaseError::Hashing(e.to_string())
        }
        other => DatabaseError::MalformedHash(other.to_string()),
    }
}
