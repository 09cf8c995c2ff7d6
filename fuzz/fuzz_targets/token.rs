//! Token decoding: any bytes, and any header and claims signed with the pool's secret. Nothing
//! panics; a token is accepted only with exactly the claims that were signed.
#![no_main]

use arbitrary::Arbitrary;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use stlock::{Config, TokenDecoder};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// Whatever a client may send as a token.
    Raw(&'a str),
    /// A header and payload of the attacker's choosing, validly signed: as if the service
    /// itself had signed odd JSON.
    Signed { header: &'a str, payload: &'a str },
}

fn decoder() -> TokenDecoder {
    let config = Config::builder()
        .endpoint("http://127.0.0.1:1")
        .user_pool_id("0e2173b5-b55f-4ea4-bec5-450e2c12a458")
        .owner_id("b3893a06-5931-4160-9e62-938ab173b6c8")
        .api_key("key")
        .jwt_secret(SECRET)
        .build()
        .expect("a valid configuration");
    TokenDecoder::new(&config)
}

fuzz_target!(|input: Input<'_>| {
    let decoder = decoder();
    match input {
        Input::Raw(token) => {
            let _ = decoder.decode_access(token);
            let _ = decoder.decode_refresh(token);
        }
        Input::Signed { header, payload } => {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let message = format!("{}.{}", b64.encode(header), b64.encode(payload));
            let key = EncodingKey::from_secret(SECRET.as_bytes());
            let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256)
                .expect("HMAC signing");
            let token = format!("{message}.{signature}");
            if let Ok(claims) = decoder.decode_access(&token) {
                // Accepted: then the payload was one JSON object holding exactly these claims.
                let signed: serde_json::Value =
                    serde_json::from_str(payload).expect("an accepted payload is JSON");
                let decoded = serde_json::to_value(&claims).expect("claims serialise");
                for (name, value) in decoded.as_object().expect("claims are an object") {
                    assert_eq!(signed.get(name), Some(value), "{name} of {payload}");
                }
            }
        }
    }
});
