//! Tokens made by an attacker: algorithm swaps, `none`, key confusion, key-fetching headers,
//! `crit`, flipped bits, duplicate claims, wrong JSON types, huge tokens. Each is refused by
//! `TokenDecoder`, with the error kind that says why.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use stlock::token::MAX_TOKEN_LEN;
use stlock::{DecodeError, TokenDecoder};

use crate::support::forge::{access_claims_of, access_token, config_for, now, sign};
use crate::support::{OWNER, POOL, SECRET};

fn decoder() -> TokenDecoder {
    TokenDecoder::new(&config_for("http://127.0.0.1:1"))
}

fn claims() -> Value {
    access_claims_of(OWNER, POOL, "5f331151-49d1-4d12-a977-a94a223a948a")
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// A token from raw header and payload text, HMAC-signed with `secret` by `alg`: whatever the
/// header claims, so that the header and the signature can disagree.
fn raw(header: &str, payload: &str, secret: &str, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let key = EncodingKey::from_secret(secret.as_bytes());
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).expect("HMAC");
    format!("{message}.{signature}")
}

/// A token signed with the pool's secret, with this header and payload text.
fn signed(header: &str, payload: &str) -> String {
    raw(header, payload, SECRET, Algorithm::HS256)
}

#[track_caller]
fn assert_refused(token: &str, expected: DecodeError) {
    assert_eq!(decoder().decode_access(token), Err(expected), "{token}");
}

#[test]
fn the_control_token_is_accepted() {
    assert!(decoder().decode_access(&access_token()).is_ok());
    let payload = claims().to_string();
    assert!(decoder()
        .decode_access(&signed(r#"{"alg":"HS256","typ":"JWT"}"#, &payload))
        .is_ok());
}

#[test]
fn another_hmac_algorithm_with_the_same_secret_is_refused() {
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        assert_refused(
            &sign(&claims(), SECRET, alg),
            DecodeError::DisallowedAlgorithm,
        );
    }
}

#[test]
fn none_is_refused_in_every_case_with_or_without_a_signature() {
    let payload = b64(&claims().to_string());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(&json!({ "alg": alg, "typ": "JWT" }).to_string());
        for signature in ["", "c2lnbmF0dXJl"] {
            let token = format!("{header}.{payload}.{signature}");
            assert_refused(&token, DecodeError::DisallowedAlgorithm);
        }
        assert_refused(
            &format!("{header}.{payload}"),
            DecodeError::DisallowedAlgorithm,
        );
    }
}

