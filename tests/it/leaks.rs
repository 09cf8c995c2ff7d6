//! A whole flow (registration, sign-in, decoding, grants, rotation, password change, sign-out;
//! an app behind both layers, accepting and rejecting) with `tracing` capturing everything at
//! TRACE, `log` records included; then the `Debug` and `Display` of every public value the flow
//! touched. No password, API key, signing secret or token appears in any of it.

use axum::routing::get;
use axum::Router;
use http::Method;
use jsonwebtoken::Algorithm;
use stlock::{
    AuthError, Client, Config, GrantLayer, Registration, StlockLayer, StlockUser, TokenSource,
};
use stlock_emulator::{Emulator, HashCost, Rule};
use tracing::Level;

use crate::app::App;
use crate::support::emulator::{access_claims, policy};
use crate::support::forge::sign;
use crate::support::http::{fetch, serve};
use crate::support::logs::capture;

const PASSWORD: &str = "correct-horse-battery-staple";
const NEW_PASSWORD: &str = "tr0ub4dor-and-3";

/// Everything secret the flow handled, and everything it printed.
struct Flow {
    secrets: Vec<String>,
    shown: Vec<String>,
}

impl Flow {
    fn keep(&mut self, secret: &str) {
        // A token is checked by its parts too: a log line might print one part alone.
        self.secrets.push(secret.to_owned());
        self.secrets.extend(
            secret
                .split('.')
                .filter(|part| part.len() >= 16)
                .map(str::to_owned),
        );
    }

    fn show(&mut self, value: &(impl std::fmt::Debug + ?Sized)) {
        self.shown.push(format!("{value:?}"));
    }

    fn display(&mut self, value: &impl std::fmt::Display) {
        self.shown.push(value.to_string());
    }
}

async fn me(user: StlockUser) -> String {
    format!("{user:?} {:?}", user.claims())
}

async fn run() -> Flow {
    let mut flow = Flow {
        secrets: vec![PASSWORD.into(), NEW_PASSWORD.into()],
        shown: Vec::new(),
    };
    let emu = Emulator::builder()
        .hash_cost(HashCost::Fast)
        .start()
        .await
        .unwrap();
    let creds = emu.credentials().clone();
    flow.keep(creds.api_key.expose());
    flow.keep(creds.jwt_secret.expose());
    let config: Config = emu.config();
    let client = Client::new(config.clone()).unwrap();

    let registration = Registration::new("alice", "alice@example.com", "79111111111", PASSWORD);
    let user = client.register(&registration).await.unwrap();
    let duplicate = client.register(&registration).await.unwrap_err();
    let wrong = client.login("alice", "not-the-password").await.unwrap_err();
    let tokens = client.login("alice", PASSWORD).await.unwrap();
    flow.keep(&tokens.access_token);
    flow.keep(&tokens.refresh_token);
    let claims = client.decode(&tokens.access_token).unwrap();
    let refused = client.decode(&tokens.refresh_token).unwrap_err();
    let id = policy(&emu, Rule::allow(["GET"], ["/orders/*"]));
    emu.attach_policy(&creds.user_pool_id, &user.id, &id)
        .unwrap();
    let decision = client
        .check_grant(&tokens.access_token, &Method::GET, "/orders/1")
        .await
        .unwrap();

    // An app behind both layers, header and cookie; accepted, denied, and refused requests.
    let auth = StlockLayer::from_client(client.clone()).token_sources([
        TokenSource::AuthorizationHeader,
        TokenSource::cookie("session"),
    ]);
    let grants = GrantLayer::new(client.clone());
    let app = App::with_layers(auth.clone(), grants.clone())
        .router()
        .merge(
            Router::new()
                .route("/me", get(me))
                .route_layer(auth.clone()),
        );
    let base = serve(app).await;
    let bearer = format!("Bearer {}", tokens.access_token);
    let cookie = format!("session={}", tokens.access_token);
    let forged = sign(
        &access_claims(&creds, &user.id),
        "a-forged-secret-of-at-least-32-bytes",
        Algorithm::HS256,
    );
    flow.keep(&forged);
    let forged_bearer = format!("Bearer {forged}");
    for (path, headers) in [
        ("/me", vec![("authorization", bearer.as_str())]),
        ("/me", vec![("cookie", cookie.as_str())]),
        ("/orders/1", vec![("authorization", bearer.as_str())]),
        ("/user", vec![("authorization", forged_bearer.as_str())]),
        ("/user", vec![("cookie", "session=x.y.z")]),
    ] {
        let answer = fetch(&format!("{base}{path}"), &headers).await;
        flow.shown.push(answer.text.clone());
        flow.show(&answer.headers);
    }
    emu.detach_policy(&creds.user_pool_id, &user.id, &id)
        .unwrap();
    let denied = fetch(
        &format!("{base}/orders/2"),
        &[("authorization", bearer.as_str())],
    )
    .await;
    assert_eq!(denied.status, http::StatusCode::FORBIDDEN);
    flow.shown.push(denied.text);

    let rotated = client.refresh(&tokens.refresh_token).await.unwrap();
    flow.keep(&rotated.access_token);
    flow.keep(&rotated.refresh_token);
    let reused = client.refresh(&tokens.refresh_token).await.unwrap_err();
    let fresh = client.login("alice", PASSWORD).await.unwrap();
    flow.keep(&fresh.access_token);
    flow.keep(&fresh.refresh_token);
    client
        .update_password(&fresh.access_token, PASSWORD, NEW_PASSWORD)
        .await
        .unwrap();
    let last = client.login("alice", NEW_PASSWORD).await.unwrap();
    flow.keep(&last.access_token);
    flow.keep(&last.refresh_token);
    client.logout(&last.refresh_token).await.unwrap();

    flow.show(&emu);
    flow.show(&creds);
    flow.show(&config);
    flow.show(&client);
    flow.show(client.decoder());
    flow.show(&registration);
    flow.show(&tokens);
    flow.show(&user);
    flow.show(&claims);
    flow.show(&decision);
    flow.show(&auth);
    flow.show(&grants);
    for error in [&duplicate, &wrong, &reused] {
        flow.show(error);
        flow.display(error);
    }
    flow.show(&refused);
    flow.display(&refused);
    let rejection = AuthError::InvalidToken {
        origin: TokenSource::AuthorizationHeader,
        reason: refused,
    };
    flow.show(&rejection);
    flow.display(&rejection);
    emu.shutdown().await;
    flow
}

#[test]
fn nothing_secret_reaches_a_log_line_or_a_debug_string() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (flow, log) = capture(Level::TRACE, || runtime.block_on(run()));
    // The capture saw the flow, the HTTP client's `log` records included.
    assert!(log.contains("stlock rejected a request"), "{log}");
    assert!(log.contains("reqwest"), "{log}");
    for secret in &flow.secrets {
        assert!(!log.contains(secret.as_str()), "logged: {secret}\n{log}");
        for shown in &flow.shown {
            assert!(
                !shown.contains(secret.as_str()),
                "shown: {secret} in {shown}"
            );
        }
    }
}
