//! What the emulator accepts as a username, e-mail, phone number and password (else 422).
//!
//! The real service's rules are unknown; these are plain, documented ones that accept
//! everything its README shows (username `test6`, phone `79520546024`, password `test`).

use crate::error::ApiError;

const MAX_USERNAME_CHARS: usize = 64;
const MAX_EMAIL_CHARS: usize = 254;
const MIN_PHONE_DIGITS: usize = 5;
const MAX_PHONE_DIGITS: usize = 15;
const MAX_PASSWORD_BYTES: usize = 1024;

/// 1 to 64 ASCII letters, digits, `_`, `-` or `.`; case-sensitive.
pub(crate) fn username(value: &str) -> Result<(), ApiError> {
    let valid = !value.is_empty()
        && value.len() <= MAX_USERNAME_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    check(
        valid,
        "username must be 1 to 64 characters: ASCII letters, digits, `_`, `-` or `.`",
    )
}

/// At most 254 characters, exactly one `@` with something on both sides, no whitespace or
/// control characters.
pub(crate) fn email(value: &str) -> Result<(), ApiError> {
    let valid = value.chars().count() <= MAX_EMAIL_CHARS
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(value.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    check(
        valid,
        "email must be an address like name@example.com (at most 254 characters)",
    )
}

/// 5 to 15 digits, optionally after one leading `+` (E.164 length).
pub(crate) fn phone(value: &str) -> Result<(), ApiError> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    let valid = (MIN_PHONE_DIGITS..=MAX_PHONE_DIGITS).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit());
    check(
        valid,
        "phone must be 5 to 15 digits, optionally after a leading `+`",
    )
}

/// Not empty, at most 1024 bytes; no strength rule, since the service's own example
/// password is `test`.
pub(crate) fn password(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::Invalid(format!(
            "{field} must be 1 to {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

fn check(valid: bool, rule: &str) -> Result<(), ApiError> {
    if valid {
        Ok(())
    } else {
        Err(ApiError::Invalid(rule.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_examples_are_accepted() {
        assert!(username("test6").is_ok());
        assert!(email("test6@gmail.com").is_ok());
        assert!(phone("79520546024").is_ok());
        assert!(phone("+79520546024").is_ok());
        assert!(password("password", "test").is_ok());
    }

    #[test]
    fn the_rest_is_refused() {
        for bad in ["", "has space", "é", "a@b", &"x".repeat(65)] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b@c",
            "a b@c.d",
            &format!("{}@x.y", "a".repeat(251)),
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "",
            "1234",
            "+",
            "7911-111-11-11",
            "1234567890123456",
            "++79111111111",
        ] {
            assert!(phone(bad).is_err(), "{bad:?}");
        }
        assert!(password("password", "").is_err());
        assert!(password("password", &"x".repeat(1025)).is_err());
    }
}
