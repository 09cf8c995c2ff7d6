//! The emulator's v0 user API on the wire: statuses, bodies, headers, validation.

use crate::support::{fast_emulator, join_all, read, Wire};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn register_answers_201_with_exactly_the_user_object() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let answer = wire
        .register("test6", "test6@gmail.com", "79520546024", "test")
        .await;
    let user = answer
        .assert_ok(StatusCode::CREATED)
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));

    let mut keys: Vec<&str> = user.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "creation_timestamp",
            "email",
            "id",
            "owner_id",
            "phone",
            "policy_ids",
            "status",
            "user_pool_id",
            "username"
        ]
    );
    assert_eq!(user["policy_ids"], json!([]));
    assert_eq!(user["user_pool_id"], emu.credentials().user_pool_id);
    assert_eq!(user["owner_id"], emu.credentials().owner_id);
    assert_eq!(user["username"], "test6");
    assert_eq!(user["email"], "test6@gmail.com");
    assert_eq!(user["phone"], "79520546024");
    assert_eq!(user["status"], "ACTIVE");
    assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let created = user["creation_timestamp"].as_u64().unwrap();
    assert!(created.abs_diff(now) < 60, "{created} vs {now}");
}

#[tokio::test]
async fn json_is_read_whatever_the_content_type() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    // No Content-Type at all: `Wire::send` sets none.
    wire.register_named("bare", "70000000001").await;
    // A wrong one.
    let creds = emu.credentials();
    let body = json!({"user_pool_id": creds.user_pool_id, "owner_id": creds.owner_id, "username": "texty",
        "email": "texty@example.com", "phone": "70000000002", "password": "test"});
    for (i, content_type) in ["text/plain", "application/x-www-form-urlencoded"]
        .iter()
        .enumerate()
    {
        let mut body = body.clone();
        body["username"] = json!(format!("texty{i}"));
        body["email"] = json!(format!("texty{i}@example.com"));
        body["phone"] = json!(format!("7000000001{i}"));
        let response = wire
            .http
            .post(wire.url("/api/v0/users/register"))
            .header("x-api-key", creds.api_key.expose())
            .header("content-type", *content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        read(response).await.assert_ok(StatusCode::CREATED);
    }
}

