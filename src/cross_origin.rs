//! [`CrossOriginProtection`]: requests that change state with a session cookie must come from
//! the app's own origin.
//!
//! A browser attaches cookies to every request to the site, also to a request a page of another
//! origin makes it send: a form posted from a sibling subdomain, or a `fetch` from another port
//! of the same host, which `SameSite=Lax` does not stop (both are the *same site*). So
//! [`StlockLayer`](crate::StlockLayer) refuses, with 403, an unsafe request (any method but
//! `GET`, `HEAD` and `OPTIONS`) whose credentials came from a cookie when the browser says it
//! comes from another origin. This is the scheme of Go 1.25's `http.CrossOriginProtection`,
//! which needs no token in the page:
//!
//! 1. `GET`, `HEAD` and `OPTIONS` pass: they must not change state.
//! 2. An `Origin` equal to a [trusted origin](CrossOriginProtection::trust) passes.
//! 3. `Sec-Fetch-Site: same-origin` or `none` (the user typed the address) passes; any other
//!    value (`same-site`, `cross-site`) is refused.
//! 4. Without `Sec-Fetch-Site`: no `Origin` either passes (not a browser, or one that sends
//!    neither for a same-origin request); an `Origin` whose host and port are the request's
//!    (its URI's authority, else its `Host`) passes; any other is refused.
//!
//! Requests authenticated by the `Authorization` header pass whatever they say: a browser never
//! attaches that header by itself. tower-http's `csrf::CsrfLayer` implements the same scheme as
//! a layer of its own; the layer does not use it because it judges every request alike, while
//! only cookie-borne credentials need it, and because its check only exists wrapped around a
//! service, where it would answer before the layer knows where the credentials came from. Routes
//! that handle the session cookies outside the layer (an app's sign-in and sign-out) can use
//! `CsrfLayer` itself.
//!
//! The check trusts the `Origin` and `Host` that reach the app: a proxy in front that rewrites
//! `Host` must keep it the public one (or list the public origin as trusted).

use std::fmt;
use std::sync::Arc;

use http::{header, HeaderMap, Method, Uri};

/// The cross-origin protection of [`StlockLayer`](crate::StlockLayer) for credentials read
/// from a cookie: on by default; see [the module](self).
///
/// ```
/// use stlock::cross_origin::CrossOriginProtection;
///
/// # fn wire(auth: stlock::StlockLayer) -> Result<(), stlock::cross_origin::InvalidOrigin> {
/// // The admin console on another origin may post with the session cookie too.
/// let auth = auth.cross_origin(CrossOriginProtection::new().trust("https://admin.example.com")?);
/// # drop(auth); Ok(()) }
/// ```
#[derive(Clone)]
pub struct CrossOriginProtection {
    enabled: bool,
    /// Exactly as a browser sends them in `Origin`: `scheme://host[:port]`, lower case.
    trusted: Arc<[Box<str>]>,
}

/// An origin given to [`CrossOriginProtection::trust`] that a browser never sends.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid trusted origin: {reason} (an origin is `https://host` or `https://host:port`)")]
pub struct InvalidOrigin {
    reason: &'static str,
}

/// What the layer says when it refuses a request; see
/// [`AuthError::CrossOrigin`](crate::AuthError::CrossOrigin).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refused;

impl CrossOriginProtection {
    /// The protection, on, with no trusted origin: the default of every layer.
    pub fn new() -> Self {
        Self {
            enabled: true,
            trusted: Arc::from([]),
        }
    }

