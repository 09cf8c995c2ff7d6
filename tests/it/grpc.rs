//! The `tonic_app` example's server (`StlockLayer` and `GrantLayer` in front of a tonic
//! service) called by a real tonic client over loopback, against the real emulator.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::json;
use stlock::refresh::{AutoRefresh, ACCESS_TOKEN_HEADER, REFRESH_TOKEN_HEADER};
use stlock::{AuthError, Client, Config, StlockLayer, TokenPair, User};
use stlock_emulator::{Emulator, Rule};
use tokio::net::TcpListener;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Status};

use crate::greeter::greeter_client::GreeterClient;
use crate::greeter::greeter_server::GreeterServer;
use crate::greeter::{HelloRequest, WhoAmIReply, WhoAmIRequest};
use crate::service::GreeterService;
use crate::support::emulator::{access_claims, emulator, policy, sign_up};
use crate::support::forge::{access_claims_of, now, sign};
use crate::support::raw::closed_port_endpoint;
use crate::support::{missing_header_token, HEADER, OWNER, POOL, SECRET};

struct Fixture {
    emu: Emulator,
    client: Client,
    greeter: GreeterClient<Channel>,
}

impl Fixture {
    /// The example's server (token and grant layers) on the emulator.
    async fn new() -> Self {
        Self::with(|auth| auth).await
    }

