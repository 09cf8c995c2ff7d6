//! The import graph between stlock's top-level modules has no cycle, and no module imports a
//! name through the crate root's re-exports (which are for users): each concept can be read,
//! and changed, from the modules below it alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The code of a file without its comments (docs link to names through the root, as users do)
/// and without its unit tests.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(tests) => &text[..tests],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(comment) => &line[..comment],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names after each `crate::` in `code`: a module (`crate::token::…`), or a name the root
/// re-exports (`crate::Claims`, `crate::{Claims, …}`).
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        // `$crate::` in a macro is the same path.
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let first = item.trim().split("::").next().unwrap_or("").trim();
                if !first.is_empty() {
                    names.push(first.to_owned());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
        }
    }
    names
}

/// The crate's top-level modules, and the graph of which imports which.
fn import_graph() -> (BTreeSet<String>, BTreeMap<String, BTreeSet<String>>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let modules: BTreeSet<String> = lib
        .lines()
        .filter_map(|line| {
            let line = line.trim_start_matches("pub ");
            line.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_owned)
        })
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_str().unwrap().trim_end_matches(".rs").to_owned();
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for name in crate_paths(&code(&text)) {
            assert!(
                modules.contains(&name),
                "{} imports `crate::{name}` through the crate root: import it from the module \
                 that defines it",
                relative.display()
            );
            if name != module {
                graph.entry(module.clone()).or_default().insert(name);
            }
        }
    }
    (modules, graph)
}

/// A cycle through `module`, if there is one.
fn cycle_from(
    module: &str,
    graph: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    if let Some(start) = path.iter().position(|seen| seen == module) {
        let mut cycle = path[start..].to_vec();
        cycle.push(module.to_owned());
        return Some(cycle);
    }
    path.push(module.to_owned());
    for next in graph.get(module).into_iter().flatten() {
        if let Some(cycle) = cycle_from(next, graph, path) {
            return Some(cycle);
        }
    }
    path.pop();
    None
}

#[test]
fn the_import_graph_between_modules_has_no_cycle_and_skips_the_root() {
    let (modules, graph) = import_graph();
    // The graph this test reads is a real one: the layer uses credentials, auto-refresh and
    // rejections, and the rejections use credentials.
    for (from, to) in [
        ("layer", "credentials"),
        ("layer", "refresh"),
        ("layer", "rejection"),
        ("refresh", "credentials"),
        ("rejection", "credentials"),
    ] {
        assert!(graph[from].contains(to), "{from} -> {to} in {graph:?}");
    }
    for module in &modules {
        if let Some(cycle) = cycle_from(module, &graph, &mut Vec::new()) {
            panic!("modules import each other: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("layer", ["refresh"]),
        ("refresh", ["layer"]),
        ("token", ["config"]),
    ]
    .into_iter()
    .map(|(from, to)| (from.to_owned(), to.map(str::to_owned).into()))
    .collect();
    assert_eq!(
        cycle_from("layer", &graph, &mut Vec::new()),
        Some(vec!["layer".into(), "refresh".into(), "layer".into()])
    );
    assert_eq!(cycle_from("token", &graph, &mut Vec::new()), None);
}
