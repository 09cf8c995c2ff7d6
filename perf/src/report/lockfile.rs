//! The versions Cargo.lock pins, so that the report names exactly what was measured.

/// The versions of `name` in the lockfile text, in the order they appear.
pub fn versions(lock: &str, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() != format!("name = \"{name}\"") {
            continue;
        }
        if let Some(version) = lines
            .next()
            .and_then(|next| next.trim().strip_prefix("version = \""))
            .and_then(|rest| rest.strip_suffix('"'))
        {
            found.push(version.to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_every_version() {
        let lock = "[[package]]\nname = \"axum\"\nversion = \"0.7.9\"\n\n[[package]]\nname = \"axum-core\"\nversion = \"0.5.6\"\n\n[[package]]\nname = \"axum\"\nversion = \"0.8.9\"\n";
        assert_eq!(super::versions(lock, "axum"), ["0.7.9", "0.8.9"]);
        assert!(super::versions(lock, "tower").is_empty());
    }
}
