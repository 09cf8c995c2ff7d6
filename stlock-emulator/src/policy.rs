//! Grant policies: what an owner writes, the path pattern language, and the decision.
//!
//! A path (request or pattern) is split on `/` into segments; empty segments are dropped, so
//! leading, trailing and doubled slashes make no difference and `""` is `/`. A request path
//! loses its query string and fragment first. In a pattern, `*` matches exactly one segment,
//! `**` matches zero or more, and any other segment matches itself, case-sensitively. Neither
//! kind of path may hold control characters or `.`/`..` segments: paths are compared as given,
//! never resolved, so such a path would be checked against rules it does not really fall under.
//!
//! A grant check costs O(pattern × path) segment comparisons per pattern, however many `**`
//! it holds (see [`pattern_matches`]), and runs outside the state's lock. The limits below
//! keep that small whatever is sent: at most [`MAX_PATTERN_SEGMENTS`] segments per pattern,
//! [`MAX_POLICY_PATTERNS`] patterns per policy and [`MAX_PATH_SEGMENTS`] segments per
//! checked path, so one policy costs at most about two million comparisons per check.

use serde::{Deserialize, Serialize};

use crate::error::AdminError;

/// Whether a matching rule allows or denies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The call is allowed, unless a deny rule also matches (`"allow"`).
    Allow,
    /// The call is denied, whatever else matches (`"deny"`).
    Deny,
}

/// One rule of a policy: it matches a call whose method is one of `methods` and whose path
/// matches one of `paths`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Allow or deny.
    pub effect: Effect,
    /// HTTP method names, or `"*"` for any method. Stored upper-case.
    pub methods: Vec<String>,
    /// Path patterns, compared segment by segment: `*` matches one segment, `**` zero or more,
    /// anything else itself; see "Grant policies" in the crate documentation.
    pub paths: Vec<String>,
}

impl Rule {
    /// A rule allowing `methods` (or `"*"`) on `paths`.
    ///
    /// ```
    /// use stlock_emulator::{Effect, Rule};
    ///
    /// let rule = Rule::allow(["GET", "HEAD"], ["/orders/**"]);
    /// assert_eq!(rule.effect, Effect::Allow);
    /// ```
    pub fn allow<M, P>(
        methods: impl IntoIterator<Item = M>,
        paths: impl IntoIterator<Item = P>,
    ) -> Self
    where
        M: Into<String>,
        P: Into<String>,
    {
        Self::new(Effect::Allow, methods, paths)
    }

    /// A rule denying `methods` (or `"*"`) on `paths`, whatever else allows them.
    pub fn deny<M, P>(
        methods: impl IntoIterator<Item = M>,
        paths: impl IntoIterator<Item = P>,
    ) -> Self
    where
        M: Into<String>,
        P: Into<String>,
    {
        Self::new(Effect::Deny, methods, paths)
    }

    fn new<M, P>(
        effect: Effect,
        methods: impl IntoIterator<Item = M>,
        paths: impl IntoIterator<Item = P>,
    ) -> Self
    where
        M: Into<String>,
        P: Into<String>,
    {
        Self {
            effect,
            methods: methods.into_iter().map(Into::into).collect(),
            paths: paths.into_iter().map(Into::into).collect(),
        }
    }
}

/// A policy to create in a pool; over HTTP, the body of `POST .../policies`.
///
/// ```
/// use stlock_emulator::{NewPolicy, Rule};
///
/// let body = r#"{"name": "read orders",
///                "rules": [{"effect": "allow", "methods": ["GET"], "paths": ["/orders/**"]}]}"#;
/// let read_orders: NewPolicy = serde_json::from_str(body)?;
/// assert_eq!(read_orders, NewPolicy::new("read orders", [Rule::allow(["GET"], ["/orders/**"])]));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPolicy {
    /// A name for people; need not be unique.
    pub name: String,
    /// At least one rule.
    pub rules: Vec<Rule>,
}

impl NewPolicy {
    /// A policy named `name` with these rules.
    ///
    /// ```
    /// use stlock_emulator::{NewPolicy, Rule};
    ///
    /// let read_orders = NewPolicy::new("read orders", [Rule::allow(["GET"], ["/orders/**"])]);
    /// assert_eq!(read_orders.rules.len(), 1);
    /// ```
    pub fn new(name: impl Into<String>, rules: impl IntoIterator<Item = Rule>) -> Self {
        Self {
            name: name.into(),
            rules: rules.into_iter().collect(),
        }
    }
}

