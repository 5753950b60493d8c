//! Append-only JSONL files that survive being killed mid-write.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use ttc_core::{Error, Result};

/// Appends one record as a line and flushes it to the OS.
pub fn append_record<T: Serialize>(path: &Path, record: &T) -> Result<()> {
    let mut line =
        serde_json::to_string(record).map_err(|e| Error::invalid("record", e.to_string()))?;
    line.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    // One write call per line: a kill leaves whole lines or one torn last line.
    file.write_all(line.as_bytes())
        .map_err(|e| Error::io(path, e))?;
    file.flush().map_err(|e| Error::io(path, e))
}

/// Reads every record of `path` (none when it does not exist). A torn last line
/// (no newline: the run was killed while writing it) is cut off the file; a bad
/// line elsewhere is an error naming the file and line.
pub fn read_records<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let (lines, torn) = ttc_jsonl::read_appended(path).map_err(|e| match e {
        ttc_jsonl::JsonlError::Io { source, .. } => Error::io(path, source),
        e => Error::invalid(
            "results file",
            format!("{e}; fix or delete the line to resume"),
        ),
    })?;
    if let Some(torn) = torn {
        tracing::warn!(file = %path.display(), line = torn.line, "dropping a torn last line left by an interrupted run");
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        file.set_len(torn.complete_bytes as u64)
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(lines.into_iter().map(|l| l.value).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_dropped_and_the_file_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        std::fs::write(&path, "[1]\n[2]\n[3").unwrap();
        let v: Vec<Vec<u32>> = read_records(&path).unwrap();
        assert_eq!(v, vec![vec![1], vec![2]]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[1]\n[2]\n");
        append_record(&path, &vec![4u32]).unwrap();
        let v: Vec<Vec<u32>> = read_records(&path).unwrap();
        assert_eq!(v.len(), 3);
        std::fs::write(&path, "[1]\nnot json\n[3]\n").unwrap();
        let err = read_records::<Vec<u32>>(&path).unwrap_err().to_string();
        assert!(err.contains(":2:"), "{err}");
    }
}
