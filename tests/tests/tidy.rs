//! Conventions enforced by tests rather than review.

use std::collections::BTreeSet;
use std::path::Path;

use ttc_tests::workspace_root;

fn crate_dirs() -> BTreeSet<String> {
    std::fs::read_dir(workspace_root().join("crates"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn manifest(dir: &Path) -> toml::Table {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    text.parse().unwrap()
}

fn deps(table: &toml::Table) -> BTreeSet<String> {
    deps_in(
        table,
        &["dependencies", "dev-dependencies", "build-dependencies"],
    )
}

fn deps_in(table: &toml::Table, sections: &[&str]) -> BTreeSet<String> {
    sections
        .iter()
        .filter_map(|k| table.get(*k).and_then(|v| v.as_table()))
        .flat_map(|t| t.keys().cloned())
        .collect()
}

#[test]
fn code_map_matches_the_crates() {
    let arch = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    let mapped: BTreeSet<String> = arch
        .lines()
        .filter_map(|l| l.strip_prefix("- `crates/"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    assert_eq!(
        mapped,
        crate_dirs(),
        "ARCHITECTURE.md's code map and crates/* disagree"
    );
}

#[test]
fn crates_are_named_after_their_folder() {
    for dir in crate_dirs() {
        let m = manifest(&workspace_root().join("crates").join(&dir));
        let name = m["package"]["name"].as_str().unwrap();
        assert_eq!(name, format!("ttc-{dir}"), "crates/{dir}");
    }
}

#[test]
fn only_the_onnx_crate_uses_ort() {
    for dir in crate_dirs() {
        let uses = deps(&manifest(&workspace_root().join("crates").join(&dir))).contains("ort");
        assert_eq!(uses, dir == "onnx", "crates/{dir} and ort");
    }
}

/// The layers, lowest first, and the crates (folder names) in each. A crate's
/// dependencies are in lower layers; the exceptions are listed in [`SAME_LAYER`]
/// and [`FORBIDDEN`]. ARCHITECTURE.md draws the same picture.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation",
        &["core", "onnx", "model-folder", "kv-cache", "jsonl"],
    ),
    (
        "models",
        &["generator", "prm-verifier", "dataset", "math-grade"],
    ),
    (
        "algorithms",
        &["search", "reviser", "difficulty", "orchestrator"],
    ),
    ("analysis", &["policy", "report"]),
    ("application", &["app"]),
    ("shells", &["cli", "xtask"]),
];

/// Edges allowed inside one layer: every crate builds on core's types and errors,
/// the report draws the policy crate's fits, and the demo world reads its answer
/// lines with the grader's integer parser.
const SAME_LAYER: &[(&str, &str)] = &[
    ("onnx", "core"),
    ("model-folder", "core"),
    ("report", "policy"),
    ("dataset", "math-grade"),
];

/// Downward edges that are still refused: the algorithms see models only through
/// core's traits, so that they run the same on any model or test double.
const FORBIDDEN: &[(&str, &str)] = &[("algorithms", "models"), ("analysis", "models")];

fn layer_of(krate: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, crates))| crates.contains(&krate))
        .map(|(i, (name, _))| (i, *name))
}

/// The crate folders and their manifests, xtask included.
fn all_manifests() -> Vec<(String, toml::Table)> {
    let mut out: Vec<(String, toml::Table)> = crate_dirs()
        .into_iter()
        .map(|d| {
            let m = manifest(&workspace_root().join("crates").join(&d));
            (d, m)
        })
        .collect();
    out.push(("xtask".into(), manifest(&workspace_root().join("xtask"))));
    out
}

fn check_edge(from: &str, to: &str, dev: bool) -> Result<(), String> {
    let (Some((fl, fname)), Some((tl, tname))) = (layer_of(from), layer_of(to)) else {
        return Err(format!(
            "{from} -> {to}: a crate in no layer; add it to LAYERS"
        ));
    };
    if FORBIDDEN.contains(&(fname, tname)) && !dev {
        return Err(format!(
            "crates/{from} ({fname}) depends on {to} ({tname}): {fname} crates see {tname} only through core's traits"
        ));
    }
    let ok = tl < fl || SAME_LAYER.contains(&(from, to)) || (dev && tl == fl && from != to);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "crates/{from} ({fname}) depends on {to} ({tname}): a crate uses only the layers below its own"
        ))
    }
}

