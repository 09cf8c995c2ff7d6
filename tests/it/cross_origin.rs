//! Cookie-borne credentials over the wire: a state-changing request from another origin is
//! refused before anything is done with them (a refresh included), while bearer tokens, safe
//! methods, non-browser clients and the app's own origin pass; the default cookies are
//! `__Host-` cookies living as long as the refresh token; an expired access cookie is no token
//! for an optional layer; and the `Authorization` header is read one way, cached token or not.

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use stlock::cross_origin::CrossOriginProtection;
use stlock::refresh::AutoRefresh;
use stlock::{Client, GrantLayer, StlockLayer, StlockUser};

use crate::refresh::{access_token_expiring, cookies, set_cookies, Fixture};
use crate::support::emulator::{emulator, sign_up};
use crate::support::forge::now;
use crate::support::http::{http, serve, Answer};

async fn create_order(user: StlockUser) -> (StatusCode, String) {
    (StatusCode::CREATED, user.user_id().to_owned())
}

/// `/orders`, every method creating an order, behind `auth`.
async fn orders(auth: StlockLayer) -> String {
    let every = post(create_order)
        .get(create_order)
        .put(create_order)
        .patch(create_order)
        .delete(create_order);
    let app = Router::new().route("/orders", every).route_layer(auth);
    serve(app).await
}

async fn send(method: &str, url: &str, headers: &[(&str, String)]) -> Answer {
    let method = http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http().request(method, url);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    Answer::read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn a_cross_origin_request_with_cookie_credentials_is_refused_before_any_refresh() {
    let fx = Fixture::new(AutoRefresh::cookies().build().unwrap()).await;
    let base = orders(
        StlockLayer::from_client(fx.client.clone())
            .auto_refresh(AutoRefresh::cookies().build().unwrap()),
    )
    .await;
    let url = format!("{base}/orders");
    let host = base.trim_start_matches("http://").to_owned();
    let (user, pair) = sign_up(&fx.client, "alice").await;
    let session = cookies(&pair.access_token, &pair.refresh_token);

    let refused = [
        vec![("sec-fetch-site", "cross-site".to_owned())],
        vec![("sec-fetch-site", "same-site".to_owned())],
        // Fetch metadata decides over an Origin that matches.
        vec![
            ("sec-fetch-site", "same-site".to_owned()),
            ("origin", format!("http://{host}")),
        ],
        // Without it, an Origin that is not the request's host.
        vec![("origin", "http://127.0.0.1:1".to_owned())],
        vec![("origin", "null".to_owned())],
    ];
    for headers in refused {
        for method in ["POST", "DELETE", "PUT", "PATCH"] {
            let mut all = headers.clone();
            all.push(session.clone());
            let answer = send(method, &url, &all).await;
            answer.assert_json_error(StatusCode::FORBIDDEN);
            assert!(
                answer.detail().starts_with("cross-origin request refused"),
                "{method} {headers:?}"
            );
            assert_eq!(answer.header("www-authenticate"), None);
        }
    }

    let allowed = [
        vec![("sec-fetch-site", "same-origin".to_owned())],
        vec![("sec-fetch-site", "none".to_owned())],
        vec![("origin", format!("http://{host}"))],
        // Neither header: not a browser.
        vec![],
    ];
    for headers in allowed {
        let mut all = headers.clone();
        all.push(session.clone());
        let answer = send("POST", &url, &all).await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{headers:?}: {}",
            answer.text
        );
        assert_eq!(answer.text, user.id);
    }

    // Safe methods and bearer tokens pass whatever the browser says.
    let cross = ("sec-fetch-site", "cross-site".to_owned());
    let answer = send("GET", &url, &[cross.clone(), session.clone()]).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let bearer = ("authorization", format!("Bearer {}", pair.access_token));
    let answer = send("POST", &url, &[cross.clone(), bearer]).await;
    assert_eq!(answer.status, StatusCode::CREATED);

    // An expired access cookie, or the refresh cookie alone: refused before any refresh.
    let expired = access_token_expiring(&fx.emu, &user, now() - 60);
    let due = cookies(&expired, &pair.refresh_token);
    let answer = send("POST", &url, &[cross.clone(), due]).await;
    answer.assert_json_error(StatusCode::FORBIDDEN);
    assert!(set_cookies(&answer).is_empty());
    let alone = (
        "cookie",
        format!("__Host-stlock_refresh={}", pair.refresh_token),
    );
    let answer = send("POST", &url, &[cross, alone]).await;
    answer.assert_json_error(StatusCode::FORBIDDEN);
    assert_eq!(
        fx.refreshes(),
        0,
        "a cross-origin request refreshes nothing"
    );
}

