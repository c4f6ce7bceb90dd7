//! The map's invariants, checked on the source itself: files stay small
//! enough to hold in one's head, every file sits in a layer (a folder of
//! `src/`), each layer names only the layers below it (so no client names
//! the hub), and within a layer the modules import one another without a
//! circle.

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

/// Which top-level modules `path`'s code names, through `crate::` or
/// through as many `super::` as climb from its module to the crate's root.
fn crate_uses(path: &Path) -> BTreeSet<String> {
    let text = code(path);
    let mut names = names_after(&text, "crate::");
    let rel = rel(path);
    let mut depth = rel.components().count();
    if rel.ends_with("mod.rs") {
        depth -= 1;
    }
    if depth > 0 {
        names.extend(names_after(&text, &"super::".repeat(depth)));
    }
    names
}

/// The layers, each a folder of `src/`, with the layers its code may name
/// through `crate::` (itself included). Lowest first: a layer may only
/// reach below it, and nothing but the hub (and the binary's entry in
/// `lib.rs`) names the hub.
const LAYERS: &[(&str, &[&str])] = &[
    ("shared", &["shared"]),
    ("client", &["shared", "client"]),
    ("mcp", &["shared", "client", "mcp"]),
    ("hosts", &["shared", "client", "hosts"]),
    ("cmd", &["shared", "client", "mcp", "hosts", "cmd"]),
    ("hub", &["shared", "client", "mcp", "hub"]),
];

/// The files allowed directly in `src/`: the binary and the library root
/// that declares the layers and dispatches the commands.
const LOOSE: &[&str] = &["lib.rs", "main.rs"];

fn rel(path: &Path) -> PathBuf {
    path.strip_prefix(src()).unwrap().to_path_buf()
}

/// The layer a file belongs to: the first folder of its path under `src/`.
fn layer(rel: &Path) -> Option<String> {
    let mut parts = rel.components();
    let first = parts.next()?.as_os_str().to_string_lossy().to_string();
    parts.next().is_some().then_some(first)
}

#[test]
fn every_file_is_in_a_layer_and_only_a_handful_are_loose() {
    for path in all_sources() {
        let rel = rel(&path);
        match layer(&rel) {
            Some(l) => assert!(
                LAYERS.iter().any(|(name, _)| *name == l),
                "{} is in {l}/, which is no layer: add it to LAYERS and ARCHITECTURE.md",
                rel.display()
            ),
            None => assert!(
                LOOSE.contains(&rel.to_string_lossy().as_ref()),
                "{} is loose in src/: put it in a layer",
                rel.display()
            ),
        }
    }
}

#[test]
fn each_layer_names_only_the_layers_below_it_and_no_client_names_the_hub() {
    let mut seen = 0;
    for path in all_sources() {
        let rel = rel(&path);
        let Some(l) = layer(&rel) else { continue };
        let Some((_, allowed)) = LAYERS.iter().find(|(name, _)| *name == l) else {
            continue;
        };
        for used in crate_uses(&path) {
            seen += 1;
            assert!(
                allowed.contains(&used.as_str()),
                "{} ({l}) names crate::{used}, which {l} may not reach",
                rel.display()
            );
        }
    }
    assert!(seen > 30, "the scan found the imports ({seen})");
}

#[test]
fn a_client_naming_the_hub_would_be_caught() {
    // The rule above, on a made-up file: the check is not vacuous.
    let text = "use crate::hub::room::Room;\nfn f() { crate::shared::wire::x(); }";
    let names: BTreeSet<String> = names_after(text, "crate::");
    assert!(names.contains("hub"));
    let (_, allowed) = LAYERS.iter().find(|(n, _)| *n == "cmd").unwrap();
    assert!(!allowed.contains(&"hub"));
}

/// The module of layer `top` a file belongs to: its own name, or its
/// folder's (`room`, `http`, `doctor`).
fn unit_in(top: &str, rel: &Path) -> Option<String> {
    let mut parts = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string());
    if parts.next()? != top {
        return None;
    }
    let first = parts.next()?;
    Some(first.trim_end_matches(".rs").to_string())
}

