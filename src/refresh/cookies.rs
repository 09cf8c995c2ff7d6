//! The cookies of a browser session: the access and refresh tokens as `Set-Cookie` headers,
//! their removal, and [`BrowserCookies`], which an app's sign-in and sign-out handlers use to set
//! and clear the very cookies cookie-mode auto-refresh renews.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use axum_core::response::{IntoResponseParts, ResponseParts};
use cookie::{Cookie, SameSite};
use http::header::{CACHE_CONTROL, SET_COOKIE};
use http::HeaderValue;

use super::{
    DEFAULT_ACCESS_COOKIE, DEFAULT_REFRESH_COOKIE, HOST_ACCESS_COOKIE, HOST_REFRESH_COOKIE,
};
use crate::client::Client;
use crate::credentials::{Found, TokenSource};
use crate::token::{unix_now, DecodeError, TokenPair};

/// Names and attributes of the two session cookies.
#[derive(Clone, Debug)]
pub(crate) struct CookieSettings {
    /// The names set with `cookie_names`; `None` for the defaults, whose prefix depends on the
    /// other attributes.
    pub(crate) names: Option<(String, String)>,
    pub(crate) secure: bool,
    pub(crate) same_site: SameSite,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
}

impl CookieSettings {
    pub(crate) fn new() -> Self {
        Self {
            names: None,
            secure: true,
            same_site: SameSite::Lax,
            path: "/".to_owned(),
            domain: None,
        }
    }

    /// Whether the cookies qualify for the `__Host-` prefix: `Secure`, `Path=/`, no `Domain`.
    /// A browser then refuses a cookie of that name from anywhere but this host over HTTPS, so a
    /// sibling subdomain cannot plant (toss) one.
    fn host_only(&self) -> bool {
        self.is_secure() && self.path == "/" && self.domain.is_none()
    }

    fn is_secure(&self) -> bool {
        // Browsers refuse `SameSite=None` without `Secure`.
        self.secure || self.same_site == SameSite::None
    }

    /// The access cookie's name.
    pub(crate) fn access_name(&self) -> &str {
        match &self.names {
            Some((access, _)) => access,
            None if self.host_only() => HOST_ACCESS_COOKIE,
            None => DEFAULT_ACCESS_COOKIE,
        }
    }

    /// The refresh cookie's name.
    pub(crate) fn refresh_name(&self) -> &str {
        match &self.names {
            Some((_, refresh)) => refresh,
            None if self.host_only() => HOST_REFRESH_COOKIE,
            None => DEFAULT_REFRESH_COOKIE,
        }
    }

    /// Both cookies holding `pair`, living until `refresh_exp`, the refresh token's expiry. The
    /// access cookie outlives its token on purpose: a browser keeps sending it, so that a
    /// request racing a refresh is recognised as the session's own (see `Binding`); an expired
    /// access token in it counts as none for a layer without auto-refresh.
    pub(crate) fn set(&self, pair: &TokenPair, refresh_exp: u64) -> SessionCookies {
        self.set_for(pair, refresh_exp.saturating_sub(unix_now()))
    }

    /// Both cookies holding `pair`, living `lifetime` seconds.
    fn set_for(&self, pair: &TokenPair, lifetime: u64) -> SessionCookies {
        SessionCookies {
            headers: [
                self.header(self.access_name(), &pair.access_token, lifetime),
                self.header(self.refresh_name(), &pair.refresh_token, lifetime),
            ],
        }
    }

    /// Both cookies emptied and expired, which makes a browser drop them.
    pub(crate) fn clear(&self) -> SessionCookies {
        SessionCookies {
            headers: [
                self.header(self.access_name(), "", 0),
                self.header(self.refresh_name(), "", 0),
            ],
        }
    }

