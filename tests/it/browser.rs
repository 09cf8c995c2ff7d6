//! The example app's browser session. Its page in a real browser (Debian's headless Chromium,
//! through ChromeDriver): `POST /session` sets the cookies, kept `HttpOnly` from the page's
//! script and sent back by the browser on its own, renewed once when the access token expires
//! however many of the page's requests race, and dropped by `DELETE /session`. Then the routes
//! behind the page over plain HTTP: what `/session` and the JSON routes answer, their refusal of
//! other origins, placing an order, and a wrong method's 405.
//!
//! Unlike the other refresh tests, the access token of the browser flow expires for real: the
//! emulator issues tokens that live 3 s, and the test waits until the system clock reaches the
//! token's `exp`, the moment from which the layer judges it due.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cookie::{Cookie, SameSite};
use http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use stlock::refresh::{AutoRefresh, DEFAULT_ACCESS_COOKIE, DEFAULT_REFRESH_COOKIE};
use stlock::{Client, StlockLayer, TokenPair, User};
use stlock_emulator::{Counts, Emulator, HashCost};

use crate::app::{App, Orders};
use crate::support::browser::with_browser;
use crate::support::emulator::sign_up;
use crate::support::forge::now;
use crate::support::http::{bearer, http, serve, Answer};

/// How long an access token lives in the browser flow: short, as the test waits for one to
/// expire.
const ACCESS_TTL: Duration = Duration::from_secs(3);

/// How long an access token lives in the other tests: STLock's own ten minutes.
pub const SERVICE_ACCESS_TTL: Duration = Duration::from_secs(600);

/// The whole test, Chromium's start included.
const BUDGET: Duration = Duration::from_secs(60);

/// The example serves plain HTTP (`secure(false)`): no `__Host-` prefix.
pub const ACCESS_COOKIE: &str = DEFAULT_ACCESS_COOKIE;
pub const REFRESH_COOKIE: &str = DEFAULT_REFRESH_COOKIE;

/// What `StlockLayer` and the `/session` routes say when they refuse another origin.
pub const CROSS_ORIGIN_REFUSED: &str = "cross-origin request refused: ";

/// The example's app behind the layer `main.rs` builds (cookie mode, plain HTTP), on an
/// emulator of its own, with `alice` (password `pw`) signed up.
pub struct Example {
    pub emu: Emulator,
    pub client: Client,
    pub user: User,
    /// `alice`'s pair from signing up, for the tests that call as an API client.
    pub tokens: TokenPair,
    pub base: String,
    pub orders: Orders,
}