#[test]
fn an_asymmetric_algorithm_over_an_hmac_signature_is_refused() {
    // Key confusion: a verifier that trusts the header would check an "RS256" token with the
    // HMAC key, or an HMAC token with a public key as its secret.
    let payload = claims().to_string();
    for alg in ["RS256", "RS512", "PS256", "ES256", "ES384", "EdDSA"] {
        let header = json!({ "alg": alg, "typ": "JWT" }).to_string();
        assert_refused(&signed(&header, &payload), DecodeError::DisallowedAlgorithm);
    }
    for alg in ["HS257", "hs256", "", "RSA-OAEP"] {
        let header = json!({ "alg": alg }).to_string();
        assert_refused(&signed(&header, &payload), DecodeError::DisallowedAlgorithm);
    }
    let public_key = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----";
    let confused = raw(r#"{"alg":"HS256"}"#, &payload, public_key, Algorithm::HS256);
    assert_refused(&confused, DecodeError::BadSignature);
}

#[test]
fn headers_that_point_at_other_keys_are_never_followed() {
    // Signed with the attacker's key, and pointing at it every way JOSE allows: nothing is
    // fetched or trusted, the pool's secret alone decides.
    let payload = claims().to_string();
    let attacker = "the-attackers-own-secret-of-32-bytes!";
    for header in [
        json!({"alg": "HS256", "kid": "attacker"}),
        json!({"alg": "HS256", "kid": "../../dev/null"}),
        json!({"alg": "HS256", "jku": "https://attacker.example/jwks.json"}),
        json!({"alg": "HS256", "x5u": "https://attacker.example/cert.pem"}),
        json!({"alg": "HS256", "jwk": {"kty": "oct", "k": b64(attacker)}}),
    ] {
        let token = raw(&header.to_string(), &payload, attacker, Algorithm::HS256);
        assert_refused(&token, DecodeError::BadSignature);
    }
}

#[test]
fn a_critical_header_extension_is_refused() {
    // RFC 7515 §4.1.11: extensions listed in `crit` must be understood, and stlock understands
    // none, so even a token signed with the pool's secret is refused.
    let payload = claims().to_string();
    for crit in [json!(["exp"]), json!(["b64"]), json!([]), json!("b64")] {
        let header = json!({ "alg": "HS256", "crit": crit, "b64": false }).to_string();
        assert_refused(&signed(&header, &payload), DecodeError::Malformed);
    }
}

#[test]
fn no_flipped_bit_anywhere_is_accepted() {
    let token = access_token();
    let header_end = token.find('.').unwrap();
    let mut bytes = token.into_bytes();
    for index in 0..bytes.len() {
        for bit in 0..7 {
            bytes[index] ^= 1 << bit;
            let flipped = String::from_utf8_lossy(&bytes).into_owned();
            let result = decoder().decode_access(&flipped);
            bytes[index] ^= 1 << bit;
            // The signature covers the header and payload text as sent: a changed character is
            // a bad signature, or no token at all, or (in the header) another algorithm.
            let allowed: &[DecodeError] = if index < header_end {
                &[
                    DecodeError::Malformed,
                    DecodeError::DisallowedAlgorithm,
                    DecodeError::BadSignature,
                ]
            } else {
                &[DecodeError::BadSignature, DecodeError::Malformed]
            };
            match result {
                Err(error) => assert!(
                    allowed.contains(&error),
                    "byte {index} bit {bit}: {error:?}"
                ),
                Ok(_) => panic!("byte {index} bit {bit}: accepted {flipped}"),
            }
        }
    }
}

#[test]
fn duplicate_claims_are_refused_whichever_copy_would_pass() {
    let base = claims();
    let fields = |skip: &str| {
        base.as_object()
            .unwrap()
            .iter()
            .filter(|(name, _)| name.as_str() != skip)
            .map(|(name, value)| format!("{}:{value}", json!(name)))
            .collect::<Vec<_>>()
            .join(",")
    };
    let expired = now() - 3600;
    let cases = [
        format!(r#"{{{},"sub":"someone-else"}}"#, fields("")),
        format!(r#"{{"exp":{expired},{}}}"#, fields("")),
        format!(r#"{{{},"exp":{expired}}}"#, fields("")),
        format!(r#"{{{},"type":"REFRESH"}}"#, fields("")),
        format!(
            r#"{{{},"user_pool_sub":"22222222-2222-2222-2222-222222222222"}}"#,
            fields("")
        ),
    ];
    for payload in cases {
        assert_refused(
            &signed(r#"{"alg":"HS256"}"#, &payload),
            DecodeError::Malformed,
        );
    }
    // A duplicate `alg` in the header, `none` first or last.
    let payload = base.to_string();
    for header in [
        r#"{"alg":"none","alg":"HS256"}"#,
        r#"{"alg":"HS256","alg":"none"}"#,
    ] {
        let refused = decoder().decode_access(&signed(header, &payload));
        assert!(
            matches!(
                refused,
                Err(DecodeError::Malformed | DecodeError::DisallowedAlgorithm)
            ),
            "{header}: {refused:?}"
        );
    }
}

#[test]
fn claims_of_the_wrong_json_type_are_malformed() {
    let mutations: [(&str, Value); 12] = [
        ("exp", json!(now().to_string() + "0")),
        ("exp", json!(1e10)),
        ("exp", json!(-1)),
        ("exp", Value::Null),
        ("iat", json!("yesterday")),
        ("aud", json!(["USER"])),
        ("sub", json!(42)),
        ("sub", json!({"id": "x"})),
        ("type", json!("access")),
        ("type", json!(1)),
        ("owner_sub", json!(null)),
        ("jti", json!([])),
    ];
    for (name, value) in mutations {
        let mut payload = claims();
        payload[name] = value.clone();
        let token = signed(r#"{"alg":"HS256"}"#, &payload.to_string());
        assert_refused(&token, DecodeError::Malformed);
    }
    for missing in [
        "exp",
        "sub",
        "aud",
        "type",
        "jti",
        "iat",
        "owner_sub",
        "user_pool_sub",
    ] {
        let mut payload = claims();
        payload.as_object_mut().unwrap().remove(missing);
        let refused = decoder().decode_access(&signed(r#"{"alg":"HS256"}"#, &payload.to_string()));
        assert_eq!(refused, Err(DecodeError::Malformed), "without {missing}");
    }
    for payload in ["[]", "null", "\"USER\"", "{", ""] {
        assert_refused(
            &signed(r#"{"alg":"HS256"}"#, payload),
            DecodeError::Malformed,
        );
    }
}

#[test]
fn huge_deep_and_oddly_shaped_tokens_are_malformed() {
    let token = access_token();
    assert_refused(&"a".repeat(MAX_TOKEN_LEN + 1), DecodeError::Malformed);
    assert_refused(
        &format!("{token}{}", "A".repeat(MAX_TOKEN_LEN)),
        DecodeError::Malformed,
    );
    // Deeply nested JSON inside the size limit: refused, and no stack overflow.
    let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(3000), "]".repeat(3000));
    assert_refused(&signed(r#"{"alg":"HS256"}"#, &deep), DecodeError::Malformed);
    let (header, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    for odd in [
        format!("{token}."),
        format!("{header}.{payload}.{signature}.{signature}.{signature}"),
        format!("{header}={payload}.{signature}"),
        format!("{header}.{payload}=.{signature}"),
        format!(" {token}"),
        format!("{header}. {payload}.{signature}"),
        token.replace('-', "+").replace('_', "/"),
        format!("{header}..{signature}"),
        format!(".{payload}.{signature}"),
    ] {
        if odd == token {
            continue;
        }
        let refused = decoder().decode_access(&odd);
        assert!(
            matches!(
                refused,
                Err(DecodeError::Malformed | DecodeError::BadSignature)
            ),
            "{odd}: {refused:?}"
        );
    }
}
