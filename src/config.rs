//! Where the service is, who we are to it, and how long we wait.

use std::time::Duration;

use reqwest::Url;

use crate::secret::Secret;

/// Shortest HS256 secret accepted: RFC 7518 §3.2 asks for a key at least as long as the hash.
pub const MIN_JWT_SECRET_LEN: usize = 32;
/// Default time allowed for one call to the service, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default clock skew tolerated when checking a token's expiry.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Largest leeway accepted: past a minute, an expired token is no longer "just expired".
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);

/// Names of the environment variables read by [`Config::from_env`].
pub mod env {
    /// Base URL of the service, e.g. `https://auth.example.com`.
    pub const ENDPOINT: &str = "STLOCK_ENDPOINT";
    /// UUID of the user pool.
    pub const USER_POOL_ID: &str = "STLOCK_USER_POOL_ID";
    /// UUID of the owner account.
    pub const OWNER_ID: &str = "STLOCK_OWNER_ID";
    /// The owner's API key.
    pub const API_KEY: &str = "STLOCK_API_KEY";
    /// The pool's HS256 signing secret, used to verify tokens locally.
    pub const JWT_SECRET: &str = "STLOCK_JWT_SECRET";
    /// Optional: earlier secrets of the pool, still accepted during a rotation, comma-separated
    /// (see [`ConfigBuilder::extra_jwt_secrets`](super::ConfigBuilder::extra_jwt_secrets)).
    pub const JWT_EXTRA_SECRETS: &str = "STLOCK_JWT_EXTRA_SECRETS";
}

/// Everything stlock needs to talk to one STLock user pool and to verify its tokens.
///
/// Build it in code with [`Config::builder`] or from the `STLOCK_*` environment variables with
/// [`Config::from_env`]. Every value is checked once, here, so nothing later has to.
///
/// ```
/// use std::time::Duration;
///
/// let config = stlock::Config::builder()
///     .endpoint("https://auth.example.com/")
///     .user_pool_id("0e2173b5-b55f-4ea4-bec5-450e2c12a458")
///     .owner_id("b3893a06-5931-4160-9e62-938ab173b6c8")
///     .api_key("my-api-key")
///     .jwt_secret("a-pool-secret-of-at-least-32-bytes!!")
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(config.endpoint().as_str(), "https://auth.example.com/");
/// // Nothing secret shows up in Debug output.
/// assert!(!format!("{config:?}").contains("my-api-key"));
/// # Ok::<(), stlock::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    endpoint: Url,
    user_pool_id: String,
    owner_id: String,
    api_key: Secret,
    jwt_secret: Secret,
    extra_jwt_secrets: Vec<Secret>,
    timeout: Duration,
    leeway: Duration,
    algorithms: Vec<Algorithm>,
}

impl Config {
    /// Starts a configuration in code.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Reads the five `STLOCK_*` variables, and `STLOCK_JWT_EXTRA_SECRETS` when it is set (see
    /// [`env`](mod@env)); timeout, leeway and algorithms keep their defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(std::env::var)
    }

    fn from_lookup(
        lookup: impl Fn(&'static str) -> Result<String, std::env::VarError>,
    ) -> Result<Self, ConfigError> {
        let read = |name: &'static str| match lookup(name) {
            Ok(value) => Ok(value),
            Err(std::env::VarError::NotPresent) => Err(ConfigError::Missing(name)),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::NotUnicode(name)),
        };
        let extra = match read(env::JWT_EXTRA_SECRETS) {
            Ok(list) => list,
            Err(ConfigError::Missing(_)) => String::new(),
            Err(error) => return Err(error),
        };
        Config::builder()
            .endpoint(read(env::ENDPOINT)?)
            .user_pool_id(read(env::USER_POOL_ID)?)
            .owner_id(read(env::OWNER_ID)?)
            .api_key(read(env::API_KEY)?)
            .jwt_secret(read(env::JWT_SECRET)?)
            // Empty items (a trailing comma, an empty variable) are no secret.
            .extra_jwt_secrets(extra.split(',').map(str::trim).filter(|s| !s.is_empty()))
            .build()
    }

    /// Base URL of the service, always ending in `/` so that paths join below it.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The user pool's id (lower-case hyphenated UUID).
    pub fn user_pool_id(&self) -> &str {
        &self.user_pool_id
    }

    /// The owner's id (lower-case hyphenated UUID).
    pub fn owner_id(&self) -> &str {
        &self.owner_id
    }

    /// The API key sent as `x-api-key` on every call.
    pub fn api_key(&self) -> &Secret {
        &self.api_key
    }

    /// The pool's token signing secret.
    pub fn jwt_secret(&self) -> &Secret {
        &self.jwt_secret
    }

    /// Earlier secrets of the pool, still accepted during a rotation, in order.
    pub fn extra_jwt_secrets(&self) -> &[Secret] {
        &self.extra_jwt_secrets
    }

    /// Time allowed for one call to the service.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Clock skew tolerated when checking expiry.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// Signature algorithms accepted on tokens.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }
}

