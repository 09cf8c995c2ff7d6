//! [`AutoRefresh`]: [`StlockLayer`](crate::layer::StlockLayer) exchanging a due access token for a new
//! pair on the fly, one exchange per refresh token however many requests race, for browsers
//! (cookies) and API and gRPC clients (headers).
//!
//! STLock's access tokens live 600 s and its refresh tokens rotate on every use: presenting a
//! used one again is taken for theft and ends the whole session. A browser that fires several
//! requests with the same expired token would make each of them refresh, and all but the first
//! would present a dead refresh token and sign the user out. With auto-refresh on, the layer
//! refreshes once through a [`RefreshStore`] that hands that one outcome to every request
//! presenting the same refresh token, and remembers it for a grace window.
//!
//! ```
//! use std::time::Duration;
//! use stlock::refresh::{AutoRefresh, SameSite};
//! use stlock::StlockLayer;
//!
//! # fn wire(auth: StlockLayer) -> Result<(), stlock::refresh::InvalidSetting> {
//! // Browsers: tokens in `HttpOnly` cookies, refreshed when expired or in their last 20%.
//! let browser = auth.clone().auto_refresh(
//!     AutoRefresh::cookies()
//!         .cookie_names("session", "session_refresh")
//!         .same_site(SameSite::Strict)
//!         .refresh_early(0.2)
//!         .grace(Duration::from_secs(10))
//!         .build()?,
//! );
//! // API and gRPC clients: `x-refresh-token` in, `x-access-token` and `x-refresh-token` out.
//! let api = auth.auto_refresh(AutoRefresh::headers().build()?);
//! # drop((browser, api)); Ok(()) }
//! ```

mod cookies;
pub(crate) mod flow;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

pub use cookie::SameSite;
pub use cookies::{BrowserCookies, SessionCookies};
pub use store::{
    Binding, BoxFuture, InProcessStore, Refresh, RefreshOutcome, RefreshStore, Settled, StoreFull,
    DEFAULT_STORE_CAPACITY,
};

pub(crate) use cookies::CookieSettings;

/// How long an outcome is remembered by default: a request still carrying the old refresh token
/// this long after the refresh gets the same new pair.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// The access token's cookie by default when the cookies are `Secure`, `Path=/` and without
/// `Domain` (the defaults): the `__Host-` prefix makes a browser refuse a cookie of this name
/// set by anyone but this host over HTTPS, so a sibling subdomain cannot plant one.
pub const HOST_ACCESS_COOKIE: &str = "__Host-stlock_access";
/// The refresh token's cookie by default when the cookies are `Secure`, `Path=/` and without
/// `Domain` (the defaults).
pub const HOST_REFRESH_COOKIE: &str = "__Host-stlock_refresh";
/// The access token's cookie by default when the `__Host-` prefix cannot be used (cookies not
/// `Secure`, another `Path`, or a `Domain`).
pub const DEFAULT_ACCESS_COOKIE: &str = "stlock_access";
/// The refresh token's cookie by default when the `__Host-` prefix cannot be used.
pub const DEFAULT_REFRESH_COOKIE: &str = "stlock_refresh";
/// The request header that carries the refresh token in header mode by default.
pub const DEFAULT_REFRESH_HEADER: &str = "x-refresh-token";
/// The response header that carries the new access token in header mode.
pub const ACCESS_TOKEN_HEADER: &str = "x-access-token";
/// The response header that carries the new refresh token in header mode.
pub const REFRESH_TOKEN_HEADER: &str = "x-refresh-token";

/// A setting of [`AutoRefresh`] that cannot be used, and why: from
/// [`AutoRefreshBuilder::build`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid auto-refresh setting `{setting}`: {reason}")]
pub struct InvalidSetting {
    setting: &'static str,
    reason: &'static str,
}

