use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::password_hash::{self, try_generate_salt};
use argon2::{Algorithm, Argon2, Params, Version};
use gatehouse_core::Secret;

use crate::error::DatabaseError;
use crate::settings::Argon2Settings;
use crate::workers::{Memory, Workers};

/// More hashing threads than this would only add memory, never throughput.
const MAX_WORKERS: usize = 256;

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

/// Bounds the argon2 work of the whole process: `max_concurrent` dedicated threads (see
/// `workers`), so hashing never occupies an async worker, and a burst of logins queues here
/// instead of growing the process by the memory cost of every waiting login.
#[derive(Clone)]
pub struct HashPool {
    workers: Arc<Workers>,
    max_concurrent: usize,
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
        let max_concurrent = max_concurrent.clamp(1, MAX_WORKERS);
        Self {
            workers: Arc::new(Workers::start(max_concurrent)),
            max_concurrent,
        }
    }

    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// Computations running right now.
    pub fn in_flight(&self) -> usize {
        self.workers.stats.in_flight.load(Ordering::SeqCst)
    }

    /// The most computations ever seen running at once.
    pub fn peak_in_flight(&self) -> usize {
        self.workers.stats.peak_in_flight.load(Ordering::SeqCst)
    }

    /// Computations finished (hashes and verifications, dummy ones included).
    pub fn completed(&self) -> u64 {
        self.workers.stats.completed.load(Ordering::SeqCst)
    }

    /// A new argon2id PHC string for `password`, with a random salt.
    pub async fn hash(
        &self,
        settings: &Argon2Settings,
        password: &Secret,
    ) -> Result<String, DatabaseError> {
        let params = settings.params().map_err(DatabaseError::InvalidSettings)?;
        let password = password.clone();
        let keep = params.block_count();
        self.workers
            .run(keep, move |memory| hash_blocking(params, &password, memory))
            .await?
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
        let keep = target.block_count();
        let outcome = self
            .workers
            .run(keep, move |memory| {
                verify_blocking(&stored, &password, memory)
            })
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
}

fn hash_blocking(
    params: Params,
    password: &Secret,
    memory: &mut Memory,
) -> Result<String, DatabaseError> {
    let salt = try_generate_salt().map_err(|_| DatabaseError::Hashing("no randomness".into()))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let blocks = memory.blocks(params.block_count());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.expose().as_bytes(), &salt, &mut out, blocks)
        .map_err(|e| DatabaseError::Hashing(e.to_string()))?;
    let internal = |e: &dyn fmt::Display| DatabaseError::Hashing(e.to_string());
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| internal(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| internal(&e))?),
        hash: Some(Output::new(&out).map_err(|e| internal(&e))?),
    };
    Ok(hash.to_string())
}

/// What `PasswordVerifier` does, with the worker's memory instead of a fresh allocation; the
/// outputs are compared in constant time by `Output`'s equality.
fn verify_blocking(
    stored: &PasswordHash,
    password: &Secret,
    memory: &mut Memory,
) -> Result<(), password_hash::Error> {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Err(password_hash::Error::PasswordInvalid);
    };
    let algorithm = Algorithm::try_from(stored.algorithm.as_str())?;
    let version = stored
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(stored)?;
    let mut out = vec![0u8; expected.len()];
    let blocks = memory.blocks(params.block_count());
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.expose().as_bytes(),
        salt,
        &mut out,
        blocks,
    )?;
    let computed = Output::new(&out)?;
    out.fill(0);
    if computed == *expected {
        Ok(())
    } else {
        Err(password_hash::Error::PasswordInvalid)
    }
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
