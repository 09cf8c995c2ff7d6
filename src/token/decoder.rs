//! [`TokenDecoder`]: verification in one pass over the token, borrowing from it, with the HMAC key
//! prepared once.

use std::borrow::Cow;
use std::fmt;

use base64_simd::{AsOut as _, URL_SAFE_NO_PAD};
use ring::hmac;
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{Claims, DecodeError, TokenType, AUDIENCE, MAX_TOKEN_LEN};
use crate::config::{Algorithm, Config};

/// Verifies STLock tokens and returns their claims.
///
/// Built once from a [`Config`]: the HMAC keys are prepared here, so that
/// [`decode`](Self::decode) does no set-up work per call. One pass over the token: the header
/// and the claims are base64-decoded into buffers on the stack and parsed once, borrowing their
/// strings, and only a token that passed every check is turned into owned [`Claims`]. Cheap to
/// share behind an `Arc` (the [`Client`](crate::Client) holds one).
///
/// It refuses exactly what `jsonwebtoken::decode` with the same key and algorithms refuses, with
/// the same error kinds (a test holds it to that over a large generated set of tokens), and adds
/// stlock's own checks: expiry at `exp + leeway`, audience, critical header extensions, type,
/// owner and pool.
///
/// ```
/// use stlock::{DecodeError, TokenDecoder, TokenType};
/// # let config = stlock::Config::builder()
/// #     .endpoint("http://127.0.0.1:1")
/// #     .user_pool_id("0e2173b5-b55f-4ea4-bec5-450e2c12a458")
/// #     .owner_id("b3893a06-5931-4160-9e62-938ab173b6c8")
/// #     .api_key("key")
/// #     .jwt_secret("0123456789abcdef0123456789abcdef")
/// #     .build()?;
/// let decoder = TokenDecoder::new(&config);
/// assert_eq!(decoder.decode("not-a-jwt", TokenType::Access), Err(DecodeError::Malformed));
/// # Ok::<(), stlock::ConfigError>(())
/// ```
pub struct TokenDecoder {
    /// The accepted algorithms, each with its HMAC key (the secret's pads hashed once).
    /// Per accepted algorithm, the key of each accepted secret: the one the service signs with
    /// now first, then those still accepted during a rotation.
    keys: Box<[(Algorithm, Box<[hmac::Key]>)]>,
    /// The base64url of the headers the service writes, `{"typ":"JWT","alg":…}` in either key
    /// order, one per accepted algorithm: a token carrying one of these exact bytes needs its
    /// header neither decoded nor parsed, since they can only mean that algorithm and nothing
    /// else.
    known_headers: Box<[(Box<str>, usize)]>,
    leeway: u64,
    owner_id: Box<str>,
    user_pool_id: Box<str>,
}

/// The header, as jsonwebtoken reads it (the same fields, of the same types, so that the same
/// headers are refused), plus `crit`. Strings are borrowed unless they hold escapes.
#[derive(Deserialize)]
#[allow(dead_code)] // most fields are read only for their types to be checked
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    cty: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    jku: Option<Cow<'a, str>>,
    #[serde(default)]
    jwk: Option<jsonwebtoken::jwk::Jwk>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    x5u: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    x5c: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    x5t: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "x5t#S256")]
    x5t_s256: Option<Cow<'a, str>>,
    /// Critical extensions: any at all makes the token malformed (RFC 7515 §4.1.11).
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// The claims, borrowed: the same fields and types as [`Claims`]. `iss` and `nbf` are read
/// (and ignored) so that a duplicate of either is refused, as jsonwebtoken refuses it.
#[derive(Deserialize)]
#[allow(dead_code)] // `iss` and `nbf` are read only for their duplicates to be refused
struct BorrowedClaims<'a> {
    #[serde(borrow)]
    jti: Cow<'a, str>,
    exp: u64,
    iat: u64,
    #[serde(rename = "type")]
    token_type: TokenType,
    #[serde(borrow)]
    aud: Cow<'a, str>,
    #[serde(borrow)]
    sub: Cow<'a, str>,
    #[serde(borrow)]
    owner_sub: Cow<'a, str>,
    #[serde(borrow)]
    user_pool_sub: Cow<'a, str>,
    #[serde(default)]
    iss: Option<IgnoredAny>,
    #[serde(default)]
    nbf: Option<IgnoredAny>,
}