#[test]
fn every_crate_is_in_a_layer() {
    for dir in crate_dirs() {
        assert!(
            layer_of(&dir).is_some(),
            "crates/{dir} is in no layer of LAYERS"
        );
    }
}

#[test]
fn crates_use_only_the_layers_below() {
    // Tests (dev-dependencies) may also use a crate of their own layer, e.g. to run a
    // sibling's real model; never one above.
    let mut errors = Vec::new();
    for (dir, m) in all_manifests() {
        for (dev, sections) in [
            (false, &["dependencies", "build-dependencies"][..]),
            (true, &["dev-dependencies"][..]),
        ] {
            for dep in deps_in(&m, sections) {
                let Some(to) = dep.strip_prefix("ttc-") else {
                    continue;
                };
                if to == "tests" {
                    continue;
                }
                if let Err(e) = check_edge(&dir, to, dev) {
                    errors.push(e);
                }
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_layer_rule_refuses_edges_it_should() {
    assert!(check_edge("search", "generator", false).is_err());
    assert!(check_edge("core", "search", false).is_err());
    assert!(check_edge("policy", "report", false).is_err());
    assert!(check_edge("difficulty", "search", false).is_err());
    assert!(check_edge("app", "cli", false).is_err());
    assert!(check_edge("report", "policy", false).is_ok());
    assert!(check_edge("dataset", "math-grade", false).is_ok());
    assert!(check_edge("math-grade", "dataset", false).is_err());
    assert!(check_edge("search", "math-grade", false).is_err());
    assert!(check_edge("policy", "difficulty", false).is_ok());
    assert!(check_edge("generator", "model-folder", false).is_ok());
    assert!(check_edge("cli", "app", false).is_ok());
}

#[test]
fn libraries_do_not_use_anyhow() {
    for dir in crate_dirs() {
        if dir == "cli" {
            continue;
        }
        assert!(
            !deps(&manifest(&workspace_root().join("crates").join(&dir))).contains("anyhow"),
            "crates/{dir} uses anyhow"
        );
    }
}

#[test]
fn every_crate_root_opens_with_a_module_doc() {
    let mut roots: Vec<_> = crate_dirs()
        .into_iter()
        .map(|d| workspace_root().join("crates").join(d).join("src"))
        .map(|src| {
            let lib = src.join("lib.rs");
            if lib.is_file() {
                lib
            } else {
                src.join("main.rs")
            }
        })
        .collect();
    roots.push(workspace_root().join("xtask/src/main.rs"));
    roots.push(workspace_root().join("tests/src/lib.rs"));
    for root in roots {
        let text = std::fs::read_to_string(&root).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} does not open with a module doc (`//!`)",
            root.display()
        );
    }
}

/// Source and documentation files to check, under `dir` (target and hidden folders
/// skipped).
fn text_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            text_files(&path, out);
        } else if ["rs", "md", "toml", "py"]
            .iter()
            .any(|e| path.extension().is_some_and(|x| x == *e))
        {
            out.push(path);
        }
    }
}

/// Repository paths cited in `text`: words starting with one of `prefixes`.
fn cited_paths(text: &str, prefixes: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.char_indices() {
        let rest = &text[i..];
        let starts_word = text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || "_./-".contains(c)));
        if !starts_word || !prefixes.iter().any(|p| rest.starts_with(p)) {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_./-".contains(c)))
            .unwrap_or(rest.len());
        let path = rest[..end].trim_end_matches(['.', '/']);
        // Placeholders and paths built at run time (`crates/*`, `../target`) are not files.
        if !path.contains("..") && path.split('/').count() > 1 {
            out.push(path.to_string());
        }
    }
    out
}

#[test]
fn cited_repository_paths_exist() {
    let root = workspace_root();
    let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    for dir in ["crates", "docs", "xtask", "tests", "config"] {
        text_files(&root.join(dir), &mut files);
    }
    let mut missing = Vec::new();
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for path in cited_paths(&text, &["crates/", "docs/", "xtask/"]) {
            checked += 1;
            if !root.join(&path).exists() {
                missing.push(format!(
                    "{}: {path}",
                    file.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} cited paths found: is the scan broken?"
    );
    assert!(
        missing.is_empty(),
        "cited paths that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn cited_paths_are_found_in_text() {
    let found = cited_paths(
        "see `crates/core/src/lib.rs`, docs/method.md. Not mycrates/x or crates/*.",
        &["crates/", "docs/"],
    );
    assert_eq!(found, ["crates/core/src/lib.rs", "docs/method.md"]);
}
