//! Cross-site request forgery from the same site, in a real browser (Debian's headless
//! Chromium, through ChromeDriver). Another port of the app's host is another origin but the
//! same site: Chromium sends it the `SameSite=Lax` session cookies, with `Sec-Fetch-Site:
//! same-site`. A page served there tries, while the browser is signed in to the example app,
//! to place an order (a form posted without script, and a `no-cors` fetch) and to sign the
//! browser out (a `DELETE` fetch). The app must refuse them all, and its own page must still
//! place an order and sign out.
//!
//! A recording layer around the app's router shows what reached it, with what status: so the
//! test knows that the forged requests did reach the app, cookies attached, and were refused
//! there, rather than lost on the way.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{Html, Response};
use axum::routing::get;
use axum::Router;
use http::{Method, StatusCode};
use serde_json::json;

use crate::browser::{names, run, session_cookies, Example, ACCESS_COOKIE, SERVICE_ACCESS_TTL};
use crate::support::browser::with_browser;
use crate::support::http::serve;

/// The whole test, Chromium's start included.
const BUDGET: Duration = Duration::from_secs(60);

/// A request as the app saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    /// Where the browser says the request comes from (`Sec-Fetch-Site`).
    site: Option<String>,
    /// Whether the access cookie came with it.
    with_session: bool,
    status: StatusCode,
}

/// Every request the app answered, in order.
#[derive(Clone, Default)]
struct Traffic(Arc<Mutex<Vec<Seen>>>);

impl Traffic {
    fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    /// The requests of `method path` from `site`.
    fn of(&self, method: Method, path: &str, site: &str) -> Vec<Seen> {
        self.all()
            .into_iter()
            .filter(|seen| {
                seen.method == method && seen.path == path && seen.site.as_deref() == Some(site)
            })
            .collect()
    }
}

/// Records the request and its status once the app answered it: before the browser has the
/// answer, so that whatever a script awaited is in the record when the script returns.
async fn record(State(traffic): State<Traffic>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let site = request
        .headers()
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let with_session = request
        .headers()
        .get_all("cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|cookies| cookies.contains(&format!("{ACCESS_COOKIE}=")));
    let response = next.run(request).await;
    traffic.0.lock().unwrap().push(Seen {
        method,
        path,
        site,
        with_session,
        status: response.status(),
    });
    response
}

/// The other origin's page: a form that posts an order into a frame, without any script, and
/// `attack()`, which submits it and then tries with `fetch`. Each step waits for its answer
/// (the frame's `load`, the fetch's promise), so nothing is left in flight when it returns.
fn forging_page(app: &str) -> String {
    format!(
        r#"<!doctype html>
<meta charset="utf-8">
<title>another origin of the site</title>
<iframe id="sink" name="sink"></iframe>
<form id="order" method="post" action="{app}/orders" target="sink">
  <input name="item" value="a forged order">
</form>
<script>
  function submitted(form) {{
    const sink = document.getElementById("sink");
    return new Promise((resolve) => {{
      sink.addEventListener("load", () => resolve("answered"), {{ once: true }});
      form.submit();
    }});
  }}
  async function attack() {{
    const form = await submitted(document.getElementById("order"));
    const noCors = await fetch("{app}/orders", {{
      method: "POST",
      mode: "no-cors",
      credentials: "include",
      body: new URLSearchParams({{ item: "a forged order" }}),
    }}).then((response) => response.type, (error) => "failed: " + error.name);
    const signOut = await fetch("{app}/session", {{ method: "DELETE", credentials: "include" }})
      .then((response) => response.status, (error) => "failed: " + error.name);
    return {{ form, noCors, signOut }};
  }}
</script>
"#
    )
}

#[tokio::test]
async fn a_page_of_another_origin_of_the_site_can_neither_place_an_order_nor_sign_the_browser_out()
{
    let traffic = Traffic::default();
    let recorder = from_fn_with_state(traffic.clone(), record);
    let app = Example::start(SERVICE_ACCESS_TTL, |router| router.layer(recorder)).await;
    let page = forging_page(&app.base);
    let forger =
        serve(Router::new().route("/", get(move || std::future::ready(Html(page.clone()))))).await;
    assert_ne!(forger, app.base, "another port, so another origin");

    with_browser(BUDGET, move |browser| async move {
        browser.goto(&app.url("/")).await.expect("the page loads");
        let signed_in = run(&browser, "return signIn('alice', 'pw');").await;
        assert_eq!(signed_in["status"], 200, "{}", signed_in["body"]["detail"]);
        let session = session_cookies(&browser).await;

        // (a) The other origin's page, with the browser signed in.
        browser.goto(&forger).await.expect("the forging page loads");
        let tried = run(&browser, "return attack();").await;
        // The form's answer loaded in the frame; the `no-cors` answer is opaque to the page;
        // the `DELETE` needs a CORS preflight, which the app does not grant.
        assert_eq!(
            tried,
            json!({"form": "answered", "noCors": "opaque", "signOut": "failed: TypeError"})
        );
        let posts = traffic.of(Method::POST, "/orders", "same-site");
        assert_eq!(
            posts.len(),
            2,
            "the form and the fetch: {:?}",
            traffic.all()
        );
        for post in &posts {
            assert!(
                post.with_session,
                "sent without the session cookie: {post:?}"
            );
            assert_eq!(post.status, StatusCode::FORBIDDEN, "{post:?}");
        }
        assert_eq!(app.orders.placed(), 0, "a forged order was placed");
        let deletes: Vec<_> = traffic
            .all()
            .into_iter()
            .filter(|seen| seen.method == Method::DELETE)
            .collect();
        assert!(deletes.is_empty(), "{deletes:?}");
        assert_eq!(app.counts().logouts, 0, "the session was revoked");

        // (b) The app's own page: the session still works, places an order, signs out.
        browser.goto(&app.url("/")).await.expect("the page loads");
        let me = run(&browser, "return callUser(1);").await;
        assert_eq!(me, json!([{"status": 200, "user": app.user.id}]));
        let placed = run(&browser, "return placeOrder('a teapot');").await;
        assert_eq!(
            placed,
            json!({"status": 201, "body": {"id": 1, "item": "a teapot", "user_id": app.user.id}})
        );
        assert_eq!(app.orders.placed(), 1);
        let own = traffic.of(Method::POST, "/orders", "same-origin");
        assert_eq!(own.len(), 1, "{:?}", traffic.all());
        assert_eq!(run(&browser, "return signOut();").await, 204);
        assert_eq!(app.counts().logouts, 1);
        let left = browser.get_all_cookies().await.expect("the cookies");
        assert!(
            left.is_empty(),
            "cookies left after sign-out: {:?}",
            names(&left)
        );
        assert!(
            app.client.refresh(session.refresh.value()).await.is_err(),
            "the refresh token still works after sign-out"
        );
    })
    .await;
}
