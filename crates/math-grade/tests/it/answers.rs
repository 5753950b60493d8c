//! The answer grading table `tests/answers.tsv`: gold, prediction, expected verdict
//! and kind, one pair a line. Failures are reported by line.

use std::collections::BTreeMap;

use ttc_math_grade::{GradeMode, grade};

/// One row of the table.
pub(crate) struct Row {
    pub(crate) line: usize,
    pub(crate) gold: String,
    pub(crate) pred: String,
    pub(crate) equal: bool,
    pub(crate) kind: String,
}

pub(crate) const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/answers.tsv");

/// Reads the table; a malformed line panics with its file and line number.
pub(crate) fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(TABLE).expect("the answer table is readable");
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let at = format!("{TABLE}:{}", index + 1);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [gold, pred, expected, kind] = fields[..] else {
            panic!(
                "{at}: expected 4 tab-separated fields (gold, prediction, expected, kind), found {}",
                fields.len()
            );
        };
        let equal = match expected.trim() {
            "equal" => true,
            "different" => false,
            other => panic!("{at}: expected is {other:?}; use equal or different"),
        };
        let unescape = |s: &str| s.replace('\u{23ce}', "\n");
        rows.push(Row {
            line: index + 1,
            gold: unescape(gold),
            pred: unescape(pred),
            equal,
            kind: kind.trim().to_owned(),
        });
    }
    rows
}

#[test]
fn the_table_passes_both_ways_round() {
    let rows = rows();
    assert!(rows.len() >= 200, "the table has {} pairs", rows.len());
    let mut failures = Vec::new();
    let mut kinds: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for row in &rows {
        let entry = kinds.entry(&row.kind).or_default();
        entry.0 += 1;
        entry.1 += usize::from(row.equal);
        for (gold, pred, way) in [
            (&row.gold, &row.pred, ""),
            (&row.pred, &row.gold, " (swapped)"),
        ] {
            let verdict = grade(gold, pred, GradeMode::Math).expect("math grading never fails");
            if verdict.correct != row.equal {
                failures.push(format!(
                    "answers.tsv:{} [{}]{way}: expected {}, got {}; gold {:?} -> {:?}, prediction {:?} -> {:?} -> {:?}",
                    row.line,
                    row.kind,
                    if row.equal { "equal" } else { "different" },
                    if verdict.correct { "equal" } else { "different" },
                    gold,
                    verdict.gold,
                    pred,
                    verdict.extracted,
                    verdict.pred,
                ));
            }
        }
    }
    let summary: Vec<String> = kinds
        .iter()
        .map(|(kind, (n, eq))| format!("{kind} {n} ({eq} equal)"))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} checks failed:\n{}\nkinds: {}",
        failures.len(),
        2 * rows.len(),
        failures.join("\n"),
        summary.join(", ")
    );
}
