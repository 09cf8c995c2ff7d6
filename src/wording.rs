//! Messages written once. A reason's wording is a table of literals, `pattern => "message"`,
//! handed to a macro: its `Display` is made from the table here, and the rejection module
//! prepares its responses from the same table at compile time (`concat!`), so that turning a
//! request away formats nothing and no text exists twice.

/// `Display` for `$type`, from its wording table.
macro_rules! display_wording {
    ($type:ty; $($pattern:pat => $message:literal),+ $(,)?) => {
        impl ::std::fmt::Display for $type {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(match self {
                    $($pattern => $message),+
                })
            }
        }
    };
}

pub(crate) use display_wording;

/// Whether `text` can stand between JSON quotes as it is: prepared bodies are `concat!`ed, not
/// serialised, so a message with a quote, a backslash or a control character fails the build.
pub(crate) const fn json_safe(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if matches!(bytes[index], b'"' | b'\\' | 0..=0x1f) {
            return false;
        }
        index += 1;
    }
    true
}
