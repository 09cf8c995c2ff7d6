//! JSON parsing that refuses an object with the same key twice, at any depth.
//!
//! serde_json keeps the last of duplicate keys; another reader may keep the first, so a body
//! like `{"username": "alice", "username": "admin"}` could be read one way here and another way
//! by a proxy or log in front. The request is refused instead.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses `bytes` as one JSON value, refusing duplicate keys; the error says which key and
/// where (`duplicate key `username` at line 1 column 40`).
pub(crate) fn from_slice(bytes: &[u8]) -> serde_json::Result<Value> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let StrictValue(value) = StrictValue::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// A `Value` whose objects had no duplicate keys.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let StrictValue(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            r#"{"a": [1, -2, 3.5, true, null, "x"], "b": {"c": {}}}"#,
            "[]",
            "\"text\"",
            "18446744073709551615",
            r#"{"same": 1, "other": {"same": 2}}"#,
        ] {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(from_slice(text.as_bytes()).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn refuses_duplicate_keys_at_any_depth_naming_them() {
        for (text, key) in [
            (r#"{"username": "a", "username": "b"}"#, "username"),
            (
                r#"{"rules": [{"effect": "allow", "effect": "deny"}]}"#,
                "effect",
            ),
            (r#"{"a": {"b": {"c": 1, "c": 1}}}"#, "c"),
            // The same key, escaped differently.
            (r#"{"a": 1, "\u0061": 2}"#, "a"),
        ] {
            let error = from_slice(text.as_bytes()).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("duplicate key `{key}` at line 1 column")),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn still_refuses_what_is_not_json() {
        for text in ["{", "{} {}", "[1,]", "nul"] {
            assert!(from_slice(text.as_bytes()).is_err(), "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // serde_json's recursion limit (128) holds through this visitor too.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let error = from_slice(deep.as_bytes()).unwrap_err().to_string();
        assert!(error.starts_with("recursion limit exceeded"), "{error}");
    }
}
