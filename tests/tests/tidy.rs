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

#[test]
fn implementation_crates_do_not_depend_on_siblings() {
    // core and onnx are shared foundations; the CLI is the composition root. Tests
    // (dev-dependencies) may run a sibling's real model.
    let allowed = ["ttc-core", "ttc-onnx"];
    for dir in crate_dirs() {
        if dir == "cli" {
            continue;
        }
        for dep in deps_in(
            &manifest(&workspace_root().join("crates").join(&dir)),
            &["dependencies", "build-dependencies"],
        ) {
            if dep.starts_with("ttc-") {
                assert!(
                    allowed.contains(&dep.as_str()),
                    "crates/{dir} depends on its sibling {dep}"
                );
            }
        }
    }
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
