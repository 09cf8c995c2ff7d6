//! The canonical form of a request path: what a grant check judges, so that it is the path the
//! router matched and the handler sees.

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// Why a request path cannot be grant-checked: the request is refused with 400, before the
/// service is asked ([`Refused`](Self::Refused) excepted).
///
/// Each of these would let a path be judged as one thing and served as another: the service
/// compares paths segment by segment as they are sent, while the handler sees them
/// percent-decoded and may resolve `..` or split on a decoded `/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PathError {
    /// A `.` or `..` segment, plain or percent-encoded (`%2e%2e`).
    DotSegment,
    /// An encoded `/` (`%2F`), which would be one segment to the service and two to a handler
    /// that splits the decoded path.
    EncodedSlash,
    /// An encoded `?` or `#`, which the service would take for the start of a query or fragment.
    EncodedDelimiter,
    /// A control character, encoded or not.
    ControlCharacter,
    /// Bytes that are not UTF-8 once percent-decoded.
    NotUtf8,
    /// The service itself refused to check this method and path (it answered 422).
    Refused,
}

/// The wording of each [`PathError`], once (see the `wording` module).
macro_rules! path_error_wording {
    ($then:path) => {
        $then! { $crate::path::PathError;
            $crate::path::PathError::DotSegment => "the path holds a `.` or `..` segment",
            $crate::path::PathError::EncodedSlash => "the path holds an encoded `/`",
            $crate::path::PathError::EncodedDelimiter => "the path holds an encoded `?` or `#`",
            $crate::path::PathError::ControlCharacter => "the path holds a control character",
            $crate::path::PathError::NotUtf8 => "the path is not UTF-8 once percent-decoded",
            $crate::path::PathError::Refused =>
                "the STLock service cannot check this method and path",
        }
    };
}

pub(crate) use path_error_wording;

path_error_wording!(crate::wording::display_wording);

impl std::error::Error for PathError {}

/// The path a grant check judges: `path` (a request's path, as it arrives, without the query)
/// percent-decoded once, as axum's `Path` extractor decodes it, after refusing whatever would make
/// the service and the handler disagree on which path this is.
///
/// Empty segments are kept as they are (the service ignores them). Borrows when nothing is
/// encoded, which is the common case, so that a cache hit allocates nothing.
///
/// ```
/// use stlock::grant::{canonical_path, PathError};
///
/// assert_eq!(canonical_path("/orders/42").as_deref(), Ok("/orders/42"));
/// assert_eq!(canonical_path("/orders/%34%32").as_deref(), Ok("/orders/42"));
/// assert_eq!(canonical_path("/orders/%2e%2e/admin"), Err(PathError::DotSegment));
/// assert_eq!(canonical_path("/files/a%2Fb"), Err(PathError::EncodedSlash));
/// ```
pub fn canonical_path(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.contains('%') {
        check_segments(path)?;
        return Ok(Cow::Borrowed(path));
    }
    for segment in path.split('/') {
        let decoded = percent_decode(segment.as_bytes());
        if decoded.clone().any(|b| b == b'/') {
            return Err(PathError::EncodedSlash);
        }
        if decoded.clone().any(|b| b == b'?' || b == b'#') {
            return Err(PathError::EncodedDelimiter);
        }
    }
    let decoded = percent_decode(path.as_bytes())
        .decode_utf8()
        .map_err(|_| PathError::NotUtf8)?;
    check_segments(&decoded)?;
    Ok(decoded)
}

/// Refuses dot segments and control characters in a decoded path.
fn check_segments(path: &str) -> Result<(), PathError> {
    if path.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(PathError::DotSegment);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_borrowed_unchanged() {
        for path in ["/", "/orders/42", "/orders//42/", "/a.b/..c/.d", "/ünï"] {
            assert!(matches!(canonical_path(path), Ok(Cow::Borrowed(p)) if p == path));
        }
    }

    #[test]
    fn encoded_paths_are_decoded_exactly_once() {
        assert_eq!(
            canonical_path("/orders/%34%32").as_deref(),
            Ok("/orders/42")
        );
        assert_eq!(canonical_path("/%6F%72ders/1").as_deref(), Ok("/orders/1"));
        // `%2534` is `%34` once decoded: the handler sees `%34`, not `4`.
        assert_eq!(
            canonical_path("/orders/%2534").as_deref(),
            Ok("/orders/%34")
        );
        assert_eq!(canonical_path("/caf%C3%A9").as_deref(), Ok("/café"));
        assert_eq!(canonical_path("/a%20b").as_deref(), Ok("/a b"));
    }

    #[test]
    fn what_would_make_service_and_handler_disagree_is_refused() {
        let cases = [
            ("/public/../admin", PathError::DotSegment),
            ("/public/./admin", PathError::DotSegment),
            ("/public/%2e%2e/admin", PathError::DotSegment),
            ("/public/%2E./admin", PathError::DotSegment),
            ("/public/.%2e", PathError::DotSegment),
            ("/public/%2e", PathError::DotSegment),
            ("/files/a%2Fb", PathError::EncodedSlash),
            ("/files/a%2fb", PathError::EncodedSlash),
            ("/files/%2F", PathError::EncodedSlash),
            ("/orders/1%3Fadmin=1", PathError::EncodedDelimiter),
            ("/orders/1%23x", PathError::EncodedDelimiter),
            ("/orders/%00", PathError::ControlCharacter),
            ("/orders/%0A", PathError::ControlCharacter),
            ("/orders/%7F", PathError::ControlCharacter),
            ("/orders/%C2%85", PathError::ControlCharacter),
            ("/orders/%FF", PathError::NotUtf8),
            ("/orders/%C3", PathError::NotUtf8),
        ];
        for (path, error) in cases {
            assert_eq!(canonical_path(path), Err(error), "{path}");
        }
    }

    #[test]
    fn a_lone_or_malformed_percent_stays_literal_as_in_axum() {
        assert_eq!(canonical_path("/100%").as_deref(), Ok("/100%"));
        assert_eq!(canonical_path("/a%zzb").as_deref(), Ok("/a%zzb"));
    }
}