/// A signature algorithm stlock verifies: the HMAC family, the one a pool's shared secret can
/// verify. An algorithm of another family cannot be named, so it cannot be configured:
///
/// ```compile_fail
/// let _ = stlock::config::Algorithm::RS256;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256, what STLock signs with.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
}

impl Algorithm {
    /// Its name in a token's header (`alg`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }

    /// The algorithm a token's header names (`alg`), `None` for any other name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "HS256" => Some(Algorithm::HS256),
            "HS384" => Some(Algorithm::HS384),
            "HS512" => Some(Algorithm::HS512),
            _ => None,
        }
    }
}

/// Builder for [`Config`]; see there for an example.
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ConfigBuilder {
    endpoint: Option<String>,
    user_pool_id: Option<String>,
    owner_id: Option<String>,
    api_key: Option<Secret>,
    jwt_secret: Option<Secret>,
    extra_jwt_secrets: Vec<Secret>,
    timeout: Option<Duration>,
    leeway: Option<Duration>,
    algorithms: Option<Vec<Algorithm>>,
}

impl ConfigBuilder {
    /// Base URL of the service (`http` or `https`); a trailing `/` makes no difference.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// UUID of the user pool.
    pub fn user_pool_id(mut self, id: impl Into<String>) -> Self {
        self.user_pool_id = Some(id.into());
        self
    }

    /// UUID of the owner account.
    pub fn owner_id(mut self, id: impl Into<String>) -> Self {
        self.owner_id = Some(id.into());
        self
    }

    /// The owner's API key.
    pub fn api_key(mut self, key: impl Into<Secret>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The pool's HS256 signing secret, at least [`MIN_JWT_SECRET_LEN`] bytes. The HMAC key is
    /// the secret's text exactly as given, its UTF-8 bytes: a secret that looks like hex or
    /// base64 is not decoded first (the emulator's secrets are 64 hex characters, used as they
    /// are, as the service's own Python client uses them).
    ///
    /// ```
    /// use jsonwebtoken::{encode, EncodingKey, Header};
    ///
    /// let secret = "5f2b0c9d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c";
    /// let pool = "0e2173b5-b55f-4ea4-bec5-450e2c12a458";
    /// let owner = "b3893a06-5931-4160-9e62-938ab173b6c8";
    /// let config = stlock::Config::builder()
    ///     .endpoint("https://auth.example.com")
    ///     .user_pool_id(pool)
    ///     .owner_id(owner)
    ///     .api_key("my-api-key")
    ///     .jwt_secret(secret)
    ///     .build()?;
    /// let decoder = stlock::TokenDecoder::new(&config);
    /// let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    /// let claims = serde_json::json!({
    ///     "jti": "7afdb39b-3d6f-42e3-8555-66168dca7340", "exp": now + 600, "iat": now,
    ///     "type": "ACCESS", "aud": "USER", "sub": "5f331151-49d1-4d12-a977-a94a223a948a",
    ///     "owner_sub": owner, "user_pool_sub": pool,
    /// });
    /// // Signed with the text's bytes: verified.
    /// let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes()))?;
    /// assert!(decoder.decode_access(&token).is_ok());
    /// // Signed with the bytes the text would be as hex: refused.
    /// let hex: Vec<u8> = (0..secret.len()).step_by(2)
    ///     .map(|i| u8::from_str_radix(&secret[i..i + 2], 16))
    ///     .collect::<Result<_, _>>()?;
    /// let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(&hex))?;
    /// assert!(decoder.decode_access(&token).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn jwt_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.jwt_secret = Some(secret.into());
        self
    }

    /// Other secrets whose tokens are still accepted, for a rotation of the pool's secret
    /// without signing anyone out: add the new secret here on every replica, rotate at the
    /// service, make it [`jwt_secret`](Self::jwt_secret), and drop the old one from this list
    /// once the tokens it signed have expired (the README has the runbook). A token signed with
    /// `jwt_secret` costs what it costs without these; one signed with another costs one more
    /// HMAC per secret tried before it. Each is at least [`MIN_JWT_SECRET_LEN`] bytes.
    pub fn extra_jwt_secrets<S: Into<Secret>>(
        mut self,
        secrets: impl IntoIterator<Item = S>,
    ) -> Self {
        self.extra_jwt_secrets = secrets.into_iter().map(Into::into).collect();
        self
    }