#[tokio::test]
async fn the_bearer_scheme_word_is_case_insensitive() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    let (access, _) = wire.tokens("alice", "test").await;
    for scheme in ["bearer", "Bearer", "BEARER", "bEaReR"] {
        let authorization = format!("{scheme} {access}");
        let answer = wire
            .send(
                Method::POST,
                "/api/v0/users/grant",
                Some(&authorization),
                Some("{}".into()),
            )
            .await;
        assert_eq!(
            answer.assert_ok(StatusCode::OK)["allowed"],
            false,
            "{scheme}"
        );
    }
    for broken in [
        access.clone(),
        format!("Basic {access}"),
        "bearer ".into(),
        "bearer".into(),
    ] {
        let answer = wire
            .send(
                Method::POST,
                "/api/v0/users/grant",
                Some(&broken),
                Some("{}".into()),
            )
            .await;
        answer.assert_error(StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn malformed_json_is_400() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    for body in ["{", "{\"username\": }", "not json", "\u{0}"] {
        let answer = wire
            .send(
                Method::POST,
                "/api/v0/users/register",
                None,
                Some(body.into()),
            )
            .await;
        assert!(
            answer
                .assert_error(StatusCode::BAD_REQUEST)
                .contains("JSON"),
            "{answer:?}"
        );
    }
}

#[tokio::test]
async fn missing_or_wrong_api_key_is_401() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let without_key = wire
        .http
        .post(wire.url("/api/v0/users/register"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let detail = read(without_key)
        .await
        .assert_error(StatusCode::UNAUTHORIZED)
        .to_owned();
    assert!(detail.contains("x-api-key"), "{detail}");

    let mut wrong = wire.clone();
    wrong.creds.api_key = "stl_not-the-key".into();
    wrong
        .register("alice", "alice@example.com", "79111111111", "test")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    // An almost-right key is just as wrong.
    let mut truncated = wire.clone();
    let key = emu.credentials().api_key.expose();
    truncated.creds.api_key = key[..key.len() - 1].into();
    truncated
        .login("alice", "test")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_owners_key_is_403_and_another_owners_pool_is_404() {
    let emu = fast_emulator().await;
    let other_owner = emu.add_owner();
    // The other owner's key, acting for the first owner: forbidden.
    let mut foreign = Wire::new(emu.credentials());
    foreign.creds.api_key = other_owner.api_key.clone();
    foreign
        .register("alice", "alice@example.com", "79111111111", "test")
        .await
        .assert_error(StatusCode::FORBIDDEN);
    foreign
        .login("alice", "test")
        .await
        .assert_error(StatusCode::FORBIDDEN);
    // The other owner acting for itself on the first owner's pool: that pool is not theirs.
    let mut wrong_pool = Wire::new(&other_owner);
    wrong_pool.creds.user_pool_id = emu.credentials().user_pool_id.clone();
    let detail = wrong_pool
        .register("alice", "alice@example.com", "79111111111", "test")
        .await
        .assert_error(StatusCode::NOT_FOUND)
        .to_owned();
    assert!(detail.contains("pool"), "{detail}");
}

#[tokio::test]
async fn unknown_pool_and_unknown_route_are_404() {
    let emu = fast_emulator().await;
    let mut wire = Wire::new(emu.credentials());
    wire.creds.user_pool_id = uuid::Uuid::new_v4().to_string();
    wire.register("alice", "alice@example.com", "79111111111", "test")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    wire.login("alice", "test")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    for path in [
        "/",
        "/api/v0/users",
        "/api/v0/users/nope",
        "/api/v1/users/login",
        "/api/v0/users/login/",
    ] {
        let answer = wire.send(Method::POST, path, None, Some("{}".into())).await;
        assert_eq!(
            answer.assert_error(StatusCode::NOT_FOUND),
            "Not Found",
            "{path}"
        );
    }
}

#[tokio::test]
async fn wrong_method_is_405_with_json_and_allow() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    for (method, path, allow) in [
        (Method::GET, "/api/v0/users/register", "POST"),
        // `HEAD` would use the refresh token up: `/refresh` takes `GET` alone.
        (Method::POST, "/api/v0/users/refresh", "GET"),
        (Method::PUT, "/api/v0/users/refresh", "GET"),
        (Method::PUT, "/api/v0/users/username", "PATCH"),
        (Method::DELETE, "/api/v0/users/grant", "POST"),
    ] {
        let response = wire
            .http
            .request(method.clone(), wire.url(path))
            .header("x-api-key", emu.credentials().api_key.expose())
            .send()
            .await
            .unwrap();
        let allowed = response.headers()["allow"]
            .to_str()
            .unwrap()
            .replace(' ', "");
        assert_eq!(allowed, allow, "{method} {path}");
        read(response)
            .await
            .assert_error(StatusCode::METHOD_NOT_ALLOWED);
    }
}

#[tokio::test]
async fn a_header_sent_twice_is_400_naming_it_before_the_key_is_checked() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    let (access, _) = wire.tokens("alice", "test").await;
    let key = emu.credentials().api_key.expose();
    let bearer = format!("bearer {access}");
    let pool = &emu.credentials().user_pool_id;
    let admin_users = format!("/api/v0/admin/pools/{pool}/users");
    let cases = [
        // Both copies valid: still ambiguous, still refused.
        (
            "/api/v0/users/grant",
            vec![
                ("x-api-key", key),
                ("x-api-key", key),
                ("authorization", &bearer),
            ],
            "the x-api-key header must be sent only once",
        ),
        (
            "/api/v0/users/grant",
            vec![
                ("x-api-key", key),
                ("authorization", &bearer),
                ("authorization", &bearer),
            ],
            "the Authorization header must be sent only once",
        ),
        // On a call that takes no token too, and before a missing key is noticed.
        (
            "/api/v0/users/login",
            vec![("authorization", "bearer a"), ("authorization", "bearer b")],
            "the Authorization header must be sent only once",
        ),
        (
            &admin_users,
            vec![("x-api-key", key), ("x-api-key", "stl_other")],
            "the x-api-key header must be sent only once",
        ),
    ];
    for (path, headers, detail) in cases {
        let method = if path.starts_with("/api/v0/admin") {
            Method::GET
        } else {
            Method::POST
        };
        let mut request = wire.http.request(method, wire.url(path)).body("{}");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let answer = read(request.send().await.unwrap()).await;
        assert_eq!(
            answer.assert_error(StatusCode::BAD_REQUEST),
            detail,
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_json_key_sent_twice_is_400_naming_it_at_any_depth() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let creds = emu.credentials();
    let register = format!(
        r#"{{"user_pool_id": "{}", "owner_id": "{}", "username": "alice", "username": "admin",
            "email": "a@example.com", "phone": "79111111111", "password": "test"}}"#,
        creds.user_pool_id, creds.owner_id
    );
    let answer = wire
        .send(Method::POST, "/api/v0/users/register", None, Some(register))
        .await;
    let detail = answer.assert_error(StatusCode::BAD_REQUEST);
    assert!(
        detail.starts_with("the request body is not valid JSON: duplicate key `username` at line"),
        "{detail}"
    );
    assert!(emu.users(&creds.user_pool_id).unwrap().is_empty());

    // Nested: a rule of a policy, in the admin API.
    let policy = r#"{"name": "p", "rules": [{"effect": "allow", "effect": "deny",
        "methods": ["GET"], "paths": ["/**"]}]}"#;
    let answer = wire
        .send(
            Method::POST,
            &format!("/api/v0/admin/pools/{}/policies", creds.user_pool_id),
            None,
            Some(policy.into()),
        )
        .await;
    let detail = answer.assert_error(StatusCode::BAD_REQUEST);
    assert!(detail.contains("duplicate key `effect`"), "{detail}");
    assert!(emu.policies(&creds.user_pool_id).unwrap().is_empty());

    // The body comes after the key: a wrong key is still 401.
    let mut wrong_key = wire.clone();
    wrong_key.creds.api_key = "stl_not-the-key".into();
    wrong_key
        .send(
            Method::POST,
            "/api/v0/users/login",
            None,
            Some(r#"{"username": "a", "username": "b"}"#.into()),
        )
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn taken_username_email_or_phone_is_409() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    let cases = [
        (("alice", "other@example.com", "79000000000"), "username"),
        // E-mail addresses are compared regardless of case, phones by their digits.
        (("bob", "ALICE@example.com", "79000000000"), "email"),
        (("bob", "bob@example.com", "+79111111111"), "phone"),
    ];
    for ((username, email, phone), field) in cases {
        let answer = wire.register(username, email, phone, "test").await;
        let detail = answer.assert_error(StatusCode::CONFLICT);
        assert!(detail.contains(field), "{field}: {detail}");
    }
    // The same details in another pool are fine.
    let other_pool = Wire::new(&emu.add_pool());
    other_pool.register_named("alice", "79111111111").await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let huge = format!("{{\"username\": \"{}\"}}", "a".repeat(70 * 1024));
    let answer = wire
        .send(Method::POST, "/api/v0/users/register", None, Some(huge))
        .await;
    answer.assert_error(StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn missing_or_invalid_fields_are_422_naming_the_problem() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let creds = emu.credentials();
    let valid = json!({"user_pool_id": creds.user_pool_id, "owner_id": creds.owner_id, "username": "alice",
        "email": "alice@example.com", "phone": "79111111111", "password": "test"});
    let mut cases = vec![(json!([1, 2]), "object"), (json!("text"), "object")];
    for field in [
        "user_pool_id",
        "owner_id",
        "username",
        "email",
        "phone",
        "password",
    ] {
        let mut missing = valid.clone();
        missing.as_object_mut().unwrap().remove(field);
        cases.push((missing, field));
        let mut not_a_string = valid.clone();
        not_a_string[field] = json!(42);
        cases.push((not_a_string, field));
    }
    for (field, value) in [
        ("username", "has space"),
        ("username", ""),
        ("email", "no-at-sign"),
        ("email", "a@b@c"),
        ("phone", "12ab"),
        ("phone", "1234"),
        ("password", ""),
    ] {
        let mut invalid = valid.clone();
        invalid[field] = json!(value);
        cases.push((invalid, field));
    }
    for (body, names) in cases {
        let answer = wire
            .send(
                Method::POST,
                "/api/v0/users/register",
                None,
                Some(body.to_string()),
            )
            .await;
        let detail = answer.assert_error(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(detail.contains(names), "{body}: {detail}");
    }
    // An empty body is an empty object: every field is missing.
    let answer = wire
        .send(Method::POST, "/api/v0/users/register", None, None)
        .await;
    answer.assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    // Nothing was registered along the way.
    assert!(emu.users(&creds.user_pool_id).unwrap().is_empty());
}

#[tokio::test]
async fn body_errors_have_fixed_texts_naming_the_first_field_in_reading_order() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let (access, _) = {
        wire.register_named("alice", "79111111111").await;
        wire.tokens("alice", "test").await
    };
    let bearer = format!("bearer {access}");
    let cases = [
        (
            "/api/v0/users/register",
            None,
            "field `user_pool_id` is required",
        ),
        (
            "/api/v0/users/register",
            Some(" \n\t".to_owned()),
            "field `user_pool_id` is required",
        ),
        (
            "/api/v0/users/register",
            Some("[]".to_owned()),
            "the request body must be a JSON object",
        ),
        (
            "/api/v0/users/register",
            Some("null".to_owned()),
            "the request body must be a JSON object",
        ),
        // A missing field earlier in the reading order wins over a wrong one later, and the
        // other way round, wherever each stands in the JSON.
        (
            "/api/v0/users/register",
            Some(json!({"owner_id": 1}).to_string()),
            "field `user_pool_id` is required",
        ),
        (
            "/api/v0/users/register",
            Some(json!({"user_pool_id": null}).to_string()),
            "field `user_pool_id` must be a string",
        ),
        (
            "/api/v0/users/register",
            Some(
                json!({"password": 8, "phone": 7, "email": "e", "username": "u",
                    "owner_id": "o", "user_pool_id": "p"})
                .to_string(),
            ),
            "field `phone` must be a string",
        ),
        (
            "/api/v0/users/register",
            Some(
                json!({"password": 8, "email": "e", "username": "u", "owner_id": "o",
                    "user_pool_id": "p"})
                .to_string(),
            ),
            "field `phone` is required",
        ),
        (
            "/api/v0/users/login",
            Some(json!({"user_pool_id": "p", "owner_id": "o", "password": []}).to_string()),
            "field `username` is required",
        ),
    ];
    for (path, body, expected) in cases {
        let answer = wire.send(Method::POST, path, None, body.clone()).await;
        assert_eq!(
            answer.assert_error(StatusCode::UNPROCESSABLE_ENTITY),
            expected,
            "{path} {body:?}"
        );
    }
    let with_token = [
        (
            Method::POST,
            "grant",
            json!({"path": 7, "method": 1}),
            "field `method` must be a string",
        ),
        (
            Method::POST,
            "grant",
            json!({"path": 7}),
            "field `path` must be a string",
        ),
        (
            Method::PATCH,
            "username",
            json!({"username": 1}),
            "field `user_pool_id` is required",
        ),
        (
            Method::PATCH,
            "email",
            json!({"user_pool_id": "p"}),
            "field `email` is required",
        ),
        (
            Method::PATCH,
            "password",
            json!({"new_password": 1}),
            "field `old_password` is required",
        ),
        (
            Method::PATCH,
            "password",
            json!({"old_password": "x", "new_password": true}),
            "field `new_password` must be a string",
        ),
    ];
    for (method, path, body, expected) in with_token {
        let path = format!("/api/v0/users/{path}");
        let answer = wire
            .send(method, &path, Some(&bearer), Some(body.to_string()))
            .await;
        assert_eq!(
            answer.assert_error(StatusCode::UNPROCESSABLE_ENTITY),
            expected,
            "{path} {body}"
        );
    }
    let malformed = wire
        .send(
            Method::POST,
            "/api/v0/users/login",
            None,
            Some("{\"a\":".into()),
        )
        .await;
    let detail = malformed.assert_error(StatusCode::BAD_REQUEST);
    assert!(
        detail.starts_with("the request body is not valid JSON: "),
        "{detail}"
    );
    let huge = wire
        .send(
            Method::POST,
            "/api/v0/users/login",
            None,
            Some(" ".repeat(64 * 1024 + 1)),
        )
        .await;
    assert_eq!(
        huge.assert_error(StatusCode::PAYLOAD_TOO_LARGE),
        "the request body is larger than 65536 bytes"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    let wrong = wire.login("alice", "nope").await;
    let unknown = wire.login("bob", "test").await;
    let empty = wire.login("", "").await;
    assert_eq!(
        wrong.assert_error(StatusCode::UNAUTHORIZED),
        unknown.assert_error(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(wrong.detail(), empty.assert_error(StatusCode::UNAUTHORIZED));
    let answer = wire.login("alice", "test").await;
    let pair = answer.assert_ok(StatusCode::OK).as_object().unwrap();
    assert_eq!(pair.len(), 2);
    assert!(pair["access_token"].is_string() && pair["refresh_token"].is_string());
}

#[tokio::test]
async fn blocked_user_gets_403_on_login_refresh_and_access_until_unblocked() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let user = wire.register_named("alice", "79111111111").await;
    let (pool, id) = (
        user["user_pool_id"].as_str().unwrap(),
        user["id"].as_str().unwrap(),
    );
    let (access, refresh) = wire.tokens("alice", "test").await;

    emu.block_user(pool, id).unwrap();
    assert!(wire
        .login("alice", "test")
        .await
        .assert_error(StatusCode::FORBIDDEN)
        .contains("blocked"));
    // A wrong password is still just a wrong password: being blocked is not revealed.
    wire.login("alice", "nope")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.refresh(&refresh)
        .await
        .assert_error(StatusCode::FORBIDDEN);
    wire.grant(&access, "GET", "/")
        .await
        .assert_error(StatusCode::FORBIDDEN);

    emu.unblock_user(pool, id).unwrap();
    wire.login("alice", "test").await.assert_ok(StatusCode::OK);
    // The session was kept: its refresh token was never used, so it still works.
    wire.refresh(&refresh).await.assert_ok(StatusCode::OK);
}

#[tokio::test]
async fn profile_updates_answer_the_updated_user() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let pool = emu.credentials().user_pool_id.clone();
    wire.register_named("alice", "79111111111").await;
    wire.register_named("bob", "79222222222").await;
    let (access, _) = wire.tokens("alice", "test").await;

    let renamed = wire
        .patch(
            &access,
            "username",
            json!({"user_pool_id": pool, "username": "alice2"}),
        )
        .await;
    assert_eq!(renamed.assert_ok(StatusCode::OK)["username"], "alice2");
    let moved = wire
        .patch(
            &access,
            "email",
            json!({"user_pool_id": pool, "email": "a2@example.com"}),
        )
        .await;
    let moved = moved.assert_ok(StatusCode::OK);
    assert_eq!(
        (moved["username"].as_str(), moved["email"].as_str()),
        (Some("alice2"), Some("a2@example.com"))
    );
    // Keeping one's own value is no conflict; taking another user's is.
    wire.patch(
        &access,
        "username",
        json!({"user_pool_id": pool, "username": "alice2"}),
    )
    .await
    .assert_ok(StatusCode::OK);
    wire.patch(
        &access,
        "username",
        json!({"user_pool_id": pool, "username": "bob"}),
    )
    .await
    .assert_error(StatusCode::CONFLICT);
    wire.patch(
        &access,
        "email",
        json!({"user_pool_id": pool, "email": "BOB@example.com"}),
    )
    .await
    .assert_error(StatusCode::CONFLICT);
    // The old name is free again and the new one logs in.
    wire.register_named("alice", "79333333333").await;
    wire.tokens("alice2", "test").await;

    // Another pool in the body than the token's: forbidden. Bad values: 422.
    let other = uuid::Uuid::new_v4().to_string();
    wire.patch(
        &access,
        "username",
        json!({"user_pool_id": other, "username": "x"}),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN);
    wire.patch(
        &access,
        "email",
        json!({"user_pool_id": pool, "email": "nope"}),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    wire.patch(&access, "username", json!({"username": "x"}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn password_change_checks_the_old_one_and_replaces_it() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    let (access, _) = wire.tokens("alice", "test").await;
    let wrong = wire
        .patch(
            &access,
            "password",
            json!({"old_password": "nope", "new_password": "n3w"}),
        )
        .await;
    wrong.assert_error(StatusCode::UNAUTHORIZED);
    wire.patch(
        &access,
        "password",
        json!({"old_password": "test", "new_password": ""}),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    let changed = wire
        .patch(
            &access,
            "password",
            json!({"old_password": "test", "new_password": "n3w"}),
        )
        .await;
    assert_eq!(changed.assert_ok(StatusCode::OK)["username"], "alice");
    wire.login("alice", "test")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.tokens("alice", "n3w").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_registrations_all_land_and_one_name_lands_once() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let distinct = (0..24).map(|i| {
        let wire = wire.clone();
        tokio::spawn(async move {
            wire.register(
                &format!("user{i}"),
                &format!("user{i}@example.com"),
                &format!("7000000{i:04}"),
                "test",
            )
            .await
            .status
        })
    });
    for status in join_all(distinct).await {
        assert_eq!(status, StatusCode::CREATED);
    }
    let same = (0..12).map(|i| {
        let wire = wire.clone();
        tokio::spawn(async move {
            wire.register(
                "same",
                &format!("same{i}@example.com"),
                &format!("7100000{i:04}"),
                "test",
            )
            .await
            .status
        })
    });
    let statuses = join_all(same).await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT));
    assert_eq!(
        emu.users(&emu.credentials().user_pool_id).unwrap().len(),
        25
    );
}