impl Example {
    /// Serves the example, its router passed through `wrap` first, with access tokens that
    /// live `access_ttl`.
    pub async fn start(access_ttl: Duration, wrap: impl FnOnce(Router) -> Router) -> Self {
        let emu = Emulator::builder()
            .hash_cost(HashCost::Fast)
            .access_ttl(access_ttl)
            .start()
            .await
            .expect("emulator starts");
        let client = Client::new(emu.config()).unwrap();
        let (user, tokens) = sign_up(&client, "alice").await;
        let auth = StlockLayer::from_client(client.clone())
            .auto_refresh(AutoRefresh::cookies().secure(false).build().unwrap());
        let app = App::new(auth);
        let orders = app.orders();
        let base = serve(wrap(app.router())).await;
        Self {
            emu,
            client,
            user,
            tokens,
            base,
            orders,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What the emulator counted: logins, refreshes, logouts.
    pub fn counts(&self) -> Counts {
        self.emu
            .counts(&self.emu.credentials().user_pool_id)
            .unwrap()
    }

    /// Sends `method path` with these headers and, when given, this JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut request = http().request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Answer::read(request.send().await.unwrap()).await
    }
}

/// `cookie: stlock_access=…; stlock_refresh=…`.
pub fn session_cookie_header(access: &str, refresh: &str) -> String {
    format!("{ACCESS_COOKIE}={access}; {REFRESH_COOKIE}={refresh}")
}

#[tokio::test]
async fn a_browser_signs_in_has_its_expired_cookie_renewed_once_for_twenty_calls_and_signs_out() {
    let app = Example::start(ACCESS_TTL, |router| router).await;

    with_browser(BUDGET, move |browser| async move {
        let user = &app.user;
        browser.goto(&app.url("/")).await.expect("the page loads");

        // Sign in: the pair goes into two cookies the script cannot read; the answer names the
        // user, and holds no token.
        let signed_in = run(&browser, "return signIn('alice', 'pw');").await;
        // Compared, not printed: an answer that is wrong may hold a token.
        let expected = json!({"status": 200, "body": {"user_id": user.id}});
        assert!(
            signed_in == expected,
            "the sign-in did not answer {expected}"
        );
        assert_eq!(run(&browser, "return document.cookie;").await, "");
        let jar = session_cookies(&browser).await;
        let access_token = jar.access.value().to_owned();
        assert_eq!(app.client.decode(&access_token).unwrap().sub, user.id);
        // Both cookies live as long as the refresh token: a browser keeps sending the access
        // cookie once its token expired, with the refresh cookie beside it.
        let refresh_exp = exp_of(jar.refresh.value());
        for cookie in [&jar.access, &jar.refresh] {
            let expiry = cookie
                .expires_datetime()
                .unwrap_or_else(|| panic!("{} has no expiry", cookie.name()))
                .unix_timestamp();
            assert!(
                expiry.abs_diff(i64::try_from(refresh_exp).unwrap()) <= 5,
                "{} expires at {expiry}, the refresh token at {refresh_exp}",
                cookie.name()
            );
        }

        // Wait until the system clock reaches the token's `exp`: from then on it is due. Tokio's
        // timer runs on the monotonic clock, so the system clock is checked again after it.
        let exp = exp_of(&access_token);
        let until_expiry = until_unix(exp);
        assert!(
            until_expiry <= ACCESS_TTL,
            "the token expires {until_expiry:?} from now, past its {ACCESS_TTL:?} lifetime"
        );
        while !until_unix(exp).is_zero() {
            tokio::time::sleep(until_unix(exp)).await;
        }
        assert!(
            has_cookie(&browser, ACCESS_COOKIE).await,
            "the browser dropped the access cookie when its token expired"
        );

        // 20 calls at once: all served, for this user, with one refresh between them.
        let calls = run(&browser, "return callUser(20);").await;
        let calls = calls.as_array().expect("an array of answers");
        assert_eq!(calls.len(), 20);
        for call in calls {
            assert_eq!(*call, json!({"status": 200, "user": user.id}));
        }
        assert_eq!(app.counts().refreshes, 1, "one refresh for 20 racing calls");

        // The browser kept the new pair: the next call needs no refresh.
        let renewed = session_cookies(&browser).await;
        // `assert!`, not `assert_ne!`, which would print the tokens.
        assert!(
            renewed.access.value() != access_token,
            "the same access token"
        );
        assert!(
            renewed.refresh.value() != jar.refresh.value(),
            "the same refresh token"
        );
        let renewed_exp = exp_of(renewed.access.value());
        assert!(renewed_exp > exp, "the new token expires after the old one");
        assert!(
            !until_unix(renewed_exp).is_zero(),
            "the renewed token expired before the next call: the machine stalled for seconds"
        );
        let later = run(&browser, "return callUser(1);").await;
        assert_eq!(later, json!([{"status": 200, "user": user.id}]));
        assert_eq!(app.counts().refreshes, 1, "no second refresh");

        // Sign out: the session ends at the service and both cookies are gone.
        assert_eq!(run(&browser, "return signOut();").await, 204);
        let left = browser.get_all_cookies().await.expect("the cookies");
        assert!(
            left.is_empty(),
            "cookies left after sign-out: {:?}",
            names(&left)
        );
        let after = run(&browser, "return callUser(1);").await;
        assert_eq!(after[0]["status"], 401, "{after}");
        let revoked = app.client.refresh(renewed.refresh.value()).await;
        assert!(
            revoked.is_err(),
            "the refresh token still works after sign-out"
        );
    })
    .await;
}

#[tokio::test]
async fn browsers_get_the_session_in_cookies_and_api_clients_get_the_tokens_as_json() {
    let app = Example::start(SERVICE_ACCESS_TTL, |router| router).await;
    let credentials = json!({"username": "alice", "password": "pw"});

    // `POST /session`: two cookies, `HttpOnly`, `SameSite=Lax`, not `Secure` on plain HTTP,
    // both living as long as the refresh token; the body names the user and holds no token.
    let signed_in = app
        .send(Method::POST, "/session", &[], Some(credentials.clone()))
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text);
    // Compared, not printed: a body that is wrong may hold a token.
    let expected = json!({"user_id": app.user.id});
    assert!(signed_in.json == expected, "the body is not {expected}");
    assert_eq!(signed_in.header(CACHE_CONTROL.as_str()), Some("no-store"));
    let set = set_cookies(&signed_in);
    assert_eq!(names(&set), [ACCESS_COOKIE, REFRESH_COOKIE]);
    let (access, refresh) = (set[0].value(), set[1].value());
    let lifetime = exp_of(refresh).saturating_sub(now());
    for cookie in &set {
        assert!(
            !signed_in.text.contains(cookie.value()),
            "a token in the body"
        );
        let name = cookie.name();
        assert_eq!(cookie.http_only(), Some(true), "{name}");
        assert_eq!(cookie.same_site(), Some(SameSite::Lax), "{name}");
        assert_eq!(cookie.path(), Some("/"), "{name}");
        assert_eq!(cookie.secure(), None, "{name}");
        let max_age = cookie.max_age().expect("a Max-Age").whole_seconds();
        assert!(
            u64::try_from(max_age).unwrap().abs_diff(lifetime) <= 5,
            "{name}: Max-Age={max_age}, the refresh token has {lifetime} s to live"
        );
    }
    let cookie = session_cookie_header(access, refresh);
    let me = app
        .send(Method::GET, "/user", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(me.json["sub"], app.user.id, "{}", me.text);
    let wrong = app
        .send(
            Method::POST,
            "/session",
            &[],
            Some(json!({"username": "alice", "password": "nope"})),
        )
        .await;
    wrong.assert_json_error(StatusCode::UNAUTHORIZED);
    assert!(
        set_cookies(&wrong).is_empty(),
        "{:?}",
        names(&set_cookies(&wrong))
    );

    // The JSON routes are for API clients: tokens in the body, no cookie, and `/logout` takes
    // the refresh token it is given, never the cookie.
    let login = app
        .send(Method::POST, "/login", &[], Some(credentials))
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let pair: TokenPair = serde_json::from_value(login.json.clone()).unwrap();
    assert_eq!(login.header(CACHE_CONTROL.as_str()), Some("no-store"));
    assert!(
        set_cookies(&login).is_empty(),
        "{:?}",
        names(&set_cookies(&login))
    );
    let rotated = app
        .send(
            Method::POST,
            "/refresh",
            &[],
            Some(json!({"refresh_token": pair.refresh_token})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    assert_eq!(rotated.header(CACHE_CONTROL.as_str()), Some("no-store"));
    assert!(
        set_cookies(&rotated).is_empty(),
        "{:?}",
        names(&set_cookies(&rotated))
    );
    let no_body = app
        .send(Method::POST, "/logout", &[("cookie", &cookie)], None)
        .await;
    no_body.assert_json_error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        set_cookies(&no_body).is_empty(),
        "{:?}",
        names(&set_cookies(&no_body))
    );
    assert_eq!(app.counts().logouts, 0, "/logout used the cookie");

    // `DELETE /session`: the session of the refresh cookie revoked, both cookies cleared.
    let signed_out = app
        .send(Method::DELETE, "/session", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(
        signed_out.status,
        StatusCode::NO_CONTENT,
        "{}",
        signed_out.text
    );
    assert_cleared(&signed_out);
    assert_eq!(app.counts().logouts, 1);
    assert!(app.client.refresh(refresh).await.is_err(), "not revoked");
    // Without a session left to revoke, signing out still leaves the browser signed out.
    for cookie in [cookie.as_str(), ""] {
        let again = app
            .send(Method::DELETE, "/session", &[("cookie", cookie)], None)
            .await;
        assert_eq!(again.status, StatusCode::NO_CONTENT, "{}", again.text);
        assert_cleared(&again);
    }
}

#[tokio::test]
async fn the_session_routes_refuse_a_request_from_another_origin() {
    let app = Example::start(SERVICE_ACCESS_TTL, |router| router).await;
    let credentials = json!({"username": "alice", "password": "pw"});
    let cookie = session_cookie_header(&app.tokens.access_token, &app.tokens.refresh_token);
    // Another port of the same host is another origin of the same site.
    let other_port = "http://127.0.0.1:1";
    let foreign: [&[(&str, &str)]; 3] = [
        &[("sec-fetch-site", "same-site"), ("origin", other_port)],
        &[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://evil.example"),
        ],
        // A browser that sends no `Sec-Fetch-Site`: the `Origin` is not the app's host.
        &[("origin", other_port)],
    ];
    let logins = app.counts().logins;
    for headers in foreign {
        let sign_in = app
            .send(Method::POST, "/session", headers, Some(credentials.clone()))
            .await;
        let sign_out = app
            .send(
                Method::DELETE,
                "/session",
                &[headers, &[("cookie", cookie.as_str())]].concat(),
                None,
            )
            .await;
        for answer in [sign_in, sign_out] {
            answer.assert_json_error(StatusCode::FORBIDDEN);
            assert!(
                answer.detail().starts_with(CROSS_ORIGIN_REFUSED),
                "{headers:?}: {}",
                answer.text
            );
            assert!(
                set_cookies(&answer).is_empty(),
                "{:?}",
                names(&set_cookies(&answer))
            );
        }
    }
    let counts = app.counts();
    assert_eq!(
        (counts.logins, counts.logouts),
        (logins, 0),
        "a refused request reached the service"
    );

    // From the app's own origin, both go through.
    let own = app.base.as_str();
    let same_origin: [&[(&str, &str)]; 2] = [
        &[("sec-fetch-site", "same-origin"), ("origin", own)],
        &[("origin", own)],
    ];
    for headers in same_origin {
        let sign_in = app
            .send(Method::POST, "/session", headers, Some(credentials.clone()))
            .await;
        assert_eq!(
            sign_in.status,
            StatusCode::OK,
            "{headers:?}: {}",
            sign_in.text
        );
        let set = set_cookies(&sign_in);
        let cookie = session_cookie_header(set[0].value(), set[1].value());
        let sign_out = app
            .send(
                Method::DELETE,
                "/session",
                &[headers, &[("cookie", cookie.as_str())]].concat(),
                None,
            )
            .await;
        assert_eq!(sign_out.status, StatusCode::NO_CONTENT, "{}", sign_out.text);
    }
    assert_eq!(app.counts().logouts, 2);
}

#[tokio::test]
async fn placing_an_order_takes_a_bearer_token_from_anywhere_and_the_cookie_from_the_app_only() {
    let app = Example::start(SERVICE_ACCESS_TTL, |router| router).await;
    let token = bearer(&app.tokens.access_token);
    let cookie = session_cookie_header(&app.tokens.access_token, &app.tokens.refresh_token);
    let form = |headers: &[(&str, &str)]| {
        let mut request = http()
            .post(app.url("/orders"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("item=a+teapot");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        async move { Answer::read(request.send().await.unwrap()).await }
    };

    let placed = app
        .send(
            Method::POST,
            "/orders",
            &[("authorization", &token)],
            Some(json!({"item": " a teapot "})),
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text);
    assert_eq!(
        placed.json,
        json!({"id": 1, "item": "a teapot", "user_id": app.user.id})
    );
    assert_eq!(placed.header(LOCATION.as_str()), Some("/orders/1"));
    // A bearer token is never attached by a browser on its own: any origin may send one.
    let cross_site = [
        ("sec-fetch-site", "cross-site"),
        ("origin", "http://evil.example"),
    ];
    let placed = form(&[&cross_site[..], &[("authorization", token.as_str())]].concat()).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text);
    assert_eq!(placed.json["id"], 2);
    // The cookie only from the app's own origin.
    let placed = form(&[("cookie", &cookie), ("sec-fetch-site", "same-origin")]).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text);
    let refused = form(&[("cookie", &cookie), ("sec-fetch-site", "same-site")]).await;
    refused.assert_json_error(StatusCode::FORBIDDEN);
    assert!(
        refused.detail().starts_with(CROSS_ORIGIN_REFUSED),
        "{}",
        refused.text
    );
    assert_eq!(app.orders.placed(), 3);

    // Bad input is a JSON 4xx, and places nothing.
    let bad = [
        (json!({"item": "  "}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"item": "x".repeat(201)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (body, status) in bad {
        let answer = app
            .send(
                Method::POST,
                "/orders",
                &[("authorization", &token)],
                Some(body),
            )
            .await;
        answer.assert_json_error(status);
    }
    let text = Answer::read(
        http()
            .post(app.url("/orders"))
            .header("authorization", &token)
            .header("content-type", "text/plain")
            .body("item=a+teapot")
            .send()
            .await
            .unwrap(),
    )
    .await;
    text.assert_json_error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    app.send(
        Method::POST,
        "/orders",
        &[],
        Some(json!({"item": "a teapot"})),
    )
    .await
    .assert_json_error(StatusCode::UNAUTHORIZED);
    assert_eq!(app.orders.placed(), 3);
}

#[tokio::test]
async fn a_wrong_method_is_a_405_with_or_without_a_token() {
    let app = Example::start(SERVICE_ACCESS_TTL, |router| router).await;
    let token = bearer(&app.tokens.access_token);
    let cases = [
        (Method::PUT, "/user", StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/user", StatusCode::UNAUTHORIZED),
        (Method::GET, "/orders", StatusCode::METHOD_NOT_ALLOWED),
        (Method::POST, "/orders", StatusCode::UNAUTHORIZED),
        (Method::PUT, "/orders/1", StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/orders/1", StatusCode::UNAUTHORIZED),
        (Method::GET, "/session", StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/login", StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/nowhere", StatusCode::NOT_FOUND),
    ];
    for (method, path, status) in cases {
        let answer = app.send(method.clone(), path, &[], None).await;
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.text);
        answer.assert_json_error(status);
    }
    // A token changes nothing about a method the route does not serve.
    for (method, path) in [(Method::PUT, "/user"), (Method::PATCH, "/orders/1")] {
        let answer = app
            .send(method.clone(), path, &[("authorization", &token)], None)
            .await;
        answer.assert_json_error(StatusCode::METHOD_NOT_ALLOWED);
    }
}

/// Runs `script` in the page, awaiting the promise it returns.
pub async fn run(browser: &fantoccini::Client, script: &str) -> Value {
    browser
        .execute(script, Vec::new())
        .await
        .unwrap_or_else(|error| panic!("`{script}` failed: {error}"))
}

/// The two session cookies in the browser's jar.
pub struct Jar {
    pub access: Cookie<'static>,
    pub refresh: Cookie<'static>,
}

/// The session cookies, as WebDriver sees them (`HttpOnly` ones included), with the attributes
/// the layer set: `HttpOnly`, `SameSite=Lax`, `Path=/`, and not `Secure` (plain HTTP here).
pub async fn session_cookies(browser: &fantoccini::Client) -> Jar {
    let cookie = |name: &'static str| async move {
        let cookie = browser
            .get_named_cookie(name)
            .await
            .unwrap_or_else(|error| panic!("no {name} cookie: {error}"));
        assert_eq!(cookie.http_only(), Some(true), "{name}");
        assert_eq!(cookie.same_site(), Some(SameSite::Lax), "{name}");
        assert_eq!(cookie.path(), Some("/"), "{name}");
        assert_ne!(cookie.secure(), Some(true), "{name}");
        cookie
    };
    Jar {
        access: cookie(ACCESS_COOKIE).await,
        refresh: cookie(REFRESH_COOKIE).await,
    }
}

/// Whether the browser holds the cookie `name` (it drops one at its `Max-Age`).
async fn has_cookie(browser: &fantoccini::Client, name: &str) -> bool {
    let jar = browser.get_all_cookies().await.expect("the cookies");
    jar.iter().any(|cookie| cookie.name() == name)
}

/// The cookies an answer sets, in order.
pub fn set_cookies(answer: &Answer) -> Vec<Cookie<'static>> {
    answer
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|header| Cookie::parse(header.to_str().unwrap().to_owned()).unwrap())
        .collect()
}

/// The names of these cookies: what a failure may print, as their values are tokens.
pub fn names<'a>(cookies: &'a [Cookie<'_>]) -> Vec<&'a str> {
    cookies.iter().map(Cookie::name).collect()
}

/// Asserts that the answer clears both session cookies.
#[track_caller]
fn assert_cleared(answer: &Answer) {
    let set = set_cookies(answer);
    assert_eq!(names(&set), [ACCESS_COOKIE, REFRESH_COOKIE]);
    for cookie in set {
        let name = cookie.name();
        assert_eq!(cookie.value(), "", "{name} still holds a value");
        let max_age = cookie.max_age().map(|age| age.whole_seconds());
        assert_eq!(max_age, Some(0), "{name}");
    }
}

/// The `exp` claim of a JWT, read without verifying it.
fn exp_of(token: &str) -> u64 {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let payload = URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    let claims: Value = serde_json::from_slice(&payload).expect("JSON claims");
    claims["exp"].as_u64().expect("a numeric exp")
}

/// How long until the system clock reaches `unix` seconds; zero once it has.
fn until_unix(unix: u64) -> Duration {
    (UNIX_EPOCH + Duration::from_secs(unix))
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}
