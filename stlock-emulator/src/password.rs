//! Password hashing: Argon2id, run on the blocking pool and never on the async workers.

use std::cell::RefCell;
use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{ApiError, EmulatorError};

/// How expensive the emulator makes each password hash.
///
/// ```
/// use stlock_emulator::{Emulator, HashCost};
/// let builder = Emulator::builder().hash_cost(HashCost::Fast); // for tests only
/// # drop(builder);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashCost {
    /// Argon2id with m = 19456 KiB, t = 2, p = 1: the OWASP minimum for stored passwords,
    /// so that logins cost what they cost against a real service.
    #[default]
    Default,
    /// Argon2id with m = 64 KiB, t = 1, p = 1: far too cheap for real passwords, meant for
    /// test suites that register and log in many users. Only used when asked for.
    Fast,
}

impl HashCost {
    fn params(self) -> Result<Params, argon2::Error> {
        match self {
            HashCost::Default => Params::new(19_456, 2, 1, None),
            HashCost::Fast => Params::new(64, 1, 1, None),
        }
    }
}

/// Hashes and verifies passwords with one cost.
pub(crate) struct Hasher {
    argon2: Argon2<'static>,
    /// Each Default hash holds 19 MiB for its duration; at most one per core run at once, so
    /// a burst of registrations queues instead of exhausting memory.
    permits: Arc<Semaphore>,
    /// Hash of a password nobody knows, verified when the username is unknown, so that an
    /// unknown user costs as much time as a wrong password and usernames do not leak.
    dummy_hash: String,
    /// Argon2 runs so far, so that tests can see an unknown user costs a real verification.
    #[cfg(test)]
    runs: std::sync::atomic::AtomicUsize,
}

impl Hasher {
    pub(crate) async fn new(cost: HashCost) -> Result<Self, EmulatorError> {
        let params = cost
            .params()
            .map_err(|err| EmulatorError::Hasher(err.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut hasher = Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash: String::new(),
            #[cfg(test)]
            runs: std::sync::atomic::AtomicUsize::new(0),
        };
        let dummy_password = crate::random_hex(16);
        hasher.dummy_hash = hasher
            .hash(dummy_password)
            .await
            .map_err(|err| EmulatorError::Hasher(err.to_string()))?;
        Ok(hasher)
    }

    /// The PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`) of `password`.
    pub(crate) async fn hash(&self, password: String) -> Result<String, ApiError> {
        let argon2 = self.argon2.clone();
        self.run_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|_| ApiError::Internal)
        })
        .await
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) it verifies against the
    /// dummy hash and answers `false`, taking the same time.
    pub(crate) async fn verify(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, ApiError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let matches = self
            .run_blocking(move || {
                let parsed = PasswordHash::new(&hash).map_err(|_| ApiError::Internal)?;
                verify_in_kept_memory(password.as_bytes(), &parsed)
            })
            .await?;
        Ok(known && matches)
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        #[cfg(test)]
        self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Internal)?;
        // The permit moves into the task: should the request be dropped mid-hash, the hash
        // still counts against the limit until it really ends.
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|_| ApiError::Internal)?
    }
}

thread_local! {
    /// The Argon2 memory of this blocking thread, kept from one verification to the next.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// What argon2's `verify_password` does, in memory this thread keeps: allocating the 19 MiB
/// afresh for every login faults every page in again, and on every core at once those faults
/// queue on the process's one memory map, a tenth of a login's time. Tokio ends a blocking
/// thread after a few idle seconds, and its memory with it.
fn verify_in_kept_memory(password: &[u8], hash: &PasswordHash<'_>) -> Result<bool, ApiError> {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Err(ApiError::Internal);
    };
    fn internal<E>(_: E) -> ApiError {
        ApiError::Internal
    }
    let params = Params::try_from(hash).map_err(internal)?;
    let algorithm = Algorithm::try_from(hash.algorithm).map_err(internal)?;
    let version = hash
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(internal)?
        .unwrap_or_default();
    let block_count = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut salt_room = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_room).map_err(internal)?;
    let computed = BLOCKS.with_borrow_mut(|blocks| {
        // Every block is written before it is read, so what an earlier run left is no input.
        blocks.resize(block_count, Block::default());
        Output::init_with(expected.len(), |out| {
            argon2
                .hash_password_into_with_memory(password, salt, out, &mut blocks[..])
                .map_err(Into::into)
        })
    });
    // `Output`'s equality takes constant time.
    Ok(computed.map_err(internal)? == *expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn default_cost_is_argon2id_19_mib_two_passes_one_lane() {
        let hasher = Hasher::new(HashCost::Default).await.unwrap();
        let hash = hasher.hash("test".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher
            .verify("test".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher.verify("nope".into(), Some(hash)).await.unwrap());
    }

    #[test]
    fn kept_memory_carries_nothing_from_one_verification_to_the_next() {
        // Two costs, so that the kept memory also shrinks and grows between runs.
        let hashes: Vec<(&str, String)> = [("first", 64), ("second", 256), ("third", 64)]
            .into_iter()
            .map(|(password, m_cost)| {
                let params = Params::new(m_cost, 1, 1, None).unwrap();
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let salt = SaltString::generate(&mut OsRng);
                let hash = argon2.hash_password(password.as_bytes(), &salt).unwrap();
                (password, hash.to_string())
            })
            .collect();
        for _ in 0..2 {
            for (password, hash) in &hashes {
                let hash = PasswordHash::new(hash).unwrap();
                for (other, _) in &hashes {
                    let matches = verify_in_kept_memory(other.as_bytes(), &hash).unwrap();
                    assert_eq!(
                        matches,
                        other == password,
                        "{other} against {password}'s hash"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let hasher = Hasher::new(HashCost::Fast).await.unwrap();
        assert!(!hasher.verify(String::new(), None).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_costs_one_verification_at_the_same_cost() {
        use std::sync::atomic::Ordering;
        let hasher = Hasher::new(HashCost::Default).await.unwrap();
        let real = hasher.hash("test".into()).await.unwrap();
        let cost = |hash: &str| hash.split('$').nth(3).map(str::to_owned);
        assert_eq!(
            cost(&hasher.dummy_hash),
            cost(&real),
            "{}",
            hasher.dummy_hash
        );

        let before = hasher.runs.load(Ordering::SeqCst);
        assert!(!hasher.verify("test".into(), None).await.unwrap());
        assert_eq!(hasher.runs.load(Ordering::SeqCst), before + 1);
        assert!(!hasher.verify("nope".into(), Some(real)).await.unwrap());
        assert_eq!(hasher.runs.load(Ordering::SeqCst), before + 2);
    }
}