impl BorrowedClaims<'_> {
    fn into_owned(self) -> Claims {
        Claims {
            jti: self.jti.into_owned(),
            exp: self.exp,
            iat: self.iat,
            token_type: self.token_type,
            aud: self.aud.into_owned(),
            sub: self.sub.into_owned(),
            owner_sub: self.owner_sub.into_owned(),
            user_pool_sub: self.user_pool_sub.into_owned(),
        }
    }
}

/// Room for a decoded header on the stack: STLock's is 27 bytes.
const HEADER_ROOM: usize = 256;
/// Room for decoded claims on the stack: STLock's are about 260 bytes.
const CLAIMS_ROOM: usize = 512;
/// Room for the longest HMAC tag (HS512's 64 bytes), as the decoder bounds it from its base64
/// length before decoding (66 bytes).
const TAG_ROOM: usize =
    URL_SAFE_NO_PAD.estimated_decoded_length(URL_SAFE_NO_PAD.encoded_length(64));

/// The times a token claims, unverified.
#[derive(Clone, Copy, Debug, Deserialize)]
pub(crate) struct UnverifiedTimes {
    pub(crate) exp: u64,
    pub(crate) iat: Option<u64>,
}

impl TokenDecoder {
    /// Prepares the keys of `config`'s algorithms.
    pub fn new(config: &Config) -> Self {
        let secrets: Vec<&[u8]> = std::iter::once(config.jwt_secret())
            .chain(config.extra_jwt_secrets())
            .map(|secret| secret.expose().as_bytes())
            .collect();
        let keys: Box<[(Algorithm, Box<[hmac::Key]>)]> = config
            .algorithms()
            .iter()
            .map(|&alg| {
                let hmac = match alg {
                    Algorithm::HS256 => hmac::HMAC_SHA256,
                    Algorithm::HS384 => hmac::HMAC_SHA384,
                    Algorithm::HS512 => hmac::HMAC_SHA512,
                };
                let keys = secrets.iter().map(|secret| hmac::Key::new(hmac, secret));
                (alg, keys.collect())
            })
            .collect();
        let known_headers = keys
            .iter()
            .enumerate()
            .flat_map(|(index, (alg, _))| {
                let alg = alg.name();
                [
                    format!(r#"{{"typ":"JWT","alg":"{alg}"}}"#),
                    format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#),
                ]
                .map(|json| {
                    (
                        URL_SAFE_NO_PAD.encode_to_string(json).into_boxed_str(),
                        index,
                    )
                })
            })
            .collect();
        Self {
            keys,
            known_headers,
            leeway: config.leeway().as_secs(),
            owner_id: config.owner_id().into(),
            user_pool_id: config.user_pool_id().into(),
        }
    }

    /// Verifies an access token and returns its claims.
    pub fn decode_access(&self, token: &str) -> Result<Claims, DecodeError> {
        self.decode(token, TokenType::Access)
    }

    /// Verifies a refresh token and returns its claims.
    pub fn decode_refresh(&self, token: &str) -> Result<Claims, DecodeError> {
        self.decode(token, TokenType::Refresh)
    }

    /// Verifies a token of the `expected` type and returns its claims.
    ///
    /// Checks, in order: size and shape, algorithm, signature, expiry, audience, critical header
    /// extensions, type, owner and pool. Nothing from the token is returned unless every check
    /// passed.
    pub fn decode(&self, token: &str, expected: TokenType) -> Result<Claims, DecodeError> {
        self.verify(token, expected, Some(unix_now()))
    }

    /// Every check of [`decode`](Self::decode) but expiry, which the caller judges from the
    /// claims: for a token that is due for a refresh, whose claims must still be genuine.
    pub(crate) fn decode_ignoring_expiry(
        &self,
        token: &str,
        expected: TokenType,
    ) -> Result<Claims, DecodeError> {
        self.verify(token, expected, None)
    }

    /// The leeway allowed past `exp`, in seconds.
    pub(crate) fn leeway(&self) -> u64 {
        self.leeway
    }

    /// The checks, in their documented order; expiry against `now` unless it is `None`.
    pub(crate) fn verify(
        &self,
        token: &str,
        expected: TokenType,
        now: Option<u64>,
    ) -> Result<Claims, DecodeError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(DecodeError::Malformed);
        }
        let shapeless = || self.unreadable(token);
        // The segments as jsonwebtoken cuts them: the signature after the last dot, the payload
        // after the one before it, the header whatever is left.
        let last_dot = memchr::memrchr(b'.', token.as_bytes()).ok_or_else(shapeless)?;
        let (message, signature) = (&token[..last_dot], &token[last_dot + 1..]);
        let middle_dot = memchr::memrchr(b'.', message.as_bytes()).ok_or_else(shapeless)?;
        let (header, payload) = (&message[..middle_dot], &message[middle_dot + 1..]);

