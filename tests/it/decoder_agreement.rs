//! The single-pass `TokenDecoder` agrees with `jsonwebtoken::decode` (followed by stlock's own
//! checks, as the decoder used to be built) on a large generated set of tokens: valid ones, and
//! every way of getting the header, the claims, the signature and the shape wrong.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde::Deserialize;
use stlock::token::{AUDIENCE, MAX_TOKEN_LEN};
use stlock::{Claims, DecodeError, TokenDecoder, TokenType};

use crate::support::forge::{config_for, now};
use crate::support::{OWNER, POOL, SECRET};

/// The reference: jsonwebtoken with the same key and algorithm, its errors sorted as stlock
/// sorts them, then stlock's checks in their documented order.
fn reference(token: &str, expected: TokenType) -> Result<Claims, DecodeError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(DecodeError::Malformed);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    let key = DecodingKey::from_secret(SECRET.as_bytes());
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|error| classify(token, error.kind()))?
        .claims;
    // The default leeway, 30 s.
    if now() >= claims.exp.saturating_add(30) {
        return Err(DecodeError::Expired);
    }
    if claims.aud != AUDIENCE {
        return Err(DecodeError::WrongAudience);
    }
    if has_crit(token) {
        return Err(DecodeError::Malformed);
    }
    if claims.token_type != expected {
        return Err(DecodeError::WrongType {
            expected,
            found: claims.token_type,
        });
    }
    if !claims.owner_sub.eq_ignore_ascii_case(OWNER) {
        return Err(DecodeError::ForeignOwner);
    }
    if !claims.user_pool_sub.eq_ignore_ascii_case(POOL) {
        return Err(DecodeError::ForeignPool);
    }
    Ok(claims)
}

fn first_segment_json<T: for<'de> Deserialize<'de>>(token: &str) -> Option<T> {
    let (header, _) = token.split_once('.')?;
    let bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn classify(token: &str, kind: &ErrorKind) -> DecodeError {
    #[derive(Deserialize)]
    struct JustAlg {
        alg: String,
    }
    match kind {
        ErrorKind::InvalidSignature => DecodeError::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            DecodeError::DisallowedAlgorithm
        }
        _ => match first_segment_json::<JustAlg>(token).map(|h| h.alg.parse::<Algorithm>()) {
            Some(Ok(Algorithm::HS256)) | None => DecodeError::Malformed,
            Some(_) => DecodeError::DisallowedAlgorithm,
        },
    }
}

fn has_crit(token: &str) -> bool {
    #[derive(Deserialize)]
    struct Crit {
        crit: Option<serde::de::IgnoredAny>,
    }
    first_segment_json::<Crit>(token).is_none_or(|header| header.crit.is_some())
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

fn hmac(message: &str, secret: &str, alg: Algorithm) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).unwrap()
}

/// Headers: the service's, other algorithms, `none` in any case, extra and odd fields.
fn header() -> impl Strategy<Value = String> {
    let alg = prop_oneof![
        4 => Just("\"HS256\"".to_owned()),
        1 => prop::sample::select(vec![
            "\"HS384\"", "\"HS512\"", "\"RS256\"", "\"ES256\"", "\"none\"", "\"None\"",
            "\"NONE\"", "\"hs256\"", "\"\"", "5", "null", "\"HS\\u0032\\u00356\"",
        ])
        .prop_map(str::to_owned),
    ];
    let extra = prop::sample::select(vec![
        "",
        ",\"typ\":\"JWT\"",
        ",\"kid\":\"k1\"",
        ",\"kid\":5",
        ",\"jku\":\"https://x.example/jwks\"",
        ",\"x5c\":[\"a\",\"b\"]",
        ",\"x5c\":\"a\"",
        ",\"crit\":[\"exp\"]",
        ",\"crit\":[]",
        ",\"typ\":\"JWT\",\"typ\":\"JOSE\"",
        ",\"alg\":\"none\"",
        ",\"alg\":\"HS256\"",
        ",\"b64\":false",
        ",\"cty\":null",
        ",\"x5t#S256\":\"t\"",
        ",\"unknown\":{\"deep\":[1,2,3]}",
    ]);
    prop_oneof![
        12 => (alg, extra).prop_map(|(alg, extra)| format!("{{\"alg\":{alg}{extra}}}")),
        1 => prop::sample::select(vec!["", "{}", "[]", "{\"alg\":", "null", "{\"typ\":\"JWT\"}"])
            .prop_map(str::to_owned),
    ]
}

