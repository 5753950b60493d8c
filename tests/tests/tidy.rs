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

/// Edges allowed inside one layer (ARCHITECTURE.md draws them as solid arrows): every
/// crate builds on core's types and errors, and the demo world reads its answer lines
/// with the grader's integer parser. (Tests may use a sibling anyway: dashed arrows.)
const SAME_LAYER: &[(&str, &str)] = &[
    ("onnx", "core"),
    ("model-folder", "core"),
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
    assert!(check_edge("report", "policy", false).is_err());
    assert!(check_edge("report", "policy", true).is_ok());
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

/// A crate's workspace dependencies: what it uses, and what only its tests use.
type Edges = std::collections::BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>;

/// The workspace edges the manifests declare (`ttc-tests`, the test harness, left out).
fn manifest_edges() -> Edges {
    let ws = |m: &toml::Table, sections: &[&str]| -> BTreeSet<String> {
        deps_in(m, sections)
            .into_iter()
            .filter_map(|d| d.strip_prefix("ttc-").map(str::to_string))
            .filter(|d| d != "tests")
            .collect()
    };
    all_manifests()
        .into_iter()
        .map(|(dir, m)| {
            let uses = ws(&m, &["dependencies", "build-dependencies"]);
            let tests = &ws(&m, &["dev-dependencies"]) - &uses;
            (dir, (uses, tests))
        })
        .collect()
}

const EDGE_TABLE_HEADER: &str = "| crate | uses | its tests also use |";

/// ARCHITECTURE.md's edge table: `| `crate` | a, b | c |`, `—` for none.
fn documented_edges(arch: &str) -> Result<Edges, String> {
    let mut lines = arch.lines().skip_while(|l| l.trim() != EDGE_TABLE_HEADER);
    if lines.next().is_none() {
        return Err(format!(
            "ARCHITECTURE.md has no edge table (header `{EDGE_TABLE_HEADER}`)"
        ));
    }
    let names = |cell: &str| -> BTreeSet<String> {
        cell.split(',')
            .map(|s| s.trim().trim_matches('`').to_string())
            .filter(|s| !s.is_empty() && s != "—")
            .collect()
    };
    let mut out = Edges::new();
    for line in lines.skip(1).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        let [krate, uses, tests] = cells[..] else {
            return Err(format!("edge table row `{line}`: expected three cells"));
        };
        let krate = krate.trim().trim_matches('`').to_string();
        if out
            .insert(krate.clone(), (names(uses), names(tests)))
            .is_some()
        {
            return Err(format!("edge table: `{krate}` has two rows"));
        }
    }
    Ok(out)
}

/// Every difference between the documented edges and the manifests', both ways.
fn edge_differences(doc: &Edges, manifests: &Edges) -> Vec<String> {
    let mut out = Vec::new();
    let none = (BTreeSet::new(), BTreeSet::new());
    for krate in doc.keys().chain(manifests.keys()).collect::<BTreeSet<_>>() {
        if !manifests.contains_key(krate) {
            out.push(format!(
                "the edge table has a row for `{krate}`, no such crate"
            ));
            continue;
        }
        if !doc.contains_key(krate) {
            out.push(format!("the edge table has no row for `{krate}`"));
        }
        let (d, m) = (
            doc.get(krate).unwrap_or(&none),
            manifests.get(krate).unwrap_or(&none),
        );
        for (what, d, m) in [("uses", &d.0, &m.0), ("its tests also use", &d.1, &m.1)] {
            for dep in m - d {
                out.push(format!(
                    "{krate} -> {dep} ({what}) is in the manifest, not in ARCHITECTURE.md's edge table"
                ));
            }
            for dep in d - m {
                out.push(format!(
                    "{krate} -> {dep} ({what}) is in ARCHITECTURE.md's edge table, not in the manifest"
                ));
            }
        }
    }
    out
}