    /// The example's server, its token layer configured by `configure`.
    async fn with(configure: impl FnOnce(StlockLayer) -> StlockLayer) -> Self {
        let emu = emulator().await;
        let client = Client::new(emu.config()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let auth = configure(StlockLayer::from_client(client.clone()));
        tokio::spawn(crate::service::serve(
            listener,
            auth,
            std::future::pending(),
        ));
        let greeter = connect(&format!("http://{addr}")).await;
        Self {
            emu,
            client,
            greeter,
        }
    }

    /// A user whose policy allows every method of the greeter.
    async fn caller(&self, name: &str) -> (User, TokenPair) {
        let (user, tokens) = sign_up(&self.client, name).await;
        let id = policy(&self.emu, Rule::allow(["POST"], ["/greeter.v1.Greeter/*"]));
        self.emu
            .attach_policy(&self.emu.credentials().user_pool_id, &user.id, &id)
            .unwrap();
        (user, tokens)
    }

    async fn who_am_i(&self, authorization: Option<&str>) -> Result<WhoAmIReply, Status> {
        let mut request = Request::new(WhoAmIRequest {});
        if let Some(value) = authorization {
            request
                .metadata_mut()
                .insert("authorization", value.parse().unwrap());
        }
        self.greeter
            .clone()
            .who_am_i(request)
            .await
            .map(|reply| reply.into_inner())
    }
}

/// A client; the server's listener is already bound, so connecting needs no waiting.
async fn connect(url: &str) -> GreeterClient<Channel> {
    let channel = Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    GreeterClient::new(channel)
}

#[track_caller]
fn assert_status(result: Result<WhoAmIReply, Status>, code: Code, message: &str) {
    let status = result.expect_err("the call is refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), message, "{status:?}");
}

#[tokio::test]
async fn who_am_i_with_a_bearer_token_returns_the_verified_caller() {
    let fx = Fixture::new().await;
    let (user, tokens) = fx.caller("alice").await;
    let claims = fx.client.decode(&tokens.access_token).unwrap();

    for scheme in ["Bearer", "bearer"] {
        let reply = fx
            .who_am_i(Some(&format!("{scheme} {}", tokens.access_token)))
            .await;
        let reply = reply.unwrap_or_else(|status| panic!("{scheme}: {status:?}"));
        assert_eq!(reply.user_id, user.id);
        assert_eq!(reply.user_pool_id, fx.emu.credentials().user_pool_id);
        assert_eq!(reply.owner_id, fx.emu.credentials().owner_id);
        assert_eq!(reply.expires_at, claims.exp);
    }
}

#[tokio::test]
async fn say_hello_greets_by_name_and_by_token() {
    let fx = Fixture::new().await;
    let (user, tokens) = fx.caller("alice").await;
    let mut request = Request::new(HelloRequest {
        name: "Alice".into(),
    });
    let value = format!("Bearer {}", tokens.access_token).parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    let reply = fx
        .greeter
        .clone()
        .say_hello(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.message, "Hello, Alice!");
    assert_eq!(reply.user_id, user.id);
}

#[tokio::test]
async fn no_token_is_unauthenticated() {
    let fx = Fixture::new().await;
    let missing = missing_header_token().to_string();
    assert_status(fx.who_am_i(None).await, Code::Unauthenticated, &missing);
    // Another scheme is no bearer token.
    let basic = fx.who_am_i(Some("Basic dXNlcjpwdw==")).await;
    assert_status(basic, Code::Unauthenticated, &missing);
}

#[tokio::test]
async fn invalid_tokens_are_unauthenticated() {
    let fx = Fixture::new().await;
    let (user, tokens) = fx.caller("alice").await;
    let creds = fx.emu.credentials();
    let mut expired = access_claims(creds, &user.id);
    expired["exp"] = json!(now() - 120);
    let cases = [
        (
            "Bearer not-a-jwt".to_owned(),
            stlock::DecodeError::Malformed,
        ),
        (
            format!(
                "Bearer {}",
                sign(
                    &access_claims(creds, &user.id),
                    "another-secret-of-at-least-32-bytes!!",
                    Algorithm::HS256
                )
            ),
            stlock::DecodeError::BadSignature,
        ),
        (
            format!(
                "Bearer {}",
                sign(&expired, creds.jwt_secret.expose(), Algorithm::HS256)
            ),
            stlock::DecodeError::Expired,
        ),
        (
            format!("Bearer {}", tokens.refresh_token),
            stlock::DecodeError::WrongType {
                expected: stlock::TokenType::Access,
                found: stlock::TokenType::Refresh,
            },
        ),
    ];
    for (value, error) in cases {
        let message = AuthError::InvalidToken {
            origin: HEADER,
            reason: error,
        }
        .to_string();
        assert_status(
            fx.who_am_i(Some(&value)).await,
            Code::Unauthenticated,
            &message,
        );
    }
}

#[tokio::test]
async fn malformed_credentials_are_invalid_argument() {
    let fx = Fixture::new().await;
    let reason = "the Bearer scheme is not followed by a token";
    let message = AuthError::MalformedCredentials {
        origin: HEADER,
        reason,
    }
    .to_string();
    assert_status(
        fx.who_am_i(Some("Bearer")).await,
        Code::InvalidArgument,
        &message,
    );
}

#[tokio::test]
async fn a_caller_without_a_policy_is_permission_denied() {
    let fx = Fixture::new().await;
    let (_, tokens) = sign_up(&fx.client, "bob").await;
    let result = fx
        .who_am_i(Some(&format!("Bearer {}", tokens.access_token)))
        .await;
    assert_status(
        result,
        Code::PermissionDenied,
        &AuthError::GrantDenied { origin: HEADER }.to_string(),
    );
}

#[tokio::test]
async fn a_revoked_token_is_unauthenticated() {
    let fx = Fixture::new().await;
    let (_, tokens) = fx.caller("alice").await;
    fx.client.logout(&tokens.refresh_token).await.unwrap();
    let result = fx
        .who_am_i(Some(&format!("Bearer {}", tokens.access_token)))
        .await;
    assert_status(
        result,
        Code::Unauthenticated,
        &AuthError::RevokedToken { origin: HEADER }.to_string(),
    );
}

#[tokio::test]
async fn an_unreachable_service_is_unavailable() {
    // A server whose layer asks a port where nothing listens, with a token it accepts.
    let config = Config::builder()
        .endpoint(closed_port_endpoint())
        .user_pool_id(POOL)
        .owner_id(OWNER)
        .api_key("key")
        .jwt_secret(SECRET)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let auth = StlockLayer::new(config).unwrap();
    tokio::spawn(crate::service::serve(
        listener,
        auth,
        std::future::pending(),
    ));
    let mut greeter = connect(&format!("http://{addr}")).await;

    let claims = access_claims_of(OWNER, POOL, "5f331151-49d1-4d12-a977-a94a223a948a");
    let token = sign(&claims, SECRET, Algorithm::HS256);
    let mut request = Request::new(WhoAmIRequest {});
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let status = greeter.who_am_i(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // The fixed message only: neither the service's address nor its error reach the caller.
    assert_eq!(
        status.message(),
        "the grant check is unavailable; try again later"
    );
}

#[tokio::test]
async fn from_grpc_without_the_layer_is_internal() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(GreeterServer::new(GreeterService))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let mut greeter = connect(&format!("http://{addr}")).await;
    let status = greeter
        .who_am_i(Request::new(WhoAmIRequest {}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains("StlockLayer"), "{status:?}");
}

#[tokio::test]
async fn header_mode_refreshes_an_expired_token_for_a_grpc_client() {
    let fx = Fixture::with(|auth| auth.auto_refresh(AutoRefresh::headers().build().unwrap())).await;
    let (user, tokens) = fx.caller("alice").await;
    let mut claims = access_claims(fx.emu.credentials(), &user.id);
    claims["exp"] = (now() - 60).into();
    let expired = sign(
        &claims,
        fx.emu.credentials().jwt_secret.expose(),
        Algorithm::HS256,
    );

    let mut request = Request::new(WhoAmIRequest {});
    let metadata = request.metadata_mut();
    metadata.insert(
        "authorization",
        format!("Bearer {expired}").parse().unwrap(),
    );
    metadata.insert("x-refresh-token", tokens.refresh_token.parse().unwrap());
    let reply = fx.greeter.clone().who_am_i(request).await.unwrap();
    let metadata = |name| {
        reply
            .metadata()
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let (access, refresh) = (
        metadata(ACCESS_TOKEN_HEADER),
        metadata(REFRESH_TOKEN_HEADER),
    );
    assert_eq!(fx.client.decode(&access).unwrap().sub, user.id);
    let decoder = fx.client.decoder();
    assert_eq!(decoder.decode_refresh(&refresh).unwrap().sub, user.id);
    assert_eq!(reply.into_inner().user_id, user.id);
    // The grant layer checked with the new token, and the old refresh token is spent.
    assert!(fx.client.refresh(&tokens.refresh_token).await.is_err());

    // Without the refresh token, the expired token is UNAUTHENTICATED.
    let status = fx
        .who_am_i(Some(&format!("Bearer {expired}")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}
