//! Where a request carries its access token: the `Authorization` header or a named cookie.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use http::{header, HeaderMap, HeaderValue};

use crate::rejection::json_headers;
use crate::token::MAX_TOKEN_LEN;

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
            TokenSource::AuthorizationHeader => from_authorization(headers),
            TokenSource::Cookie(name) => from_cookie(headers, name),
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
/// reference count), with the answer to a request that has a token in none of them prepared
/// once.
///
/// Dereferences to the list; displays as a client reads it in a rejection: ``the
/// `Authorization: Bearer` header or the `session` cookie``.
///
/// ```
/// use stlock::{TokenSource, TokenSources};
///
/// let sources = TokenSources::new([TokenSource::AuthorizationHeader, TokenSource::cookie("session")]);
/// assert_eq!(sources.len(), 2);
/// assert_eq!(sources.to_string(), "the `Authorization: Bearer` header or the `session` cookie");
/// ```
#[derive(Clone)]
pub struct TokenSources(Arc<Prepared>);

struct Prepared {
    list: Box<[TokenSource]>,
    /// The JSON body of [`AuthError::MissingToken`](crate::AuthError::MissingToken).
    missing_body: Bytes,
    /// Its headers: the body's type and length, and a `Bearer` challenge when the
    /// `Authorization` header is accepted.
    missing_headers: HeaderMap,
}

impl TokenSources {
    /// These sources, in order; an empty list is the default, the `Authorization` header.
    pub fn new(sources: impl IntoIterator<Item = TokenSource>) -> Self {
        let mut list: Vec<TokenSource> = sources.into_iter().collect();
        if list.is_empty() {
            list.push(TokenSource::AuthorizationHeader);
        }
        let detail = format!(
            "authentication required: no access token in {}",
            Listed(&list)
        );
        let missing_body: Bytes = serde_json::json!({ "detail": detail }).to_string().into();
        // RFC 6750's challenge, for clients of the header; one with a cookie has no use for it.
        let challenge = list
            .iter()
            .any(TokenSource::is_authorization_header)
            .then(|| HeaderValue::from_static("Bearer"));
        let mut missing_headers = json_headers(challenge);
        // Prepared once, the length spares every rejection's server counting the body.
        missing_headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(missing_body.len()),
        );
        Self(Arc::new(Prepared {
            list: list.into(),
            missing_body,
            missing_headers,
        }))
    }

    /// Whether the `Authorization` header is one of them: rejections then carry a `Bearer`
    /// challenge.
    pub fn accept_authorization_header(&self) -> bool {
        self.iter().any(TokenSource::is_authorization_header)
    }

    /// The JSON body saying that none of them holds a token.
    pub(crate) fn missing_body(&self) -> Bytes {
        self.0.missing_body.clone()
    }

    /// The headers of the response saying so.
    pub(crate) fn missing_headers(&self) -> &HeaderMap {
        &self.0.missing_headers
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Listed(self).fmt(f)
    }
}

/// Sources as a client reads them: "A", "A or B", "A, B or C".
struct Listed<'a>(&'a [TokenSource]);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        for (index, source) in self.0.iter().enumerate() {
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

/// The token candidate of the one `Authorization` header, for a lookup in the verified-token
/// cache: the header read exactly as [`TokenSource::read`] reads it (one header, the size limit,
/// the scheme), but for the checks of the token's own bytes — visible ASCII, not empty, no
/// space — which equality with a token verified before already proves. `None` for anything
/// that is not such a candidate; the request then goes the long way, and gets its answer there.
pub(crate) fn bearer_bytes(headers: &HeaderMap) -> Option<&[u8]> {
    after_bearer(authorization_value(headers).ok()??)
}

/// The one `Authorization` header, if it is within the size limit.
fn authorization_value(headers: &HeaderMap) -> Result<Option<&[u8]>, &'static str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    if value.len() > MAX_HEADER_LEN {
        return Err("the Authorization header is too large");
    }
    Ok(Some(value.as_bytes()))
}

/// What follows the `Bearer` scheme (in any case) and its spaces, up to the trailing spaces;
/// `None` for another scheme, which is no bearer token (other middleware may want it).
fn after_bearer(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, rest) = match memchr::memchr(b' ', value) {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &b""[..]),
    };
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| rest.trim_ascii_start())
}

fn from_authorization(headers: &HeaderMap) -> Found<'_> {
    let value = match authorization_value(headers) {
        Ok(Some(value)) => value,
        Ok(None) => return Found::Absent,
        Err(reason) => return Found::Malformed(reason),
    };
    // A header value holds no control character but tab (`http` refuses them), so visible
    // ASCII is ASCII: checked a word at a time, as the header is a token long and read on every
    // request.
    if !value.is_ascii() {
        return Found::Malformed("the Authorization header is not visible ASCII");
    }
    let Some(token) = after_bearer(value) else {
        return Found::Absent;
    };
    let spaced = memchr::memchr2(b' ', b'\t', token).is_some();
    match std::str::from_utf8(token) {
        Ok("") => Found::Malformed("the Bearer scheme is not followed by a token"),
        _ if spaced => Found::Malformed("the bearer token contains spaces"),
        Ok(token) => Found::Token(token),
        // ASCII, checked above.
        Err(_) => Found::Malformed("the Authorization header is not visible ASCII"),
    }
}

fn from_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Found<'a> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        if value.len() > MAX_HEADER_LEN {
            return Found::Malformed("the Cookie header is too large");
        }
        for cookie in cookie_pairs(value.as_bytes()) {
            let (true, Some(value)) = (cookie.name == name.as_bytes(), cookie.value) else {
                continue;
            };
            // Two cookies of one name: a sibling subdomain may have planted one (cookie
            // tossing), and nothing tells which is genuine. Refused, as two headers are.
            if found.is_some() {
                return Found::Malformed("the token cookie is sent more than once");
            }
            found = Some(trim_quotes(value));
        }
    }
    match found.map(std::str::from_utf8) {
        None => Found::Absent,
        Some(Ok("")) => Found::Malformed("the token cookie is empty"),
        Some(Ok(token)) if token.bytes().all(|b| b.is_ascii_graphic()) => Found::Token(token),
        Some(_) => Found::Malformed("the token cookie is not visible ASCII"),
    }
}

/// One `name=value` pair of a `Cookie` header, trimmed.
pub(crate) struct CookiePair<'a> {
    /// The whole pair, as sent.
    pub(crate) pair: &'a [u8],
    /// What comes before `=` (the whole pair when there is none).
    pub(crate) name: &'a [u8],
    /// What comes after `=`, if there is one.
    pub(crate) value: Option<&'a [u8]>,
}

/// The pairs of one `Cookie` header value, empty ones skipped. Read as bytes: the site's other
/// cookies may hold anything (browsers send UTF-8 as it is), and must not keep the user from
/// signing in; only the token's cookie is checked, by whoever reads it.
pub(crate) fn cookie_pairs(value: &[u8]) -> impl Iterator<Item = CookiePair<'_>> {
    value
        .split(|&b| b == b';')
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => CookiePair {
                pair,
                name: &pair[..eq],
                value: Some(&pair[eq + 1..]),
            },
            None => CookiePair {
                pair,
                name: pair,
                value: None,
            },
        })
}

/// A cookie value may be quoted (RFC 6265 §4.1.1).
fn trim_quotes(mut value: &[u8]) -> &[u8] {
    while let [b'"', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b'"'] = value {
        value = rest;
    }
    value
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