/// The Bird's-eye view diagram: the first code block after its heading.
fn diagram(arch: &str) -> Vec<&str> {
    arch.lines()
        .skip_while(|l| !l.starts_with("## Bird's-eye view"))
        .skip_while(|l| !l.starts_with("```"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect()
}

/// The arrows drawn between crates: `a ──► b` (a uses b), `b ◄── a`, and dashed
/// `a ╌╌► b` / `b ◄╌╌ a` (only a's tests use b). Returns (from, to, tests only).
fn drawn_edges(diagram: &[&str]) -> Result<BTreeSet<(String, String, bool)>, String> {
    let mut out = BTreeSet::new();
    for line in diagram {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let is_line = |c: char| c == '─' || c == '╌';
            let (forward, body) = if let Some(b) = w.strip_suffix('►') {
                (true, b)
            } else if let Some(b) = w.strip_prefix('◄') {
                (false, b)
            } else {
                continue;
            };
            if body.is_empty() || !body.chars().all(is_line) {
                return Err(format!("diagram line `{line}`: `{w}` is not an arrow"));
            }
            let (Some(left), Some(right)) = (i.checked_sub(1).map(|j| words[j]), words.get(i + 1))
            else {
                return Err(format!(
                    "diagram line `{line}`: `{w}` has no crate at one end"
                ));
            };
            for end in [left, *right] {
                if layer_of(end).is_none() {
                    return Err(format!(
                        "diagram line `{line}`: `{end}` at an end of `{w}` is no crate"
                    ));
                }
            }
            let (from, to) = if forward {
                (left, *right)
            } else {
                (*right, left)
            };
            out.insert((from.to_string(), to.to_string(), body.contains('╌')));
        }
    }
    Ok(out)
}

#[test]
fn the_architecture_edge_table_equals_the_manifests() {
    let arch = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    let doc = documented_edges(&arch).unwrap();
    let errors = edge_differences(&doc, &manifest_edges());
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_diagram_draws_exactly_the_same_layer_edges() {
    // Arrows inside a layer are the edges the layer rule needs told; a bare `│` only
    // stacks the layers. Every drawn arrow is a real edge, every same-layer edge is
    // drawn, and a dashed arrow is one only tests use.
    let arch = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    let drawn = drawn_edges(&diagram(&arch)).unwrap();
    let mut same_layer = BTreeSet::new();
    for (from, (uses, tests)) in manifest_edges() {
        for (deps, test_only) in [(uses, false), (tests, true)] {
            for to in deps {
                if layer_of(&from).map(|l| l.0) == layer_of(&to).map(|l| l.0) {
                    same_layer.insert((from.clone(), to, test_only));
                }
            }
        }
    }
    let show = |s: &BTreeSet<(String, String, bool)>| -> Vec<String> {
        s.iter()
            .map(|(a, b, t)| format!("{a} {} {b}", if *t { "╌╌►" } else { "──►" }))
            .collect()
    };
    assert_eq!(
        show(&drawn),
        show(&same_layer),
        "ARCHITECTURE.md's diagram (left) and the manifests' same-layer edges (right) differ"
    );
    // Same-layer edges a library may have are exactly those drawn.
    let allowed: BTreeSet<(String, String)> = SAME_LAYER
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let drawn_uses: BTreeSet<(String, String)> = drawn
        .iter()
        .filter(|e| !e.2)
        .map(|(a, b, _)| (a.clone(), b.clone()))
        .collect();
    assert_eq!(
        drawn_uses, allowed,
        "the diagram's solid arrows and SAME_LAYER differ"
    );
}

#[test]
fn the_diagram_rows_hold_the_layers() {
    let arch = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    let rows = diagram(&arch);
    for (layer, crates) in LAYERS {
        let row = rows
            .iter()
            .find(|l| l.split_whitespace().next() == Some(layer))
            .unwrap_or_else(|| panic!("the diagram has no row `{layer}`"));
        let words: BTreeSet<&str> = row
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .collect();
        for krate in *crates {
            assert!(
                words.contains(krate),
                "the diagram's {layer} row lacks {krate}"
            );
        }
    }
}

#[test]
fn edge_checks_fail_on_a_missing_or_extra_edge() {
    let arch = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    let doc = documented_edges(&arch).unwrap();
    assert!(edge_differences(&doc, &doc).is_empty());

    // A manifest gains a dependency the table does not show.
    let mut gained = doc.clone();
    gained.get_mut("search").unwrap().0.insert("jsonl".into());
    assert_eq!(
        edge_differences(&doc, &gained),
        ["search -> jsonl (uses) is in the manifest, not in ARCHITECTURE.md's edge table"]
    );
    // A manifest loses one the table shows (here a tests-only one).
    let mut lost = doc.clone();
    assert!(lost.get_mut("report").unwrap().1.remove("policy"));
    assert_eq!(
        edge_differences(&doc, &lost),
        [
            "report -> policy (its tests also use) is in ARCHITECTURE.md's edge table, not in the manifest"
        ]
    );
    // A crate with no row, and a row for no crate.
    let mut renamed = doc.clone();
    let row = renamed.remove("jsonl").unwrap();
    renamed.insert("json-lines".into(), row);
    let errors = edge_differences(&renamed, &doc);
    assert!(
        errors.iter().any(|e| e.contains("no row for `jsonl`")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("`json-lines`, no such crate")),
        "{errors:?}"
    );

    // The table parser reads cells, backticks and `—`.
    let table = format!(
        "x\n{EDGE_TABLE_HEADER}\n|---|---|---|\n| `core` | — | — |\n| `search` | core | core, math-grade |\nafter\n"
    );
    let parsed = documented_edges(&table).unwrap();
    assert_eq!(parsed["core"], (BTreeSet::new(), BTreeSet::new()));
    assert_eq!(parsed["search"].1.len(), 2);
    assert!(documented_edges("no table").is_err());

    // Arrows both ways and dashed; a broken arrow or a non-crate end is an error.
    let drawn = drawn_edges(&[
        " models   dataset ──► math-grade",
        " x  core ◄── onnx  report ╌╌► policy",
    ])
    .unwrap();
    let want: BTreeSet<(String, String, bool)> = [
        ("dataset", "math-grade", false),
        ("onnx", "core", false),
        ("report", "policy", true),
    ]
    .iter()
    .map(|(a, b, t)| (a.to_string(), b.to_string(), *t))
    .collect();
    assert_eq!(drawn, want);
    assert!(drawn_edges(&["a ──► core"]).is_err());
    assert!(drawn_edges(&["onnx ─x► core"]).is_err());
    assert!(drawn_edges(&["onnx ──►"]).is_err());
}

/// Whether `text` names the crate `ort` (`ort::` not inside a longer path segment).
fn names_ort(text: &str) -> bool {
    text.match_indices("ort::").any(|(i, _)| {
        text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'))
    })
}

/// Whether `word` occurs in `text` as a whole identifier.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        text[..i].chars().next_back().is_none_or(|c| !ident(c))
            && text[i + word.len()..]
                .chars()
                .next()
                .is_none_or(|c| !ident(c))
    })
}