/// A policy of a pool, as created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The policy's id (UUID), what users' `policy_ids` hold.
    pub id: String,
    /// The pool it belongs to.
    pub user_pool_id: String,
    /// Its name.
    pub name: String,
    /// Its rules, method names upper-cased.
    pub rules: Vec<Rule>,
}

/// Longest policy name accepted, in characters.
const MAX_NAME_CHARS: usize = 200;

/// Most segments a path pattern may have; real routes have a handful.
pub(crate) const MAX_PATTERN_SEGMENTS: usize = 32;

/// Most path patterns a policy may hold, all its rules together.
pub(crate) const MAX_POLICY_PATTERNS: usize = 256;

/// Most segments a grant request's path may have. Without a bound, the body limit alone would
/// let a caller send some 32,000, each compared with every element of every pattern.
pub(crate) const MAX_PATH_SEGMENTS: usize = 256;

/// A policy's rules, parsed once at creation so that grant checks do no parsing.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    effect: Effect,
    /// Upper-case method names; `None` for `*`.
    methods: Option<Vec<String>>,
    patterns: Vec<Vec<Segment>>,
}

#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`
    One,
    /// `**`
    Any,
}

/// Checks a new policy and returns its rules normalised (upper-case methods) and compiled.
pub(crate) fn compile(policy: &NewPolicy) -> Result<(Vec<Rule>, Vec<CompiledRule>), AdminError> {
    let invalid = |reason: String| AdminError::InvalidPolicy(reason);
    let name = policy.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "the name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    if policy.rules.is_empty() {
        return Err(invalid("a policy needs at least one rule".into()));
    }
    let patterns: usize = policy.rules.iter().map(|rule| rule.paths.len()).sum();
    if patterns > MAX_POLICY_PATTERNS {
        return Err(invalid(format!(
            "a policy holds at most {MAX_POLICY_PATTERNS} path patterns, all rules together \
             ({patterns} given)"
        )));
    }
    let mut rules = Vec::with_capacity(policy.rules.len());
    let mut compiled = Vec::with_capacity(policy.rules.len());
    for (index, rule) in policy.rules.iter().enumerate() {
        let at = |reason: String| invalid(format!("rule {index}: {reason}"));
        if rule.methods.is_empty() {
            return Err(at(
                "`methods` must not be empty (use \"*\" for any method)".into()
            ));
        }
        if rule.paths.is_empty() {
            return Err(at(
                "`paths` must not be empty (use \"/**\" for any path)".into()
            ));
        }
        let methods = rule
            .methods
            .iter()
            .map(|method| match method.as_str() {
                "*" => Ok(method.clone()),
                _ => normalise_method(method).map_err(|reason| at(reason.into())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let patterns = rule
            .paths
            .iter()
            .map(|path| {
                parse_pattern(path).map_err(|reason| at(format!("path {path:?}: {reason}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        compiled.push(CompiledRule {
            effect: rule.effect,
            methods: (!methods.iter().any(|m| m == "*")).then(|| methods.clone()),
            patterns,
        });
        rules.push(Rule {
            effect: rule.effect,
            methods,
            paths: rule.paths.clone(),
        });
    }
    Ok((rules, compiled))
}

/// A call to decide on: upper-case method and path segments.
pub(crate) struct Call<'a> {
    method: String,
    segments: Vec<&'a str>,
}

impl<'a> Call<'a> {
    /// Checks the method and path of a grant request.
    pub(crate) fn parse(method: &str, path: &'a str) -> Result<Self, String> {
        let method = normalise_method(method).map_err(|reason| format!("method: {reason}"))?;
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments = segments(path).map_err(|reason| format!("path: {reason}"))?;
        if segments.len() > MAX_PATH_SEGMENTS {
            return Err(format!(
                "path: at most {MAX_PATH_SEGMENTS} segments can be checked"
            ));
        }
        Ok(Self { method, segments })
    }
}

/// The decision: any matching deny rule denies; otherwise any matching allow rule allows;
/// when nothing matches, the call is denied.
pub(crate) fn decide<'r>(
    rules: impl IntoIterator<Item = &'r CompiledRule>,
    call: &Call<'_>,
) -> bool {
    let mut allowed = false;
    for rule in rules.into_iter().filter(|rule| rule.matches(call)) {
        match rule.effect {
            Effect::Deny => return false,
            Effect::Allow => allowed = true,
        }
    }
    allowed
}

impl CompiledRule {
    fn matches(&self, call: &Call<'_>) -> bool {
        let method_matches = self
            .methods
            .as_ref()
            .is_none_or(|methods| methods.contains(&call.method));
        method_matches
            && self
                .patterns
                .iter()
                .any(|pattern| pattern_matches(pattern, &call.segments))
    }
}

fn normalise_method(method: &str) -> Result<String, &'static str> {
    let upper = method.to_ascii_uppercase();
    match http::Method::from_bytes(upper.as_bytes()) {
        Ok(_) if upper != "*" => Ok(upper),
        _ => Err("not an HTTP method name"),
    }
}

fn segments(path: &str) -> Result<Vec<&str>, &'static str> {
    if path.chars().any(char::is_control) {
        return Err("control characters are not allowed");
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| matches!(*s, "." | "..")) {
        return Err("`.` and `..` segments are not allowed; normalise the path first");
    }
    Ok(segments)
}

fn parse_pattern(pattern: &str) -> Result<Vec<Segment>, String> {
    if pattern.contains(['?', '#']) {
        return Err("a pattern has no query string or fragment".into());
    }
    let segments = segments(pattern)?;
    if segments.len() > MAX_PATTERN_SEGMENTS {
        return Err(format!(
            "a pattern has at most {MAX_PATTERN_SEGMENTS} segments"
        ));
    }
    segments
        .into_iter()
        .map(|segment| match segment {
            "**" => Ok(Segment::Any),
            "*" => Ok(Segment::One),
            _ if segment.contains('*') => Err("`*` and `**` must be whole segments".into()),
            _ => Ok(Segment::Literal(segment.to_owned())),
        })
        .collect()
}

/// Glob matching over segments in O(pattern × path), never exponential: on a mismatch, only the
/// most recent `**` needs to take one more segment, since every other element takes exactly
/// one. Earlier `**`s need not: whatever an earlier one would take instead, the later one can
/// take as well, so retrying them finds nothing new. Each retry moves the latest `**`'s start
/// one segment on and re-reads at most the elements after it, hence the bound.
fn pattern_matches(pattern: &[Segment], path: &[&str]) -> bool {
    let (mut p, mut s) = (0, 0);
    // Where to resume after the latest `**`: the pattern element after it, and the first path
    // segment it has not swallowed yet.
    let mut resume: Option<(usize, usize)> = None;
    while s < path.len() {
        match pattern.get(p) {
            Some(Segment::Any) => {
                resume = Some((p + 1, s));
                p += 1;
            }
            Some(Segment::One) => (p, s) = (p + 1, s + 1),
            Some(Segment::Literal(literal)) if literal == path[s] => (p, s) = (p + 1, s + 1),
            _ => match resume {
                Some((after_any, swallowed)) => {
                    resume = Some((after_any, swallowed + 1));
                    (p, s) = (after_any, swallowed + 1);
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|segment| *segment == Segment::Any)
}

#[cfg(test)]
mod matcher_properties;

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(pattern: &str, path: &str) -> bool {
        let pattern = parse_pattern(pattern).unwrap();
        pattern_matches(&pattern, &segments(path).unwrap())
    }

    #[test]
    fn literal_segments_match_exactly_and_case_sensitively() {
        assert!(allows("/orders/list", "/orders/list"));
        assert!(allows("/orders/list", "orders//list/"));
        assert!(!allows("/orders/list", "/orders/List"));
        assert!(!allows("/orders/list", "/orders"));
        assert!(!allows("/orders", "/orders/list"));
        assert!(allows("", "/"));
        assert!(allows("/", ""));
    }

    #[test]
    fn one_star_is_exactly_one_segment() {
        assert!(allows("/orders/*", "/orders/42"));
        assert!(!allows("/orders/*", "/orders"));
        assert!(!allows("/orders/*", "/orders/42/items"));
        assert!(allows("/*/items", "/7/items"));
    }

    #[test]
    fn two_stars_are_zero_or_more_segments() {
        assert!(allows("/orders/**", "/orders"));
        assert!(allows("/orders/**", "/orders/42/items/3"));
        assert!(allows("/**", "/"));
        assert!(allows("/**/items", "/a/b/c/items"));
        assert!(allows("/**/items", "/items"));
        assert!(!allows("/**/items", "/a/items/b"));
        assert!(allows("/a/**/b/**/c", "/a/x/b/y/b/z/c"));
        assert!(!allows("/a/**/b/*/c", "/a/b/c"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for pattern in [
            "/orders*", "/a/**b", "/a/?x", "/a#b", "/a/../b", "/./a", "/a\n",
        ] {
            assert!(parse_pattern(pattern).is_err(), "{pattern:?}");
        }
    }

    #[test]
    fn deny_beats_allow_and_nothing_matching_denies() {
        let policy = NewPolicy::new(
            "p",
            [
                Rule::allow(["get"], ["/**"]),
                Rule::deny(["*"], ["/admin/**"]),
            ],
        );
        let (rules, compiled) = compile(&policy).unwrap();
        assert_eq!(rules[0].methods, ["GET"]);
        let decide_on = |method, path| decide(&compiled, &Call::parse(method, path).unwrap());
        assert!(decide_on("get", "/orders?page=2"));
        assert!(!decide_on("GET", "/admin/users"));
        assert!(!decide_on("POST", "/orders"));
    }

    #[test]
    fn many_double_stars_against_a_long_path_take_linear_time() {
        // A backtracking matcher tries every way to split the path among the `**`s: here
        // C(100000, 4), some 4·10¹⁸ ways, for a pattern that cannot match.
        let path = vec!["a"; 100_000];
        let cannot = parse_pattern("/**/a/**/a/**/a/**/a/**/b").unwrap();
        assert!(!pattern_matches(&cannot, &path));
        let can = parse_pattern("/**/a/**/a/**/a/**/a/**/a").unwrap();
        assert!(pattern_matches(&can, &path));
        // The longest run a `**` can be made to retry over and over: each of the path's
        // segments is re-read once per element, 3·10⁶ comparisons in all.
        let mut run = vec!["**"];
        run.extend(["a"; MAX_PATTERN_SEGMENTS - 2]);
        run.push("b");
        let run = parse_pattern(&run.join("/")).unwrap();
        assert!(!pattern_matches(&run, &path));
    }

    #[test]
    fn patterns_policies_and_paths_have_bounded_sizes() {
        let pattern = |segments: usize| vec!["**"; segments].join("/");
        let policy = |paths: Vec<String>| NewPolicy::new("p", [Rule::allow(["GET"], paths)]);
        assert!(compile(&policy(vec![pattern(MAX_PATTERN_SEGMENTS)])).is_ok());
        let Err(AdminError::InvalidPolicy(reason)) =
            compile(&policy(vec![pattern(MAX_PATTERN_SEGMENTS + 1)]))
        else {
            panic!("a pattern too long was accepted");
        };
        assert!(
            reason.starts_with("rule 0: path ")
                && reason.ends_with(": a pattern has at most 32 segments"),
            "{reason}"
        );

        assert!(compile(&policy(vec!["/a".into(); MAX_POLICY_PATTERNS])).is_ok());
        let split = NewPolicy::new(
            "p",
            [
                Rule::allow(["GET"], vec!["/a"; MAX_POLICY_PATTERNS]),
                Rule::deny(["GET"], ["/b"]),
            ],
        );
        assert_eq!(
            compile(&split).err(),
            Some(AdminError::InvalidPolicy(
                "a policy holds at most 256 path patterns, all rules together (257 given)".into()
            ))
        );

        let path = |segments: usize| "/a".repeat(segments);
        assert!(Call::parse("GET", &path(MAX_PATH_SEGMENTS)).is_ok());
        assert_eq!(
            Call::parse("GET", &path(MAX_PATH_SEGMENTS + 1))
                .err()
                .as_deref(),
            Some("path: at most 256 segments can be checked")
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        assert!(Call::parse("", "/").is_err());
        assert!(Call::parse("G T", "/").is_err());
        assert!(Call::parse("*", "/").is_err());
        assert!(Call::parse("GET", "/a/../b").is_err());
        assert!(Call::parse("GET", "/a\u{7f}").is_err());
    }
}
