//! `SessionLayer` on real clients: a hyper client calling an axum app behind `StlockLayer`, and
//! a tonic channel calling the `tonic_app` example's server, against the real emulator. A `401`
//! for an invalid token is refreshed and sent again exactly once (a request with a body is not
//! sent again), a refused refresh is the typed error with no second call, and gRPC calls go on
//! across token lifetimes with one refresh each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::Algorithm;
use stlock::session::{CallError, Ended, Session, SessionError, SessionLayer};
use stlock::{Client, StlockLayer, TokenPair, User};
use stlock_emulator::Emulator;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::refresh::me;
use crate::support::emulator::{access_claims, emulator, sign_up};
use crate::support::forge::sign;
use crate::support::http::serve;

/// `GET`/`POST /me` behind `StlockLayer`, counting the requests that reach the app.
struct App {
    emu: Emulator,
    client: Client,
    base: String,
    hits: Arc<AtomicUsize>,
    /// Every header value of every request that reached the app.
    seen: Arc<std::sync::Mutex<String>>,
}

impl App {
    async fn start() -> Self {
        let emu = emulator().await;
        let client = Client::new(emu.config()).unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(std::sync::Mutex::new(String::new()));
        let (counted, noted) = (Arc::clone(&hits), Arc::clone(&seen));
        let router = Router::new()
            .route("/me", get(me).post(me))
            .route_layer(StlockLayer::from_client(client.clone()))
            .layer(middleware::from_fn(move |request: Request, next: Next| {
                counted.fetch_add(1, Ordering::SeqCst);
                for value in request.headers().values() {
                    noted
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(value.as_bytes()));
                }
                next.run(request)
            }));
        let base = serve(router).await;
        Self {
            emu,
            client,
            base,
            hits,
            seen,
        }
    }

    /// Whether any request that reached the app carried `token` in a header.
    fn saw(&self, token: &str) -> bool {
        self.seen.lock().unwrap().contains(token)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn refreshes(&self) -> u64 {
        self.emu
            .counts(&self.emu.credentials().user_pool_id)
            .unwrap()
            .refreshes
    }

    /// A user, and a session whose access token the app refuses (signed with another secret)
    /// beside the user's valid refresh token: the session takes it for fresh.
    async fn refused_session(&self, name: &str) -> (User, TokenPair, Session) {
        let (user, pair) = sign_up(&self.client, name).await;
        let forged = sign(
            &access_claims(self.emu.credentials(), &user.id),
            "another-secret-of-at-least-32-bytes",
            Algorithm::HS256,
        );
        let session = Session::builder(self.client.clone())
            .start(TokenPair {
                access_token: forged,
                refresh_token: pair.refresh_token.clone(),
            })
            .unwrap();
        (user, pair, session)
    }

    /// `method /me` with `body` through `SessionLayer` on a hyper client.
    async fn call(
        &self,
        session: &Session,
        method: &str,
        body: &'static str,
    ) -> Result<(StatusCode, String), CallError<hyper_util::client::legacy::Error>> {
        let http = HttpClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut service = ServiceBuilder::new()
            .layer(SessionLayer::new(session.clone()))
            .service(http);
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}/me", self.base))
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        let response = service.ready().await?.call(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

#[tokio::test]
async fn a_refused_token_is_refreshed_and_the_request_sent_again_once() {
    let app = App::start().await;
    let (user, pair, session) = app.refused_session("alice").await;

    let (status, body) = app.call(&session, "GET", "").await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, user.id);
    assert_eq!(app.hits(), 2, "the request, and once more");
    assert_eq!(app.refreshes(), 1);
    // The bearer token went to the app; the refresh token only ever to the issuer.
    assert!(app.saw(session.current().unwrap().as_str()));
    assert!(!app.saw(&pair.refresh_token));

    // The new token is the session's: the next request goes through at once.
    app.call(&session, "GET", "").await.unwrap();
    assert_eq!(app.hits(), 3);
    assert_eq!(app.refreshes(), 1);
}

#[tokio::test]
async fn a_request_with_a_body_is_not_sent_again_but_the_next_one_has_the_new_token() {
    let app = App::start().await;
    let (user, _, session) = app.refused_session("alice").await;

    let (status, _) = app.call(&session, "POST", "an order").await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "its 401 is the answer");
    assert_eq!(app.hits(), 1, "not sent again");
    assert_eq!(app.refreshes(), 1, "but refreshed");

    let (status, body) = app.call(&session, "POST", "an order").await.unwrap();
    assert_eq!((status, body.as_str()), (StatusCode::OK, user.id.as_str()));
    assert_eq!(app.hits(), 2);
    assert_eq!(app.refreshes(), 1);
}

