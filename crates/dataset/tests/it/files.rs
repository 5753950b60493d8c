//! Reading and writing JSONL files.

use std::path::PathBuf;

use ttc_dataset::demo::{self, Split};
use ttc_dataset::{DatasetError, Problem, read_problems};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn written_splits_read_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.jsonl");
    assert_eq!(demo::write_train(&path, 11, 300).unwrap(), 300);
    let back = read_problems(&path).unwrap();
    assert_eq!(back, demo::DemoWorld::default().train_problems(11, 300));
    assert_eq!(back[299].unique_id, "demo/train/000299");

    let path = dir.path().join("nested/test.jsonl");
    assert_eq!(demo::write_fixed(&path, Split::Test, Some(10)).unwrap(), 10);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 10);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    for field in ["problem", "solution", "answer", "level", "unique_id"] {
        assert!(first.get(field).is_some(), "missing {field}");
    }
    assert!(first["answer"].is_string() && first["level"].is_u64());
}

#[test]
fn math500_lines_load() {
    let problems: Vec<Problem> = read_problems(data("math500_sample.jsonl")).unwrap();
    assert_eq!(problems.len(), 3);
    assert_eq!(problems[0].extra["subject"], "Precalculus");
    assert_eq!(problems[0].level, 2);
    assert_eq!(problems[0].answer, "\\left( 3, \\frac{\\pi}{2} \\right)");
}

#[test]
fn a_malformed_line_is_reported_with_file_and_line() {
    let path = data("malformed.jsonl");
    let err = read_problems(&path).unwrap_err();
    assert!(
        matches!(err, DatasetError::BadLine { line: 3, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("malformed.jsonl:3:") && msg.contains("answer"),
        "{msg}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let err = read_problems("/nonexistent/x.jsonl")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/x.jsonl"), "{err}");
}
