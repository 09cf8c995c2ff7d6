//! Cookies: the token's cookie, and the pairs of a `Cookie` header as they came.

use http::{header, HeaderMap};

use super::{Found, MAX_HEADER_LEN};

/// The value of the one cookie called `name`, across every `Cookie` header.
pub(super) fn from_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Found<'a> {
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
