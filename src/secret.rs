//! A string that must never reach a log line.

use std::fmt;

/// A secret string (API key, signing secret, password) that redacts itself.
///
/// `Debug` prints `Secret("[redacted]")` and there is no `Display`, so a secret cannot end up in
/// a log line or an error message by accident; reading it takes an explicit [`Secret::expose`].
///
/// ```
/// use stlock::Secret;
///
/// let key = Secret::new("sk-live-123");
/// assert_eq!(key.expose(), "sk-live-123");
/// assert_eq!(format!("{key:?}"), r#"Secret("[redacted]")"#);
/// ```
// No `PartialEq`: comparing secrets with `==` leaks their content through timing.
#[derive(Clone)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().into_boxed_str())
    }

    /// The secret itself, for the few places that must send or use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length of the secret in bytes (safe to show: it reveals no content).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"[redacted]\")")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}
