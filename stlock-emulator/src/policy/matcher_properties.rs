//! Property tests of the path matcher against a reference model: plain recursion over segment
//! lists, slow but obviously right, on patterns and paths from a small alphabet so that
//! matches are frequent. Paths are written out with random runs of slashes and a random query
//! or fragment, which the canonical form must ignore.

use proptest::prelude::*;

use super::{compile, decide, Call, NewPolicy, Rule};

/// Whether `pattern` matches `path`, by the documented rules: `*` is exactly one segment, `**`
/// zero or more, anything else itself.
fn reference(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| reference(rest, &path[skip..])),
        Some((&"*", rest)) => !path.is_empty() && reference(rest, &path[1..]),
        Some((literal, rest)) => path.first() == Some(literal) && reference(rest, &path[1..]),
    }
}

fn pattern_segments() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "*", "**"]), 0..6)
}

fn path_segments() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..8)
}

/// How a segment list is written out: slashes before, between (at least one) and after.
#[derive(Clone, Debug)]
struct Layout {
    leading: usize,
    between: Vec<usize>,
    trailing: usize,
}

fn layout() -> impl Strategy<Value = Layout> {
    (0..3usize, prop::collection::vec(1..4usize, 8), 0..3usize).prop_map(
        |(leading, between, trailing)| Layout {
            leading,
            between,
            trailing,
        },
    )
}

fn write_out(segments: &[&str], layout: &Layout) -> String {
    let mut path = "/".repeat(layout.leading);
    for (index, segment) in segments.iter().enumerate() {
        if index > 0 {
            path.push_str(&"/".repeat(layout.between[index - 1]));
        }
        path.push_str(segment);
    }
    path.push_str(&"/".repeat(layout.trailing));
    path
}

/// A query or fragment (or nothing) to append to a request path; what it holds, `..` and
/// slashes included, must make no difference.
fn suffix() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "",
        "?",
        "?page=2",
        "?next=/../admin",
        "#top",
        "#/a/b",
        "?a#b/..",
    ])
}

/// The emulator's decision for one allow rule with `pattern`, on `GET path`.
fn allows(pattern: &str, path: &str) -> bool {
    let policy = NewPolicy::new("p", [Rule::allow(["GET"], [pattern])]);
    let (_, rules) = compile(&policy).expect("the pattern is valid");
    let call = Call::parse("GET", path).expect("the path is valid");
    decide(&rules, &call)
}

proptest! {
    #[test]
    fn the_matcher_agrees_with_the_reference(
        pattern in pattern_segments(),
        path in path_segments(),
        pattern_layout in layout(),
        path_layout in layout(),
        suffix in suffix(),
    ) {
        let written_pattern = write_out(&pattern, &pattern_layout);
        let written_path = format!("{}{suffix}", write_out(&path, &path_layout));
        prop_assert_eq!(
            allows(&written_pattern, &written_path),
            reference(&pattern, &path),
            "pattern {:?}, path {:?}", written_pattern, written_path
        );
    }

    #[test]
    fn dot_segments_are_refused_wherever_they_stand(
        path in path_segments(),
        at in any::<prop::sample::Index>(),
        dots in prop::sample::select(vec![".", ".."]),
        layout in layout(),
    ) {
        let mut path = path;
        path.insert(at.index(path.len() + 1), dots);
        let written = write_out(&path, &layout);
        prop_assert!(Call::parse("GET", &written).is_err(), "{}", written);
        let policy = NewPolicy::new("p", [Rule::allow(["GET"], [written.as_str()])]);
        prop_assert!(compile(&policy).is_err(), "{}", written);
    }
}

#[test]
fn the_reference_follows_the_documented_examples() {
    let split = |path: &'static str| -> Vec<&'static str> {
        path.split('/').filter(|s| !s.is_empty()).collect()
    };
    for (pattern, matching, not_matching) in [
        (
            "/orders/*",
            vec!["/orders/7"],
            vec!["/orders", "/orders/7/items"],
        ),
        (
            "/orders/**",
            vec!["/orders", "/orders/7/items"],
            vec!["/order"],
        ),
        (
            "/**/items",
            vec!["/items", "/a/b/items"],
            vec!["/a/items/b"],
        ),
        ("/**", vec!["/", "/a/b"], vec![]),
    ] {
        for path in matching {
            assert!(reference(&split(pattern), &split(path)), "{pattern} {path}");
            assert!(allows(pattern, path), "{pattern} {path}");
        }
        for path in not_matching {
            assert!(
                !reference(&split(pattern), &split(path)),
                "{pattern} {path}"
            );
            assert!(!allows(pattern, path), "{pattern} {path}");
        }
    }
}
