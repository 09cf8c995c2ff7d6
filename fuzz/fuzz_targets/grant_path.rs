//! Path canonicalisation: nothing panics, and an accepted path is the input percent-decoded once,
//! with no dot segment, control character, or decoded `?` or `#`, and is its own canonical form
//! (when it holds no `%` that decoding could act on again).
#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use stlock::grant::canonical_path;

fuzz_target!(|path: &str| {
    let Ok(canonical) = canonical_path(path) else {
        return;
    };
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .expect("accepted paths are UTF-8");
    assert_eq!(canonical, decoded);
    assert!(!canonical.chars().any(char::is_control), "{canonical:?}");
    assert!(
        !canonical
            .split('/')
            .any(|segment| segment == "." || segment == ".."),
        "{canonical:?}"
    );
    if path.contains('%') {
        // Decoded characters never add a path separator or a delimiter.
        assert_eq!(canonical.matches('/').count(), path.matches('/').count());
        assert!(!canonical.contains(['?', '#']) || path.contains(['?', '#']));
    }
    if !canonical.contains('%') {
        assert_eq!(canonical_path(&canonical).as_deref(), Ok(&*canonical));
    }
});