        let (keys, critical) = match self
            .known_headers
            .iter()
            .find(|(known, _)| **known == *header)
        {
            Some(&(_, index)) => (&*self.keys[index].1, false),
            None => self.read_header(header).map_err(|error| match error {
                DecodeError::Malformed => shapeless(),
                refused => refused,
            })?,
        };

        // The signature before anything in the payload is looked at. A signature that is not
        // canonical base64url cannot be the service's: a bad signature, as a mismatch is.
        let mut tag = [0u8; TAG_ROOM];
        let tag = decode_within(signature, &mut tag).ok_or(DecodeError::BadSignature)?;
        // The current secret first: a token it signed costs one HMAC, one signed with a secret
        // kept for a rotation one more per secret tried before it.
        if !keys
            .iter()
            .any(|key| hmac::verify(key, message.as_bytes(), tag).is_ok())
        {
            return Err(DecodeError::BadSignature);
        }

        let mut room = [0u8; CLAIMS_ROOM];
        let claims_json = decode_into(payload, &mut room).ok_or(DecodeError::Malformed)?;
        // Valid UTF-8 checked once for the whole object, rather than string by string.
        let claims_json = std::str::from_utf8(&claims_json).map_err(|_| DecodeError::Malformed)?;
        let claims: BorrowedClaims<'_> =
            serde_json::from_str(claims_json).map_err(|_| DecodeError::Malformed)?;
        if now.is_some_and(|now| now >= claims.exp.saturating_add(self.leeway)) {
            return Err(DecodeError::Expired);
        }
        if claims.aud != AUDIENCE {
            return Err(DecodeError::WrongAudience);
        }
        if critical {
            return Err(DecodeError::Malformed);
        }
        if claims.token_type != expected {
            return Err(DecodeError::WrongType {
                expected,
                found: claims.token_type,
            });
        }
        // Ids are UUIDs, whose text may come in either case.
        if !claims.owner_sub.eq_ignore_ascii_case(&self.owner_id) {
            return Err(DecodeError::ForeignOwner);
        }
        if !claims
            .user_pool_sub
            .eq_ignore_ascii_case(&self.user_pool_id)
        {
            return Err(DecodeError::ForeignPool);
        }
        Ok(claims.into_owned())
    }

    /// The `exp` a token claims, read without verifying anything: only for scheduling what does
    /// not trust the token (how long a cookie that carries it may live), never for a decision.
    pub(crate) fn unverified_expiry(token: &str) -> Option<u64> {
        Self::unverified_times(token).map(|times| times.exp)
    }

    /// The `exp` and `iat` a token claims, read without verifying anything: only for scheduling
    /// (when a signed-in program refreshes ahead of expiry), never for a decision.
    pub(crate) fn unverified_times(token: &str) -> Option<UnverifiedTimes> {
        let payload = token.split('.').nth(1)?;
        let json = URL_SAFE_NO_PAD.decode_to_vec(payload).ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// The key a header other than the service's usual ones calls for, and whether it lists
    /// critical extensions; `Malformed` when it cannot be read.
    fn read_header(&self, header: &str) -> Result<(&[hmac::Key], bool), DecodeError> {
        let mut room = [0u8; HEADER_ROOM];
        let json = decode_into(header, &mut room).ok_or(DecodeError::Malformed)?;
        let header: Header<'_> =
            serde_json::from_slice(&json).map_err(|_| DecodeError::Malformed)?;
        let alg = Algorithm::from_name(&header.alg).ok_or(DecodeError::DisallowedAlgorithm)?;
        let keys = self
            .keys
            .iter()
            .find_map(|(accepted, keys)| (*accepted == alg).then_some(&**keys))
            .ok_or(DecodeError::DisallowedAlgorithm)?;
        Ok((keys, header.crit.is_some()))
    }

    /// Why a token whose shape or header could not be read is refused: an algorithm that is not
    /// accepted (`none` among them), when the first segment names one, else malformed. Runs
    /// only on failure.
    fn unreadable(&self, token: &str) -> DecodeError {
        #[derive(Deserialize)]
        struct JustAlg {
            alg: String,
        }
        let alg = token
            .split_once('.')
            .and_then(|(header, _)| URL_SAFE_NO_PAD.decode_to_vec(header).ok())
            .and_then(|json| serde_json::from_slice::<JustAlg>(&json).ok());
        match alg.map(|header| Algorithm::from_name(&header.alg)) {
            Some(Some(alg)) if self.keys.iter().any(|(accepted, _)| *accepted == alg) => {
                DecodeError::Malformed
            }
            Some(_) => DecodeError::DisallowedAlgorithm,
            None => DecodeError::Malformed,
        }
    }
}