/// Whether `body` calls a function named `name` (`name(`, `Type::name(`).
fn calls(body: &str, name: &str) -> bool {
    body.match_indices(&format!("{name}(")).any(|(i, _)| {
        body[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'))
    })
}

/// The names a file imports from ort (`use ort::a::{B, C as D};` gives B and D).
fn ort_imports(src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = src;
    while let Some(i) = rest.find("use ort::") {
        let end = rest[i..].find(';').map_or(rest.len(), |j| i + j);
        let stmt = &rest[i + "use ort::".len()..end];
        for item in stmt.split([',', '{', '}']) {
            let item = item.trim();
            let name = match item.split_once(" as ") {
                Some((_, alias)) => alias.trim(),
                None => item.rsplit("::").next().unwrap_or(""),
            };
            if !name.is_empty() && name != "self" && name != "*" {
                out.insert(name.to_string());
            }
        }
        rest = &rest[end..];
    }
    out
}

/// A function of ttc-onnx: where it is, whether it is public and takes `self`, its
/// signature and its body.
struct OnnxFn {
    file: String,
    owner: Option<String>,
    name: String,
    public: bool,
    receiver: bool,
    signature: String,
    body: String,
}

/// The functions of one source file, rustfmt's layout assumed: a body ends at the
/// first `}` indented as its `fn` line; `impl` blocks start at column 0.
fn functions(file: &str, src: &str) -> Vec<OnnxFn> {
    let lines: Vec<&str> = src.lines().collect();
    let mut out = Vec::new();
    let mut owner = None;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("impl") {
            // `impl Foo {`, `impl<T> Foo<T> {`, `impl Trait for Foo {`: the type.
            let head = line.trim_end_matches('{').trim();
            let ty = head.rsplit(" for ").next().unwrap_or(head);
            let ty = ty.split_whitespace().last().unwrap_or("");
            owner = Some(ty.split('<').next().unwrap_or(ty).to_string());
        } else if line.starts_with('}') {
            owner = None;
        }
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let (public, rest) = if let Some(r) = trimmed.strip_prefix("pub fn ") {
            (true, r)
        } else if let Some(r) = trimmed
            .strip_prefix("fn ")
            .or_else(|| trimmed.strip_prefix("pub(crate) fn "))
        {
            (false, r)
        } else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let sig_end = (i..lines.len())
            .find(|&j| lines[j].trim_end().ends_with('{') || lines[j].trim_end().ends_with(';'))
            .unwrap_or(i);
        let signature = lines[i..=sig_end].join("\n");
        let closing = format!("{indent}}}");
        let body_end = (sig_end..lines.len())
            .find(|&j| lines[j] == closing || (j == sig_end && lines[j].trim_end().ends_with('}')))
            .unwrap_or(lines.len() - 1);
        let flat: String = signature.split_whitespace().collect();
        let receiver = ["(self", "(&self", "(&mutself", "(mutself"]
            .iter()
            .any(|r| flat.contains(r));
        out.push(OnnxFn {
            file: file.to_string(),
            owner: if indent.is_empty() {
                None
            } else {
                owner.clone()
            },
            name,
            public,
            receiver,
            signature,
            body: lines[sig_end + 1..=body_end.max(sig_end)].join("\n"),
        });
    }
    out
}

