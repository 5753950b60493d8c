//! Reading and writing JSON Lines files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DatasetError, Result};
use crate::record::Problem;

const PROBLEM_FIELDS: &str =
    " with the fields problem, solution, answer (string), level (1-5) and unique_id";

/// Reads dataset rows ([`Problem`]s) from a JSONL file, e.g. MATH-500's `test.jsonl`
/// or a file written by [`crate::demo::write_train`] or [`crate::demo::DemoWorld::write_split`].
///
/// Blank lines are skipped. A malformed line fails with its path and line number.
pub fn read_problems(path: impl AsRef<Path>) -> Result<Vec<Problem>> {
    read_records(path.as_ref(), PROBLEM_FIELDS)
}

/// Writes dataset rows to a JSONL file, one JSON object per line (creating parent
/// folders, replacing an existing file). Returns the number of lines written.
pub fn write_problems<'a>(
    path: impl AsRef<Path>,
    problems: impl IntoIterator<Item = &'a Problem>,
) -> Result<usize> {
    write_jsonl(path, problems)
}

/// Reads any JSONL file into records of type `T` (one JSON value per non-blank line).
///
/// A line that is not valid JSON, or does not fit `T`, fails with the path, the
/// 1-based line number and serde's description (which names the field).
pub fn read_jsonl<T: DeserializeOwned>(path: impl AsRef<Path>) -> Result<Vec<T>> {
    read_records(path.as_ref(), "")
}

fn read_records<T: DeserializeOwned>(path: &Path, expected: &str) -> Result<Vec<T>> {
    let lines = ttc_jsonl::read(path).map_err(|e| match e {
        ttc_jsonl::JsonlError::Io { path, source } => DatasetError::Io {
            action: "cannot read",
            path,
            source,
        },
        ttc_jsonl::JsonlError::Line { path, bad } => DatasetError::BadLine {
            path,
            line: bad.line,
            message: match bad.column {
                Some(c) => format!("column {c}: {}", bad.message),
                None => bad.message,
            },
            expected: expected.to_owned(),
        },
    })?;
    Ok(lines.into_iter().map(|l| l.value).collect())
}

/// Writes records as JSONL, one compact JSON object per line, creating parent
/// folders and replacing an existing file. Returns the number of lines written.
pub fn write_jsonl<T: Serialize>(
    path: impl AsRef<Path>,
    records: impl IntoIterator<Item = T>,
) -> Result<usize> {
    let path = path.as_ref();
    let io_err = |action: &'static str| {
        move |source| DatasetError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err("cannot create the folder of"))?;
    }
    let mut out = BufWriter::new(File::create(path).map_err(io_err("cannot create"))?);
    let mut count = 0;
    for (index, record) in records.into_iter().enumerate() {
        serde_json::to_writer(&mut out, &record).map_err(|source| DatasetError::Encode {
            path: path.to_path_buf(),
            index,
            source,
        })?;
        out.write_all(b"\n").map_err(io_err("cannot write"))?;
        count += 1;
    }
    out.flush().map_err(io_err("cannot write"))?;
    Ok(count)
}