/// The words that follow each `prefix` in `text` (`crate::` → `hub`, …).
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(at, _)| {
            text[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn each_layers_modules_import_one_another_without_a_circle() {
    let files = all_sources();
    let mut total = 0;
    for (top, _) in LAYERS {
        let edges = layer_edges(top, &files);
        total += edges.len();
        no_circle(&edges);
    }
    assert!(total > 10, "the scan found the imports");
}

fn layer_edges(top: &str, files: &[PathBuf]) -> BTreeMap<String, BTreeSet<String>> {
    let mut units: BTreeSet<String> = BTreeSet::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in files {
        if let Some(unit) = unit_in(top, &rel(path)) {
            units.insert(unit);
        }
    }
    for path in files {
        let rel = rel(path);
        let Some(unit) = unit_in(top, &rel) else {
            continue;
        };
        if unit == "mod" {
            continue; // declares the modules and runs them; nothing imports it
        }
        let text = code(path);
        // A file directly in the layer, or a folder's mod.rs, names its
        // siblings as `super::x`; another file in a folder as
        // `super::super::x`; any of them as `crate::LAYER::x`.
        let nested = rel.components().count() > 2 && !rel.ends_with("mod.rs");
        let own = format!("crate::{top}::");
        let prefixes: [&str; 2] = if nested {
            [&own, "super::super::"]
        } else {
            [&own, "super::"]
        };
        for prefix in prefixes {
            for name in names_after(&text, prefix) {
                if units.contains(&name) && name != unit {
                    edges.entry(unit.clone()).or_default().insert(name);
                }
            }
        }
    }
    edges
}

fn no_circle(edges: &BTreeMap<String, BTreeSet<String>>) {
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
    for unit in edges.keys() {
        visit(unit, edges, &mut Vec::new(), &mut done);
    }
}

/// The HTTP server knows nothing of the API: no route, wire type or limit
/// of the room reaches `hub/http/`, which the hub configures from outside.
#[test]
fn the_http_server_names_nothing_of_the_crate() {
    let mut files = 0;
    for path in all_sources() {
        let rel = rel(&path);
        if !rel.starts_with("hub/http") {
            continue;
        }
        files += 1;
        let text = code(&path);
        assert!(
            !text.contains("crate::") && !text.contains("super::super::"),
            "{} reaches outside the HTTP server",
            rel.display()
        );
    }
    assert!(files >= 3, "found the HTTP server's files");
}

/// The console's modules import one another without a circle: each panel
/// imports the shared state and the way to the hub, never the entry point.
#[test]
fn the_consoles_modules_import_one_another_without_a_circle() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&ui).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "js") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let imports: BTreeSet<String> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("import "))
            .filter_map(|l| l.split("from './").nth(1)?.split('\'').next())
            .map(str::to_string)
            .collect();
        edges.insert(name, imports);
    }
    assert!(
        edges.get("app.js").is_some_and(|i| i.len() > 3),
        "the scan found app.js's imports: {edges:?}"
    );
    no_circle(&edges);
}

/// Every path the hub's endpoint table answers is in the API reference,
/// so a new endpoint cannot land undocumented.
#[test]
fn every_endpoint_is_in_the_api_reference() {
    let routes = std::fs::read_to_string(src().join("hub/routes/mod.rs")).unwrap();
    let api =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/API.md")).unwrap();
    let mut paths = 0;
    for (at, _) in routes.match_indices(", \"/") {
        let rest = &routes[at + 3..];
        let path: String = rest.chars().take_while(|c| *c != '"').collect();
        paths += 1;
        assert!(
            api.contains(&format!("`{path}")),
            "{path} is answered by the hub but not in docs/API.md"
        );
    }
    assert!(paths > 20, "the scan found the endpoint table ({paths})");
}
