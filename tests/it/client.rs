//! The client against the real emulator over loopback, and against raw sockets for the failures
//! a well-behaved server never produces.

use std::time::Duration;

use crate::support::raw::{closed_port_endpoint, RawServer};
use crate::support::{config_for, OWNER, POOL, SECRET};
use http::{Method, StatusCode};
use stlock::{Client, Config, Error, Registration, TokenType, UserStatus};
use stlock_emulator::{Emulator, HashCost, NewPolicy, Rule};

async fn emulator() -> Emulator {
    Emulator::builder()
        .hash_cost(HashCost::Fast)
        .start()
        .await
        .expect("emulator starts")
}

fn client(emu: &Emulator) -> Client {
    Client::new(emu.config()).expect("client builds")
}

fn alice() -> Registration {
    Registration::new("alice", "alice@example.com", "79111111111", "test")
}

#[tokio::test]
async fn register_returns_the_user_object() {
    let emu = emulator().await;
    let user = client(&emu).register(&alice()).await.unwrap();
    let creds = emu.credentials();
    assert_eq!(user.username, "alice");
    assert_eq!(user.email, "alice@example.com");
    assert_eq!(user.phone, "79111111111");
    assert_eq!(user.user_pool_id, creds.user_pool_id);
    assert_eq!(user.owner_id, creds.owner_id);
    assert_eq!(user.status, UserStatus::Active);
    assert!(user.policy_ids.is_empty());
    assert!(uuid::Uuid::parse_str(&user.id).is_ok());
    assert_eq!(emu.user(&creds.user_pool_id, &user.id).unwrap(), user);
}

#[tokio::test]
async fn taken_username_is_a_service_error_with_status_and_detail() {
    let emu = emulator().await;
    let client = client(&emu);
    client.register(&alice()).await.unwrap();
    let again = Registration::new("alice", "other@example.com", "79222222222", "test");
    let err = client.register(&again).await.unwrap_err();
    assert!(err.is_service(), "{err:?}");
    assert_eq!(err.status(), Some(StatusCode::CONFLICT));
    let service = err.service_error().unwrap();
    assert!(
        service.detail().is_some_and(|d| d.contains("username")),
        "{service:?}"
    );
    assert!(service.body().starts_with('{'));
}