/// `segment` base64url-decoded (no padding, canonical), into `room` when it fits, else onto the
/// heap; `None` when it is not base64url.
fn decode_into<'r>(segment: &str, room: &'r mut [u8]) -> Option<Cow<'r, [u8]>> {
    if URL_SAFE_NO_PAD.estimated_decoded_length(segment.len()) > room.len() {
        return URL_SAFE_NO_PAD.decode_to_vec(segment).ok().map(Cow::Owned);
    }
    decode_within(segment, room).map(Cow::Borrowed)
}

/// `segment` base64url-decoded (no padding, canonical) into `room`; `None` when it is not
/// base64url or might not fit (a bound from its length alone, checked before decoding, which
/// panics on a short buffer).
fn decode_within<'r>(segment: &str, room: &'r mut [u8]) -> Option<&'r [u8]> {
    if URL_SAFE_NO_PAD.estimated_decoded_length(segment.len()) > room.len() {
        return None;
    }
    let decoded = URL_SAFE_NO_PAD
        .decode(segment.as_bytes(), room.as_out())
        .ok()?;
    Some(decoded)
}

/// Seconds since the Unix epoch (0 for a clock set before 1970, which then finds every token
/// unexpired for as long as the leeway allows: only `exp` decides).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl fmt::Debug for TokenDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let algorithms: Vec<Algorithm> = self.keys.iter().map(|(alg, _)| *alg).collect();
        f.debug_struct("TokenDecoder")
            .field("algorithms", &algorithms)
            .field("leeway", &self.leeway)
            .field("owner_id", &self.owner_id)
            .field("user_pool_id", &self.user_pool_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenPair;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde::Serialize;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    const POOL: &str = "0e2173b5-b55f-4ea4-bec5-450e2c12a458";
    const OWNER: &str = "b3893a06-5931-4160-9e62-938ab173b6c8";
    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn config(leeway: u64) -> Config {
        Config::builder()
            .endpoint("http://127.0.0.1:1")
            .user_pool_id(POOL)
            .owner_id(OWNER)
            .api_key("key")
            .jwt_secret(SECRET)
            .leeway(Duration::from_secs(leeway))
            .build()
            .unwrap()
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn claims(token_type: TokenType) -> Claims {
        Claims {
            jti: "7afdb39b-3d6f-42e3-8555-66168dca7340".into(),
            exp: now() + 600,
            iat: now(),
            token_type,
            aud: AUDIENCE.into(),
            sub: "5f331151-49d1-4d12-a977-a94a223a948a".into(),
            owner_sub: OWNER.into(),
            user_pool_sub: POOL.into(),
        }
    }

    /// Signed by jsonwebtoken, a reference apart from the decoder.
    fn sign(claims: &impl Serialize, alg: Algorithm, secret: &str) -> String {
        let alg = alg.name().parse().unwrap();
        encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn decoder() -> TokenDecoder {
        TokenDecoder::new(&config(5))
    }

    #[test]
    fn valid_access_token_yields_its_claims() {
        let expected = claims(TokenType::Access);
        let token = sign(&expected, Algorithm::HS256, SECRET);
        assert_eq!(decoder().decode_access(&token), Ok(expected));
    }

    #[test]
    fn tokens_of_every_accepted_secret_verify_and_others_do_not() {
        let (new, old) = (
            "a-new-secret-of-at-least-32-bytes!",
            "an-old-secret-of-at-least-32-bytes",
        );
        let rotating = |extra: &[&str]| {
            let config = Config::builder()
                .endpoint("http://127.0.0.1:1")
                .user_pool_id(POOL)
                .owner_id(OWNER)
                .api_key("key")
                .jwt_secret(new)
                .extra_jwt_secrets(extra.iter().copied())
                .build()
                .unwrap();
            TokenDecoder::new(&config)
        };
        let expected = claims(TokenType::Access);
        let by_new = sign(&expected, Algorithm::HS256, new);
        let by_old = sign(&expected, Algorithm::HS256, old);
        let by_other = sign(&expected, Algorithm::HS256, SECRET);
        let during = rotating(&[old]);
        assert_eq!(during.decode_access(&by_new), Ok(expected.clone()));
        assert_eq!(during.decode_access(&by_old), Ok(expected.clone()));
        assert_eq!(
            during.decode_access(&by_other),
            Err(DecodeError::BadSignature)
        );
        let after = rotating(&[]);
        assert_eq!(after.decode_access(&by_new), Ok(expected));
        assert_eq!(after.decode_access(&by_old), Err(DecodeError::BadSignature));
    }

    #[test]
    fn readme_token_shape_decodes_when_signed_with_the_pool_secret() {
        // The claims exactly as the service's README shows them, re-signed with our secret.
        let raw = serde_json::json!({"jti": "7afdb39b-3d6f-42e3-8555-66168dca7340", "exp": now() + 600,
            "iat": now(), "type": "ACCESS", "aud": "USER", "sub": "5f331151-49d1-4d12-a977-a94a223a948a",
            "owner_sub": OWNER, "user_pool_sub": POOL});
        let token = sign(&raw, Algorithm::HS256, SECRET);
        assert_eq!(
            decoder().decode_access(&token).unwrap().sub,
            "5f331151-49d1-4d12-a977-a94a223a948a"
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for token in [
            "",
            "abc",
            "a.b.c",
            "a.b",
            "....",
            &"x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(
                decoder().decode_access(token),
                Err(DecodeError::Malformed),
                "{token}"
            );
        }
    }

    #[test]
    fn signed_token_without_the_stlock_claims_is_malformed() {
        let token = sign(
            &serde_json::json!({"sub": "u", "aud": "USER", "exp": now() + 60}),
            Algorithm::HS256,
            SECRET,
        );
        assert_eq!(decoder().decode_access(&token), Err(DecodeError::Malformed));
    }

    #[test]
    fn wrong_secret_is_a_bad_signature() {
        let token = sign(
            &claims(TokenType::Access),
            Algorithm::HS256,
            "another-secret-of-32-bytes-length!!",
        );
        assert_eq!(
            decoder().decode_access(&token),
            Err(DecodeError::BadSignature)
        );
    }

    #[test]
    fn tampered_payload_is_a_bad_signature() {
        let token = sign(&claims(TokenType::Access), Algorithm::HS256, SECRET);
        let mut forged = claims(TokenType::Access);
        forged.sub = "someone-else".into();
        let forged_payload = sign(&forged, Algorithm::HS256, "x")
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = &forged_payload;
        assert_eq!(
            decoder().decode_access(&parts.join(".")),
            Err(DecodeError::BadSignature)
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode_to_string(v.to_string());
        let header = b64(serde_json::json!({"typ": "JWT", "alg": "none"}));
        let payload = b64(serde_json::to_value(claims(TokenType::Access)).unwrap());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert_eq!(
                decoder().decode_access(&token),
                Err(DecodeError::DisallowedAlgorithm)
            );
        }
    }

    #[test]
    fn other_hmac_algorithm_is_refused_unless_configured() {
        let token = sign(&claims(TokenType::Access), Algorithm::HS512, SECRET);
        assert_eq!(
            decoder().decode_access(&token),
            Err(DecodeError::DisallowedAlgorithm)
        );

        let both = Config::builder()
            .endpoint("http://127.0.0.1:1")
            .user_pool_id(POOL)
            .owner_id(OWNER)
            .api_key("key")
            .jwt_secret(SECRET)
            .algorithms([Algorithm::HS256, Algorithm::HS512])
            .build()
            .unwrap();
        assert!(TokenDecoder::new(&both).decode_access(&token).is_ok());
    }

    #[test]
    fn expiry_honours_the_leeway() {
        let mut c = claims(TokenType::Access);
        c.exp = now() - 10;
        let token = sign(&c, Algorithm::HS256, SECRET);
        assert_eq!(
            TokenDecoder::new(&config(5)).decode_access(&token),
            Err(DecodeError::Expired)
        );
        assert!(TokenDecoder::new(&config(30)).decode_access(&token).is_ok());
    }

    proptest::proptest! {
        /// A token is accepted until `exp + leeway` is reached: one second before that it is
        /// accepted, at that second and after it is expired, whatever the leeway.
        #[test]
        fn expiry_falls_exactly_at_exp_plus_leeway(leeway in 0u64..=60, offset in -3i64..=3) {
            let decoder = TokenDecoder::new(&config(leeway));
            let before = now();
            let mut c = claims(TokenType::Access);
            c.exp = (before - leeway).saturating_add_signed(offset);
            let result = decoder.decode_access(&sign(&c, Algorithm::HS256, SECRET));
            // A second boundary crossed during the decode makes the case ambiguous: skip it.
            proptest::prop_assume!(now() == before);
            if offset > 0 {
                proptest::prop_assert!(result.is_ok(), "{result:?}");
            } else {
                proptest::prop_assert_eq!(result, Err(DecodeError::Expired));
            }
        }
    }

    #[test]
    fn expiry_is_checked_before_the_audience() {
        let mut c = claims(TokenType::Access);
        c.exp = now() - 3600;
        c.aud = "ADMIN".into();
        let token = sign(&c, Algorithm::HS256, SECRET);
        assert_eq!(decoder().decode_access(&token), Err(DecodeError::Expired));
    }

    #[test]
    fn wrong_audience_is_refused() {
        let mut c = claims(TokenType::Access);
        c.aud = "ADMIN".into();
        let token = sign(&c, Algorithm::HS256, SECRET);
        assert_eq!(
            decoder().decode_access(&token),
            Err(DecodeError::WrongAudience)
        );
    }

    #[test]
    fn token_types_are_never_interchangeable() {
        let refresh = sign(&claims(TokenType::Refresh), Algorithm::HS256, SECRET);
        let access = sign(&claims(TokenType::Access), Algorithm::HS256, SECRET);
        assert_eq!(
            decoder().decode_access(&refresh),
            Err(DecodeError::WrongType {
                expected: TokenType::Access,
                found: TokenType::Refresh
            })
        );
        assert_eq!(
            decoder().decode_refresh(&access),
            Err(DecodeError::WrongType {
                expected: TokenType::Refresh,
                found: TokenType::Access
            })
        );
        assert!(decoder().decode_refresh(&refresh).is_ok());
    }

    #[test]
    fn wrong_type_reads_as_english() {
        let error = DecodeError::WrongType {
            expected: TokenType::Refresh,
            found: TokenType::Access,
        };
        assert_eq!(
            error.to_string(),
            "expected a refresh token, got an access token"
        );
    }

    #[test]
    fn unknown_token_type_is_malformed() {
        let mut raw = serde_json::to_value(claims(TokenType::Access)).unwrap();
        raw["type"] = "ID".into();
        let token = sign(&raw, Algorithm::HS256, SECRET);
        assert_eq!(decoder().decode_access(&token), Err(DecodeError::Malformed));
    }

    #[test]
    fn tokens_of_another_owner_or_pool_are_refused() {
        let mut other_owner = claims(TokenType::Access);
        other_owner.owner_sub = "11111111-1111-1111-1111-111111111111".into();
        let mut other_pool = claims(TokenType::Access);
        other_pool.user_pool_sub = "22222222-2222-2222-2222-222222222222".into();
        let d = decoder();
        assert_eq!(
            d.decode_access(&sign(&other_owner, Algorithm::HS256, SECRET)),
            Err(DecodeError::ForeignOwner)
        );
        assert_eq!(
            d.decode_access(&sign(&other_pool, Algorithm::HS256, SECRET)),
            Err(DecodeError::ForeignPool)
        );

        let mut upper = claims(TokenType::Access);
        upper.user_pool_sub = POOL.to_uppercase();
        assert!(d
            .decode_access(&sign(&upper, Algorithm::HS256, SECRET))
            .is_ok());
    }

    #[test]
    fn debug_output_hides_tokens_and_key() {
        let pair = TokenPair {
            access_token: "aaa.bbb.ccc".into(),
            refresh_token: "ddd.eee.fff".into(),
        };
        let shown = format!("{pair:?} {:?}", decoder());
        assert!(
            !shown.contains("aaa.bbb") && !shown.contains("ddd.eee") && !shown.contains(SECRET)
        );
    }
}
