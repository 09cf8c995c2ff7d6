//! Credentials: where a request carries its access token ([`TokenSource`], [`TokenSources`]),
//! the one reading of each source, and the verified-token cache that spares a repeat token its
//! verification. The layer and auto-refresh both read credentials through this module.

mod cache;
mod cookie;
mod header;

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::HeaderMap;

use crate::token::MAX_TOKEN_LEN;

pub use cache::DEFAULT_TOKEN_CACHE_CAPACITY;
pub(crate) use cache::{Probe, TokenCache};
pub(crate) use cookie::cookie_pairs;
pub(crate) use header::bearer_bytes;

/// A place a request may carry its access token. See
/// [`StlockLayer::token_sources`](crate::StlockLayer::token_sources).
///
/// Displays as what a client reads in a rejection: ``the `Authorization: Bearer` header`` or
/// ``the `session` cookie``.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`, the scheme word in any case (the default).
    AuthorizationHeader,
    /// The value of the cookie with this name.
    Cookie(String),
}

impl TokenSource {
    /// The cookie with this name.
    pub fn cookie(name: impl Into<String>) -> Self {
        TokenSource::Cookie(name.into())
    }

    /// Whether the token travels in the `Authorization` header, where RFC 6750's
    /// `WWW-Authenticate: Bearer` challenges apply.
    pub fn is_authorization_header(&self) -> bool {
        matches!(self, TokenSource::AuthorizationHeader)
    }

    /// The token this source holds in `headers`. Borrowed from the request: reading a token
    /// allocates nothing.
    pub(crate) fn read<'a>(&self, headers: &'a HeaderMap) -> Found<'a> {
        match self {
            TokenSource::AuthorizationHeader => header::from_authorization(headers),
            TokenSource::Cookie(name) => cookie::from_cookie(headers, name),
        }
    }
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::AuthorizationHeader => f.write_str("the `Authorization: Bearer` header"),
            TokenSource::Cookie(name) => write!(f, "the `{name}` cookie"),
        }
    }
}

/// The token sources of a layer, in order, shared by every request it sees (cloning is a
/// reference count).
///
/// Dereferences to the list; displays as a client reads it in a rejection: ``the
/// `Authorization: Bearer` header or the `session` cookie``.
///
/// ```
/// use stlock::credentials::{TokenSource, TokenSources};
///
/// let sources = TokenSources::new([TokenSource::AuthorizationHeader, TokenSource::cookie("session")]);
/// assert_eq!(sources.len(), 2);
/// assert_eq!(sources.to_string(), "the `Authorization: Bearer` header or the `session` cookie");
/// ```
#[derive(Clone)]
pub struct TokenSources(Arc<Shared>);

struct Shared {
    list: Box<[TokenSource]>,
    /// The answer to a request with a token in none of the sources, which a flood of requests
    /// without credentials asks for again and again: prepared once, by the rejection module,
    /// which words it.
    missing: OnceLock<PreparedAnswer>,
}

/// A rejection's body and headers, ready to be cloned into a response.
pub(crate) type PreparedAnswer = (Bytes, HeaderMap);

impl TokenSources {
    /// These sources, in order; an empty list is the default, the `Authorization` header.
    pub fn new(sources: impl IntoIterator<Item = TokenSource>) -> Self {
        let mut list: Vec<TokenSource> = sources.into_iter().collect();
        if list.is_empty() {
            list.push(TokenSource::AuthorizationHeader);
        }
        Self(Arc::new(Shared {
            list: list.into(),
            missing: OnceLock::new(),
        }))
    }

    /// Whether the `Authorization` header is one of them: rejections then carry a `Bearer`
    /// challenge.
    pub fn accept_authorization_header(&self) -> bool {
        self.iter().any(TokenSource::is_authorization_header)
    }

    /// The answer saying that none of them holds a token, prepared by `prepare` the first time.
    pub(crate) fn missing_answer(
        &self,
        prepare: impl FnOnce() -> PreparedAnswer,
    ) -> &PreparedAnswer {
        self.0.missing.get_or_init(prepare)
    }
}

impl std::ops::Deref for TokenSources {
    type Target = [TokenSource];

    fn deref(&self) -> &[TokenSource] {
        &self.0.list
    }
}

impl PartialEq for TokenSources {
    fn eq(&self, other: &Self) -> bool {
        self.0.list == other.0.list
    }
}

impl Eq for TokenSources {}

impl fmt::Debug for TokenSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for TokenSources {
    /// Sources as a client reads them: "A", "A or B", "A, B or C".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.len();
        for (index, source) in self.iter().enumerate() {
            match index {
                0 => {}
                _ if index + 1 == count => f.write_str(" or ")?,
                _ => f.write_str(", ")?,
            }
            write!(f, "{source}")?;
        }
        Ok(())
    }
}