#[tokio::test]
async fn login_then_decode_yields_the_users_verified_claims() {
    let emu = emulator().await;
    let client = client(&emu);
    let user = client.register(&alice()).await.unwrap();
    let pair = client.login("alice", "test").await.unwrap();

    let claims = client.decode(&pair.access_token).unwrap();
    assert_eq!(claims.sub, user.id);
    assert_eq!(claims.owner_sub, user.owner_id);
    assert_eq!(claims.user_pool_sub, user.user_pool_id);
    assert_eq!(claims.token_type, TokenType::Access);
    assert_eq!(claims.exp - claims.iat, 600);

    let refresh = client
        .decoder()
        .decode_refresh(&pair.refresh_token)
        .unwrap();
    assert_eq!(refresh.exp - refresh.iat, 3600);
    assert!(
        client.decode(&pair.refresh_token).is_err(),
        "a refresh token is no access token"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_both_401() {
    let emu = emulator().await;
    let client = client(&emu);
    client.register(&alice()).await.unwrap();
    let wrong = client.login("alice", "nope").await.unwrap_err();
    let unknown = client.login("bob", "test").await.unwrap_err();
    assert_eq!(wrong.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(unknown.status(), Some(StatusCode::UNAUTHORIZED));
    // The same answer for both, so the API does not reveal which usernames exist.
    assert_eq!(
        wrong.service_error().unwrap().detail(),
        unknown.service_error().unwrap().detail()
    );
}

#[tokio::test]
async fn blocked_user_cannot_log_in() {
    let emu = emulator().await;
    let client = client(&emu);
    let user = client.register(&alice()).await.unwrap();
    emu.block_user(&user.user_pool_id, &user.id).unwrap();
    let err = client.login("alice", "test").await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
    emu.unblock_user(&user.user_pool_id, &user.id).unwrap();
    client.login("alice", "test").await.unwrap();
}

#[tokio::test]
async fn refresh_rotates_the_pair_and_kills_the_old_refresh_token() {
    let emu = emulator().await;
    let client = client(&emu);
    client.register(&alice()).await.unwrap();
    let first = client.login("alice", "test").await.unwrap();
    let second = client.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    client.decode(&second.access_token).unwrap();

    let reused = client.refresh(&first.refresh_token).await.unwrap_err();
    assert_eq!(reused.status(), Some(StatusCode::UNAUTHORIZED));
    // Replaying a rotated token revokes the whole login, the newest refresh token included.
    let descendant = client.refresh(&second.refresh_token).await.unwrap_err();
    assert_eq!(descendant.status(), Some(StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let emu = emulator().await;
    let client = client(&emu);
    client.register(&alice()).await.unwrap();
    let pair = client.login("alice", "test").await.unwrap();
    client.logout(&pair.refresh_token).await.unwrap();
    let err = client.refresh(&pair.refresh_token).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn grant_check_follows_the_attached_policies() {
    let emu = emulator().await;
    let client = client(&emu);
    let user = client.register(&alice()).await.unwrap();
    let pool = &user.user_pool_id;
    let policy = emu
        .create_policy(
            pool,
            NewPolicy::new(
                "orders",
                [
                    Rule::allow(["GET"], ["/orders/**"]),
                    Rule::deny(["*"], ["/orders/secret"]),
                ],
            ),
        )
        .unwrap();
    let token = client.login("alice", "test").await.unwrap().access_token;

    let before = client
        .check_grant(&token, &Method::GET, "/orders/1")
        .await
        .unwrap();
    assert!(
        !before.allowed,
        "no policy attached yet: nothing matches, so denied"
    );

    emu.attach_policy(pool, &user.id, &policy.id).unwrap();
    let allowed = client
        .check_grant(&token, &Method::GET, "/orders/1")
        .await
        .unwrap();
    assert!(allowed.allowed);
    assert_eq!(allowed.method, "GET");
    assert_eq!(allowed.path, "/orders/1");
    let wrong_method = client
        .check_grant(&token, &Method::DELETE, "/orders/1")
        .await
        .unwrap();
    assert!(!wrong_method.allowed);
    let denied = client
        .check_grant(&token, &Method::GET, "/orders/secret")
        .await
        .unwrap();
    assert!(!denied.allowed, "deny beats allow");
}

#[tokio::test]
async fn grant_check_refuses_a_refresh_token() {
    let emu = emulator().await;
    let client = client(&emu);
    client.register(&alice()).await.unwrap();
    let pair = client.login("alice", "test").await.unwrap();
    let err = client
        .check_grant(&pair.refresh_token, &Method::GET, "/")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn profile_updates_return_the_updated_user() {
    let emu = emulator().await;
    let client = client(&emu);
    client.register(&alice()).await.unwrap();
    let token = client.login("alice", "test").await.unwrap().access_token;

    let renamed = client.update_username(&token, "alice2").await.unwrap();
    assert_eq!(renamed.username, "alice2");
    let moved = client
        .update_email(&token, "alice2@example.com")
        .await
        .unwrap();
    assert_eq!(moved.email, "alice2@example.com");
    assert_eq!(moved.username, "alice2");
    client.login("alice2", "test").await.unwrap();
}

#[tokio::test]
async fn password_change_revokes_sessions_and_the_old_password() {
    let emu = emulator().await;
    let client = client(&emu);
    client.register(&alice()).await.unwrap();
    let pair = client.login("alice", "test").await.unwrap();

    let wrong_old = client
        .update_password(&pair.access_token, "nope", "n3w-pass")
        .await
        .unwrap_err();
    assert_eq!(wrong_old.status(), Some(StatusCode::UNAUTHORIZED));

    client
        .update_password(&pair.access_token, "test", "n3w-pass")
        .await
        .unwrap();
    let stale = client.refresh(&pair.refresh_token).await.unwrap_err();
    assert_eq!(stale.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(
        client.login("alice", "test").await.unwrap_err().status(),
        Some(StatusCode::UNAUTHORIZED)
    );
    client.login("alice", "n3w-pass").await.unwrap();
}

#[tokio::test]
async fn wrong_api_key_is_refused_by_the_service() {
    let emu = emulator().await;
    let creds = emu.credentials();
    let config = Config::builder()
        .endpoint(emu.endpoint())
        .user_pool_id(&creds.user_pool_id)
        .owner_id(&creds.owner_id)
        .api_key("not-the-key")
        .jwt_secret(creds.jwt_secret.clone())
        .build()
        .unwrap();
    let err = Client::new(config)
        .unwrap()
        .register(&alice())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn tokens_of_another_pool_do_not_decode() {
    let emu = emulator().await;
    let other = emu.add_pool();
    let other_client = Client::new(other.config().unwrap()).unwrap();
    other_client.register(&alice()).await.unwrap();
    let foreign = other_client
        .login("alice", "test")
        .await
        .unwrap()
        .access_token;
    assert!(client(&emu).decode(&foreign).is_err());
    assert!(other_client.decode(&foreign).is_ok());
}

#[tokio::test]
async fn invalid_input_is_refused_before_sending() {
    // Nothing listens on this port: had anything been sent, the error would be a transport one.
    let client = Client::new(config_for(&closed_port_endpoint())).unwrap();
    let cases = [
        client.login("", "pw").await.unwrap_err(),
        client.login("alice", "").await.unwrap_err(),
        client
            .register(&Registration::new("a", " ", "1", "pw"))
            .await
            .unwrap_err(),
        client.refresh("").await.unwrap_err(),
        client.logout("not a token").await.unwrap_err(),
        client
            .check_grant("aa.bb.cc", &Method::GET, "/x\n")
            .await
            .unwrap_err(),
        client
            .update_email("aa.bb\r\n.cc", "a@b.c")
            .await
            .unwrap_err(),
        client
            .update_password("aa.bb.cc", "old", "")
            .await
            .unwrap_err(),
    ];
    for err in cases {
        assert!(err.is_invalid_input(), "{err:?}");
    }
}

#[tokio::test]
async fn unreachable_service_is_a_transport_error() {
    let client = Client::new(config_for(&closed_port_endpoint())).unwrap();
    let err = client.login("alice", "pw").await.unwrap_err();
    assert!(err.is_transport(), "{err:?}");
    assert_eq!(err.status(), None);
}

#[tokio::test]
async fn silent_service_times_out_within_the_configured_bound() {
    let server = RawServer::silent().await;
    let config = Config::builder()
        .endpoint(server.endpoint())
        .user_pool_id(POOL)
        .owner_id(OWNER)
        .api_key("key")
        .jwt_secret(SECRET)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = Client::new(config)
        .unwrap()
        .login("alice", "pw")
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(matches!(err, Error::Timeout(d) if d == Duration::from_millis(200)));
}

#[tokio::test]
async fn error_bodies_of_any_shape_are_kept() {
    let server = RawServer::answering(
        "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: 20\r\n\r\n<h1>Bad Gateway</h1>",
    )
    .await;
    let client = Client::new(config_for(&server.endpoint())).unwrap();
    let err = client.login("alice", "pw").await.unwrap_err();
    let service = err.service_error().expect("a service error");
    assert_eq!(service.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(service.detail(), None);
    assert_eq!(service.body(), "<h1>Bad Gateway</h1>");
}

#[tokio::test]
async fn success_with_an_unreadable_body_is_an_unexpected_response() {
    let server =
        RawServer::answering("HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!").await;
    let client = Client::new(config_for(&server.endpoint())).unwrap();
    let err = client.login("alice", "pw").await.unwrap_err();
    assert!(err.is_unexpected_response(), "{err:?}");
    assert_eq!(err.status(), Some(StatusCode::OK));
}

#[tokio::test]
async fn oversized_answer_is_refused_not_buffered() {
    let server = RawServer::endless_body().await;
    let client = Client::new(config_for(&server.endpoint())).unwrap();
    let err = client.login("alice", "pw").await.unwrap_err();
    assert!(err.is_unexpected_response(), "{err:?}");
}

#[tokio::test]
async fn a_grant_denied_with_403_and_json_is_an_answer_not_an_error() {
    let server = RawServer::json("403 Forbidden", r#"{"detail":"not for you"}"#).await;
    let client = Client::new(config_for(&server.endpoint())).unwrap();
    let decision = client
        .check_grant("aa.bb.cc", &Method::DELETE, "/orders/1")
        .await
        .unwrap();
    assert!(!decision.allowed);
    assert_eq!(decision.method, "DELETE");
    assert_eq!(decision.path, "/orders/1");
    assert_eq!(decision.detail.as_deref(), Some("not for you"));

    // A 403 page that is not JSON is a proxy's, not the service's answer: an error.
    let server = RawServer::answering(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: text/html\r\ncontent-length: 4\r\n\r\nnope",
    )
    .await;
    let client = Client::new(config_for(&server.endpoint())).unwrap();
    let err = client
        .check_grant("aa.bb.cc", &Method::GET, "/")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
}

/// A service that points elsewhere: `307` to a second server, which records what reaches it
/// and would answer a login. Returns (service, elsewhere).
async fn redirecting() -> (RawServer, RawServer) {
    let pair = r#"{"access_token":"a.b.c","refresh_token":"d.e.f"}"#;
    let elsewhere = RawServer::json("200 OK", pair).await;
    let location = format!("{}/api/v0/users/login", elsewhere.endpoint());
    let service = RawServer::answering(format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"
    ))
    .await;
    (service, elsewhere)
}

#[tokio::test]
async fn a_redirect_is_an_error_and_nothing_follows_it() {
    let (service, mut elsewhere) = redirecting().await;
    let client = Client::new(config_for(&service.endpoint())).unwrap();

    let err = client.login("alice", "s3cret").await.unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert_eq!(err.status(), Some(StatusCode::TEMPORARY_REDIRECT));
    // The answer is in, so had the client followed the redirect, the other server would have
    // read the request (API key and password included) by now.
    assert_eq!(elsewhere.try_received(), None);
    assert!(service.received().await.contains("s3cret"));
}

#[tokio::test]
async fn a_borrowed_client_that_follows_redirects_is_caught_afterwards() {
    let (service, mut elsewhere) = redirecting().await;
    // reqwest's own default follows redirects: stlock cannot stop it, only refuse the answer.
    let client = Client::with_http_client(config_for(&service.endpoint()), reqwest::Client::new());

    let err = client.login("alice", "s3cret").await.unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert!(
        elsewhere.try_received().is_some(),
        "the borrowed client did follow it"
    );
}

#[tokio::test]
async fn requests_carry_the_wire_headers_and_body() {
    let server = RawServer::answering(
        "HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n{\"allowed\":true,\"method\":\"GET\",\"path\":\"/\"}",
    )
    .await;
    let client = Client::new(config_for(&server.endpoint())).unwrap();
    client
        .check_grant("aa.bb.cc", &Method::GET, "/")
        .await
        .unwrap();
    let request = server.received().await;
    let head = request.to_ascii_lowercase();
    assert!(
        request.starts_with("POST /base/api/v0/users/grant HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(head.contains("\r\nx-api-key: key\r\n"), "{request}");
    // The service's own client sends the scheme word in lower case; so do we.
    assert!(
        request.contains("\r\nauthorization: bearer aa.bb.cc\r\n"),
        "{request}"
    );
    assert!(
        request.ends_with(r#"{"method":"GET","path":"/"}"#),
        "{request}"
    );
}

#[tokio::test]
async fn debug_output_hides_every_secret() {
    let emu = stlock_emulator::start().await.unwrap();
    let client = client(&emu);
    let shown = format!("{client:?} {:?}", emu.credentials());
    assert!(!shown.contains(emu.credentials().api_key.expose()));
    assert!(!shown.contains(emu.credentials().jwt_secret.expose()));
}