    fn header(&self, name: &str, value: &str, max_age: u64) -> HeaderValue {
        let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
        let mut cookie = Cookie::build((name, value))
            .http_only(true)
            .secure(self.is_secure())
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

/// The cookies of a browser session, as cookie-mode auto-refresh sets them: for the app's own
/// sign-in and sign-out handlers, from
/// [`StlockLayer::browser_cookies`](crate::layer::StlockLayer::browser_cookies). Same names and
/// attributes as the layer's [`AutoRefresh`](super::AutoRefresh), both cookies living as long as
/// the refresh token. Cloning is cheap.
///
/// The body of a response that sets them carries no token: the cookies are `HttpOnly` so that
/// no script, an injected one included, can read them, and a token in the body would undo that.
/// Routes that set or clear the cookies outside the layer need cross-origin protection of their
/// own (see [`cross_origin`](crate::cross_origin)).
///
/// ```
/// use axum::{extract::State, http::StatusCode, Json};
/// use stlock::refresh::{BrowserCookies, SessionCookies};
/// use stlock::Client;
///
/// #[derive(Clone)]
/// struct App { client: Client, cookies: BrowserCookies }
///
/// #[derive(serde::Deserialize)]
/// struct SignIn { username: String, password: String }
///
/// async fn sign_in(
///     State(app): State<App>,
///     Json(form): Json<SignIn>,
/// ) -> Result<SessionCookies, StatusCode> {
///     let pair = app.client.login(&form.username, &form.password).await
///         .map_err(|_| StatusCode::UNAUTHORIZED)?;
///     app.cookies.set(&pair).map_err(|_| StatusCode::BAD_GATEWAY)
/// }
/// ```
#[derive(Clone)]
pub struct BrowserCookies {
    settings: Arc<CookieSettings>,
    client: Client,
}

impl BrowserCookies {
    pub(crate) fn new(settings: Arc<CookieSettings>, client: Client) -> Self {
        Self { settings, client }
    }

    /// The `Set-Cookie` headers that sign a browser in with `pair`. Both tokens are verified
    /// first, which also reads the refresh token's expiry.
    pub fn set(&self, pair: &TokenPair) -> Result<SessionCookies, DecodeError> {
        let decoder = self.client.decoder();
        decoder.decode_access(&pair.access_token)?;
        let refresh = decoder.decode_refresh(&pair.refresh_token)?;
        Ok(self.settings.set(pair, refresh.exp))
    }

    /// The `Set-Cookie` headers that sign a browser out: both cookies emptied and expired.
    pub fn clear(&self) -> SessionCookies {
        self.settings.clear()
    }

    /// The refresh token of the session's refresh cookie in `headers`, for a sign-out handler:
    /// a browser's script cannot read an `HttpOnly` cookie to send it. `None` when there is none,
    /// or more than one.
    pub fn refresh_token<'a>(&self, headers: &'a http::HeaderMap) -> Option<&'a str> {
        match TokenSource::cookie(self.settings.refresh_name()).read(headers) {
            Found::Token(token) => Some(token),
            _ => None,
        }
    }

    /// The access cookie's name.
    pub fn access_name(&self) -> &str {
        self.settings.access_name()
    }

    /// The refresh cookie's name.
    pub fn refresh_name(&self) -> &str {
        self.settings.refresh_name()
    }
}

impl fmt::Debug for BrowserCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrowserCookies")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The two `Set-Cookie` headers that sign a browser in (both tokens, `HttpOnly`, `Secure`,
/// `SameSite`, `Max-Age` from the refresh token's expiry) or out (both cleared), from
/// [`BrowserCookies::set`] and [`BrowserCookies::clear`].
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

    fn pair() -> TokenPair {
        TokenPair {
            access_token: "x.y.z".to_owned(),
            refresh_token: "u.v.w".to_owned(),
        }
    }

    #[test]
    fn cookies_carry_every_attribute_and_clearing_expires_them() {
        let mut settings = CookieSettings::new();
        settings.names = Some(("a".to_owned(), "r".to_owned()));
        let set = settings.set_for(&pair(), 3600);
        let [access, refresh] = set
            .headers()
            .clone()
            .map(|h| h.to_str().unwrap().to_owned());
        assert_eq!(
            access,
            "a=x.y.z; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=3600"
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
    fn default_names_take_the_host_prefix_only_where_a_browser_accepts_it() {
        let settings = CookieSettings::new();
        assert_eq!(settings.access_name(), "__Host-stlock_access");
        assert_eq!(settings.refresh_name(), "__Host-stlock_refresh");
        let insecure = CookieSettings {
            secure: false,
            ..CookieSettings::new()
        };
        let scoped = CookieSettings {
            path: "/app".to_owned(),
            ..CookieSettings::new()
        };
        let shared = CookieSettings {
            domain: Some("example.com".to_owned()),
            ..CookieSettings::new()
        };
        for settings in [insecure, scoped, shared] {
            assert_eq!(settings.access_name(), "stlock_access");
            assert_eq!(settings.refresh_name(), "stlock_refresh");
        }
        let none = CookieSettings {
            secure: false,
            same_site: SameSite::None,
            ..CookieSettings::new()
        };
        assert_eq!(
            none.access_name(),
            "__Host-stlock_access",
            "None is always Secure"
        );
        let header = none.clear().headers()[0].clone();
        assert!(header.to_str().unwrap().contains("Secure"));
    }
}
