//! The `Authorization: Bearer` header, read one way for verification and for the
//! verified-token cache's fast path.

use http::{header, HeaderMap};

use super::{Found, MAX_HEADER_LEN};

/// The token candidate of the one `Authorization` header, for a lookup in the verified-token
/// cache: the header read exactly as [`from_authorization`] reads it (one header, the size limit,
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

/// The bearer token of the one `Authorization` header, checked byte by byte.
pub(super) fn from_authorization(headers: &HeaderMap) -> Found<'_> {
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