/// Where the ONNX Runtime boundary is broken, by the rule ARCHITECTURE.md states for
/// ttc-onnx: (1) no public item's signature names an ort type; (2) a public function
/// without `self` (a constructor or free function) that reaches ort, directly or
/// through another such function, is `OnnxModel::load` or the loader `runtime`, so
/// nothing calls ort before the library is loaded. `files` are (name, source).
fn ort_boundary_violations(files: &[(String, String)]) -> Vec<String> {
    const ALLOWED: &[(Option<&str>, &str)] = &[(Some("OnnxModel"), "load"), (None, "runtime")];
    let mut errors = Vec::new();
    let mut fns = Vec::new();
    for (file, src) in files {
        let imports = ort_imports(src);
        let mentions_ort = |t: &str| names_ort(t) || imports.iter().any(|w| has_word(t, w));
        for (n, line) in src.lines().enumerate() {
            let t = line.trim_start();
            // `pub struct Tensor(pub(crate) Repr)`: what follows `pub(crate)` is private.
            let public = t.split("pub(").next().unwrap_or(t);
            if t.starts_with("pub ") && !t.starts_with("pub fn ") && mentions_ort(public) {
                errors.push(format!(
                    "{file}:{}: a public item names an ort type: {t}",
                    n + 1
                ));
            }
        }
        for f in functions(file, src) {
            if f.public && mentions_ort(&f.signature) {
                errors.push(format!(
                    "{file}: the signature of pub fn {} names an ort type",
                    f.name
                ));
            }
            let direct = mentions_ort(&f.body);
            fns.push((f, direct));
        }
    }
    // Reaching ort through a constructor or free function that does.
    loop {
        let reaching: Vec<String> = fns
            .iter()
            .filter(|(f, r)| *r && !f.receiver)
            .map(|(f, _)| f.name.clone())
            .collect();
        let mut changed = false;
        for (f, r) in fns.iter_mut() {
            if !*r && reaching.iter().any(|n| calls(&f.body, n)) {
                *r = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for (f, reaches) in &fns {
        if f.public
            && !f.receiver
            && *reaches
            && !ALLOWED.contains(&(f.owner.as_deref(), &f.name[..]))
        {
            let owner = f
                .owner
                .as_deref()
                .map(|o| format!("{o}::"))
                .unwrap_or_default();
            errors.push(format!(
                "{}: pub fn {owner}{} reaches ort without a loaded library; only OnnxModel::load and runtime may (build plain Rust data and hand it to ort inside OnnxModel)",
                f.file, f.name
            ));
        }
    }
    errors
}

fn onnx_sources() -> Vec<(String, String)> {
    let dir = workspace_root().join("crates/onnx/src");
    let mut files = Vec::new();
    text_files(&dir, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), text)
        })
        .collect()
}