/// Claims: the service's, each field missing, duplicated, of another type or value.
fn claims() -> impl Strategy<Value = String> {
    let exp = prop_oneof![
        4 => Just(format!("{}", now() + 600)),
        1 => prop::sample::select(vec![
            format!("{}", now() - 3600),
            format!("{}", now() - 10),
            format!("{}", now() + 5),
            format!("\"{}\"", now() + 600),
            "1e10".to_owned(),
            "-1".to_owned(),
            "null".to_owned(),
            format!("{}.5", now() + 600),
        ]),
    ];
    let kind = prop_oneof![
        4 => Just("\"ACCESS\""),
        1 => prop::sample::select(vec!["\"REFRESH\"", "\"access\"", "\"ID\"", "1"]),
    ];
    let aud = prop_oneof![
        4 => Just("\"USER\""),
        1 => prop::sample::select(vec!["\"ADMIN\"", "[\"USER\"]", "5", "\"U\\u0053ER\""]),
    ];
    let owner = prop_oneof![
        4 => Just(format!("\"{OWNER}\"")),
        1 => prop::sample::select(vec![
            format!("\"{}\"", OWNER.to_uppercase()),
            "\"11111111-1111-1111-1111-111111111111\"".to_owned(),
            "null".to_owned(),
        ]),
    ];
    let pool = prop_oneof![
        4 => Just(format!("\"{POOL}\"")),
        1 => prop::sample::select(vec![
            format!("\"{}\"", POOL.to_uppercase()),
            "\"22222222-2222-2222-2222-222222222222\"".to_owned(),
        ]),
    ];
    let extra = prop::sample::select(vec![
        "",
        ",\"sub\":\"other\"",
        ",\"exp\":1",
        ",\"iss\":\"a\",\"iss\":\"b\"",
        ",\"nbf\":1,\"nbf\":2",
        ",\"iss\":\"stlock\"",
        ",\"extra\":[1,{\"a\":null}]",
        ",\"extra\":1,\"extra\":2",
    ]);
    let missing = prop::sample::select(vec!["", "jti", "exp", "iat", "type", "aud", "sub"]);
    prop_oneof![
        20 => (exp, kind, aud, owner, pool, extra, missing).prop_map(
            |(exp, kind, aud, owner, pool, extra, missing)| {
                let fields = [
                    ("jti", "\"7afdb39b-3d6f-42e3-8555-66168dca7340\"".to_owned()),
                    ("exp", exp),
                    ("iat", format!("{}", now())),
                    ("type", kind.to_owned()),
                    ("aud", aud.to_owned()),
                    ("sub", "\"5f331151-49d1-4d12-a977-a94a223a948a\"".to_owned()),
                    ("owner_sub", owner),
                    ("user_pool_sub", pool),
                ];
                let body = fields
                    .iter()
                    .filter(|(name, _)| *name != missing)
                    .map(|(name, value)| format!("\"{name}\":{value}"))
                    .collect::<Vec<_>>()
                    .join(",");
                format!("{{{body}{extra}}}")
            }
        ),
        1 => prop::sample::select(vec!["", "{}", "[]", "null", "{\"exp\":"]).prop_map(str::to_owned),
    ]
}

/// The signature: right, by another secret or algorithm, mangled, or missing; and the shape.
#[derive(Clone, Debug)]
enum Signing {
    Right,
    OtherSecret,
    Hs512,
    Flipped(usize),
    Padded,
    Empty,
    Missing,
    ExtraSegment,
    Truncated(usize),
}

fn signing() -> impl Strategy<Value = Signing> {
    prop_oneof![
        8 => Just(Signing::Right),
        1 => Just(Signing::OtherSecret),
        1 => Just(Signing::Hs512),
        1 => (0usize..43).prop_map(Signing::Flipped),
        1 => Just(Signing::Padded),
        1 => Just(Signing::Empty),
        1 => Just(Signing::Missing),
        1 => Just(Signing::ExtraSegment),
        1 => (1usize..42).prop_map(Signing::Truncated),
    ]
}

fn token(header: &str, claims: &str, signing: &Signing) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let right = hmac(&message, SECRET, Algorithm::HS256);
    match signing {
        Signing::Right => format!("{message}.{right}"),
        Signing::OtherSecret => format!(
            "{message}.{}",
            hmac(
                &message,
                "another-secret-of-at-least-32-bytes",
                Algorithm::HS256
            )
        ),
        Signing::Hs512 => format!("{message}.{}", hmac(&message, SECRET, Algorithm::HS512)),
        Signing::Flipped(at) => {
            let mut bytes = right.into_bytes();
            let at = at % bytes.len();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            format!("{message}.{}", String::from_utf8(bytes).unwrap())
        }
        Signing::Padded => format!("{message}.{right}="),
        Signing::Empty => format!("{message}."),
        Signing::Missing => message,
        Signing::ExtraSegment => format!("{message}.{right}.{right}"),
        Signing::Truncated(keep) => format!("{message}.{}", &right[..(*keep).min(right.len())]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12_000))]

    #[test]
    fn the_decoder_agrees_with_jsonwebtoken(header in header(), claims in claims(), signing in signing()) {
        let decoder = TokenDecoder::new(&config_for("http://127.0.0.1:1"));
        let token = token(&header, &claims, &signing);
        for expected in [TokenType::Access, TokenType::Refresh] {
            let before = now();
            let ours = decoder.decode(&token, expected);
            let theirs = reference(&token, expected);
            // A second boundary crossed between the two makes an expiry case ambiguous.
            prop_assume!(now() == before);
            prop_assert_eq!(&ours, &theirs, "{} {} {:?}", header, claims, signing);
        }
    }
}

#[test]
fn the_generated_set_holds_every_outcome() {
    // The strategies above reach each kind: a set of only refusals would prove little.
    let decoder = TokenDecoder::new(&config_for("http://127.0.0.1:1"));
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (header(), claims(), signing());
    let mut seen = std::collections::HashSet::new();
    for _ in 0..5_000 {
        let (header, claims, signing) = strategy.new_tree(&mut runner).unwrap().current();
        let outcome = decoder.decode(&token(&header, &claims, &signing), TokenType::Access);
        seen.insert(match outcome {
            Ok(_) => "ok".to_owned(),
            Err(DecodeError::WrongType { .. }) => "wrong type".to_owned(),
            Err(error) => format!("{error:?}"),
        });
    }
    for kind in [
        "ok",
        "Malformed",
        "DisallowedAlgorithm",
        "BadSignature",
        "Expired",
        "WrongAudience",
        "wrong type",
        "ForeignOwner",
        "ForeignPool",
    ] {
        assert!(seen.contains(kind), "never {kind}: {seen:?}");
    }
}