/// Auto-refresh for [`StlockLayer::auto_refresh`](crate::layer::StlockLayer::auto_refresh):
/// built by [`AutoRefresh::cookies`] or [`AutoRefresh::headers`], each offering the settings of
/// its mode only.
///
/// - **When**: a token whose signature, type, owner and pool hold but whose `exp` has passed is
///   due, even while the leeway would still accept it (the leeway is for clock skew, not for
///   putting a refresh off); with [`refresh_early`](AutoRefreshBuilder::refresh_early), also
///   when less than that share of its lifetime remains. In cookie mode a request with the
///   refresh cookie and no access cookie (the browser dropped it at its `Max-Age`) is due too.
/// - **What**: the layer verifies the refresh token locally, exchanges it through the client
///   (once, whatever the race: see [`RefreshStore`]), verifies the new access token, runs the
///   handler with the new user and the new pair in place of the old one on the request, and
///   attaches the new pair to the response.
/// - **Who gets a remembered pair**: within the grace window, a request bringing the access
///   token the refresh was made with. The old refresh token with another access token is taken
///   for a stolen copy: the service is told (its reuse detection ends the session) and the
///   answer is 401; with no access token at all, once the refresh has settled, 503.
/// - **When it fails**: a refresh token the service refuses (expired, revoked, reused, the user
///   blocked) is 401, and in cookie mode both cookies are cleared. A service that cannot be
///   reached, or answers with a fault (a proxy's page, a refusal of the API key; see
///   [`Refusal`](crate::client::Refusal)), lets the request through on the old token while the
///   leeway still accepts it, else answers 503 with `Retry-After`, never signing the user out
///   for it. No request refreshes twice.
///
/// Cookie mode reads the access token from its cookie (added to the layer's token sources) and
/// the refresh token from the other; the new pair goes out as two `Set-Cookie` headers, and the
/// app's own sign-in and sign-out handlers set and clear the same cookies through
/// [`BrowserCookies`]. Header mode reads the access token from `Authorization: Bearer` and the
/// refresh token from `x-refresh-token`; the new pair goes out as [`ACCESS_TOKEN_HEADER`] and
/// [`REFRESH_TOKEN_HEADER`]. Either way the response also gets `Cache-Control: no-store`.
#[derive(Clone)]
pub struct AutoRefresh {
    pub(crate) mode: Mode,
    pub(crate) grace: Duration,
    pub(crate) early: Option<f64>,
    pub(crate) store: Arc<dyn RefreshStore>,
}

#[derive(Clone, Debug)]
pub(crate) enum Mode {
    /// Shared with every [`BrowserCookies`] handed out for it.
    Cookies(Arc<CookieSettings>),
    Headers {
        refresh: HeaderName,
    },
}

impl AutoRefresh {
    /// Cookie mode, for browsers: the tokens in [`HOST_ACCESS_COOKIE`] and
    /// [`HOST_REFRESH_COOKIE`] (or, once the cookies are not `Secure`, have another `Path` or a
    /// `Domain`, [`DEFAULT_ACCESS_COOKIE`] and [`DEFAULT_REFRESH_COOKIE`]), `HttpOnly`, `Secure`,
    /// `SameSite=Lax`, `Path=/`, both living as long as the refresh token.
    pub fn cookies() -> AutoRefreshBuilder<CookieMode> {
        AutoRefreshBuilder::new(CookieMode(CookieSettings::new()))
    }

    /// Header mode, for API and gRPC clients: the refresh token in [`DEFAULT_REFRESH_HEADER`],
    /// the new pair in [`ACCESS_TOKEN_HEADER`] and [`REFRESH_TOKEN_HEADER`].
    pub fn headers() -> AutoRefreshBuilder<HeaderMode> {
        AutoRefreshBuilder::new(HeaderMode {
            refresh: HeaderName::from_static(DEFAULT_REFRESH_HEADER),
        })
    }

    pub(crate) fn is_cookie_mode(&self) -> bool {
        matches!(self.mode, Mode::Cookies(_))
    }
}

