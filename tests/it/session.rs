//! `Session`, a signed-in program's tokens kept fresh, against the real emulator: through the
//! service (`Client`) and through the axum example's own endpoints (`AppEndpoints`, served on
//! loopback); one refresh however many tasks ask, a refused refresh token ending the session
//! with no second call, an unreachable issuer keeping the current token while it lasts.
//!
//! A pair "received ten minutes ago" is resumed with that time: the session counts a token's
//! lifetime from when it was received, so nothing waits for real time to pass.

use std::time::{Duration, SystemTime};

use stlock::session::{AppEndpoints, Ended, Issuer, Session, SessionError};
use stlock::{Client, StlockLayer, TokenPair};
use stlock_emulator::Emulator;

use crate::app::App;
use crate::sessions::client_through;
use crate::support::emulator::{emulator, sign_up};
use crate::support::http::serve;
use crate::support::raw::closed_port_endpoint;

/// Received 590 s ago: of an access token's 600 s, less than the margin is left.
fn due() -> SystemTime {
    SystemTime::now() - Duration::from_secs(590)
}

fn refreshes(emu: &Emulator) -> u64 {
    emu.counts(&emu.credentials().user_pool_id)
        .unwrap()
        .refreshes
}

/// 100 tasks ask a due session for its token at once: one refresh, one new token for all.
async fn one_refresh_for_a_crowd(
    emu: &Emulator,
    client: &Client,
    session: Session,
    old: &TokenPair,
) {
    let before = refreshes(emu);
    let asking: Vec<_> = (0..100)
        .map(|_| {
            let session = session.clone();
            tokio::spawn(async move { session.access_token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in asking {
        tokens.push(task.await.unwrap().expect("a token"));
    }
    assert_eq!(refreshes(emu) - before, 1, "one refresh at the service");
    assert!(tokens.iter().all(|token| *token == tokens[0]));
    assert_ne!(tokens[0].as_str(), old.access_token);
    client
        .decode(tokens[0].as_str())
        .expect("a valid access token");
    // Not due any more: the same token, no call.
    assert_eq!(session.access_token().await.unwrap(), tokens[0]);
    assert_eq!(refreshes(emu) - before, 1);
}

#[tokio::test]
async fn through_the_service_a_hundred_callers_cause_one_refresh() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let (_, pair) = sign_up(&client, "daemon").await;
    let session = Session::builder(client.clone())
        .resume(pair.clone(), due())
        .unwrap();
    one_refresh_for_a_crowd(&emu, &client, session, &pair).await;
}

#[tokio::test]
async fn through_the_apps_endpoints_a_hundred_callers_cause_one_refresh() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let base = serve(App::new(StlockLayer::from_client(client.clone())).router()).await;
    sign_up(&client, "alice").await;
    let app = AppEndpoints::new(&base).unwrap();
    let pair = app.sign_in("alice", "pw").await.unwrap();
    let session = Session::builder(app).resume(pair.clone(), due()).unwrap();
    one_refresh_for_a_crowd(&emu, &client, session, &pair).await;

    // Signing in through the session; wrong credentials are a typed refusal.
    let app = AppEndpoints::new(&base).unwrap();
    let refused = Session::builder(app).sign_in("alice", "wrong").await;
    assert!(
        matches!(refused, Err(SessionError::SignIn(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_refused_refresh_token_ends_the_session_with_no_second_call() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let (_, pair) = sign_up(&client, "daemon").await;
    client.logout(&pair.refresh_token).await.unwrap();
    let session = Session::builder(client.clone())
        .resume(pair, due())
        .unwrap();

    let before = refreshes(&emu);
    let first = session.access_token().await;
    assert!(
        matches!(first, Err(SessionError::Ended(Ended::Refused))),
        "{first:?}"
    );
    assert_eq!(session.ended(), Some(Ended::Refused));
    let asked = refreshes(&emu);
    assert!(asked - before <= 1);
    for _ in 0..3 {
        let again = session.access_token().await;
        assert!(matches!(again, Err(SessionError::Ended(Ended::Refused))));
    }
    assert_eq!(refreshes(&emu), asked, "no retry loop");
}

#[tokio::test]
async fn an_unreachable_issuer_keeps_the_token_while_it_lasts() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let (_, pair) = sign_up(&client, "daemon").await;
    let api_key = emu.credentials().api_key.expose().to_owned();
    let down = client_through(&emu, &closed_port_endpoint(), &api_key);

    // Due, but within its lifetime: the current token.
    let session = Session::builder(down.clone())
        .resume(pair.clone(), due())
        .unwrap();
    assert_eq!(
        session.access_token().await.unwrap().as_str(),
        pair.access_token
    );
    assert_eq!(session.ended(), None);

    // Past its lifetime: the cause, and still signed in.
    let long_ago = SystemTime::now() - Duration::from_secs(700);
    let session = Session::builder(down).resume(pair, long_ago).unwrap();
    let answer = session.access_token().await;
    assert!(
        matches!(answer, Err(SessionError::Unavailable(_))),
        "{answer:?}"
    );
    assert_eq!(session.ended(), None);
}

#[tokio::test]
async fn logging_out_revokes_the_session() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let (_, pair) = sign_up(&client, "daemon").await;
    let session = Session::builder(client.clone())
        .start(pair.clone())
        .unwrap();
    let token = session.access_token().await.unwrap();
    assert_eq!(token.as_str(), pair.access_token, "not due: the pair's own");

    session.logout().await.unwrap();
    assert_eq!(session.ended(), Some(Ended::LoggedOut));
    assert!(matches!(
        session.access_token().await,
        Err(SessionError::Ended(Ended::LoggedOut))
    ));
    assert!(
        client.refresh(&pair.refresh_token).await.is_err(),
        "revoked"
    );

    // No token in any `Debug`.
    for shown in [format!("{session:?}"), format!("{token:?}")] {
        assert!(!shown.contains(&pair.access_token) && !shown.contains(&pair.refresh_token));
    }
}

/// An app (or whatever answers in its place) that redirects, or sends a body without end: no
/// token goes elsewhere, nothing endless is read, and the session is not ended by it.
#[tokio::test]
async fn the_apps_endpoints_follow_no_redirect_and_read_no_endless_body() {
    use stlock::session::IssuerError;

    use crate::support::raw::RawServer;

    let mut elsewhere =
        RawServer::json("200 OK", r#"{"access_token":"a","refresh_token":"r"}"#).await;
    let redirecting = RawServer::answering(format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {}/refresh\r\ncontent-length: 0\r\n\r\n",
        elsewhere.endpoint()
    ))
    .await;
    let app = AppEndpoints::new(&redirecting.endpoint()).unwrap();
    let answer = app.refresh("the-refresh-token").await;
    let Err(IssuerError::Unavailable(cause)) = answer else {
        panic!("not unavailable: {answer:?}");
    };
    assert!(cause.to_string().contains("redirect"), "{cause}");
    assert!(
        elsewhere.try_received().is_none(),
        "the token went nowhere else"
    );

    let endless = RawServer::endless_body().await;
    let app = AppEndpoints::new(&endless.endpoint()).unwrap();
    let answer = app.refresh("the-refresh-token").await;
    let Err(IssuerError::Unavailable(cause)) = answer else {
        panic!("not unavailable: {answer:?}");
    };
    assert!(
        cause.to_string().contains("larger than a megabyte"),
        "{cause}"
    );
}
