//! The spans stlock opens (one per refresh call, one per grant check) and the user it records on
//! the request's span when asked (`StlockLayer::record_user_id`), read from what a real
//! `tracing` subscriber writes as each span closes.

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use stlock::refresh::AutoRefresh;
use stlock::{Client, StlockLayer};
use stlock_emulator::Rule;
use tower_http::trace::TraceLayer;
use tracing::Level;

use crate::app::App;
use crate::refresh::{access_token_expiring, cookies, me, Fixture};
use crate::support::emulator::{emulator, policy, sign_up};
use crate::support::forge::now;
use crate::support::http::{bearer, fetch, http, serve};
use crate::support::logs::Capture;

/// The lines of `text` that say a span of this name closed: the innermost of the line's spans
/// (`outer{…}:inner{…}: target: "close" time.busy=…`), the one followed by `: `.
fn closed<'a>(text: &'a str, span: &str) -> Vec<&'a str> {
    let opening = format!("{span}{{");
    text.lines()
        .filter(|line| line.contains(" time.busy="))
        .filter(|line| {
            line.match_indices(&opening).any(|(start, _)| {
                line[start..]
                    .find('}')
                    .is_some_and(|end| line[start + end + 1..].starts_with(": "))
            })
        })
        .collect()
}

#[tokio::test]
async fn one_span_per_refresh_call_whatever_the_number_of_requests() {
    let fx = Fixture::new(AutoRefresh::cookies().build().unwrap()).await;
    let (user, old, expired) = fx.expired_session("alice").await;
    let capture = Capture::with_spans(Level::INFO);
    for answer in fx.storm(10, &cookies(&expired, &old.refresh_token)).await {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.text, user.id);
    }
    let text = capture.text();
    let spans = closed(&text, "stlock.refresh");
    assert_eq!(spans.len(), 1, "{text}");
    assert!(spans[0].contains("result=\"refreshed\""), "{}", spans[0]);
    assert!(!text.contains(&old.refresh_token) && !text.contains(&expired));
}

#[tokio::test]
async fn a_grant_check_at_the_service_has_a_span_with_its_decision() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let base = serve(App::new(StlockLayer::from_client(client.clone())).router()).await;
    let (user, pair) = sign_up(&client, "alice").await;
    let reading = policy(&emu, Rule::allow(["GET"], ["/orders/*"]));
    emu.attach_policy(&emu.credentials().user_pool_id, &user.id, &reading)
        .unwrap();
    let token = bearer(&pair.access_token);

    let capture = Capture::with_spans(Level::INFO);
    for method in ["GET", "DELETE", "GET"] {
        http()
            .request(method.parse().unwrap(), format!("{base}/orders/7"))
            .header("authorization", &token)
            .send()
            .await
            .unwrap();
    }
    let text = capture.text();
    let spans = closed(&text, "stlock.grant_check");
    // The second GET was answered from the cache: no check at the service, no span.
    assert_eq!(spans.len(), 2, "{text}");
    assert!(
        spans[0].contains("http.request.method=GET")
            && spans[0].contains("url.path=\"/orders/7\"")
            && spans[0].contains("decision=\"allowed\""),
        "{}",
        spans[0]
    );
    assert!(
        spans[1].contains("http.request.method=DELETE") && spans[1].contains("decision=\"denied\""),
        "{}",
        spans[1]
    );
    assert!(!text.contains(&pair.access_token));
}

/// `GET /me` behind `auth`, inside a `TraceLayer` whose request span has an `enduser.id` field.
async fn traced(auth: StlockLayer) -> String {
    serve(Router::new().route("/me", get(me)).route_layer(auth).layer(
        TraceLayer::new_for_http().make_span_with(|request: &http::Request<_>| {
            tracing::info_span!(
                "request",
                uri = %request.uri(),
                enduser.id = tracing::field::Empty,
            )
        }),
    ))
    .await
}

