//! Many users at once over HTTP: every registration is acknowledged (201), and every user
//! so registered can log in.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;

use crate::support::{fast_emulator, join_all, Wire};

const USERS: usize = 10_000;
/// Requests in flight at once: enough to keep both cores busy, well under the connection cap.
const CONCURRENCY: usize = 32;
/// The whole test fails rather than hangs past this (it takes seconds).
const PATIENCE: Duration = Duration::from_secs(120);

/// Runs `call` on `0..USERS` from `CONCURRENCY` workers; returns the statuses by index.
async fn for_every_user<F, Fut>(wire: &Wire, call: F) -> Vec<StatusCode>
where
    F: Fn(Wire, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = StatusCode> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let workers = (0..CONCURRENCY).map(|_| {
        let (wire, next, call) = (wire.clone(), Arc::clone(&next), call.clone());
        tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= USERS {
                    return done;
                }
                done.push((index, call(wire.clone(), index).await));
            }
        })
    });
    let mut statuses = vec![StatusCode::INTERNAL_SERVER_ERROR; USERS];
    for (index, status) in join_all(workers).await.into_iter().flatten() {
        statuses[index] = status;
    }
    statuses
}

#[track_caller]
fn assert_all(statuses: &[StatusCode], expected: StatusCode, what: &str) {
    let others: Vec<_> = statuses
        .iter()
        .enumerate()
        .filter(|(_, status)| **status != expected)
        .collect();
    assert!(others.is_empty(), "{what} not {expected}: {others:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_registrations_can_all_log_in() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let started = Instant::now();
    let run = async {
        let registered = for_every_user(&wire, |wire, i| async move {
            let name = format!("user{i}");
            wire.register(
                &name,
                &format!("{name}@example.com"),
                &format!("7{i:010}"),
                "pw",
            )
            .await
            .status
        })
        .await;
        // Every name, e-mail and phone is distinct: each registration is acknowledged.
        assert_all(&registered, StatusCode::CREATED, "registrations");
        let logins = for_every_user(&wire, |wire, i| async move {
            wire.login(&format!("user{i}"), "pw").await.status
        })
        .await;
        assert_all(&logins, StatusCode::OK, "logins");
    };
    tokio::time::timeout(PATIENCE, run)
        .await
        .expect("10,000 registrations and logins within the patience");
    assert_eq!(
        emu.users(&emu.credentials().user_pool_id).unwrap().len(),
        USERS
    );
    eprintln!(
        "{USERS} registrations and logins in {:?}",
        started.elapsed()
    );
}
