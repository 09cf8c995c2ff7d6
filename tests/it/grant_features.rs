//! Which URI a grant check judges depends on the `axum` feature. With it (the default), the URI
//! the client called, which axum keeps in `OriginalUri`, also inside `nest`; without it, the
//! request's own URI, from which `nest` has stripped its prefix. The same app and the same
//! requests, against a real policy at the emulator, in both builds: `.ci/test` runs this file
//! with every feature, `.ci/run` once more without any (`--no-default-features`).

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use stlock::{GrantLayer, StlockLayer, StlockUser};
use stlock_emulator::{Emulator, NewPolicy, Rule};

use crate::support::emulator::{emulator, sign_up};
use crate::support::http::{bearer, fetch, serve};

/// The path the client calls: order 7 inside `nest("/api", …)`.
const CALLED: &str = "/api/orders/7";
/// The request's own path there, as `nest` hands it on.
const OWN: &str = "/orders/7";

/// The path this build's grant checks judge, and the one they do not.
fn judged_and_not() -> (&'static str, &'static str) {
    if cfg!(feature = "axum") {
        (CALLED, OWN)
    } else {
        (OWN, CALLED)
    }
}

async fn order(Path(id): Path<String>, _: StlockUser) -> String {
    format!("order {id}")
}

/// A user whose one policy allows `GET` on `allowed` and nothing else, and an app serving
/// orders inside `nest("/api", …)` behind the token and grant layers.
struct Fixture {
    emu: Emulator,
    base: String,
    token: String,
}

impl Fixture {
    async fn allowing(allowed: &str) -> Self {
        let emu = emulator().await;
        let client = stlock::Client::new(emu.config()).unwrap();
        let (user, tokens) = sign_up(&client, "alice").await;
        let pool = emu.credentials().user_pool_id.clone();
        let policy = emu
            .create_policy(
                &pool,
                NewPolicy::new("one path", [Rule::allow(["GET"], [allowed])]),
            )
            .unwrap();
        emu.attach_policy(&pool, &user.id, &policy.id).unwrap();
        let auth = StlockLayer::from_client(client);
        let grants = GrantLayer::new(auth.client().clone());
        let orders = Router::new()
            .route("/orders/{id}", get(order))
            .route_layer(grants)
            .route_layer(auth);
        let base = serve(Router::new().nest("/api", orders)).await;
        Self {
            emu,
            base,
            token: tokens.access_token,
        }
    }

    /// `GET path` with the user's token: the status and the body.
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let answer = fetch(
            &format!("{}{path}", self.base),
            &[("authorization", &bearer(&self.token))],
        )
        .await;
        (answer.status, answer.text)
    }

    /// How many grant checks reached the emulator.
    fn grant_checks(&self) -> u64 {
        self.emu
            .counts(&self.emu.credentials().user_pool_id)
            .unwrap()
            .grant_checks
    }
}

#[tokio::test]
async fn inside_nest_the_grant_check_judges_the_uri_the_feature_says() {
    let (judged, not_judged) = judged_and_not();

    // Allowed exactly the judged path, the call goes through to the handler.
    let fx = Fixture::allowing(judged).await;
    let (status, body) = fx.get(CALLED).await;
    assert_eq!(status, StatusCode::OK, "{judged} allowed: {body}");
    assert_eq!(body, "order 7");
    assert_eq!(fx.grant_checks(), 1);

    // Allowed exactly the other one, the service denies it: it was asked about the judged path.
    let fx = Fixture::allowing(not_judged).await;
    let (status, body) = fx.get(CALLED).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{not_judged} allowed: {body}"
    );
    assert_eq!(fx.grant_checks(), 1, "the service answered the check");
}