#[tokio::test]
async fn the_user_is_recorded_on_the_request_span_only_when_asked() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let recording = traced(StlockLayer::from_client(client.clone()).record_user_id()).await;
    let silent = traced(StlockLayer::from_client(client.clone())).await;
    let (user, pair) = sign_up(&client, "alice").await;
    let token = bearer(&pair.access_token);

    for (base, recorded) in [(recording, true), (silent, false)] {
        let capture = Capture::with_spans(Level::INFO);
        let answer = fetch(&format!("{base}/me"), &[("authorization", &token)]).await;
        assert_eq!(answer.text, user.id);
        let text = capture.text();
        let spans = closed(&text, "request");
        assert_eq!(spans.len(), 1, "{text}");
        assert_eq!(
            spans[0].contains(&format!("enduser.id=\"{}\"", user.id)),
            recorded,
            "{}",
            spans[0]
        );
        assert_eq!(text.contains(&user.id), recorded, "{text}");
    }
}

#[tokio::test]
async fn a_user_renewed_on_the_fly_is_recorded_too() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let auth = StlockLayer::from_client(client.clone())
        .auto_refresh(AutoRefresh::cookies().build().unwrap())
        .record_user_id();
    let base = traced(auth).await;
    let (user, pair) = sign_up(&client, "alice").await;
    let expired = access_token_expiring(&emu, &user, now() - 60);

    let capture = Capture::with_spans(Level::INFO);
    let (name, value) = cookies(&expired, &pair.refresh_token);
    let answer = fetch(&format!("{base}/me"), &[(name, &value)]).await;
    assert_eq!(answer.text, user.id);
    let text = capture.text();
    let spans = closed(&text, "request");
    assert_eq!(spans.len(), 1, "{text}");
    assert!(
        spans[0].contains(&format!("enduser.id=\"{}\"", user.id)),
        "{}",
        spans[0]
    );
}

#[tokio::test]
async fn a_refresh_span_says_how_the_call_ended() {
    let fx = Fixture::new(
        AutoRefresh::cookies()
            .grace(std::time::Duration::from_secs(600))
            .build()
            .unwrap(),
    )
    .await;
    let capture = Capture::with_spans(Level::INFO);

    // Refused: the refresh token was revoked at the service.
    let (_, revoked, expired) = fx.expired_session("alice").await;
    fx.client.logout(&revoked.refresh_token).await.unwrap();
    let answer = fx.me(&[cookies(&expired, &revoked.refresh_token)]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    // Suspected theft: bob's old refresh cookie again, with another access token of his.
    let (bob, old, expired) = fx.expired_session("bob").await;
    let answer = fx.me(&[cookies(&expired, &old.refresh_token)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let older = access_token_expiring(&fx.emu, &bob, now() - 120);
    let answer = fx.me(&[cookies(&older, &old.refresh_token)]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    let text = capture.text();
    let results: Vec<&str> = closed(&text, "stlock.refresh")
        .iter()
        .filter_map(|line| line.split("result=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        results,
        ["refused", "refreshed", "suspected_theft"],
        "{text}"
    );

    // Unavailable: the service cannot be reached.
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let unreachable = crate::sessions::client_through(
        &emu,
        &crate::support::raw::closed_port_endpoint(),
        emu.credentials().api_key.expose(),
    );
    let base = traced(
        StlockLayer::from_client(unreachable).auto_refresh(AutoRefresh::cookies().build().unwrap()),
    )
    .await;
    let (carol, pair) = sign_up(&client, "carol").await;
    let expired = access_token_expiring(&emu, &carol, now() - 60);
    let capture = Capture::with_spans(Level::INFO);
    let (name, value) = cookies(&expired, &pair.refresh_token);
    let answer = fetch(&format!("{base}/me"), &[(name, &value)]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let text = capture.text();
    let spans = closed(&text, "stlock.refresh");
    assert_eq!(spans.len(), 1, "{text}");
    assert!(spans[0].contains("result=\"unavailable\""), "{}", spans[0]);
}
