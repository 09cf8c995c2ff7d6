//! The admin API, over HTTP and from Rust, and what it keeps to itself.

use crate::support::{fast_emulator, Answer, Wire};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stlock_emulator::{AdminError, Emulator, HashCost, NewPolicy, Rule};

fn pool_path(pool: &str, rest: &str) -> String {
    format!("/api/v0/admin/pools/{pool}{rest}")
}

async fn admin(wire: &Wire, method: Method, rest: &str, body: Option<Value>) -> Answer {
    let path = pool_path(&wire.creds.user_pool_id, rest);
    wire.send(method, &path, None, body.map(|b| b.to_string()))
        .await
}

fn read_orders() -> Value {
    json!({"name": "read orders", "rules": [{"effect": "allow", "methods": ["get"], "paths": ["/orders/**"]}]})
}

#[tokio::test]
async fn policies_are_created_listed_attached_and_detached_over_http() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let user = wire.register_named("alice", "79111111111").await;
    let user_id = user["id"].as_str().unwrap();

    let created = admin(&wire, Method::POST, "/policies", Some(read_orders())).await;
    let policy = created.assert_ok(StatusCode::CREATED).clone();
    let policy_id = policy["id"].as_str().unwrap();
    assert_eq!(policy["user_pool_id"], emu.credentials().user_pool_id);
    assert_eq!(
        policy["rules"][0]["methods"],
        json!(["GET"]),
        "methods are stored upper-case"
    );
    let listed = admin(&wire, Method::GET, "/policies", None).await;
    assert_eq!(listed.assert_ok(StatusCode::OK).clone(), json!([policy]));

    let attach = format!("/users/{user_id}/policies/{policy_id}");
    let attached = admin(&wire, Method::PUT, &attach, None).await;
    assert_eq!(
        attached.assert_ok(StatusCode::OK)["policy_ids"],
        json!([policy_id])
    );
    let (access, _) = wire.tokens("alice", "test").await;
    assert!(wire.allowed(&access, "GET", "/orders/1").await);

    let detached = admin(&wire, Method::DELETE, &attach, None).await;
    assert_eq!(detached.assert_ok(StatusCode::OK)["policy_ids"], json!([]));
    assert!(!wire.allowed(&access, "GET", "/orders/1").await);
}

