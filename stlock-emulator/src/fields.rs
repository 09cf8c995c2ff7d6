//! Reading a JSON object into a struct of string fields, with the emulator's own error texts
//! (`field `x` is required`, `field `x` must be a string`) rather than serde's.
//!
//! A body struct derives `Deserialize`, declares its fields in the order they are checked and
//! implements [`StringFields`]. The field reported is the first one, in that order, that is
//! missing (and has no default) or is not a string, wherever it stands in the JSON and whatever
//! is wrong further on. Unknown fields are ignored.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::extract::FromObject;

/// A request body made of string fields only, read by [`JsonBody`](crate::extract::JsonBody).
pub(crate) trait StringFields: DeserializeOwned {}

impl<T: StringFields> FromObject for T {
    fn from_object(object: Map<String, Value>) -> Result<Self, ApiError> {
        T::deserialize(Object(object)).map_err(|err| match err {
            FieldError::Missing(name) => ApiError::Invalid(format!("field `{name}` is required")),
            FieldError::NotAString(name) => {
                ApiError::Invalid(format!("field `{name}` must be a string"))
            }
            // Only a body struct with a field that is not a string gets here: a bug.
            FieldError::Other(_) => ApiError::Internal,
        })
    }
}

#[derive(Debug)]
enum FieldError {
    Missing(&'static str),
    NotAString(&'static str),
    Other(String),
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::Missing(name) => write!(f, "field `{name}` is required"),
            FieldError::NotAString(name) => write!(f, "field `{name}` must be a string"),
            FieldError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for FieldError {}

impl de::Error for FieldError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        FieldError::Other(message.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        FieldError::Missing(field)
    }
}

/// A JSON object, deserialised as a struct of string fields.
struct Object(Map<String, Value>);

impl<'de> de::Deserializer<'de> for Object {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, FieldError> {
        Err(FieldError::Other(
            "a request body is read into a struct with named fields".into(),
        ))
    }

    /// Hands the struct its fields in declaration order, and stops at the first one that is not
    /// a string. The derived code then reports the first missing field, in declaration order,
    /// among all it has not seen; whichever of the two comes first is the answer.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        let mut access = InOrder {
            object: self.0,
            fields: fields.iter(),
            value: None,
            not_a_string: None,
        };
        let result = visitor.visit_map(&mut access);
        let Some(refused) = access.not_a_string else {
            return result;
        };
        let position = |name: &str| fields.iter().position(|field| *field == name);
        match result {
            Err(FieldError::Missing(missing)) if position(missing) < position(refused) => {
                Err(FieldError::Missing(missing))
            }
            // Either nothing earlier is missing, or the refused field has a default.
            _ => Err(FieldError::NotAString(refused)),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The present fields of an object, in the order a struct declares them.
struct InOrder {
    object: Map<String, Value>,
    fields: std::slice::Iter<'static, &'static str>,
    /// The value of the key just handed out.
    value: Option<String>,
    /// The first declared field that is present but not a string.
    not_a_string: Option<&'static str>,
}

impl<'de> MapAccess<'de> for InOrder {
    type Error = FieldError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FieldError> {
        for &name in self.fields.by_ref() {
            match self.object.remove(name) {
                None => continue,
                Some(Value::String(value)) => {
                    self.value = Some(value);
                    return seed
                        .deserialize(IntoDeserializer::<FieldError>::into_deserializer(name))
                        .map(Some);
                }
                Some(_) => {
                    self.not_a_string = Some(name);
                    return Ok(None);
                }
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, FieldError> {
        let value = self
            .value
            .take()
            .ok_or_else(|| FieldError::Other("a value was asked for before its key".into()))?;
        seed.deserialize(value.into_deserializer())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Login {
        user: String,
        password: String,
    }
    impl StringFields for Login {}

    #[derive(Debug, Deserialize)]
    #[serde(default)]
    struct Call {
        method: String,
        path: String,
    }
    impl Default for Call {
        fn default() -> Self {
            Self {
                method: "get".into(),
                path: String::new(),
            }
        }
    }
    impl StringFields for Call {}

    fn read<T: StringFields>(value: Value) -> Result<T, String> {
        let Value::Object(object) = value else {
            panic!("an object")
        };
        T::from_object(object).map_err(|err| err.to_string())
    }

    #[test]
    fn strings_are_read_and_unknown_fields_ignored() {
        let login: Login = read(json!({"password": "pw", "user": "alice", "extra": 1})).unwrap();
        assert_eq!(
            (login.user.as_str(), login.password.as_str()),
            ("alice", "pw")
        );
    }

    #[test]
    fn the_first_declared_field_in_trouble_is_the_one_reported() {
        let cases = [
            (json!({}), "field `user` is required"),
            (json!({"user": "a"}), "field `password` is required"),
            (json!({"password": 1}), "field `user` is required"),
            (json!({"user": 1}), "field `user` must be a string"),
            (
                json!({"user": null, "password": 1}),
                "field `user` must be a string",
            ),
            (
                json!({"user": "a", "password": []}),
                "field `password` must be a string",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(read::<Login>(body.clone()).unwrap_err(), expected, "{body}");
        }
    }

    #[test]
    fn defaults_fill_missing_fields_but_not_wrong_ones() {
        let call: Call = read(json!({"path": "/x"})).unwrap();
        assert_eq!((call.method.as_str(), call.path.as_str()), ("get", "/x"));
        let call: Call = read(json!({})).unwrap();
        assert_eq!((call.method.as_str(), call.path.as_str()), ("get", ""));
        for (body, field) in [
            (json!({"method": null}), "method"),
            (json!({"path": 7}), "path"),
            (json!({"method": "get", "path": false}), "path"),
        ] {
            assert_eq!(
                read::<Call>(body).unwrap_err(),
                format!("field `{field}` must be a string")
            );
        }
    }
}
