//! Cost of verifying an access token: stlock's `TokenDecoder` against a bare
//! `jsonwebtoken::decode` with the same checks, which is the floor any HS256 verifier pays.
//!
//! ```sh
//! cargo bench --bench decode
//! ```

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use stlock::{Claims, Config, TokenDecoder, TokenType, AUDIENCE};

const POOL: &str = "0e2173b5-b55f-4ea4-bec5-450e2c12a458";
const OWNER: &str = "b3893a06-5931-4160-9e62-938ab173b6c8";
const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn access_token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let claims = Claims {
        jti: "7afdb39b-3d6f-42e3-8555-66168dca7340".into(),
        exp: now + 3600,
        iat: now,
        token_type: TokenType::Access,
        aud: AUDIENCE.into(),
        sub: "5f331151-49d1-4d12-a977-a94a223a948a".into(),
        owner_sub: OWNER.into(),
        user_pool_sub: POOL.into(),
    };
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

fn decode(c: &mut Criterion) {
    let config = Config::builder()
        .endpoint("http://127.0.0.1:1")
        .user_pool_id(POOL)
        .owner_id(OWNER)
        .api_key("key")
        .jwt_secret(SECRET)
        .build()
        .expect("valid config");
    let token = access_token();
    let mut group = c.benchmark_group("decode_access");

    let decoder = TokenDecoder::new(&config);
    group.bench_function("stlock TokenDecoder", |b| {
        b.iter(|| decoder.decode_access(black_box(&token)))
    });

    let key = DecodingKey::from_secret(SECRET.as_bytes());
    let mut validation = Validation::default();
    validation.set_audience(&[AUDIENCE]);
    group.bench_function("bare jsonwebtoken::decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&token), &key, &validation))
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
