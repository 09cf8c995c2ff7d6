//! Session cookies: the access and refresh tokens as `Set-Cookie` headers, and their removal.

use std::convert::Infallible;
use std::fmt;

use axum_core::response::{IntoResponseParts, ResponseParts};
use cookie::{Cookie, SameSite};
use http::header::{CACHE_CONTROL, SET_COOKIE};
use http::HeaderValue;

/// Names and attributes of the two session cookies.
#[derive(Clone, Debug)]
pub(crate) struct CookieSettings {
    pub(crate) access: String,
    pub(crate) refresh: String,
    pub(crate) secure: bool,
    pub(crate) same_site: SameSite,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
}

impl CookieSettings {
    pub(crate) fn new(access: &str, refresh: &str) -> Self {
        Self {
            access: access.to_owned(),
            refresh: refresh.to_owned(),
            secure: true,
            same_site: SameSite::Lax,
            path: "/".to_owned(),
            domain: None,
        }
    }

    /// Both cookies holding `pair`, each living as long as its token (`max_age` in seconds).
    pub(crate) fn set(&self, access: (&str, u64), refresh: (&str, u64)) -> SessionCookies {
        SessionCookies {
            headers: [
                self.header(&self.access, access.0, access.1),
                self.header(&self.refresh, refresh.0, refresh.1),
            ],
        }
    }

    /// Both cookies emptied and expired, which makes a browser drop them.
    pub(crate) fn clear(&self) -> SessionCookies {
        SessionCookies {
            headers: [
                self.header(&self.access, "", 0),
                self.header(&self.refresh, "", 0),
            ],
        }
    }

    fn header(&self, name: &str, value: &str, max_age: u64) -> HeaderValue {
        let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
        let mut cookie = Cookie::build((name, value))
            .http_only(true)
            // Browsers refuse `SameSite=None` without `Secure`.
            .secure(self.secure || self.same_site == SameSite::None)
            .same_site(self.same_site)
            .path(self.path.as_str())
            .max_age(cookie::time::Duration::seconds(max_age));
        if let Some(domain) = &self.domain {
            cookie = cookie.domain(domain.as_str());
        }
        let mut header = HeaderValue::from_str(&cookie.to_string())
            // Names and attributes were checked when configured and tokens are base64url, so
            // this cannot fail; an empty header is harmless should it ever.
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        header.set_sensitive(true);
        header
    }
}

/// The two `Set-Cookie` headers that sign a browser in (both tokens, `HttpOnly`, `Secure`,
/// `SameSite`, `Max-Age` from each token's expiry) or out (both cleared), from
/// [`StlockLayer::session_cookies`](crate::StlockLayer::session_cookies) and
/// [`StlockLayer::cleared_session_cookies`](crate::StlockLayer::cleared_session_cookies).
///
/// Returned from an axum handler beside the body, it adds the headers, and `Cache-Control:
/// no-store` so that no cache keeps a response that carries tokens. `Debug` shows no token.
#[derive(Clone)]
pub struct SessionCookies {
    headers: [HeaderValue; 2],
}

impl SessionCookies {
    /// The `Set-Cookie` header values: the access cookie, then the refresh cookie.
    pub fn headers(&self) -> &[HeaderValue; 2] {
        &self.headers
    }

    /// Adds the headers, and `Cache-Control: no-store`, to `headers`.
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        for header in &self.headers {
            headers.append(SET_COOKIE, header.clone());
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

impl IntoResponseParts for SessionCookies {
    type Error = Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Infallible> {
        self.apply(parts.headers_mut());
        Ok(parts)
    }
}

impl fmt::Debug for SessionCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCookies").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_carry_every_attribute_and_clearing_expires_them() {
        let settings = CookieSettings::new("a", "r");
        let set = settings.set(("x.y.z", 600), ("u.v.w", 3600));
        let [access, refresh] = set
            .headers()
            .clone()
            .map(|h| h.to_str().unwrap().to_owned());
        assert_eq!(
            access,
            "a=x.y.z; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=600"
        );
        assert!(refresh.starts_with("r=u.v.w;") && refresh.contains("Max-Age=3600"));
        assert!(set.headers().iter().all(HeaderValue::is_sensitive));
        let cleared = settings.clear();
        for header in cleared.headers() {
            let header = header.to_str().unwrap();
            assert!(
                header.contains("=;") && header.contains("Max-Age=0"),
                "{header}"
            );
        }
        assert!(!format!("{set:?}").contains("x.y.z"));
    }

    #[test]
    fn same_site_none_is_always_secure() {
        let mut settings = CookieSettings::new("a", "r");
        settings.secure = false;
        settings.same_site = SameSite::None;
        let header = settings.clear().headers()[0].clone();
        assert!(header.to_str().unwrap().contains("Secure"));
    }
}