#[tokio::test]
async fn a_refused_refresh_is_the_typed_error_and_no_second_call() {
    let app = App::start().await;
    let (_, pair, session) = app.refused_session("alice").await;
    app.client.logout(&pair.refresh_token).await.unwrap();

    let answer = app.call(&session, "GET", "").await;
    assert!(
        matches!(
            answer,
            Err(CallError::Session(SessionError::Ended(Ended::Refused)))
        ),
        "{answer:?}"
    );
    assert_eq!(app.hits(), 1, "no second call");

    // Over: the next call does not reach the app at all.
    let again = app.call(&session, "GET", "").await;
    assert!(matches!(
        again,
        Err(CallError::Session(SessionError::Ended(_)))
    ));
    assert_eq!(app.hits(), 1);
}

/// Three lifetimes of continuous gRPC calls through `SessionLayer` on a tonic channel, with
/// tokens that live 2 s: each token is refreshed once, ahead of its expiry, and no call fails.
#[cfg(feature = "tonic")]
#[tokio::test]
async fn grpc_calls_go_on_across_three_lifetimes_with_one_refresh_each() {
    use std::time::{Duration, Instant};

    use stlock_emulator::{HashCost, Rule};
    use tokio::net::TcpListener;
    use tonic::transport::Channel;

    use crate::greeter::greeter_client::GreeterClient;
    use crate::greeter::WhoAmIRequest;
    use crate::support::emulator::policy;

    const LIFETIME: Duration = Duration::from_secs(2);
    let emu = Emulator::builder()
        .hash_cost(HashCost::Fast)
        .access_ttl(LIFETIME)
        .start()
        .await
        .unwrap();
    let client = Client::new(emu.config()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(crate::service::serve(
        listener,
        StlockLayer::from_client(client.clone()),
        std::future::pending(),
    ));
    let (user, pair) = sign_up(&client, "worker").await;
    let greeting = policy(&emu, Rule::allow(["POST"], ["/greeter.v1.Greeter/*"]));
    emu.attach_policy(&emu.credentials().user_pool_id, &user.id, &greeting)
        .unwrap();

    // Refreshed 300 ms before the end of each 2 s lifetime, with no jitter: at 1.7 s, 3.4 s
    // and 5.1 s from the start.
    let session = Session::builder(client.clone())
        .margin(Duration::from_millis(300))
        .jitter(0.0)
        .start(pair)
        .unwrap();
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut greeter = GreeterClient::new(
        ServiceBuilder::new()
            .layer(SessionLayer::new(session))
            .service(channel),
    );
    let refreshes = || {
        emu.counts(&emu.credentials().user_pool_id)
            .unwrap()
            .refreshes
    };
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < LIFETIME * 3 - Duration::from_millis(200) {
        let reply = greeter
            .who_am_i(WhoAmIRequest {})
            .await
            .unwrap_or_else(|status| panic!("call {calls} failed: {status:?}"));
        assert_eq!(reply.into_inner().user_id, user.id);
        calls += 1;
    }
    assert!(calls > 30, "continuous calls: {calls}");
    assert_eq!(
        refreshes(),
        3,
        "one refresh per lifetime over {calls} calls"
    );
}

/// A handler forwarding its user's token: the one the request carried, or the one the layer
/// renewed it to.
#[tokio::test]
async fn a_handler_reads_the_token_to_forward_on_its_users_behalf() {
    use stlock::refresh::AutoRefresh;

    use crate::refresh::{access_token_expiring, cookies, pair_set_by};
    use crate::support::forge::now;
    use crate::support::http::{bearer, fetch};

    async fn forwarded(user: stlock::StlockUser, headers: http::HeaderMap) -> String {
        user.access_token(&headers).unwrap_or("none").to_owned()
    }
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let auth = StlockLayer::from_client(client.clone())
        .auto_refresh(AutoRefresh::cookies().build().unwrap());
    let base = serve(
        Router::new()
            .route("/forward", get(forwarded))
            .route_layer(auth),
    )
    .await;
    let (user, pair) = sign_up(&client, "alice").await;
    let url = format!("{base}/forward");

    let answer = fetch(&url, &[("authorization", &bearer(&pair.access_token))]).await;
    assert_eq!(answer.text, pair.access_token);

    // A browser's expired cookie, renewed on the fly: the new token, not the expired one.
    let expired = access_token_expiring(&emu, &user, now() - 60);
    let (name, value) = cookies(&expired, &pair.refresh_token);
    let answer = fetch(&url, &[(name, &value)]).await;
    assert_eq!(answer.text, pair_set_by(&answer).access_token);
    assert_ne!(answer.text, expired);
}

/// The same through reqwest-middleware: a refused token refreshed and the request (its body a
/// copy reqwest can make) sent again once; a refused refresh is the session's error, with no
/// second call.
#[cfg(feature = "reqwest-middleware")]
#[tokio::test]
async fn through_reqwest_middleware_a_refused_token_is_refreshed_and_sent_again_once() {
    use stlock::session::SessionMiddleware;

    let app = App::start().await;
    let through = |session: &Session| {
        reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(SessionMiddleware::new(session.clone()))
            .build()
            .post(format!("{}/me", app.base))
            .body("an order")
            .send()
    };
    let (user, _, session) = app.refused_session("alice").await;
    let answer = through(&session).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.text().await.unwrap(), user.id);
    assert_eq!(app.hits(), 2, "the request, and once more");
    assert_eq!(app.refreshes(), 1);

    let (_, pair, session) = app.refused_session("bob").await;
    app.client.logout(&pair.refresh_token).await.unwrap();
    let error = through(&session).await.unwrap_err();
    let cause = match &error {
        reqwest_middleware::Error::Middleware(cause) => cause.downcast_ref::<SessionError>(),
        reqwest_middleware::Error::Reqwest(_) => None,
    };
    assert!(
        matches!(cause, Some(SessionError::Ended(Ended::Refused))),
        "{error:?}"
    );
    assert_eq!(app.hits(), 3, "no second call");
}

/// A server that refuses every token (not of this pool, or hostile): one refresh, one resend,
/// then its refusals are the answers until `FORCED_REFRESH_INTERVAL` has passed, rather than a
/// refresh spent on every request.
#[tokio::test]
async fn a_server_refusing_every_token_costs_one_refresh_not_one_per_request() {
    use axum::response::IntoResponse;

    let app = App::start().await;
    let (_, _, session) = app.refused_session("alice").await;
    let refusals = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&refusals);
    let refusing = serve(Router::new().route(
        "/me",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async {
                (
                    StatusCode::UNAUTHORIZED,
                    [(
                        http::header::WWW_AUTHENTICATE,
                        r#"Bearer error="invalid_token""#,
                    )],
                )
                    .into_response()
            }
        }),
    ))
    .await;
    let elsewhere = App {
        base: refusing,
        ..app
    };
    for _ in 0..3 {
        let (status, _) = elsewhere.call(&session, "GET", "").await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(elsewhere.refreshes(), 1, "one refresh");
    assert_eq!(
        refusals.load(Ordering::SeqCst),
        4,
        "sent again once, after that refresh"
    );
}