impl Default for AutoRefresh {
    /// Cookie mode with its defaults.
    fn default() -> Self {
        // The defaults make working cookies: nothing to check.
        AutoRefresh::cookies().finish()
    }
}

impl fmt::Debug for AutoRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutoRefresh")
            .field("mode", &self.mode)
            .field("grace", &self.grace)
            .field("early", &self.early)
            .finish_non_exhaustive()
    }
}

/// The settings of an [`AutoRefresh`] in the making: those of every mode here, those of one mode
/// on `AutoRefreshBuilder<CookieMode>` or `AutoRefreshBuilder<HeaderMode>`. Setters take values
/// as they come; [`build`](AutoRefreshBuilder::<CookieMode>::build) checks them all at once.
#[must_use]
pub struct AutoRefreshBuilder<M> {
    mode: M,
    grace: Duration,
    early: Option<f64>,
    store: Arc<dyn RefreshStore>,
}

/// Cookie mode's settings, for [`AutoRefreshBuilder`].
#[derive(Debug)]
pub struct CookieMode(CookieSettings);

/// Header mode's settings, for [`AutoRefreshBuilder`].
#[derive(Debug)]
pub struct HeaderMode {
    refresh: HeaderName,
}

impl<M> AutoRefreshBuilder<M> {
    fn new(mode: M) -> Self {
        Self {
            mode,
            grace: DEFAULT_GRACE,
            early: None,
            store: Arc::new(InProcessStore::new()),
        }
    }

    /// How long an outcome is remembered ([`DEFAULT_GRACE`]).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Also refreshes a token that has not expired yet, once less than `share` of its lifetime
    /// remains (`share` is strictly between 0 and 1, checked by `build`); should that refresh
    /// fail, the request goes on with the token it has.
    pub fn refresh_early(mut self, share: f64) -> Self {
        self.early = Some(share);
        self
    }

    /// Coordinates refreshes through `store` instead of this process's [`InProcessStore`]: a
    /// store shared by every replica of the app.
    pub fn store(mut self, store: impl RefreshStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// The settings every mode shares around this mode's, as they are: `build` checks them.
    fn finish(self) -> AutoRefresh
    where
        M: Into<Mode>,
    {
        AutoRefresh {
            mode: self.mode.into(),
            grace: self.grace,
            early: self.early,
            store: self.store,
        }
    }

    fn check_early(&self) -> Result<(), InvalidSetting> {
        match self.early {
            Some(share) if !(share > 0.0 && share < 1.0) => Err(InvalidSetting {
                setting: "refresh_early",
                reason: "the share of the lifetime is between 0 and 1",
            }),
            _ => Ok(()),
        }
    }
}

impl AutoRefreshBuilder<CookieMode> {
    /// The names of the access and refresh cookies, used as given. A name with the `__Host-`
    /// prefix needs the defaults of `secure`, `cookie_path` and no `cookie_domain`, or browsers
    /// drop the cookie.
    pub fn cookie_names(mut self, access: &str, refresh: &str) -> Self {
        self.mode.0.names = Some((access.to_owned(), refresh.to_owned()));
        self
    }

    /// The cookies' `Path` (default `/`).
    pub fn cookie_path(mut self, path: &str) -> Self {
        self.mode.0.path = path.to_owned();
        self
    }

    /// The cookies' `Domain` (default none: the host that set them, and no other).
    pub fn cookie_domain(mut self, domain: &str) -> Self {
        self.mode.0.domain = Some(domain.to_owned());
        self
    }

    /// Whether the cookies are `Secure` (default `true`: sent over HTTPS only). Turn it off only
    /// for plain HTTP on your own machine; `SameSite=None` is always `Secure`.
    pub fn secure(mut self, secure: bool) -> Self {
        self.mode.0.secure = secure;
        self
    }

    /// The cookies' `SameSite` (default `Lax`). See "Cookies and CSRF" in SECURITY.md.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.mode.0.same_site = same_site;
        self
    }