    /// No protection: cookie-authenticated requests from any origin pass. Only for an app
    /// whose state-changing routes have a CSRF defence of their own.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    /// Also lets through requests whose `Origin` is `origin` (`scheme://host[:port]`, as a
    /// browser sends it: no path, no trailing `/`).
    ///
    /// ```
    /// use stlock::cross_origin::CrossOriginProtection;
    ///
    /// assert!(CrossOriginProtection::new().trust("https://admin.example.com:8443").is_ok());
    /// assert!(CrossOriginProtection::new().trust("https://admin.example.com/").is_err());
    /// assert!(CrossOriginProtection::new().trust("admin.example.com").is_err());
    /// ```
    pub fn trust(mut self, origin: &str) -> Result<Self, InvalidOrigin> {
        let invalid = |reason| Err(InvalidOrigin { reason });
        let Ok(uri) = origin.parse::<Uri>() else {
            return invalid("not a URL");
        };
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return invalid("the scheme is not http or https");
        }
        let Some(authority) = uri.authority() else {
            return invalid("no host");
        };
        if uri
            .path_and_query()
            .is_some_and(|path| path.as_str() != "/")
            || origin.ends_with('/')
            || authority.as_str().contains('@')
        {
            return invalid("an origin has no path, no user and no trailing `/`");
        }
        let normal = origin.to_ascii_lowercase().into_boxed_str();
        self.trusted = self.trusted.iter().cloned().chain([normal]).collect();
        Ok(self)
    }

    /// Whether the request may use cookie-borne credentials.
    pub(crate) fn check(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<(), Refused> {
        if !self.enabled || matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let origin = headers
            .get(header::ORIGIN)
            .map(|value| value.as_bytes())
            .filter(|value| !value.is_empty());
        if origin.is_some_and(|origin| self.trusted.iter().any(|t| t.as_bytes() == origin)) {
            return Ok(());
        }
        match headers.get("sec-fetch-site").map(|value| value.as_bytes()) {
            Some(b"same-origin" | b"none") => return Ok(()),
            Some(site) if !site.is_empty() => return Err(Refused),
            _ => {}
        }
        let Some(origin) = origin else {
            return Ok(());
        };
        let host = uri
            .authority()
            .map(|authority| authority.as_str().as_bytes())
            .or_else(|| headers.get(header::HOST).map(|host| host.as_bytes()));
        let origin = Uri::try_from(origin)
            .ok()
            .filter(|origin| matches!(origin.scheme_str(), Some("http" | "https")));
        let origin_host = origin.as_ref().and_then(Uri::authority);
        match (origin_host, host) {
            (Some(origin_host), Some(host))
                if origin_host.as_str().as_bytes().eq_ignore_ascii_case(host) =>
            {
                Ok(())
            }
            _ => Err(Refused),
        }
    }
}

impl Default for CrossOriginProtection {
    /// [`CrossOriginProtection::new`]: on.
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CrossOriginProtection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrossOriginProtection")
            .field("enabled", &self.enabled)
            .field("trusted", &self.trusted)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn check(
        protection: &CrossOriginProtection,
        method: Method,
        pairs: &[(&'static str, &str)],
    ) -> bool {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        protection
            .check(&method, &Uri::from_static("/orders"), &headers)
            .is_ok()
    }

    #[test]
    fn the_scheme_of_go_cross_origin_protection() {
        let on = CrossOriginProtection::new();
        let host = ("host", "app.example.com");
        // Safe methods, whatever they say.
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(check(&on, method, &[("sec-fetch-site", "cross-site")]));
        }
        // Fetch metadata decides when present.
        assert!(check(
            &on,
            Method::POST,
            &[("sec-fetch-site", "same-origin")]
        ));
        assert!(check(&on, Method::POST, &[("sec-fetch-site", "none")]));
        assert!(!check(
            &on,
            Method::POST,
            &[("sec-fetch-site", "same-site")]
        ));
        assert!(!check(
            &on,
            Method::DELETE,
            &[("sec-fetch-site", "cross-site")]
        ));
        let same_origin_header = ("origin", "https://app.example.com");
        assert!(!check(
            &on,
            Method::POST,
            &[("sec-fetch-site", "same-site"), same_origin_header, host]
        ));
        // Without it, the Origin against the host.
        assert!(check(&on, Method::POST, &[]), "not a browser");
        assert!(check(&on, Method::POST, &[same_origin_header, host]));
        assert!(check(
            &on,
            Method::POST,
            &[("origin", "https://APP.example.com"), host]
        ));
        assert!(!check(
            &on,
            Method::POST,
            &[("origin", "https://app.example.com:8443"), host]
        ));
        assert!(!check(
            &on,
            Method::POST,
            &[("origin", "https://evil.example.com"), host]
        ));
        assert!(!check(&on, Method::POST, &[("origin", "null"), host]));
        assert!(
            !check(&on, Method::POST, &[("origin", "https://app.example.com")]),
            "no host"
        );
    }

    #[test]
    fn trusted_origins_pass_and_disabled_protection_passes_everything() {
        let trusting = CrossOriginProtection::new()
            .trust("https://Admin.example.com")
            .unwrap();
        let from_admin = [
            ("origin", "https://admin.example.com"),
            ("sec-fetch-site", "same-site"),
        ];
        assert!(check(&trusting, Method::POST, &from_admin));
        assert!(!check(
            &CrossOriginProtection::new(),
            Method::POST,
            &from_admin
        ));
        let cross = [("sec-fetch-site", "cross-site")];
        assert!(check(
            &CrossOriginProtection::disabled(),
            Method::POST,
            &cross
        ));
        for bad in [
            "admin.example.com",
            "ftp://x.example",
            "https://x.example/",
            "https://x.example/a",
            "https://u@x.example",
        ] {
            assert!(CrossOriginProtection::new().trust(bad).is_err(), "{bad}");
        }
    }
}
