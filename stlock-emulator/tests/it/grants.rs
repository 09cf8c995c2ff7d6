//! Grant checks: the decision rules and the path pattern language, on the wire.

use crate::support::{fast_emulator, Wire};
use reqwest::{Method, StatusCode};
use serde_json::json;
use stlock::GrantDecision;
use stlock_emulator::{AdminError, Emulator, NewPolicy, Rule};

/// A pool with alice signed in and `rules` attached to her as one policy.
async fn signed_in_with(emu: &Emulator, rules: impl IntoIterator<Item = Rule>) -> (Wire, String) {
    let wire = Wire::new(emu.credentials());
    let user = wire.register_named("alice", "79111111111").await;
    let pool = &emu.credentials().user_pool_id;
    let policy = emu.create_policy(pool, NewPolicy::new("p", rules)).unwrap();
    emu.attach_policy(pool, user["id"].as_str().unwrap(), &policy.id)
        .unwrap();
    let (access, _) = wire.tokens("alice", "test").await;
    (wire, access)
}

#[tokio::test]
async fn the_answer_is_a_grant_decision_with_the_method_upper_cased() {
    let emu = fast_emulator().await;
    let (wire, access) = signed_in_with(&emu, [Rule::allow(["GET"], ["/orders/*"])]).await;
    let answer = wire.grant(&access, "get", "/orders/7?expand=items").await;
    let decision: GrantDecision =
        serde_json::from_value(answer.assert_ok(StatusCode::OK).clone()).unwrap();
    assert_eq!(
        decision,
        GrantDecision {
            allowed: true,
            method: "GET".into(),
            path: "/orders/7?expand=items".into(),
            detail: None,
        }
    );
    assert_eq!(answer.body.as_object().unwrap().len(), 3);

    // Defaults: method "get", path "" (the root).
    let bearer = format!("bearer {access}");
    let defaults = wire
        .send(Method::POST, "/api/v0/users/grant", Some(&bearer), None)
        .await;
    assert_eq!(
        defaults.assert_ok(StatusCode::OK).clone(),
        json!({"allowed": false, "method": "GET", "path": ""})
    );
}

#[tokio::test]
async fn deny_beats_allow_and_nothing_matching_is_denied() {
    let emu = fast_emulator().await;
    let (wire, access) = signed_in_with(
        &emu,
        [
            Rule::allow(["*"], ["/orders/**"]),
            Rule::deny(["DELETE"], ["/orders/*"]),
        ],
    )
    .await;
    assert!(wire.allowed(&access, "DELETE", "/orders").await);
    assert!(
        !wire.allowed(&access, "DELETE", "/orders/7").await,
        "deny beats allow"
    );
    assert!(
        wire.allowed(&access, "PATCH", "/orders/7").await,
        "method wildcard"
    );
    assert!(
        !wire.allowed(&access, "GET", "/users/7").await,
        "nothing matches"
    );
}

#[tokio::test]
async fn one_star_is_one_segment_and_two_stars_any_number() {
    let emu = fast_emulator().await;
    let (wire, access) = signed_in_with(
        &emu,
        [
            Rule::allow(["GET"], ["/one/*"]),
            Rule::allow(["GET"], ["/any/**"]),
            Rule::allow(["GET"], ["/mid/**/end"]),
        ],
    )
    .await;
    let cases = [
        ("/one/a", true),
        ("/one", false),
        ("/one/a/b", false),
        ("/any", true),
        ("/any/a/b/c", true),
        ("/mid/end", true),
        ("/mid/a/b/end", true),
        ("/mid/a/end/b", false),
        ("/ONE/a", false),
        ("one/a/", true),
    ];
    for (path, expected) in cases {
        assert_eq!(wire.allowed(&access, "GET", path).await, expected, "{path}");
    }
}