    /// Time allowed for one call to the service (default [`DEFAULT_TIMEOUT`]); must not be zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Clock skew tolerated on expiry (default [`DEFAULT_LEEWAY`], at most [`MAX_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = Some(leeway);
        self
    }

    /// Signature algorithms accepted on tokens (default HS256 alone). [`Algorithm`] holds only
    /// the HMAC family (HS256, HS384, HS512), the one a shared secret verifies.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Checks every value and builds the configuration.
    pub fn build(self) -> Result<Config, ConfigError> {
        let endpoint = parse_endpoint(&self.endpoint.ok_or(ConfigError::Missing("endpoint"))?)?;
        let user_pool_id = parse_id(
            "user_pool_id",
            &self
                .user_pool_id
                .ok_or(ConfigError::Missing("user_pool_id"))?,
        )?;
        let owner_id = parse_id(
            "owner_id",
            &self.owner_id.ok_or(ConfigError::Missing("owner_id"))?,
        )?;

        let api_key = self.api_key.ok_or(ConfigError::Missing("api_key"))?;
        // The key travels in a header: it must be a valid, visible header value.
        if api_key.is_empty() || !api_key.expose().bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::InvalidApiKey);
        }

        let jwt_secret = self.jwt_secret.ok_or(ConfigError::Missing("jwt_secret"))?;
        if jwt_secret.len() < MIN_JWT_SECRET_LEN {
            return Err(ConfigError::JwtSecretTooShort {
                len: jwt_secret.len(),
            });
        }

        if let Some(short) = self
            .extra_jwt_secrets
            .iter()
            .find(|secret| secret.len() < MIN_JWT_SECRET_LEN)
        {
            return Err(ConfigError::JwtSecretTooShort { len: short.len() });
        }

        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        let leeway = self.leeway.unwrap_or(DEFAULT_LEEWAY);
        if leeway > MAX_LEEWAY {
            return Err(ConfigError::LeewayTooLarge(leeway));
        }

        let algorithms = self.algorithms.unwrap_or_else(|| vec![Algorithm::HS256]);
        if algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithm);
        }

        Ok(Config {
            endpoint,
            user_pool_id,
            owner_id,
            api_key,
            jwt_secret,
            extra_jwt_secrets: self.extra_jwt_secrets,
            timeout,
            leeway,
            algorithms,
        })
    }
}

fn parse_endpoint(raw: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: &'static str| ConfigError::InvalidEndpoint {
        endpoint: raw.to_owned(),
        reason,
    };
    let mut url = Url::parse(raw.trim()).map_err(|_| invalid("not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials belong in the API key, not in the URL"));
    }
    // Paths are joined below the endpoint, so it must end in exactly one `/`.
    let path = format!("{}/", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

fn parse_id(field: &'static str, raw: &str) -> Result<String, ConfigError> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| ConfigError::InvalidId {
            field,
            value: raw.to_owned(),
        })
}

