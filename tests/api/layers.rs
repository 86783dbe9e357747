//! The layer rule, read from `src/`: a module imports only layers below it
//! (or its own layer, without circles), only the top layer names `App`,
//! `http` or axum, and no two files of `src/` import each other in a circle.
//! Unit test modules (`#[cfg(test)] mod tests` at a file's end) are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;

/// Each top-level module of `src/` and its layer, bottom-up.
const LAYERS: &[(&str, &[&str])] = &[
    ("vocabulary", &["clock", "domain", "errors", "metrics"]),
    (
        "pipeline stages",
        &[
            "agreements",
            "delivery",
            "enrichment",
            "intake",
            "secrets",
            "signing",
            "validation",
        ],
    ),
    ("store", &["store"]),
    ("services and workers", &["scheduling", "service", "worker"]),
    (
        "composition and adapters",
        &["app", "config", "http", "web"],
    ),
];

/// Only these may name `App`, the HTTP layer or axum.
const TOP: &[&str] = &["app", "config", "http", "web", "lib", "main"];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
        .unwrap_or_else(|| panic!("src/{module} is in no layer: add it to LAYERS"))
}

/// A source file: its module path (`service::reporting::filing`) and text
/// without comments.
struct SourceFile {
    path: PathBuf,
    module: Vec<String>,
    is_mod_root: bool,
    text: String,
}

fn source_files(dir: &Path, files: &mut Vec<SourceFile>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            source_files(&path, files);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(&src).expect("under src");
        let mut module: Vec<String> = relative
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let is_mod_root = matches!(
            module.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        );
        if is_mod_root && module.len() > 1 {
            module.pop();
        }
        let source = std::fs::read_to_string(&path).expect("source is UTF-8");
        // Unit tests may use anything (a server fake, the configuration).
        let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        let text = code
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        files.push(SourceFile {
            path: relative.to_owned(),
            module,
            is_mod_root,
            text,
        });
    }
}

/// Every `crate::…` and `super::…` path in `file`, as absolute module paths,
/// with the items of `use …::{a, b::c}` groups spelled out.
fn referenced_paths(file: &SourceFile) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let text = &file.text;
    for (start, _) in text
        .match_indices("crate::")
        .chain(text.match_indices("super::"))
    {
        if start > 0 {
            let before = text.as_bytes()[start - 1];
            if before.is_ascii_alphanumeric() || before == b'_' || before == b':' {
                continue;
            }
        }
        let rest = &text[start..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let mut segments: Vec<String> = rest[..end]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut base = if segments[0] == "crate" {
            Vec::new()
        } else {
            let mut parent = file.module.clone();
            if !file.is_mod_root {
                parent.pop();
            }
            parent
        };
        segments.remove(0);
        while segments.first().is_some_and(|s| s == "super") {
            segments.remove(0);
            base.pop();
        }
        base.extend(segments);
        let group = rest[end..]
            .strip_prefix('{')
            .and_then(|g| g.split('}').next());
        match group {
            Some(items) => {
                for item in items.split(',') {
                    let item = item.split_whitespace().next().unwrap_or("");
                    let mut path = base.clone();
                    if !item.is_empty() && item != "self" {
                        path.extend(item.split("::").map(str::to_owned));
                    }
                    paths.push(path);
                }
            }
            None => paths.push(base),
        }
    }
    paths
}

/// The file a path leads into: the longest prefix that is a file's module.
fn file_of<'a>(path: &[String], modules: &'a BTreeMap<Vec<String>, usize>) -> Option<&'a usize> {
    (1..=path.len())
        .rev()
        .find_map(|n| modules.get(&path[..n].to_vec()))
}

fn load() -> Vec<SourceFile> {
    let mut files = Vec::new();
    source_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn top_module(file: &SourceFile) -> &str {
    file.module[0].as_str()
}

#[test]
fn layers_import_only_downwards() {
    let mut wrong = Vec::new();
    let mut same_layer: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let files = load();
    for file in &files {
        let own = top_module(file);
        if TOP.contains(&own) {
            continue;
        }
        for path in referenced_paths(file) {
            let Some(target) = path.first() else { continue };
            if target == own {
                continue;
            }
            if TOP.contains(&target.as_str()) || layer_of(target) > layer_of(own) {
                wrong.push(format!(
                    "src/{} imports crate::{target}",
                    file.path.display()
                ));
            } else if layer_of(target) == layer_of(own) {
                same_layer.entry(own).or_default().insert(target.clone());
            }
        }
        for word in ["axum", "App"] {
            let named = file
                .text
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|w| w == word);
            if named {
                wrong.push(format!("src/{} names {word}", file.path.display()));
            }
        }
    }
    // Modules of one layer may use each other, but never both ways round.
    for (module, targets) in &same_layer {
        for target in targets {
            if same_layer
                .get(target.as_str())
                .is_some_and(|back| back.contains(*module))
            {
                wrong.push(format!("{module} and {target} import each other"));
            }
        }
    }
    assert!(wrong.is_empty(), "layer rule broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_two_files_import_each_other_in_a_circle() {
    let files = load();
    let modules: BTreeMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.module != ["lib"] && f.module != ["main"])
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let mut graph = DiGraphMap::<usize, ()>::new();
    for (i, file) in files.iter().enumerate() {
        graph.add_node(i);
        for j in referenced_paths(file)
            .iter()
            .filter_map(|p| file_of(p, &modules).copied())
            .filter(|&j| j != i)
        {
            graph.add_edge(i, j, ());
        }
    }
    let circles: Vec<String> = tarjan_scc(&graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            let names: Vec<String> = c
                .iter()
                .map(|&i| format!("src/{}", files[i].path.display()))
                .collect();
            names.join(" → ")
        })
        .collect();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}
