//! A reward model on its own (`ttc score`): per-step probabilities and the
//! aggregated score of given solutions, through the scoring path search uses.
//!
//! A file of solutions is read as JSONL, one `{"problem": ..., "steps": [...]}` per
//! line (`question` is accepted for `problem`; other fields are ignored). A line
//! whose steps extend an earlier line's steps on the same problem continues from that
//! line's state, so a file of growing prefixes (a search's nodes, a solution scored
//! step by step) reads each token once where the model has a cache.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use ttc_core::{ScoreAggregation, ScoreRequest, Verifier, VerifierState};

use crate::error::{Result, bail};

/// One solution to score.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ScoreLine {
    #[serde(alias = "question")]
    pub problem: String,
    pub steps: Vec<String>,
    /// Line number in its file (1-based); `None` for a solution from the command line.
    #[serde(skip)]
    pub line: Option<usize>,
}

/// The scores of one solution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScoredLine {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub problem: String,
    /// One probability per step (a PRM), or one for the last step (an ORM).
    pub step_scores: Vec<f32>,
    /// The step scores aggregated into one.
    pub score: Option<f32>,
    /// Tokens the model read for this line (less than its length when it continued
    /// from an earlier line).
    pub verifier_tokens: usize,
}

/// Reads a JSONL file of solutions; every bad line is named with its number.
pub fn read_lines(path: &Path) -> Result<Vec<ScoreLine>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => bail!("{}: cannot read it: {e}", path.display()),
    };
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for parsed in ttc_jsonl::parse_lines::<ScoreLine>(&text) {
        match parsed {
            Ok(l) if l.value.steps.is_empty() => errors.push(format!(
                "{}:{}: `steps` is empty; give at least one step",
                path.display(),
                l.number
            )),
            Ok(mut l) => {
                l.value.line = Some(l.number);
                lines.push(l.value);
            }
            Err(bad) => errors.push(format!(
                "{}:{bad}; each line is {{\"problem\": \"...\", \"steps\": [\"...\", ...]}}",
                path.display(),
            )),
        }
    }
    if !errors.is_empty() {
        let more = errors.len().saturating_sub(10);
        let mut message = errors.into_iter().take(10).collect::<Vec<_>>().join("\n");
        if more > 0 {
            message.push_str(&format!("\n... and {more} more bad lines"));
        }
        bail!("{message}");
    }
    if lines.is_empty() {
        bail!("{}: no solutions in it", path.display());
    }
    Ok(lines)
}

/// A state's key: the problem and the steps it covers.
fn key(problem: &str, steps: &[String]) -> String {
    let mut k = problem.to_string();
    for s in steps {
        k.push('\u{0}');
        k.push_str(s);
    }
    k
}

/// Scores `lines` in batches of at most `batch`, each line continuing from the state
/// of the longest earlier line on its problem whose steps are a prefix of its own
/// (lines are batched by how many such ancestors they have, so a parent is scored
/// before its children), and hands the results to `sink` in file order. An error
/// names the line it comes from.
pub fn score_lines(
    verifier: &dyn Verifier,
    lines: &[ScoreLine],
    aggregation: ScoreAggregation,
    batch: usize,
    mut sink: impl FnMut(ScoredLine) -> Result<()>,
) -> Result<()> {
    // Each line's parent: the latest earlier line with the longest prefix of its steps.
    let mut latest: HashMap<String, usize> = HashMap::new();
    let mut parent: Vec<Option<usize>> = Vec::with_capacity(lines.len());
    let mut depth: Vec<usize> = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let p = (1..l.steps.len())
            .rev()
            .find_map(|k| latest.get(&key(&l.problem, &l.steps[..k])).copied());
        parent.push(p);
        depth.push(p.map_or(0, |p| depth[p] + 1));
        latest.insert(key(&l.problem, &l.steps), i);
    }
    let mut states: Vec<Option<VerifierState>> = vec![None; lines.len()];
    let mut results: Vec<Option<ScoredLine>> = vec![None; lines.len()];
    let levels = depth.iter().max().map_or(0, |d| d + 1);
    for level in 0..levels {
        let members: Vec<usize> = (0..lines.len()).filter(|&i| depth[i] == level).collect();
        for chunk in members.chunks(batch.max(1)) {
            let prior: Vec<Option<VerifierState>> = chunk
                .iter()
                .map(|&i| parent[i].and_then(|p| states[p].clone()))
                .collect();
            let requests: Vec<ScoreRequest<'_>> = chunk
                .iter()
                .map(|&i| ScoreRequest {
                    question: &lines[i].problem,
                    steps: &lines[i].steps,
                })
                .collect();
            let scored = match verifier.score_continuing(&requests, &prior) {
                Ok(s) => s,
                Err(e) => {
                    let rows: Vec<&ScoreLine> = chunk.iter().map(|&i| &lines[i]).collect();
                    return Err(name_bad_line(verifier, &rows, e));
                }
            };
            for (&i, c) in chunk.iter().zip(scored) {
                states[i] = c.state;
                results[i] = Some(ScoredLine {
                    line: lines[i].line,
                    problem: lines[i].problem.clone(),
                    score: aggregation.apply(&c.scores.scores),
                    step_scores: c.scores.scores,
                    verifier_tokens: c.scores.processed_tokens,
                });
            }
        }
        // A level's parents are done with once their children are scored.
        for i in 0..lines.len() {
            if level > 0 && depth[i] == level - 1 {
                states[i] = None;
            }
        }
    }
    for r in results {
        sink(r.expect("every line is in one level"))?;
    }
    Ok(())
}