#[tokio::test]
async fn only_attached_policies_count() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let pool = emu.credentials().user_pool_id.clone();
    let alice = wire.register_named("alice", "79111111111").await;
    let alice_id = alice["id"].as_str().unwrap();
    wire.register_named("bob", "79222222222").await;
    let reads = emu
        .create_policy(
            &pool,
            NewPolicy::new("reads", [Rule::allow(["GET"], ["/**"])]),
        )
        .unwrap();
    let (alice_token, _) = wire.tokens("alice", "test").await;
    let (bob_token, _) = wire.tokens("bob", "test").await;

    assert!(
        !wire.allowed(&alice_token, "GET", "/x").await,
        "created, not attached"
    );
    let attached = emu.attach_policy(&pool, alice_id, &reads.id).unwrap();
    assert_eq!(attached.policy_ids, [reads.id.as_str()]);
    // Attaching twice changes nothing.
    assert_eq!(
        emu.attach_policy(&pool, alice_id, &reads.id)
            .unwrap()
            .policy_ids
            .len(),
        1
    );
    assert!(
        wire.allowed(&alice_token, "GET", "/x").await,
        "the same token sees the new policy"
    );
    assert!(!wire.allowed(&bob_token, "GET", "/x").await, "bob has none");

    let detached = emu.detach_policy(&pool, alice_id, &reads.id).unwrap();
    assert!(detached.policy_ids.is_empty());
    assert!(!wire.allowed(&alice_token, "GET", "/x").await);
}

#[tokio::test]
async fn bad_grant_requests_are_422() {
    let emu = fast_emulator().await;
    let (wire, access) = signed_in_with(&emu, [Rule::allow(["*"], ["/public/**"])]).await;
    for (method, path) in [
        ("GET", "/public/../admin"),
        ("GET", "/public/./x"),
        ("", "/"),
        ("NO WAY", "/"),
        ("GET", "/a\u{1}"),
    ] {
        let answer = wire.grant(&access, method, path).await;
        answer.assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let bearer = format!("bearer {access}");
    let not_a_string = wire
        .send(
            Method::POST,
            "/api/v0/users/grant",
            Some(&bearer),
            Some(json!({"path": 7}).to_string()),
        )
        .await;
    assert!(not_a_string
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY)
        .contains("path"));
}

#[tokio::test]
async fn a_pathological_pattern_and_the_longest_path_are_decided_at_once() {
    let emu = fast_emulator().await;
    // Backtracking over the ways to split 256 segments among five `**` would take some 10⁸
    // tries per check; the matcher takes a few thousand steps.
    let (wire, access) = signed_in_with(
        &emu,
        [
            Rule::allow(["GET"], ["/**/a/**/a/**/a/**/a/**/b"]),
            Rule::allow(["POST"], ["/**/a/**/a/**/a/**/a/**/a"]),
        ],
    )
    .await;
    let longest = "/a".repeat(256);
    assert!(!wire.allowed(&access, "GET", &longest).await);
    assert!(wire.allowed(&access, "POST", &longest).await);

    // One segment more is refused rather than checked.
    let answer = wire.grant(&access, "POST", &format!("{longest}/a")).await;
    assert_eq!(
        answer.assert_error(StatusCode::UNPROCESSABLE_ENTITY),
        "path: at most 256 segments can be checked"
    );
}

#[tokio::test]
async fn patterns_and_policies_beyond_their_limits_are_refused() {
    let emu = fast_emulator().await;
    let pool = &emu.credentials().user_pool_id;
    let long = "/a".repeat(33);
    let refused = emu.create_policy(pool, NewPolicy::new("p", [Rule::allow(["GET"], [&long])]));
    assert_eq!(
        refused,
        Err(AdminError::InvalidPolicy(format!(
            "rule 0: path {long:?}: a pattern has at most 32 segments"
        )))
    );
    let many = NewPolicy::new("p", [Rule::allow(["GET"], vec!["/a"; 257])]);
    assert_eq!(
        emu.create_policy(pool, many),
        Err(AdminError::InvalidPolicy(
            "a policy holds at most 256 path patterns, all rules together (257 given)".into()
        ))
    );
    // Over HTTP: 422 with the same text.
    let wire = Wire::new(emu.credentials());
    let body =
        json!({"name": "p", "rules": [{"effect": "allow", "methods": ["GET"], "paths": [long]}]});
    let answer = wire
        .send(
            Method::POST,
            &format!("/api/v0/admin/pools/{pool}/policies"),
            None,
            Some(body.to_string()),
        )
        .await;
    assert_eq!(
        answer.assert_error(StatusCode::UNPROCESSABLE_ENTITY),
        format!("invalid policy: rule 0: path {long:?}: a pattern has at most 32 segments")
    );
}
