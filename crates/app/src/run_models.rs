//! Which models a run folder was made with: `models.json` beside `run.toml`, so that
//! a sweep resumes only with the models it started with. Without it, a model folder
//! exported again in place would mix two models' records in one report. This module
//! is the one owner of that fingerprint: `ttc eval` writes and checks it, `ttc merge`
//! compares the shards' copies.
//!
//! Format 2 (`{"format": 2, "models": {ROLE: {FILE: {bytes, digest}}}}`) covers every
//! file a model folder is read from. Format 1 (the bare role map, before the format
//! key) covered only [`FILES_V1`]: such a folder resumes, checked on those files, with
//! a warning, and its `models.json` is rewritten in format 2.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::error::{Result, bail};
use crate::run_file::RunFile;

/// The files of a model folder that decide what it computes: the graph (either
/// name) and its external weights (Optimum's `.onnx_data`, ONNX Runtime GenAI's
/// `.onnx.data`), the model and generation configs (end tokens, sampling defaults;
/// a GenAI folder's genai_config.json), the tokenizer with its config, special
/// tokens and chat template. A GenAI folder's graph may have another name: the one
/// its genai_config.json names is covered too ([`genai_files`]).
const FILES: [&str; 12] = [
    "model.onnx",
    "model.onnx_data",
    "model.onnx.data",
    "decoder_model_merged.onnx",
    "decoder_model_merged.onnx_data",
    "config.json",
    "generation_config.json",
    "genai_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
];
/// What format 1 covered.
const FILES_V1: [&str; 4] = [
    "model.onnx",
    "model.onnx_data",
    "config.json",
    "tokenizer.json",
];
const FORMAT: u64 = 2;
/// Bytes read from each end of a file: a changed export changes its graph header or
/// its last weights, and a 15 GB weight file is not read whole on every resume.
const SPAN: u64 = 1 << 20;
/// The file's name in a run folder.
pub(crate) const NAME: &str = "models.json";

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

/// 64-bit FNV-1a: a stable digest for telling files apart (not for security).
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A file's size and a digest of its first and last [`SPAN`] bytes.
fn fingerprint(path: &Path) -> std::io::Result<Value> {
    let mut f = File::open(path)?;
    let size = f.metadata()?.len();
    let mut head = vec![0; SPAN.min(size) as usize];
    f.read_exact(&mut head)?;
    let mut hash = fnv1a(0xcbf2_9ce4_8422_2325, &size.to_le_bytes());
    hash = fnv1a(hash, &head);
    if size > SPAN {
        let start = size.saturating_sub(SPAN).max(SPAN);
        f.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::new();
        f.read_to_end(&mut tail)?;
        hash = fnv1a(hash, &tail);
    }
    Ok(json!({ "bytes": size, "digest": format!("{hash:016x}") }))
}

/// The graph a GenAI folder's genai_config.json names (`model.decoder.filename`) and
/// its external weights beside it (`<filename>.data`, the builder's name), when they
/// are not among [`FILES`]; none for other folders or an unreadable config (loading
/// the model reports that).
fn genai_files(dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(dir.join("genai_config.json")) else {
        return Vec::new();
    };
    let Some(graph) = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        v.pointer("/model/decoder/filename")?
            .as_str()
            .map(str::to_string)
    }) else {
        return Vec::new();
    };
    [format!("{graph}.data"), graph]
        .into_iter()
        .filter(|f| !FILES.contains(&f.as_str()))
        .collect()
}

/// Per model folder of the run file, the size and digest of each of its files that
/// decide what it computes, as `models.json` holds them.
pub(crate) fn fingerprints(file: &RunFile) -> Result<Value> {
    let mut out = Map::new();
    for (role, dir) in model_dirs(file) {
        let mut files = Map::new();
        let extra = genai_files(&dir);
        for name in FILES
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
        {
            let path = dir.join(name);
            if path.is_file() {
                let print = fingerprint(&path).map_err(|e| ttc_core::Error::io(&path, e))?;
                files.insert(name.to_string(), print);
            }
        }
        out.insert(role.to_string(), Value::Object(files));
    }
    Ok(json!({ "format": FORMAT, "models": out }))
}

/// A `models.json` value read back: its role map and whether it is format 1.
fn roles_of(value: &Value) -> (Value, bool) {
    match value.get("format").and_then(Value::as_u64) {
        Some(_) => (value.get("models").cloned().unwrap_or(Value::Null), false),
        None => (value.clone(), true),
    }
}