/// After a batch failed: the first line that fails alone, named, or the batch's error.
fn name_bad_line(
    verifier: &dyn Verifier,
    chunk: &[&ScoreLine],
    batch_error: ttc_core::Error,
) -> crate::Error {
    for l in chunk {
        let request = ScoreRequest {
            question: &l.problem,
            steps: &l.steps,
        };
        if let Err(e) = verifier.score(&[request]) {
            return crate::Error::Config(match l.line {
                Some(n) => format!("line {n}: {e}"),
                None => e.to_string(),
            });
        }
    }
    batch_error.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ttc_core::testing::HashVerifier;

    fn line(problem: &str, steps: &[&str], n: usize) -> ScoreLine {
        ScoreLine {
            problem: problem.into(),
            steps: steps.iter().map(|s| s.to_string()).collect(),
            line: Some(n),
        }
    }

    #[test]
    fn every_line_is_scored_in_order_whatever_the_batch() {
        let v = HashVerifier::default();
        let lines = vec![
            line("q1", &["a"], 1),
            line("q1", &["a", "b"], 2),
            line("q2", &["c", "d"], 3),
        ];
        let run = |batch: usize| {
            let mut out = Vec::new();
            score_lines(&v, &lines, ScoreAggregation::Min, batch, |s| {
                out.push(s);
                Ok(())
            })
            .unwrap();
            out
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(
            one.iter().map(|s| s.line).collect::<Vec<_>>(),
            vec![Some(1), Some(2), Some(3)]
        );
        for s in &one {
            let min = s.step_scores.iter().copied().fold(f32::INFINITY, f32::min);
            assert_eq!(s.score, Some(min));
        }
    }

    #[test]
    fn a_line_continues_from_the_longest_earlier_prefix() {
        let v = HashVerifier::continuing();
        let lines = vec![
            line("q", &["ab"], 1),
            line("q", &["ab", "cd"], 2),
            line("other", &["ab", "cd"], 3),
            line("q", &["ab", "cd", "e"], 4),
            line("q", &["ab", "xy"], 5),
        ];
        let mut out = Vec::new();
        score_lines(&v, &lines, ScoreAggregation::Last, 64, |s| {
            out.push(s);
            Ok(())
        })
        .unwrap();
        let read: Vec<usize> = out.iter().map(|s| s.verifier_tokens).collect();
        assert_eq!(read, vec![2, 2, 4, 1, 2]);
        let full = HashVerifier::default();
        for (l, s) in lines.iter().zip(&out) {
            let want = full
                .score(&[ScoreRequest {
                    question: &l.problem,
                    steps: &l.steps,
                }])
                .unwrap();
            assert_eq!(s.step_scores, want[0].scores);
        }
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(
            &path,
            "{\"problem\": \"q\", \"steps\": [\"a\"]}\n\n{\"problem\": \"q\"}\n{\"question\": \"q\", \"steps\": []}\nnot json\n",
        )
        .unwrap();
        let err = read_lines(&path).unwrap_err().to_string();
        assert!(
            err.contains("in.jsonl:3:") && err.contains("missing field `steps`"),
            "{err}"
        );
        assert!(err.contains("in.jsonl:4: `steps` is empty"), "{err}");
        assert!(err.contains("in.jsonl:5:"), "{err}");
        assert!(!err.contains("in.jsonl:1:"), "{err}");
        std::fs::write(
            &path,
            "{\"question\": \"q\", \"steps\": [\"a\"], \"label\": 1}\n",
        )
        .unwrap();
        assert_eq!(read_lines(&path).unwrap(), vec![line("q", &["a"], 1)]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
