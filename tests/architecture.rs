//! The map's invariants, checked on the source itself: files stay small
//! enough to hold in one's head, the hub knows nothing of the stdio bridge,
//! the MCP core knows nothing of the hub, clients know nothing of the hub,
//! and the hub's modules import one another without a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a file under `src/` may be, before its tests.
const MAX_LINES: usize = 800;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A file's code before its tests.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

fn all_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    files.sort();
    files
}

#[test]
fn no_file_is_over_800_lines_before_its_tests() {
    for path in all_sources() {
        let lines = code(&path).lines().count();
        assert!(
            lines <= MAX_LINES,
            "{} has {lines} lines before its tests",
            path.display()
        );
    }
}

/// Which top-level modules `path`'s code names through `crate::`.
fn crate_uses(path: &Path) -> BTreeSet<String> {
    let text = code(path);
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        found.insert(name);
    }
    found
}

#[test]
fn the_hub_never_imports_the_bridge_and_clients_never_import_the_hub() {
    for path in all_sources() {
        let rel = path
            .strip_prefix(src())
            .unwrap()
            .to_string_lossy()
            .to_string();
        let uses = crate_uses(&path);
        if rel.starts_with("hub/") {
            assert!(!uses.contains("bridge"), "{rel} imports the bridge");
        }
        if rel.starts_with("mcp/") {
            assert!(!uses.contains("hub"), "{rel} imports the hub");
            assert!(!uses.contains("bridge"), "{rel} imports the bridge");
        }
        let client = ["bridge/", "watch.rs", "agent.rs", "script.rs", "client.rs"]
            .iter()
            .any(|p| rel.starts_with(p));
        if client || rel.starts_with("mcp/") || rel == "identity.rs" || rel == "lines.rs" {
            assert!(
                !uses.contains("hub"),
                "{rel} is a client and imports the hub"
            );
        }
    }
}

/// The module of `src/hub/` a file belongs to: its own name, or its
/// folder's (`room`, `http`).
fn hub_unit(rel: &Path) -> Option<String> {
    let mut parts = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string());
    if parts.next()? != "hub" {
        return None;
    }
    let first = parts.next()?;
    Some(first.trim_end_matches(".rs").to_string())
}

#[test]
fn the_hubs_modules_import_one_another_without_a_circle() {
    let mut units: BTreeSet<String> = BTreeSet::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let files = all_sources();
    for path in &files {
        let rel = path.strip_prefix(src()).unwrap();
        if let Some(unit) = hub_unit(rel) {
            units.insert(unit);
        }
    }
    for path in &files {
        let rel = path.strip_prefix(src()).unwrap();
        let Some(unit) = hub_unit(rel) else { continue };
        if unit == "mod" {
            continue; // declares the modules and runs them; nothing imports it
        }
        let text = code(path);
        // A file directly in src/hub/, or a folder's mod.rs, names its
        // siblings as `super::x`; another file in a folder as
        // `super::super::x`; any of them as `crate::hub::x`.
        let nested = rel.components().count() > 2 && !rel.ends_with("mod.rs");
        let prefixes: &[&str] = if nested {
            &["crate::hub::", "super::super::"]
        } else {
            &["crate::hub::", "super::"]
        };
        for prefix in prefixes {
            for (at, _) in text.match_indices(prefix) {
                let rest = &text[at + prefix.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if units.contains(&name) && name != unit {
                    edges.entry(unit.clone()).or_default().insert(name);
                }
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == node) {
            panic!("import circle: {} -> {node}", path[i..].join(" -> "));
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut done = BTreeSet::new();
    for unit in &units {
        visit(unit, &edges, &mut Vec::new(), &mut done);
    }
    assert!(edges.len() > 5, "the scan found the imports: {edges:?}");
}
