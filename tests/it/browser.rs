//! The example app's page in a real browser (Debian's headless Chromium, through ChromeDriver):
//! the cookies are set by `POST /login`, kept `HttpOnly` from the page's script, sent back by
//! the browser on its own, renewed once when the access token expires however many of the
//! page's requests race, and dropped at sign-out.
//!
//! Unlike the other refresh tests, the access token here expires for real: the emulator issues
//! tokens that live 3 s, and the test waits until the system clock reaches the token's `exp`,
//! the moment from which the layer judges it due.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cookie::{Cookie, SameSite};
use serde_json::{json, Value};
use stlock::refresh::AutoRefresh;
use stlock::{Client, StlockLayer};
use stlock_emulator::{Emulator, HashCost};

use crate::app::App;
use crate::support::browser::with_browser;
use crate::support::emulator::sign_up;
use crate::support::http::serve;

/// How long an access token lives: short, as the test waits for one to expire.
const ACCESS_TTL: Duration = Duration::from_secs(3);

/// The whole test, Chromium's start included.
const BUDGET: Duration = Duration::from_secs(60);

const ACCESS_COOKIE: &str = "stlock_access";
const REFRESH_COOKIE: &str = "stlock_refresh";

#[tokio::test]
async fn a_browser_signs_in_has_its_expired_cookie_renewed_once_for_twenty_calls_and_signs_out() {
    let emu = Emulator::builder()
        .hash_cost(HashCost::Fast)
        .access_ttl(ACCESS_TTL)
        .start()
        .await
        .expect("emulator starts");
    let client = Client::new(emu.config()).unwrap();
    let (user, _) = sign_up(&client, "alice").await;
    let auth =
        StlockLayer::from_client(client.clone()).auto_refresh(AutoRefresh::cookies().secure(false));
    let base = serve(App::new(auth).router()).await;
    let refreshes = move || {
        emu.counts(&emu.credentials().user_pool_id)
            .unwrap()
            .refreshes
    };

    with_browser(BUDGET, move |browser| async move {
        browser
            .goto(&format!("{base}/"))
            .await
            .expect("the page loads");

        // Sign in: the pair comes back as JSON and in two cookies the script cannot read.
        let signed_in = run(&browser, "return signIn('alice', 'pw');").await;
        assert_eq!(signed_in["status"], 200, "{signed_in}");
        let access_token = signed_in["body"]["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(run(&browser, "return document.cookie;").await, "");
        let jar = session_cookies(&browser).await;
        assert_eq!(jar.access.value(), access_token);
        assert_eq!(jar.refresh.value(), signed_in["body"]["refresh_token"]);

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
        // Chromium drops the access cookie at its `Max-Age`, counted from when it got it: at
        // `exp` it may still hold it (expired token and refresh cookie sent) or not (refresh
        // cookie alone). Either way the layer refreshes once; the answer says which it was.
        let access_cookie_kept = has_cookie(&browser, ACCESS_COOKIE).await;

        // 20 calls at once: all served, for this user, with one refresh between them.
        let calls = run(&browser, "return callUser(20);").await;
        let calls = calls.as_array().expect("an array of answers");
        assert_eq!(calls.len(), 20);
        for call in calls {
            assert_eq!(*call, json!({"status": 200, "user": user.id}));
        }
        assert_eq!(
            refreshes(),
            1,
            "one refresh for 20 racing calls (the access cookie was {}in the jar at `exp`)",
            if access_cookie_kept { "" } else { "no longer " }
        );

        // The browser kept the new pair: the next call needs no refresh.
        let renewed = session_cookies(&browser).await;
        assert_ne!(renewed.access.value(), access_token);
        assert_ne!(renewed.refresh.value(), jar.refresh.value());
        let renewed_exp = exp_of(renewed.access.value());
        assert!(renewed_exp > exp, "the new token expires after the old one");
        assert!(
            !until_unix(renewed_exp).is_zero(),
            "the renewed token expired before the next call: the machine stalled for seconds"
        );
        let later = run(&browser, "return callUser(1);").await;
        assert_eq!(later, json!([{"status": 200, "user": user.id}]));
        assert_eq!(refreshes(), 1, "no second refresh");

        // Sign out: the session ends at the service and both cookies are gone.
        assert_eq!(run(&browser, "return signOut();").await, 200);
        let jar = browser.get_all_cookies().await.expect("the cookies");
        assert!(jar.is_empty(), "cookies left after sign-out: {jar:?}");
        let after = run(&browser, "return callUser(1);").await;
        assert_eq!(after[0]["status"], 401, "{after}");
        let revoked = client.refresh(renewed.refresh.value()).await;
        assert!(
            revoked.is_err(),
            "the refresh token still works after sign-out"
        );
    })
    .await;
}

/// Runs `script` in the page, awaiting the promise it returns.
async fn run(browser: &fantoccini::Client, script: &str) -> Value {
    browser
        .execute(script, Vec::new())
        .await
        .unwrap_or_else(|error| panic!("`{script}` failed: {error}"))
}

/// The two session cookies in the browser's jar.
struct Jar {
    access: Cookie<'static>,
    refresh: Cookie<'static>,
}

/// The session cookies, as WebDriver sees them (`HttpOnly` ones included), with the attributes
/// the layer set: `HttpOnly`, `SameSite=Lax`, `Path=/`, and not `Secure` (plain HTTP here).
async fn session_cookies(browser: &fantoccini::Client) -> Jar {
    let cookie = |name: &'static str| async move {
        let cookie = browser
            .get_named_cookie(name)
            .await
            .unwrap_or_else(|error| panic!("no {name} cookie: {error}"));
        assert_eq!(cookie.http_only(), Some(true), "{cookie:?}");
        assert_eq!(cookie.same_site(), Some(SameSite::Lax), "{cookie:?}");
        assert_eq!(cookie.path(), Some("/"), "{cookie:?}");
        assert_ne!(cookie.secure(), Some(true), "{cookie:?}");
        cookie
    };
    Jar {
        access: cookie(ACCESS_COOKIE).await,
        refresh: cookie(REFRESH_COOKIE).await,
    }
}

/// Whether the browser still holds the cookie `name` (it drops one at its `Max-Age`).
async fn has_cookie(browser: &fantoccini::Client, name: &str) -> bool {
    let jar = browser.get_all_cookies().await.expect("the cookies");
    jar.iter().any(|cookie| cookie.name() == name)
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