#[tokio::test]
async fn users_are_listed_read_blocked_unblocked_and_deleted_over_http() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let alice = wire.register_named("alice", "79111111111").await;
    let bob = wire.register_named("bob", "79222222222").await;
    let bob_id = bob["id"].as_str().unwrap();

    let users = admin(&wire, Method::GET, "/users", None).await;
    assert_eq!(
        users.assert_ok(StatusCode::OK).clone(),
        json!([alice, bob]),
        "registration order"
    );
    let one = admin(&wire, Method::GET, &format!("/users/{bob_id}"), None).await;
    assert_eq!(one.assert_ok(StatusCode::OK).clone(), bob);

    let blocked = admin(&wire, Method::POST, &format!("/users/{bob_id}/block"), None).await;
    assert_eq!(blocked.assert_ok(StatusCode::OK)["status"], "BLOCKED");
    wire.login("bob", "test")
        .await
        .assert_error(StatusCode::FORBIDDEN);
    let unblocked = admin(
        &wire,
        Method::POST,
        &format!("/users/{bob_id}/unblock"),
        None,
    )
    .await;
    assert_eq!(unblocked.assert_ok(StatusCode::OK)["status"], "ACTIVE");
    wire.login("bob", "test").await.assert_ok(StatusCode::OK);

    let deleted = admin(&wire, Method::DELETE, &format!("/users/{bob_id}"), None).await;
    assert!(deleted.assert_ok(StatusCode::OK)["detail"].is_string());
    admin(&wire, Method::GET, &format!("/users/{bob_id}"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    admin(&wire, Method::DELETE, &format!("/users/{bob_id}"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    assert_eq!(emu.users(&emu.credentials().user_pool_id).unwrap().len(), 1);
}

#[tokio::test]
async fn admin_calls_need_the_owners_key() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let user = wire.register_named("alice", "79111111111").await;
    let users = format!("/users/{}", user["id"].as_str().unwrap());

    let no_key = wire
        .http
        .get(wire.url(&pool_path(&emu.credentials().user_pool_id, "/users")))
        .send()
        .await
        .unwrap();
    crate::support::read(no_key)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    let mut wrong_key = wire.clone();
    wrong_key.creds.api_key = "stl_wrong".into();
    admin(&wrong_key, Method::GET, "/users", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);

    // Another owner sees the pool as not existing, for every operation.
    let mut other_owner = wire.clone();
    other_owner.creds.api_key = emu.add_owner().api_key;
    for (method, rest) in [
        (Method::GET, "/users".to_owned()),
        (Method::GET, users.clone()),
        (Method::POST, format!("{users}/block")),
        (Method::DELETE, users.clone()),
        (Method::GET, "/policies".to_owned()),
    ] {
        admin(&other_owner, method, &rest, None)
            .await
            .assert_error(StatusCode::NOT_FOUND);
    }
    let created = admin(&other_owner, Method::POST, "/policies", Some(read_orders())).await;
    created.assert_error(StatusCode::NOT_FOUND);

    let mut unknown_pool = wire.clone();
    unknown_pool.creds.user_pool_id = uuid::Uuid::new_v4().to_string();
    admin(&unknown_pool, Method::GET, "/users", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
    // The owner's own calls still work, and nothing was blocked or deleted.
    let alice = admin(&wire, Method::GET, &users, None).await;
    assert_eq!(alice.assert_ok(StatusCode::OK)["status"], "ACTIVE");
}

#[tokio::test]
async fn unknown_users_and_policies_are_404() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let user = wire.register_named("alice", "79111111111").await;
    let user_id = user["id"].as_str().unwrap();
    let policy = admin(&wire, Method::POST, "/policies", Some(read_orders())).await;
    let policy_id = policy.assert_ok(StatusCode::CREATED)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let nobody = uuid::Uuid::new_v4();
    let answer = admin(
        &wire,
        Method::PUT,
        &format!("/users/{nobody}/policies/{policy_id}"),
        None,
    )
    .await;
    assert!(answer.assert_error(StatusCode::NOT_FOUND).contains("user"));
    let answer = admin(
        &wire,
        Method::PUT,
        &format!("/users/{user_id}/policies/{nobody}"),
        None,
    )
    .await;
    assert!(answer
        .assert_error(StatusCode::NOT_FOUND)
        .contains("policy"));
    admin(
        &wire,
        Method::POST,
        &format!("/users/{nobody}/unblock"),
        None,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND);
    admin(&wire, Method::GET, "/nothing-here", None)
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_policies_are_422() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let cases = [
        json!({"name": "x", "rules": []}),
        json!({"name": "x"}),
        json!({"name": "", "rules": [{"effect": "allow", "methods": ["GET"], "paths": ["/"]}]}),
        json!({"name": "x", "rules": [{"effect": "maybe", "methods": ["GET"], "paths": ["/"]}]}),
        json!({"name": "x", "rules": [{"effect": "allow", "methods": [], "paths": ["/"]}]}),
        json!({"name": "x", "rules": [{"effect": "allow", "methods": ["GET"], "paths": []}]}),
        json!({"name": "x", "rules": [{"effect": "allow", "methods": ["GE T"], "paths": ["/"]}]}),
        json!({"name": "x", "rules": [{"effect": "allow", "methods": ["GET"], "paths": ["/orders*"]}]}),
        json!({"name": "x", "rules": [{"effect": "allow", "methods": ["GET"], "paths": ["/a/**b"]}]}),
        json!({"name": "x", "rules": [{"effect": "allow", "methods": ["GET"], "paths": ["/a?b=c"]}]}),
        json!({"name": "x", "rules": [{"effect": "allow", "methods": ["GET"], "paths": ["/a/../b"]}]}),
        json!([1]),
    ];
    for body in cases {
        let answer = admin(&wire, Method::POST, "/policies", Some(body.clone())).await;
        answer.assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let malformed = wire
        .send(
            Method::POST,
            &pool_path(&emu.credentials().user_pool_id, "/policies"),
            None,
            Some("{".into()),
        )
        .await;
    malformed.assert_error(StatusCode::BAD_REQUEST);
    assert!(emu
        .policies(&emu.credentials().user_pool_id)
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_rust_admin_api_reports_what_is_missing() {
    let emu = fast_emulator().await;
    let pool = emu.credentials().user_pool_id.clone();
    let nobody = uuid::Uuid::new_v4().to_string();
    assert_eq!(emu.users(&nobody), Err(AdminError::UnknownPool));
    assert_eq!(emu.user(&pool, &nobody), Err(AdminError::UnknownUser));
    assert_eq!(emu.block_user(&pool, &nobody), Err(AdminError::UnknownUser));
    assert_eq!(
        emu.delete_user(&pool, &nobody),
        Err(AdminError::UnknownUser)
    );
    let user = Wire::new(emu.credentials())
        .register_named("alice", "79111111111")
        .await;
    let user_id = user["id"].as_str().unwrap();
    assert_eq!(
        emu.attach_policy(&pool, user_id, &nobody),
        Err(AdminError::UnknownPolicy)
    );
    let empty = NewPolicy::new("empty", []);
    assert!(matches!(
        emu.create_policy(&pool, empty),
        Err(AdminError::InvalidPolicy(_))
    ));
    let bad_pattern = NewPolicy::new("bad", [Rule::deny(["*"], ["/a*"])]);
    let err = emu.create_policy(&pool, bad_pattern).unwrap_err();
    assert!(err.to_string().contains("whole segments"), "{err}");

    // Pools of every owner are reachable from the handle, and each has its own users.
    let other = emu.add_owner();
    Wire::new(&other)
        .register_named("alice", "79111111111")
        .await;
    assert_eq!(emu.users(&other.user_pool_id).unwrap().len(), 1);
    assert_ne!(other.api_key.expose(), emu.credentials().api_key.expose());
    assert_ne!(
        other.jwt_secret.expose(),
        emu.credentials().jwt_secret.expose()
    );
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_with_the_default_cost_and_never_served() {
    let emu = Emulator::builder().start().await.unwrap();
    let wire = Wire::new(emu.credentials());
    let user = wire.register_named("alice", "79111111111").await;
    let pool = &emu.credentials().user_pool_id;
    let hash = emu
        .password_hash(pool, user["id"].as_str().unwrap())
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains("test"));
    wire.tokens("alice", "test").await;

    let everything = [
        user.to_string(),
        admin(&wire, Method::GET, "/users", None)
            .await
            .body
            .to_string(),
        admin(
            &wire,
            Method::GET,
            &format!("/users/{}", user["id"].as_str().unwrap()),
            None,
        )
        .await
        .body
        .to_string(),
    ];
    for body in everything {
        assert!(
            !body.contains("argon2") && !body.contains("password"),
            "{body}"
        );
    }

    let fast = Emulator::builder()
        .hash_cost(HashCost::Fast)
        .start()
        .await
        .unwrap();
    let fast_wire = Wire::new(fast.credentials());
    let user = fast_wire.register_named("bob", "79222222222").await;
    let hash = fast
        .password_hash(
            &fast.credentials().user_pool_id,
            user["id"].as_str().unwrap(),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
}

#[tokio::test]
async fn credentials_are_redacted_in_debug_and_complete_in_json() {
    let emu = fast_emulator().await;
    let creds = emu.credentials();
    let shown = format!("{emu:?} {creds:?}");
    assert!(
        !shown.contains(creds.api_key.expose()) && !shown.contains(creds.jwt_secret.expose()),
        "{shown}"
    );
    let json = serde_json::to_value(creds).unwrap();
    assert_eq!(json["api_key"], creds.api_key.expose());
    assert_eq!(json["jwt_secret"].as_str().unwrap().len(), 64);
    assert_eq!(emu.endpoint(), format!("http://{}", emu.local_addr()));
    assert!(!emu.endpoint().ends_with('/'));
    let config = emu.config();
    assert_eq!(config.owner_id(), creds.owner_id);
    assert_eq!(config.endpoint().as_str(), format!("{}/", emu.endpoint()));
}
