//! Grant answers remembered per token, method and path, for a bounded time and size.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use http::Method;
use moka::{sync::Cache, Equivalent};

/// A remembered answer's key. Looked up through [`KeyRef`], so a cache hit allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    token_id: Box<str>,
    method: Method,
    path: Box<str>,
}

#[derive(Clone, Copy)]
struct KeyRef<'a> {
    token_id: &'a str,
    method: &'a Method,
    path: &'a str,
}

// `Key` and `KeyRef` must hash alike for borrowed look-ups to find owned entries.
fn hash_parts(token_id: &str, method: &Method, path: &str, state: &mut impl Hasher) {
    token_id.hash(state);
    method.as_str().hash(state);
    path.hash(state);
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(&self.token_id, &self.method, &self.path, state);
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(self.token_id, self.method, self.path, state);
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        *self.token_id == *key.token_id && *self.method == key.method && *self.path == *key.path
    }
}

/// Shared by every clone of a grant layer; reads take no lock.
#[derive(Clone, Debug)]
pub(crate) struct GrantCache {
    answers: Option<Cache<Key, bool>>,
}

impl GrantCache {
    /// A cache keeping each answer for `ttl` and at most `capacity` answers; a zero `ttl` or
    /// `capacity` turns caching off.
    pub(crate) fn new(ttl: Duration, capacity: u64) -> Self {
        let answers = (!ttl.is_zero() && capacity > 0).then(|| {
            Cache::builder()
                .time_to_live(ttl)
                .max_capacity(capacity)
                .build()
        });
        Self { answers }
    }

    /// Whether answers are kept at all.
    pub(crate) fn is_on(&self) -> bool {
        self.answers.is_some()
    }

    pub(crate) fn get(&self, token_id: &str, method: &Method, path: &str) -> Option<bool> {
        self.answers.as_ref()?.get(&KeyRef {
            token_id,
            method,
            path,
        })
    }

    pub(crate) fn insert(&self, token_id: &str, method: &Method, path: &str, allowed: bool) {
        if let Some(answers) = &self.answers {
            let key = Key {
                token_id: token_id.into(),
                method: method.clone(),
                path: path.into(),
            };
            answers.insert(key, allowed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_per_token_method_and_path() {
        let cache = GrantCache::new(Duration::from_secs(60), 100);
        cache.insert("t1", &Method::GET, "/a", true);
        cache.insert("t1", &Method::POST, "/a", false);
        assert_eq!(cache.get("t1", &Method::GET, "/a"), Some(true));
        assert_eq!(cache.get("t1", &Method::POST, "/a"), Some(false));
        assert_eq!(cache.get("t2", &Method::GET, "/a"), None);
        assert_eq!(cache.get("t1", &Method::GET, "/b"), None);
    }

    #[test]
    fn zero_ttl_or_capacity_turns_caching_off() {
        for cache in [
            GrantCache::new(Duration::ZERO, 100),
            GrantCache::new(Duration::from_secs(60), 0),
        ] {
            cache.insert("t", &Method::GET, "/", true);
            assert_eq!(cache.get("t", &Method::GET, "/"), None);
        }
    }

    #[test]
    fn size_is_bounded() {
        let cache = GrantCache::new(Duration::from_secs(60), 10);
        for i in 0..1000 {
            cache.insert(&format!("t{i}"), &Method::GET, "/", true);
        }
        let answers = cache.answers.as_ref().unwrap();
        answers.run_pending_tasks();
        assert!(answers.entry_count() <= 10, "{}", answers.entry_count());
    }
}
