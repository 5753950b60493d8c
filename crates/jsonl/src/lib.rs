//! The one JSON Lines reader of ttc: datasets, results files, sweeps, solutions to
//! score, answers to grade and prompts all go through it.
//!
//! A file holds one JSON value per line; blank lines are skipped. A line that is not
//! valid JSON, holds more than one value, or does not fit the type asked for is an
//! error that names the file, the 1-based line and column, and serde's reason
//! ([`JsonlError::Line`]).
//!
//! Files that a run appends to (results, difficulty and reference records) are
//! written one whole line per write call, so a run killed mid-write leaves at most one
//! torn last line: text after the last newline. [`read_appended`] returns such a line
//! apart ([`Torn`]) instead of failing on it, for the owner to drop and repair; every
//! other reader treats a last line without its newline as a line like any other.
//!
//! This crate reads files but knows no record type: callers turn [`JsonlError`] into
//! their own errors and add what a line should hold.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// One parsed value and the line it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Line<T> {
    /// 1-based line number in the file.
    pub number: usize,
    pub value: T,
}

/// Why one line was not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// 1-based column where parsing stopped, when serde knows it (a value of the
    /// wrong shape may be known only as a whole).
    pub column: Option<usize>,
    /// serde's reason, without its position.
    pub message: String,
}

/// An error reading a JSONL file.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    #[error("{}: cannot read it: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{bad}", path.display())]
    Line { path: PathBuf, bad: BadLine },
}

/// `LINE:COLUMN: reason`, or `LINE: reason` without a column.
impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.column {
            Some(c) => write!(f, "{}:{c}: {}", self.line, self.message),
            None => write!(f, "{}: {}", self.line, self.message),
        }
    }
}

/// A last line without its newline, left by a writer that was stopped mid-line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Torn {
    /// Its 1-based line number.
    pub line: usize,
    /// Bytes of the file before it: the length to cut the file back to.
    pub complete_bytes: usize,
}

/// Parses every non-blank line of `text`, in order; a bad line does not stop the
/// others, so a caller can report several at once.
pub fn parse_lines<T: DeserializeOwned>(text: &str) -> Vec<Result<Line<T>, BadLine>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map(|value| Line {
                    number: i + 1,
                    value,
                })
                .map_err(|e| bad_line(i + 1, &e))
        })
        .collect()
}

fn bad_line(line: usize, e: &serde_json::Error) -> BadLine {
    // serde_json appends " at line L column C" (of the one line it saw); the file's
    // line number replaces it.
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    BadLine {
        line,
        column: (e.column() > 0).then_some(e.column()),
        message,
    }
}

/// Parses `text`, failing on the first bad line (named with `path`).
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<Vec<Line<T>>, JsonlError> {
    parse_lines(text)
        .into_iter()
        .map(|r| {
            r.map_err(|bad| JsonlError::Line {
                path: path.to_path_buf(),
                bad,
            })
        })
        .collect()
}

fn read_text(path: &Path) -> Result<String, JsonlError> {
    std::fs::read_to_string(path).map_err(|source| JsonlError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads every value of the file at `path`; the first bad line is an error.
pub fn read<T: DeserializeOwned>(path: impl AsRef<Path>) -> Result<Vec<Line<T>>, JsonlError> {
    let path = path.as_ref();
    parse(path, &read_text(path)?)
}

/// Reads a file that a run appends to: no file is no records, and a last line
/// without its newline is returned apart as [`Torn`], not parsed. A bad line
/// elsewhere is an error.
pub fn read_appended<T: DeserializeOwned>(
    path: impl AsRef<Path>,
) -> Result<(Vec<Line<T>>, Option<Torn>), JsonlError> {
    let path = path.as_ref();
    let text = match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
        r => r.map_err(|source| JsonlError::Io {
            path: path.to_path_buf(),
            source,
        })?,
    };
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let torn = (complete < text.len()).then(|| Torn {
        line: text[..complete].lines().count() + 1,
        complete_bytes: complete,
    });
    Ok((parse(path, &text[..complete])?, torn))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(lines: Vec<Line<Vec<u32>>>) -> Vec<(usize, Vec<u32>)> {
        lines.into_iter().map(|l| (l.number, l.value)).collect()
    }

    #[test]
    fn lines_are_numbered_in_the_file_and_blank_ones_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, "[1]\n\n  \n[2, 3]\n[4]").unwrap();
        let lines: Vec<Line<Vec<u32>>> = read(&path).unwrap();
        assert_eq!(values(lines), [(1, vec![1]), (4, vec![2, 3]), (5, vec![4])]);
    }

    #[test]
    fn a_bad_line_is_named_by_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.jsonl");
        std::fs::write(&path, "[1]\n\n[2, x]\n").unwrap();
        let err = read::<Vec<u32>>(&path).unwrap_err().to_string();
        let at = format!("{}:3:5: expected value", path.display());
        assert_eq!(err, at);
        // Two values on one line, or a value of the wrong shape, are bad lines too.
        let parsed = parse_lines::<Vec<u32>>("[1] [2]\n{\"a\": 1}\n[3]\n");
        let bad: Vec<(usize, Option<usize>)> = parsed
            .iter()
            .filter_map(|r| r.as_ref().err().map(|b| (b.line, b.column)))
            .collect();
        assert_eq!(bad, [(1, Some(5)), (2, None)]);
        assert!(
            parsed[1]
                .as_ref()
                .unwrap_err()
                .message
                .contains("expected a sequence")
        );
        assert_eq!(parsed[2].as_ref().unwrap().value, vec![3]);
        let missing = read::<u32>(dir.path().join("none.jsonl")).unwrap_err();
        assert!(
            missing.to_string().contains("none.jsonl: cannot read it"),
            "{missing}"
        );
    }

    #[test]
    fn an_appended_file_sets_its_torn_last_line_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        let (none, torn) = read_appended::<u32>(&path).unwrap();
        assert!(none.is_empty() && torn.is_none());
        std::fs::write(&path, "[1]\n\n[2]\n[3, ").unwrap();
        let (lines, torn) = read_appended::<Vec<u32>>(&path).unwrap();
        assert_eq!(values(lines), [(1, vec![1]), (3, vec![2])]);
        assert_eq!(
            torn,
            Some(Torn {
                line: 4,
                complete_bytes: 9
            })
        );
        // Whole lines: nothing torn. A bad complete line is still an error.
        std::fs::write(&path, "[1]\n").unwrap();
        assert_eq!(read_appended::<Vec<u32>>(&path).unwrap().1, None);
        std::fs::write(&path, "[1]\nnot json\n[3").unwrap();
        let err = read_appended::<Vec<u32>>(&path).unwrap_err().to_string();
        assert!(err.contains("results.jsonl:2:2"), "{err}");
    }
}