#[tokio::test]
async fn trusted_origins_pass_and_the_protection_can_be_turned_off() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let (_, pair) = sign_up(&client, "alice").await;
    let session = cookies(&pair.access_token, &pair.refresh_token);
    let auth =
        StlockLayer::from_client(client).auto_refresh(AutoRefresh::cookies().build().unwrap());
    let from_admin = [
        ("origin", "https://admin.example.com".to_owned()),
        ("sec-fetch-site", "same-site".to_owned()),
        session,
    ];

    let trusting = CrossOriginProtection::new()
        .trust("https://admin.example.com")
        .unwrap();
    let base = orders(auth.clone().cross_origin(trusting)).await;
    let answer = send("POST", &format!("{base}/orders"), &from_admin).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);

    let base = orders(auth.clone()).await;
    let answer = send("POST", &format!("{base}/orders"), &from_admin).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    let base = orders(auth.cross_origin(CrossOriginProtection::disabled())).await;
    let answer = send("POST", &format!("{base}/orders"), &from_admin).await;
    assert_eq!(answer.status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_default_cookies_are_host_cookies_living_as_long_as_the_refresh_token() {
    let fx = Fixture::new(AutoRefresh::cookies().build().unwrap()).await;
    let (_, old, expired) = fx.expired_session("alice").await;
    let answer = fx.me(&[cookies(&expired, &old.refresh_token)]).await;
    let set = set_cookies(&answer);
    let names: Vec<_> = set.iter().map(|(name, ..)| name.as_str()).collect();
    assert_eq!(names, ["__Host-stlock_access", "__Host-stlock_refresh"]);
    for (name, _, attributes) in &set {
        for attribute in ["HttpOnly", "Secure", "Path=/", "SameSite=Lax"] {
            assert!(attributes.contains(attribute), "{name}: {attributes}");
        }
        assert!(!attributes.contains("Domain"), "{name}: {attributes}");
        let max_age: u64 = attributes
            .split("Max-Age=")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .parse()
            .unwrap();
        // The emulator's refresh tokens live an hour; its access tokens ten minutes.
        assert!((3500..=3600).contains(&max_age), "{name}: {attributes}");
    }

    // Plain HTTP on a developer's machine: no `Secure`, so no prefix.
    let fx = Fixture::new(AutoRefresh::cookies().secure(false).build().unwrap()).await;
    let (_, old, expired) = fx.expired_session("alice").await;
    let plain = format!(
        "stlock_access={expired}; stlock_refresh={}",
        old.refresh_token
    );
    let answer = fx.me(&[("cookie", plain)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let names: Vec<_> = set_cookies(&answer)
        .into_iter()
        .map(|(name, ..)| name)
        .collect();
    assert_eq!(names, ["stlock_access", "stlock_refresh"]);
}

async fn greeting(user: Option<StlockUser>) -> String {
    match user {
        Some(user) => user.user_id().to_owned(),
        None => "stranger".to_owned(),
    }
}

#[tokio::test]
async fn an_expired_access_cookie_is_no_token_for_an_optional_layer() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let (user, pair) = sign_up(&client, "alice").await;
    let auth = StlockLayer::from_client(client)
        .token_sources([
            stlock::TokenSource::AuthorizationHeader,
            stlock::TokenSource::cookie("__Host-stlock_access"),
        ])
        .optional();
    let base = serve(Router::new().route("/", get(greeting)).route_layer(auth)).await;
    let expired = access_token_expiring(&emu, &user, now() - 600);

    let cookie = ("cookie", format!("__Host-stlock_access={expired}"));
    let answer = send("GET", &format!("{base}/"), &[cookie]).await;
    assert_eq!(
        (answer.status, answer.text.as_str()),
        (StatusCode::OK, "stranger")
    );
    let live = (
        "cookie",
        format!("__Host-stlock_access={}", pair.access_token),
    );
    let answer = send("GET", &format!("{base}/"), &[live]).await;
    assert_eq!(answer.text, user.id);
    // A client that sends an expired bearer token is told so: it can refresh.
    let bearer = ("authorization", format!("Bearer {expired}"));
    let answer = send("GET", &format!("{base}/"), &[bearer]).await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    // So is a forged cookie: present but invalid is still refused.
    let forged = (
        "cookie",
        format!("__Host-stlock_access={}x", pair.access_token),
    );
    let answer = send("GET", &format!("{base}/"), &[forged]).await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_padded_authorization_header_is_refused_whether_or_not_its_token_is_cached() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let (_, pair) = sign_up(&client, "alice").await;
    let auth = StlockLayer::from_client(client.clone());
    let plain = Router::new()
        .route("/", get(greeting))
        .route_layer(auth.clone());
    let granted = Router::new()
        .route("/", get(greeting))
        .route_layer(GrantLayer::new(client))
        .route_layer(auth);
    let padded = format!("Bearer {}{}", " ".repeat(13_000), pair.access_token);
    for app in [plain, granted] {
        let url = format!("{}/", serve(app).await);
        let bearer = ("authorization", format!("Bearer {}", pair.access_token));
        let padded = ("authorization", padded.clone());
        // Twice before: the token is in the verified-token cache from the second on.
        for attempt in 0..4 {
            let answer = send("GET", &url, std::slice::from_ref(&padded)).await;
            answer.assert_json_error(StatusCode::BAD_REQUEST);
            assert!(
                answer.detail().contains("too large"),
                "{attempt}: {}",
                answer.text
            );
            if attempt < 2 {
                // Through, or (no policy attached) denied by the grant check: either way verified.
                let answer = send("GET", &url, std::slice::from_ref(&bearer)).await;
                assert!(answer.status == StatusCode::OK || answer.status == StatusCode::FORBIDDEN);
            }
        }
    }
}