    /// Cookie mode with these settings, or the first that would make a broken cookie: a name
    /// that is not an RFC 6265 token or two equal names, a path not starting with `/`, a path or
    /// domain with a `;` or a byte that is not visible ASCII, an early share outside (0, 1).
    pub fn build(self) -> Result<AutoRefresh, InvalidSetting> {
        self.mode.0.check()?;
        self.check_early()?;
        Ok(self.finish())
    }
}

impl From<CookieMode> for Mode {
    fn from(CookieMode(settings): CookieMode) -> Self {
        Mode::Cookies(Arc::new(settings))
    }
}

impl From<HeaderMode> for Mode {
    fn from(HeaderMode { refresh }: HeaderMode) -> Self {
        Mode::Headers { refresh }
    }
}

impl AutoRefreshBuilder<HeaderMode> {
    /// The request header that carries the refresh token ([`DEFAULT_REFRESH_HEADER`]).
    pub fn refresh_header(mut self, name: HeaderName) -> Self {
        self.mode.refresh = name;
        self
    }

    /// Header mode with these settings, or an error for an early share outside (0, 1).
    pub fn build(self) -> Result<AutoRefresh, InvalidSetting> {
        self.check_early()?;
        Ok(self.finish())
    }
}

impl<M: fmt::Debug> fmt::Debug for AutoRefreshBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutoRefreshBuilder")
            .field("mode", &self.mode)
            .field("grace", &self.grace)
            .field("early", &self.early)
            .finish_non_exhaustive()
    }
}

impl CookieSettings {
    /// The first setting that would make a broken cookie.
    fn check(&self) -> Result<(), InvalidSetting> {
        if let Some((access, refresh)) = &self.names {
            for name in [access, refresh] {
                if name.is_empty() || !name.bytes().all(is_cookie_name_byte) {
                    return Err(InvalidSetting {
                        setting: "cookie_names",
                        reason:
                            "a cookie name is one or more ASCII letters, digits or !#$%&'*+-.^_`|~",
                    });
                }
            }
            if access == refresh {
                return Err(InvalidSetting {
                    setting: "cookie_names",
                    reason: "the two cookies need different names",
                });
            }
        }
        if !self.path.starts_with('/') || !self.path.bytes().all(is_attribute_byte) {
            return Err(InvalidSetting {
                setting: "cookie_path",
                reason: "a path starts with `/` and holds visible ASCII other than `;`",
            });
        }
        if let Some(domain) = &self.domain {
            if domain.is_empty() || !domain.bytes().all(is_attribute_byte) {
                return Err(InvalidSetting {
                    setting: "cookie_domain",
                    reason: "a domain is visible ASCII other than `;`",
                });
            }
        }
        Ok(())
    }
}

/// RFC 6265's `token`: visible ASCII but separators.
fn is_cookie_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// What an attribute value may hold: visible ASCII but `;`.
fn is_attribute_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && byte != b';'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_would_make_a_broken_cookie_are_refused() {
        let cookies = AutoRefresh::cookies;
        assert!(cookies().cookie_names("a b", "r").build().is_err());
        assert!(cookies().cookie_names("a", "a").build().is_err());
        assert!(cookies().cookie_names("", "r").build().is_err());
        assert!(cookies().cookie_path("app").build().is_err());
        assert!(cookies().cookie_path("/a;b").build().is_err());
        assert!(cookies().cookie_domain("a b").build().is_err());
        for share in [0.0, 1.0, -0.5, f64::NAN, 2.0] {
            assert!(cookies().refresh_early(share).build().is_err(), "{share}");
            assert!(
                AutoRefresh::headers().refresh_early(share).build().is_err(),
                "{share}"
            );
        }
        assert!(cookies().cookie_names("s", "r").build().is_ok());
        assert!(cookies().refresh_early(0.2).build().is_ok());
        assert!(AutoRefresh::headers().build().is_ok());
    }
}