/// What is wrong with a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required value was not given (a builder field or an environment variable name).
    #[error("stlock configuration: `{0}` is not set")]
    Missing(&'static str),
    /// An environment variable holds bytes that are not UTF-8.
    #[error("stlock configuration: environment variable `{0}` is not valid UTF-8")]
    NotUnicode(&'static str),
    /// The endpoint is not a usable base URL.
    #[error("stlock configuration: endpoint `{endpoint}` is invalid: {reason}")]
    InvalidEndpoint {
        /// The value given.
        endpoint: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An owner or pool id is not a UUID.
    #[error("stlock configuration: `{field}` must be a UUID, got `{value}`")]
    InvalidId {
        /// `owner_id` or `user_pool_id`.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// The API key is empty or holds characters a header cannot carry.
    #[error("stlock configuration: the API key must be non-empty visible ASCII")]
    InvalidApiKey,
    /// The signing secret is too short to be safe.
    #[error(
        "stlock configuration: the JWT secret is {len} bytes; at least {MIN_JWT_SECRET_LEN} are required"
    )]
    JwtSecretTooShort {
        /// Length of the secret given, in bytes.
        len: usize,
    },
    /// A zero timeout would fail every call.
    #[error("stlock configuration: the timeout must be greater than zero")]
    ZeroTimeout,
    /// The expiry leeway is above [`MAX_LEEWAY`].
    #[error("stlock configuration: leeway {0:?} is above the maximum of 60 s")]
    LeewayTooLarge(Duration),
    /// The list of accepted algorithms is empty.
    #[error("stlock configuration: at least one signature algorithm must be accepted")]
    NoAlgorithm,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const POOL: &str = "0e2173b5-b55f-4ea4-bec5-450e2c12a458";
    const OWNER: &str = "b3893a06-5931-4160-9e62-938ab173b6c8";
    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn valid() -> ConfigBuilder {
        Config::builder()
            .endpoint("https://auth.example.com")
            .user_pool_id(POOL)
            .owner_id(OWNER)
            .api_key("key")
            .jwt_secret(SECRET)
    }

    #[test]
    fn endpoint_is_normalised_to_one_trailing_slash() {
        for raw in [
            "http://h:8080/base",
            "http://h:8080/base/",
            "http://h:8080/base//",
        ] {
            let config = valid().endpoint(raw).build().unwrap();
            assert_eq!(config.endpoint().as_str(), "http://h:8080/base/");
        }
        let config = valid().endpoint("http://h").build().unwrap();
        assert_eq!(config.endpoint().as_str(), "http://h/");
    }

    #[test]
    fn bad_endpoints_are_refused_with_a_reason() {
        for raw in [
            "",
            "auth.example.com",
            "ftp://h",
            "http://h/?a=1",
            "http://u:p@h",
            "http://h/#x",
        ] {
            let err = valid().endpoint(raw).build().unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidEndpoint { .. }),
                "{raw}: {err}"
            );
        }
    }

    #[test]
    fn ids_must_be_uuids_and_are_normalised() {
        let err = valid().owner_id("owner-1").build().unwrap_err();
        assert!(matches!(
            err,
            ConfigError::InvalidId {
                field: "owner_id",
                ..
            }
        ));
        let config = valid().user_pool_id(POOL.to_uppercase()).build().unwrap();
        assert_eq!(config.user_pool_id(), POOL);
    }

    #[test]
    fn short_secret_is_refused() {
        let err = valid().jwt_secret("too-short").build().unwrap_err();
        assert!(matches!(err, ConfigError::JwtSecretTooShort { len: 9 }));
        assert!(err.to_string().contains("at least 32"));
    }

    #[test]
    fn api_key_must_fit_in_a_header() {
        for key in ["", "has space", "new\nline"] {
            let err = valid().api_key(key).build().unwrap_err();
            assert!(matches!(err, ConfigError::InvalidApiKey), "{key:?}");
        }
    }

    #[test]
    fn limits_on_timeout_leeway_and_algorithms() {
        assert!(matches!(
            valid().timeout(Duration::ZERO).build(),
            Err(ConfigError::ZeroTimeout)
        ));
        assert!(matches!(
            valid().leeway(Duration::from_secs(61)).build(),
            Err(ConfigError::LeewayTooLarge(_))
        ));
        assert!(matches!(
            valid().algorithms([]).build(),
            Err(ConfigError::NoAlgorithm)
        ));
        let config = valid().build().unwrap();
        assert_eq!(config.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(config.leeway(), DEFAULT_LEEWAY);
        assert_eq!(config.algorithms(), [Algorithm::HS256]);
    }

    #[test]
    fn from_env_reads_every_variable_and_names_the_missing_one() {
        let mut vars: HashMap<&'static str, &'static str> = HashMap::from([
            (env::ENDPOINT, "http://127.0.0.1:1"),
            (env::USER_POOL_ID, POOL),
            (env::OWNER_ID, OWNER),
            (env::API_KEY, "key"),
            (env::JWT_SECRET, SECRET),
        ]);
        fn lookup<'a>(
            vars: &'a HashMap<&'static str, &'static str>,
        ) -> impl Fn(&'static str) -> Result<String, std::env::VarError> + 'a {
            move |name| {
                vars.get(name)
                    .map(|v| v.to_string())
                    .ok_or(std::env::VarError::NotPresent)
            }
        }
        let config = Config::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(config.owner_id(), OWNER);
        assert_eq!(config.api_key().expose(), "key");

        assert!(config.extra_jwt_secrets().is_empty());
        let old = "an-earlier-secret-of-at-least-32-bytes";
        let older = "an-older-secret-of-at-least-32-bytes!!";
        let both = format!("{old}, {older},");
        vars.insert(env::JWT_EXTRA_SECRETS, Box::leak(both.into_boxed_str()));
        let config = Config::from_lookup(lookup(&vars)).unwrap();
        let extra: Vec<_> = config
            .extra_jwt_secrets()
            .iter()
            .map(Secret::expose)
            .collect();
        assert_eq!(extra, [old, older]);
        vars.insert(env::JWT_EXTRA_SECRETS, "too-short");
        assert!(matches!(
            Config::from_lookup(lookup(&vars)),
            Err(ConfigError::JwtSecretTooShort { len: 9 })
        ));
        vars.remove(env::JWT_EXTRA_SECRETS);

        vars.remove(env::JWT_SECRET);
        let err = Config::from_lookup(lookup(&vars)).unwrap_err();
        assert!(matches!(err, ConfigError::Missing("STLOCK_JWT_SECRET")));
        assert!(err.to_string().contains("STLOCK_JWT_SECRET"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let shown = format!("{:?}", valid().api_key("sk-very-secret").build().unwrap());
        assert!(!shown.contains("sk-very-secret"));
        assert!(!shown.contains(SECRET));
    }
}