/// `roles` with each role's files cut down to format 1's.
fn v1_view(roles: &Value) -> Value {
    let Some(map) = roles.as_object() else {
        return roles.clone();
    };
    let cut = map
        .iter()
        .map(|(role, files)| {
            let kept: Map<String, Value> = files
                .as_object()
                .map(|f| {
                    f.iter()
                        .filter(|(name, _)| FILES_V1.contains(&name.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            (role.clone(), Value::Object(kept))
        })
        .collect();
    Value::Object(cut)
}

/// The roles whose models differ between two `models.json` values (empty: the same
/// models). `old_format` is set when `before` is format 1, compared on its files.
pub(crate) fn changed(before: &Value, now: &Value) -> (Vec<String>, bool) {
    let (before, old) = roles_of(before);
    let (now, _) = roles_of(now);
    let now = if old { v1_view(&now) } else { now };
    if before == now {
        return (Vec::new(), old);
    }
    (changed_roles(&before, &now), old)
}

/// Writes `now` as the run folder's `models.json` for a new run; for a resumed one,
/// an error when the folder's `models.json` records other models (a folder from
/// before it was kept gets one now; a format-1 one is upgraded, with a warning).
pub(crate) fn check_or_record(out_dir: &Path, now: &Value, resuming: bool) -> Result<()> {
    let kept = out_dir.join(NAME);
    if resuming && let Ok(text) = std::fs::read_to_string(&kept) {
        let before: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => bail!(
                "{}: not a models.json ({e}); delete it to record the models now, if you are \
                 sure they are the ones the run started with",
                kept.display()
            ),
        };
        let (changed, old) = changed(&before, now);
        if !changed.is_empty() {
            bail!(
                "{} holds a run made with other models ({} changed since {} was written); \
                 use another --output folder, or delete it to start over",
                out_dir.display(),
                changed.join(", "),
                kept.display()
            );
        }
        if !old {
            return Ok(());
        }
        tracing::warn!(
            "{} predates fingerprints of {}: resuming, checked on {} only; it now records \
             them all (if any of those files changed since the run started, delete the \
             folder and run again)",
            kept.display(),
            FILES
                .iter()
                .filter(|f| !FILES_V1.contains(f))
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
            FILES_V1.join(", ")
        );
    }
    let text = serde_json::to_string_pretty(now).unwrap_or_default() + "\n";
    std::fs::write(&kept, text).map_err(|e| ttc_core::Error::io(&kept, e))?;
    Ok(())
}

/// The roles whose fingerprints differ between two role maps.
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

    /// A fresh folder under the system's temporary folder for one test.
    fn scratch() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn a_digest_changes_with_the_head_the_tail_and_the_size_only() {
        let tmp = scratch();
        let dir = tmp.path().to_path_buf();
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
    }

    #[test]
    fn a_resumed_run_with_another_model_is_refused_and_names_it() {
        let tmp = scratch();
        let dir = tmp.path().to_path_buf();
        let roles = json!({ "generator": { "model.onnx": { "bytes": 1, "digest": "a" } },
                            "verifier": { "model.onnx": { "bytes": 2, "digest": "b" } } });
        let first = json!({ "format": FORMAT, "models": roles });
        check_or_record(&dir, &first, false).unwrap();
        check_or_record(&dir, &first, true).unwrap();
        let mut second = first.clone();
        second["models"]["verifier"]["model.onnx"]["digest"] = json!("c");
        let err = check_or_record(&dir, &second, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("verifier changed"), "{err}");
        assert!(!err.contains("generator"), "{err}");
        // A new run in a folder records its own models.
        check_or_record(&dir, &second, false).unwrap();
        check_or_record(&dir, &second, true).unwrap();
    }

    /// A model folder with every fingerprinted file, and a run file naming it.
    fn model_folder(dir: &Path) -> RunFile {
        let model = dir.join("model");
        std::fs::create_dir_all(&model).unwrap();
        for name in FILES {
            std::fs::write(model.join(name), format!("{name} v1")).unwrap();
        }
        let run = dir.join("run.toml");
        std::fs::write(&run, "[generator]\nmodel = \"model\"\n").unwrap();
        RunFile::load(&run).unwrap()
    }

    #[test]
    fn every_file_that_changes_behaviour_is_covered() {
        let tmp = scratch();
        let dir = tmp.path().to_path_buf();
        let file = model_folder(&dir);
        let base = fingerprints(&file).unwrap();
        check_or_record(&dir, &base, false).unwrap();
        for name in FILES {
            let path = dir.join("model").join(name);
            std::fs::write(&path, format!("{name} v2")).unwrap();
            let err = check_or_record(&dir, &fingerprints(&file).unwrap(), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("generator changed"), "{name}: {err}");
            std::fs::write(&path, format!("{name} v1")).unwrap();
        }
        check_or_record(&dir, &fingerprints(&file).unwrap(), true).unwrap();
    }

    #[test]
    fn a_genai_folder_covers_the_graph_its_config_names_and_its_weights() {
        let tmp = scratch();
        let dir = tmp.path().to_path_buf();
        let file = model_folder(&dir);
        let model = dir.join("model");
        std::fs::write(
            model.join("genai_config.json"),
            r#"{"model": {"decoder": {"filename": "decoder.onnx"}}}"#,
        )
        .unwrap();
        for name in ["decoder.onnx", "decoder.onnx.data"] {
            std::fs::write(model.join(name), "v1").unwrap();
        }
        let base = fingerprints(&file).unwrap();
        assert!(
            base["models"]["generator"]
                .get("decoder.onnx.data")
                .is_some()
        );
        check_or_record(&dir, &base, false).unwrap();
        for name in ["decoder.onnx", "decoder.onnx.data"] {
            std::fs::write(model.join(name), "v2").unwrap();
            let err = check_or_record(&dir, &fingerprints(&file).unwrap(), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("generator changed"), "{name}: {err}");
            std::fs::write(model.join(name), "v1").unwrap();
        }
        check_or_record(&dir, &fingerprints(&file).unwrap(), true).unwrap();
    }

    #[test]
    fn a_format_1_fingerprint_resumes_on_its_files_and_is_upgraded() {
        let tmp = scratch();
        let dir = tmp.path().to_path_buf();
        let file = model_folder(&dir);
        let now = fingerprints(&file).unwrap();
        // What a run folder from before the format key holds.
        let v1 = v1_view(&now["models"]);
        std::fs::write(dir.join(NAME), v1.to_string()).unwrap();
        check_or_record(&dir, &now, true).unwrap();
        let kept: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(NAME)).unwrap()).unwrap();
        assert_eq!(kept, now, "upgraded to format 2");
        // A format-1 file that disagrees on a file it covers is still refused.
        let mut other = v1.clone();
        other["generator"]["tokenizer.json"]["digest"] = json!("0");
        std::fs::write(dir.join(NAME), other.to_string()).unwrap();
        let err = check_or_record(&dir, &now, true).unwrap_err().to_string();
        assert!(err.contains("generator changed"), "{err}");
    }
}