/// What a source holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found<'a> {
    Token(&'a str),
    Absent,
    Malformed(&'static str),
}

/// Longest `Authorization` or cookie header read: a token plus room for the scheme and other
/// cookies. Larger ones are refused before they are parsed.
const MAX_HEADER_LEN: usize = MAX_TOKEN_LEN + 4 * 1024;

/// Looks through the sources in order and returns the first that holds something, with its
/// index; a malformed source stops the search, since guessing past it could authenticate the
/// wrong credentials.
pub(crate) fn find_token<'a>(
    sources: &[TokenSource],
    headers: &'a HeaderMap,
) -> (Found<'a>, usize) {
    for (index, source) in sources.iter().enumerate() {
        let found = source.read(headers);
        if found != Found::Absent {
            return (found, index);
        }
    }
    (Found::Absent, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const HEADER: &[TokenSource] = &[TokenSource::AuthorizationHeader];

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer a.b.c",
            "bearer a.b.c",
            "BEARER   a.b.c ",
            "bEaReR a.b.c",
        ] {
            let h = headers(&[("authorization", value)]);
            assert_eq!(find_token(HEADER, &h).0, Found::Token("a.b.c"), "{value}");
        }
    }

    #[test]
    fn other_schemes_and_no_header_are_absent() {
        assert_eq!(find_token(HEADER, &HeaderMap::new()).0, Found::Absent);
        let h = headers(&[("authorization", "Basic dXNlcjpwdw==")]);
        assert_eq!(find_token(HEADER, &h).0, Found::Absent);
    }

    #[test]
    fn malformed_headers_are_named() {
        let cases = [
            headers(&[("authorization", "Bearer")]),
            headers(&[("authorization", "Bearer  ")]),
            headers(&[("authorization", "Bearer a b")]),
            headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]),
            headers(&[(
                "authorization",
                &format!("Bearer {}", "a".repeat(MAX_HEADER_LEN)),
            )]),
        ];
        for h in cases {
            assert!(
                matches!(find_token(HEADER, &h).0, Found::Malformed(_)),
                "{h:?}"
            );
        }
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        );
        assert!(matches!(find_token(HEADER, &h).0, Found::Malformed(_)));
    }

    #[test]
    fn cookie_source_finds_its_cookie_among_others() {
        let sources = [TokenSource::cookie("session")];
        let h = headers(&[("cookie", "theme=dark; session=a.b.c; lang=en")]);
        assert_eq!(find_token(&sources, &h).0, Found::Token("a.b.c"));
        let h = headers(&[("cookie", "theme=dark"), ("cookie", "session=\"x.y.z\"")]);
        assert_eq!(find_token(&sources, &h).0, Found::Token("x.y.z"));
        let tossed = "session=tossed; theme=dark; session=a.b.c";
        let h = headers(&[("cookie", tossed)]);
        assert_eq!(
            find_token(&sources, &h).0,
            Found::Malformed("the token cookie is sent more than once")
        );
        let h = headers(&[("cookie", "session=a.b.c"), ("cookie", "session=a.b.c")]);
        assert!(matches!(find_token(&sources, &h).0, Found::Malformed(_)));
        let h = headers(&[("cookie", "sessionid=nope")]);
        assert_eq!(find_token(&sources, &h).0, Found::Absent);
        let h = headers(&[("cookie", "session=")]);
        assert!(matches!(find_token(&sources, &h).0, Found::Malformed(_)));
        let h = headers(&[("cookie", "session=\"\"")]);
        assert!(matches!(find_token(&sources, &h).0, Found::Malformed(_)));
    }

    #[test]
    fn other_cookies_may_hold_any_bytes_but_the_token_may_not() {
        let sources = [TokenSource::cookie("session")];
        let mut h = HeaderMap::new();
        let value = HeaderValue::from_bytes(b"name=\xc3\xa9l\xc3\xa9na; session=a.b.c").unwrap();
        h.insert("cookie", value);
        assert_eq!(find_token(&sources, &h).0, Found::Token("a.b.c"));
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            HeaderValue::from_bytes(b"session=a.\xffb.c").unwrap(),
        );
        assert_eq!(
            find_token(&sources, &h).0,
            Found::Malformed("the token cookie is not visible ASCII")
        );
    }

    #[test]
    fn sources_are_tried_in_order() {
        let both = [
            TokenSource::AuthorizationHeader,
            TokenSource::cookie("session"),
        ];
        let h = headers(&[
            ("authorization", "Bearer from.header.x"),
            ("cookie", "session=from.cookie.x"),
        ]);
        assert_eq!(find_token(&both, &h).0, Found::Token("from.header.x"));
        let h = headers(&[("cookie", "session=from.cookie.x")]);
        assert_eq!(find_token(&both, &h).0, Found::Token("from.cookie.x"));
        // Only the header configured: the cookie is not looked at.
        assert_eq!(find_token(HEADER, &h).0, Found::Absent);
    }
}