#[test]
fn only_onnx_names_ort_in_source() {
    let root = workspace_root();
    let mut files = Vec::new();
    text_files(&root.join("crates"), &mut files);
    text_files(&root.join("xtask"), &mut files);
    let onnx = root.join("crates/onnx");
    let offenders: Vec<String> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs") && !p.starts_with(&onnx))
        .filter(|p| names_ort(&std::fs::read_to_string(p).unwrap()))
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "files outside crates/onnx that name ort: {offenders:?}"
    );
}

#[test]
fn no_public_constructor_reaches_ort_outside_onnx_model() {
    let files = onnx_sources();
    let fns: usize = files.iter().map(|(f, s)| functions(f, s).len()).sum();
    assert!(
        fns > 20,
        "only {fns} functions found in crates/onnx: is the scan broken?"
    );
    let errors = ort_boundary_violations(&files);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_ort_boundary_rule_catches_what_it_should() {
    let file = |src: &str| vec![("x.rs".to_string(), src.to_string())];
    // The shape of today's crate passes.
    let ok = "use ort::session::Session;\n\npub struct OnnxModel {\n    session: Session,\n}\n\nimpl OnnxModel {\n    pub fn load(path: &Path) -> Result<OnnxModel> {\n        let s = Session::builder()?;\n    }\n\n    pub fn shape(&self) -> Vec<usize> {\n        self.session.shape()\n    }\n}\n\npub fn runtime() -> Result<()> {\n    ort::init_from(p)?;\n}\n";
    assert_eq!(ort_boundary_violations(&file(ok)), Vec::<String>::new());
    // A public constructor outside OnnxModel that builds an ort value...
    let direct = "use ort::value::Tensor as OrtTensor;\n\nimpl Tensor {\n    pub fn f32(d: Vec<f32>) -> Result<Tensor> {\n        OrtTensor::from_array(d)\n    }\n}\n";
    let errors = ort_boundary_violations(&file(direct));
    assert!(
        errors.len() == 1 && errors[0].contains("pub fn Tensor::f32"),
        "{errors:?}"
    );
    // ...or does so through a private helper.
    let indirect = "impl Tensor {\n    pub fn i64(d: Vec<i64>) -> Tensor {\n        Tensor::make(d)\n    }\n\n    fn make(d: Vec<i64>) -> Tensor {\n        ort::value::Tensor::from_array(d)\n    }\n}\n";
    let errors = ort_boundary_violations(&file(indirect));
    assert!(
        errors.len() == 1 && errors[0].contains("pub fn Tensor::i64"),
        "{errors:?}"
    );
    // A public signature or field that names an ort type.
    let leak = "use ort::session::Session;\n\npub struct Handle {\n    pub session: Session,\n}\n\npub fn raw(m: &OnnxModel) -> &ort::session::Session {\n    todo()\n}\n";
    let errors = ort_boundary_violations(&file(leak));
    assert_eq!(errors.len(), 2, "{errors:?}");
    // A crate-private field of a public type is not public.
    let private = "use ort::value::DynValue;\n\npub struct Tensor(pub(crate) DynValue);\n";
    assert_eq!(
        ort_boundary_violations(&file(private)),
        Vec::<String>::new()
    );
    assert!(names_ort("use ort::x;") && names_ort("(ort::Error)") && !names_ort("sort::x"));
}
