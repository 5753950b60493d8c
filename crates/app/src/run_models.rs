//! Which models a run folder was made with: `models.json` beside `run.toml`, so that
//! a sweep resumes only with the models it started with. Without it, a model folder
//! exported again in place would mix two models' records in one report.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use ttc_core::hash::{fnv1a, fnv1a_extend};

use crate::error::{Result, bail};
use crate::run_file::RunFile;

/// The files of a model folder that decide what it computes.
const FILES: [&str; 4] = [
    "model.onnx",
    "model.onnx_data",
    "config.json",
    "tokenizer.json",
];
/// Bytes read from each end of a file: a changed export changes its graph header or
/// its last weights, and a 15 GB weight file is not read whole on every resume.
const SPAN: u64 = 1 << 20;
const NAME: &str = "models.json";

/// The run file's model folders by role.
fn model_dirs(file: &RunFile) -> Vec<(&'static str, PathBuf)> {
    let mut dirs = Vec::new();
    if let Some(g) = &file.generator {
        dirs.push(("generator", g.model.clone()));
    }
    if let Some(m) = file.verifier.as_ref().and_then(|v| v.model.clone()) {
        dirs.push(("verifier", m));
    }
    if let Some(r) = &file.reviser {
        dirs.push(("reviser", r.model.clone()));
        if let Some(m) = r.verifier.as_ref().and_then(|v| v.model.clone()) {
            dirs.push(("reviser.verifier", m));
        }
    }
    if let Some(r) = &file.reference {
        dirs.push(("reference", r.model.clone()));
    }
    if let Some(m) = file
        .diagnostic
        .as_ref()
        .and_then(|d| d.verifier.model.clone())
    {
        dirs.push(("diagnostic.verifier", m));
    }
    dirs
}

/// A file's size and a digest of its first and last [`SPAN`] bytes.
fn fingerprint(path: &Path) -> std::io::Result<Value> {
    let mut f = File::open(path)?;
    let size = f.metadata()?.len();
    let mut head = vec![0; SPAN.min(size) as usize];
    f.read_exact(&mut head)?;
    // 64-bit FNV-1a: a stable digest for telling files apart (not for security).
    let mut hash = fnv1a(&size.to_le_bytes());
    hash = fnv1a_extend(hash, &head);
    if size > SPAN {
        let start = size.saturating_sub(SPAN).max(SPAN);
        f.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::new();
        f.read_to_end(&mut tail)?;
        hash = fnv1a_extend(hash, &tail);
    }
    Ok(json!({ "bytes": size, "digest": format!("{hash:016x}") }))
}

/// Per model folder of the run file, the size and digest of each of its files that
/// decide what it computes.
pub(crate) fn fingerprints(file: &RunFile) -> Result<Value> {
    let mut out = Map::new();
    for (role, dir) in model_dirs(file) {
        let mut files = Map::new();
        for name in FILES {
            let path = dir.join(name);
            if path.is_file() {
                let print = fingerprint(&path).map_err(|e| ttc_core::Error::io(&path, e))?;
                files.insert(name.to_string(), print);
            }
        }
        out.insert(role.to_string(), Value::Object(files));
    }
    Ok(Value::Object(out))
}

/// Writes `now` as the run folder's `models.json` for a new run; for a resumed one,
/// an error when the folder's `models.json` records other models (a folder from
/// before it was kept gets one now).
pub(crate) fn check_or_record(out_dir: &Path, now: &Value, resuming: bool) -> Result<()> {
    let kept = out_dir.join(NAME);
    if resuming && let Ok(text) = std::fs::read_to_string(&kept) {
        let before: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if &before != now {
            let changed = changed_roles(&before, now);
            bail!(
                "{} holds a run made with other models ({} changed since {} was written); \
                 use another --output folder, or delete it to start over",
                out_dir.display(),
                changed.join(", "),
                kept.display()
            );
        }
        return Ok(());
    }
    let text = serde_json::to_string_pretty(now).unwrap_or_default() + "\n";
    std::fs::write(&kept, text).map_err(|e| ttc_core::Error::io(&kept, e))?;
    Ok(())
}

/// The roles whose fingerprints differ between two `models.json` values.
fn changed_roles(before: &Value, now: &Value) -> Vec<String> {
    let roles = |v: &Value| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>());
    let mut all = roles(before).unwrap_or_default();
    for r in roles(now).unwrap_or_default() {
        if !all.contains(&r) {
            all.push(r);
        }
    }
    let changed: Vec<String> = all
        .into_iter()
        .filter(|r| before.get(r) != now.get(r))
        .collect();
    if changed.is_empty() {
        vec!["the models".to_string()]
    } else {
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_those_of_earlier_releases() {
        // Golden values: a run folder's models.json must still match its models.
        let dir = scratch();
        let dir = dir.path();
        let small = dir.join("small");
        std::fs::write(&small, b"config").unwrap();
        let big = dir.join("big");
        let bytes: Vec<u8> = (0..(2 * SPAN + 7)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&big, bytes).unwrap();
        assert_eq!(
            fingerprint(&small).unwrap(),
            json!({"bytes": 6, "digest": "3608403c19113801"})
        );
        assert_eq!(
            fingerprint(&big).unwrap(),
            json!({"bytes": 2 * SPAN + 7, "digest": "d20be036b0c3a312"})
        );
    }

    /// A fresh folder under the system's temporary folder for one test.
    /// A fresh folder for one test, removed when dropped.
    fn scratch() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn a_digest_changes_with_the_head_the_tail_and_the_size_only() {
        let dir = scratch();
        let dir = dir.path();
        let path = dir.join("model.onnx");
        let body = vec![7u8; 3 * SPAN as usize];
        std::fs::write(&path, &body).unwrap();
        let base = fingerprint(&path).unwrap();
        let mut middle = body.clone();
        middle[SPAN as usize + 5] = 8;
        std::fs::write(&path, &middle).unwrap();
        assert_eq!(fingerprint(&path).unwrap(), base, "the middle is not read");
        for at in [0, body.len() - 1] {
            let mut edited = body.clone();
            edited[at] = 9;
            std::fs::write(&path, &edited).unwrap();
            assert_ne!(fingerprint(&path).unwrap(), base, "byte {at}");
        }
        std::fs::write(&path, &body[..body.len() - 1]).unwrap();
        assert_ne!(fingerprint(&path).unwrap(), base);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_resumed_run_with_another_model_is_refused_and_names_it() {
        let dir = scratch();
        let dir = dir.path();
        let first = json!({ "generator": { "model.onnx": { "bytes": 1, "digest": "a" } },
                            "verifier": { "model.onnx": { "bytes": 2, "digest": "b" } } });
        check_or_record(dir, &first, false).unwrap();
        check_or_record(dir, &first, true).unwrap();
        let mut second = first.clone();
        second["verifier"]["model.onnx"]["digest"] = json!("c");
        let err = check_or_record(dir, &second, true).unwrap_err().to_string();
        assert!(err.contains("verifier changed"), "{err}");
        assert!(!err.contains("generator"), "{err}");
        // A new run in a folder records its own models.
        check_or_record(dir, &second, false).unwrap();
        check_or_record(dir, &second, true).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
