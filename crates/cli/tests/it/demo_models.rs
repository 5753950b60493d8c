//! The trained demo models (`models/demo/*`, made by `cargo xtask train-demo`) loaded
//! the way ttc loads them.
//!
//! A missing model fails these tests: the models are committed. The generator is
//! checked on its spread of pass@1 over test questions (16 samples each), the PRM on
//! pairs from the questions with mixed outcomes (a correct sample and the same sample
//! with one step's result changed and the error carried to the answer), the ORM on
//! its one-score layout with earlier attempts, the larger generator against the
//! generator on greedy answers, the reviser on greedy revisions after a right, a
//! slipped and an unrelated attempt, and the reviser with both verifiers end to end
//! through `ttc solve` with `config/demo-models-test.toml`.

use std::path::{Path, PathBuf};
use std::process::Command;

use ttc_core::{
    AnswerFormat, Generator, Prompt, SamplingParams, ScoreRequest, StopCriteria, Verifier,
};
use ttc_dataset::demo::{DemoWorld, Split};
use ttc_generator::OnnxGenerator;
use ttc_math_grade::{GradeMode, grade};
use ttc_prm_verifier::{Preset, PrmAdapter, PrmVerifier, ScoreMode};
use ttc_reviser::RevisionLayout;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn demo_model(name: &str) -> PathBuf {
    let dir = root().join("models/demo").join(name);
    assert!(
        dir.join("model.onnx").is_file(),
        "{} is missing: run `cargo xtask train-demo --stage {name}`",
        dir.join("model.onnx").display()
    );
    dir
}

fn load(name: &str, mode: ScoreMode) -> PrmVerifier {
    PrmVerifier::load(
        &demo_model(name),
        &PrmAdapter::preset(Preset::Demo).with_mode(mode),
        &ttc_core::RuntimeSettings::default(),
    )
    .unwrap_or_else(|e| panic!("loading models/demo/{name}: {e}"))
}

/// Samples per question and test questions of the shared sample below.
const SAMPLES: usize = 16;
const SAMPLED_QUESTIONS: usize = 80;
/// The demo world's target share of questions with pass@1 in [0.1, 0.9] is 0.3 to 0.5;
/// measured here 0.362 (29 of 80 questions; 0.420 on all 500 with 64 samples, card).
const MEDIUM_THRESHOLD: f64 = 0.3;
/// Pairs the PRM test needs: 49 of the 80 sampled questions have mixed outcomes, 47
/// of them give a pair.
const MIN_MIXED_PAIRS: usize = 40;

/// A test question with the demo generator's samples and which of them are right.
struct Sampled {
    question: String,
    level: u8,
    texts: Vec<String>,
    correct: Vec<bool>,
}

impl Sampled {
    fn pass_at_1(&self) -> f64 {
        self.correct.iter().filter(|&&c| c).count() as f64 / self.correct.len() as f64
    }
}

/// `SAMPLES` samples (T = 0.8, seeds fixed) of the base demo generator on the first
/// `SAMPLED_QUESTIONS` test questions, drawn once and shared by the tests below.
fn sampled() -> &'static [Sampled] {
    static CELL: std::sync::OnceLock<Vec<Sampled>> = std::sync::OnceLock::new();
    CELL.get_or_init(|| {
        let problems = DemoWorld::default().fixed_split(Split::Test).unwrap();
        let g = OnnxGenerator::load(
            &demo_model("generator"),
            &ttc_core::RuntimeSettings::default(),
        )
        .unwrap();
        let problems = &problems[..SAMPLED_QUESTIONS];
        let mut seqs = Vec::new();
        for (i, p) in problems.iter().enumerate() {
            let prompt = Prompt::Text(format!("Question: {}\nSolution:\n", p.problem));
            for k in 0..SAMPLES {
                seqs.push(g.start(&prompt, (i * SAMPLES + k) as u64).unwrap());
            }
        }
        let out = g
            .generate(
                &mut seqs,
                &SamplingParams::with_temperature(0.8),
                &StopCriteria::max_tokens(256),
            )
            .unwrap();
        problems
            .iter()
            .zip(out.chunks(SAMPLES))
            .map(|(p, outs)| {
                let texts: Vec<String> = outs.iter().map(|c| c.text.clone()).collect();
                let correct = texts
                    .iter()
                    .map(|t| {
                        GradeMode::Integer.extract(t).is_some_and(|a| {
                            grade(&p.answer, &a, GradeMode::Integer).unwrap().correct
                        })
                    })
                    .collect();
                Sampled {
                    question: p.problem.clone(),
                    level: p.level,
                    texts,
                    correct,
                }
            })
            .collect()
    })
}

/// The demo world is built so that test-time compute can pay: the generator can do
/// every kind of step but sometimes slips, so many questions are neither always nor
/// never solved, and pass@1 falls with the level.
#[test]
fn demo_generator_sometimes_slips() {
    let s = sampled();
    let medium = s
        .iter()
        .filter(|q| (0.1..=0.9).contains(&q.pass_at_1()))
        .count() as f64
        / s.len() as f64;
    let mean = |level: u8| {
        let at: Vec<f64> = s
            .iter()
            .filter(|q| q.level == level)
            .map(Sampled::pass_at_1)
            .collect();
        at.iter().sum::<f64>() / at.len().max(1) as f64
    };
    eprintln!(
        "demo generator, {} test questions x {SAMPLES} samples: pass@1 in [0.1, 0.9] on {medium:.3}; \
         mean pass@1 by level {:?}",
        s.len(),
        (1..=5).map(mean).collect::<Vec<_>>()
    );
    assert!(
        medium >= MEDIUM_THRESHOLD,
        "only {medium:.3} of the questions have pass@1 in [0.1, 0.9]"
    );
    assert!(
        mean(1) > mean(3) && mean(3) > mean(5),
        "pass@1 does not fall with the level"
    );
}

/// Greedy accuracy of a demo generator on the first `count` test questions.
fn greedy_accuracy(name: &str, count: usize) -> (f64, u64) {
    let problems = DemoWorld::default().fixed_split(Split::Test).unwrap();
    let g = OnnxGenerator::load(&demo_model(name), &ttc_core::RuntimeSettings::default())
        .unwrap_or_else(|e| panic!("loading models/demo/{name}: {e}"));
    let problems = &problems[..count];
    let mut seqs = problems
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let prompt = Prompt::Text(format!("Question: {}\nSolution:\n", p.problem));
            g.start(&prompt, i as u64).unwrap()
        })
        .collect::<Vec<_>>();
    let out = g
        .generate(
            &mut seqs,
            &SamplingParams::GREEDY,
            &StopCriteria::max_tokens(256),
        )
        .unwrap();
    let right = problems
        .iter()
        .zip(&out)
        .filter(|(p, c)| {
            GradeMode::Integer
                .extract(&c.text)
                .is_some_and(|a| grade(&p.answer, &a, GradeMode::Integer).unwrap().correct)
        })
        .count();
    (right as f64 / count as f64, g.info().parameters)
}

/// The FLOPs-matched comparison's larger model (models/demo/generator-large): 11x the
/// generator's parameters, same data and tokens, and far fewer slips (card, 500 test
/// questions: greedy 0.732 against the generator's 0.272; on the first 200, 0.755
/// against 0.270 in `docs/runs/demo-flops-matched`).
#[test]
fn demo_generator_large_is_eleven_times_larger_and_slips_less() {
    let (small, small_params) = greedy_accuracy("generator", 100);
    let (large, large_params) = greedy_accuracy("generator-large", 100);
    let ratio = large_params as f64 / small_params as f64;
    eprintln!(
        "greedy on 100 test questions: generator {small:.2}, generator-large {large:.2}; parameters x{ratio:.2}"
    );
    assert!((10.5..11.5).contains(&ratio), "parameter ratio {ratio:.2}");
    assert!(large >= 0.6, "generator-large greedy accuracy {large:.2}");
    assert!(
        large >= small + 0.3,
        "generator-large {large:.2} against the generator {small:.2}"
    );
}

/// Greedy answers of the demo reviser on `pairs`, each prompt laid out by
/// [`RevisionLayout::demo`] after the earlier attempt `attempt(i)` for pair i (none: the
/// generator's own prompt); whether each answer is right.
fn greedy_revisions(pairs: &[Pair], attempt: impl Fn(usize) -> Option<String>) -> Vec<bool> {
    let reviser = OnnxGenerator::load(
        &demo_model("reviser"),
        &ttc_core::RuntimeSettings::default(),
    )
    .unwrap_or_else(|e| panic!("loading models/demo/reviser: {e}"));
    let layout = RevisionLayout::demo();
    let mut seqs = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let earlier: Vec<String> = attempt(i).into_iter().collect();
            let prompt = Prompt::Text(layout.render(&p.question, &earlier));
            reviser.start(&prompt, i as u64).unwrap()
        })
        .collect::<Vec<_>>();
    let out = reviser
        .generate(
            &mut seqs,
            &SamplingParams::GREEDY,
            &StopCriteria::max_tokens(256),
        )
        .unwrap();
    pairs
        .iter()
        .zip(&out)
        .map(|(p, c)| {
            let reference = p.good.last().and_then(|l| l.strip_prefix("Answer: "));
            GradeMode::Integer
                .extract(&c.text)
                .zip(reference)
                .is_some_and(|(a, r)| grade(r, &a, GradeMode::Integer).unwrap().correct)
        })
        .collect()
}

fn share(right: &[bool]) -> f64 {
    right.iter().filter(|&&r| r).count() as f64 / right.len() as f64
}

/// Multi-step test problems of the reviser test, and its levels: greedy pass@1 after
/// the right solution (the last reviser, one epoch of training: 0.165 at T = 0.8
/// after a right attempt), the most a slipped copy may fall below no attempt, and
/// how far above another problem's slipped copy its own must be (about two standard
/// errors of a paired difference on 100 problems under the measured values).
const REVISER_PAIRS: usize = 100;
const REVISER_AFTER_RIGHT: f64 = 0.45;
const REVISER_SLIP_SLACK: f64 = 0.08;
const REVISER_READS_ATTEMPT: f64 = 0.08;

/// The demo reviser reads its earlier attempt: after a right solution it answers
/// right far more often than the last reviser did, and after a slipped copy (one
/// step's result raised by one, later lines following the wrong value) at least as
/// often as with no attempt, and more often than after another problem's slipped
/// copy. Greedy, on the first 100 test problems with two or more calculation steps;
/// measured here: no attempt 0.54, after the right solution 0.56, after a slipped
/// copy 0.55, after another problem's slipped copy 0.39.
#[test]
fn demo_reviser_reads_its_earlier_attempt() {
    let pairs = pairs(REVISER_PAIRS);
    let none = share(&greedy_revisions(&pairs, |_| None));
    let after_right = share(&greedy_revisions(&pairs, |i| {
        Some(pairs[i].good.join("\n"))
    }));
    let after_slip = share(&greedy_revisions(&pairs, |i| Some(pairs[i].bad.join("\n"))));
    // Control: the next problem's slipped copy (a cyclic shift).
    let after_other = share(&greedy_revisions(&pairs, |i| {
        Some(pairs[(i + 1) % pairs.len()].bad.join("\n"))
    }));
    eprintln!(
        "demo reviser, greedy on {} test problems: no attempt {none:.2}, after the right \
         solution {after_right:.2}, after a slipped copy {after_slip:.2}, after another \
         problem's slipped copy {after_other:.2}",
        pairs.len()
    );
    assert!(
        after_right >= REVISER_AFTER_RIGHT,
        "after the right solution {after_right:.2}"
    );
    assert!(
        after_slip >= none - REVISER_SLIP_SLACK,
        "after a slipped copy {after_slip:.2}, with no attempt {none:.2}"
    );
    assert!(
        after_slip >= after_other + REVISER_READS_ATTEMPT,
        "after its own slipped copy {after_slip:.2}, after another problem's {after_other:.2}"
    );
}

/// Steps of a solution and of a copy whose step `bad` has its written result raised
/// by one, later steps recomputed from it and the answer line changed to match; the
/// steps before `bad` stay as written, so the two differ from step `bad` on and only
/// there is the copy worse. `None` when a line does not parse or a value leaves the
/// demo world's 0..=999.
fn corrupt(solution: &str, bad: usize) -> Option<(Vec<String>, Vec<String>)> {
    let good: Vec<String> = solution.lines().map(str::to_string).collect();
    let n_calc = good.len().checked_sub(1)?;
    if bad >= n_calc {
        return None;
    }
    let mut out: Vec<String> = good[..bad].to_vec();
    let mut carried: Option<i64> = None;
    for line in &good[bad..n_calc] {
        let (lhs, rhs) = line.split_once(" = ")?;
        let parts: Vec<&str> = lhs.split(' ').collect();
        if parts.len() != 3 || !["+", "-", "x"].contains(&parts[1]) {
            return None;
        }
        let b: i64 = parts[2].parse().ok()?;
        let (a, c) = match carried {
            None => (parts[0].parse().ok()?, rhs.trim().parse::<i64>().ok()? + 1),
            Some(a) => {
                let c = match parts[1] {
                    "+" => a + b,
                    "-" => a - b,
                    "x" => a * b,
                    _ => return None,
                };
                (a, c)
            }
        };
        if !(0..=999).contains(&c) {
            return None;
        }
        out.push(format!("{a} {} {b} = {c}", parts[1]));
        carried = Some(c);
    }
    out.push(format!("Answer: {}", carried?));
    Some((good, out))
}

/// A test-set problem with its reference steps and a copy with one step corrupted.
#[derive(Clone)]
struct Pair {
    question: String,
    level: u8,
    good: Vec<String>,
    bad: Vec<String>,
}

/// The first `count` test-set problems with at least two calculation steps; the
/// corrupted step cycles over the calculation steps.
fn pairs(count: usize) -> Vec<Pair> {
    let problems = DemoWorld::default().fixed_split(Split::Test).unwrap();
    let mut out = Vec::new();
    for (i, p) in problems.iter().enumerate() {
        let n_calc = p.solution.lines().count().saturating_sub(1);
        if n_calc < 2 {
            continue;
        }
        if let Some((good, bad)) = corrupt(&p.solution, i % n_calc) {
            out.push(Pair {
                question: p.problem.clone(),
                level: p.level,
                good,
                bad,
            });
        }
        if out.len() == count {
            break;
        }
    }
    assert_eq!(out.len(), count, "not enough multi-step test problems");
    out
}

/// Per pair, whether the verifier scores the correct solution above the corrupted
/// one: by the last step's score (the solution's score in search and best-of-N), by
/// the lowest step score, and by the score of the corrupted step itself (false for
/// a one-score ORM). `question` maps the problem to what the verifier sees.
fn wins(v: &PrmVerifier, pairs: &[Pair], question: impl Fn(&Pair) -> String) -> Vec<[bool; 3]> {
    let questions: Vec<String> = pairs.iter().map(question).collect();
    let mut requests = Vec::new();
    for (p, q) in pairs.iter().zip(&questions) {
        requests.push(ScoreRequest {
            question: q,
            steps: &p.good,
        });
        requests.push(ScoreRequest {
            question: q,
            steps: &p.bad,
        });
    }
    let scores = v.score(&requests).unwrap();
    let min = |v: &[f32]| v.iter().copied().fold(f32::INFINITY, f32::min);
    scores
        .chunks(2)
        .zip(pairs)
        .map(|(s, p)| {
            let (g, b) = (&s[0].scores, &s[1].scores);
            // Only the corrupted step and those after it differ between the two.
            let k = p.good.iter().zip(&p.bad).position(|(x, y)| x != y).unwrap();
            [
                g.last() > b.last(),
                min(g) > min(b),
                g.len() == p.good.len() && g[k] > b[k],
            ]
        })
        .collect()
}

/// Fractions of pairs won, as [`wins`] counts them.
#[derive(Debug)]
struct Preference {
    last: f64,
    min: f64,
    at_step: f64,
}

impl Preference {
    fn of(wins: &[[bool; 3]]) -> Self {
        let share = |i: usize| wins.iter().filter(|w| w[i]).count() as f64 / wins.len() as f64;
        Preference {
            last: share(0),
            min: share(1),
            at_step: share(2),
        }
    }
}

/// Pairs on the sampled questions with mixed outcomes (some samples right, some
/// wrong): the question's first correct sample, and a copy with one calculation
/// step's result raised by one (the step cycles over the calculation steps).
fn mixed_pairs() -> Vec<Pair> {
    sampled()
        .iter()
        .filter(|q| q.correct.iter().any(|&c| c) && !q.correct.iter().all(|&c| c))
        .enumerate()
        .filter_map(|(i, q)| {
            let text = &q.texts[q.correct.iter().position(|&c| c)?];
            let n_calc = text.trim_end().lines().count().checked_sub(1)?;
            let (good, bad) = corrupt(text.trim_end(), i % n_calc.max(1))?;
            Some(Pair {
                question: q.question.clone(),
                level: q.level,
                good,
                bad,
            })
        })
        .collect()
}

#[test]
fn demo_prm_separates_right_from_wrong_samples_and_reports_pair_preference() {
    let v = load("prm", ScoreMode::Prm);
    let pairs = mixed_pairs();
    assert!(pairs.len() >= MIN_MIXED_PAIRS, "only {} pairs", pairs.len());
    // One score per step, each a probability.
    let one = v
        .score(&[ScoreRequest {
            question: &pairs[0].question,
            steps: &pairs[0].good,
        }])
        .unwrap();
    assert_eq!(one[0].scores.len(), pairs[0].good.len());
    assert!(one[0].scores.iter().all(|p| (0.0..=1.0).contains(p)));
    let won = wins(&v, &pairs, |p| p.question.clone());
    let p = Preference::of(&won);
    eprintln!(
        "demo PRM, correct above corrupted on {} pairs from mixed-outcome questions: at the \
         corrupted step {:.3}, last step {:.3}, lowest step {:.3}",
        pairs.len(),
        p.at_step,
        p.last,
        p.min
    );
    for level in 1..=5u8 {
        let at: Vec<[bool; 3]> = won
            .iter()
            .zip(&pairs)
            .filter(|(_, p)| p.level == level)
            .map(|(w, _)| *w)
            .collect();
        if !at.is_empty() {
            eprintln!(
                "  level {level}, {} pairs: {:?}",
                at.len(),
                Preference::of(&at)
            );
        }
    }
    // The last-step score against correctness: pooled over the sampled questions, and
    // within each question with mixed outcomes (the ranking best-of-N relies on).
    let Separation {
        pooled,
        within_mean,
        samples,
        mixed,
    } = separation(&v, |scores| *scores.last().unwrap());
    eprintln!(
        "demo PRM, last-step score against correctness: AUROC {pooled:.3} over {} samples, \
         {within_mean:.3} within a question (mean over {} mixed questions)",
        samples, mixed
    );
    assert!(
        p.at_step >= PRM_PAIR_PREFERENCE,
        "the PRM prefers the correct solution at the corrupted step on only {:.3} of {} pairs",
        p.at_step,
        pairs.len()
    );
    assert!(
        within_mean >= PRM_WITHIN_AUROC,
        "the PRM's within-question AUROC is {within_mean:.3}"
    );
    assert!(
        pooled >= PRM_POOLED_AUROC,
        "the PRM's last-step AUROC over the sampled questions is {pooled:.3}"
    );
}

/// The demo PRM reads a token's features from the trunk's prediction at the token
/// before, kept in its KV cache: scores continued step by step (as search scores a
/// candidate) and scores of a question's samples sharing one prompt prefix (which
/// ends inside the first step) equal reading every solution whole.
#[test]
fn demo_prm_continues_from_its_cache_as_it_reads_whole() {
    let v = load("prm", ScoreMode::Prm);
    let whole = load("prm", ScoreMode::Prm).with_cache(false);
    let mut worst = 0.0f32;
    let mut continued = 0;
    for q in &sampled()[..10] {
        let steps: Vec<Vec<String>> = q
            .texts
            .iter()
            .map(|t| t.trim_end().lines().map(String::from).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect();
        let requests: Vec<ScoreRequest<'_>> = steps
            .iter()
            .map(|s| ScoreRequest {
                question: &q.question,
                steps: s,
            })
            .collect();
        let full = whole.score(&requests).unwrap();
        let shared = v.score(&requests).unwrap();
        for (a, b) in full.iter().zip(&shared) {
            for (x, y) in a.scores.iter().zip(&b.scores) {
                worst = worst.max((x - y).abs());
            }
        }
        for (s, f) in steps.iter().zip(&full) {
            let mut state = None;
            for k in 1..=s.len() {
                let r = ScoreRequest {
                    question: &q.question,
                    steps: &s[..k],
                };
                let out = v.score_continuing(&[r], &[state.take()]).unwrap().remove(0);
                assert_eq!(out.reread_tokens, 0, "step {k} was re-read");
                for (x, y) in out.scores.scores.iter().zip(&f.scores[..k]) {
                    worst = worst.max((x - y).abs());
                }
                state = out.state;
                continued += 1;
            }
        }
    }
    eprintln!(
        "demo PRM: {continued} continued scorings, largest difference from full reading {worst:.2e}"
    );
    assert!(worst < 1e-4, "continued and whole scores differ by {worst}");
}

/// How a verifier's score separates right from wrong samples of the sampled test
/// questions: AUROC pooled, and its mean within questions with mixed outcomes.
struct Separation {
    pooled: f64,
    within_mean: f64,
    samples: usize,
    mixed: usize,
}

/// [`Separation`] of the score `pick` reads from each sample's step scores.
fn separation(v: &PrmVerifier, pick: impl Fn(&[f32]) -> f32) -> Separation {
    let mut scored: Vec<(f32, bool)> = Vec::new();
    let mut within = Vec::new();
    for q in sampled() {
        let steps: Vec<Vec<String>> = q
            .texts
            .iter()
            .map(|t| t.trim_end().lines().map(String::from).collect())
            .collect();
        let requests: Vec<ScoreRequest<'_>> = steps
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| ScoreRequest {
                question: &q.question,
                steps: s,
            })
            .collect();
        let correct = steps.iter().zip(&q.correct).filter(|(s, _)| !s.is_empty());
        let this: Vec<(f32, bool)> = v
            .score(&requests)
            .unwrap()
            .iter()
            .zip(correct)
            .map(|(out, (_, &c))| (pick(&out.scores), c))
            .collect();
        if this.iter().any(|s| s.1) && !this.iter().all(|s| s.1) {
            within.push(auroc(&this));
        }
        scored.extend(this);
    }
    Separation {
        pooled: auroc(&scored),
        within_mean: within.iter().sum::<f64>() / within.len().max(1) as f64,
        samples: scored.len(),
        mixed: within.len(),
    }
}

/// Area under the ROC curve of `(score, positive)` pairs (ties count half).
fn auroc(scored: &[(f32, bool)]) -> f64 {
    let pos: Vec<f32> = scored.iter().filter(|s| s.1).map(|s| s.0).collect();
    let neg: Vec<f32> = scored.iter().filter(|s| !s.1).map(|s| s.0).collect();
    let mut wins = 0.0;
    for &p in &pos {
        for &n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()).max(1) as f64
}

#[test]
fn demo_orm_reads_one_score_per_attempt_with_its_earlier_attempts() {
    let v = load("orm", ScoreMode::Orm);
    // A question with one earlier attempt must fit the ORM's 512 positions: solutions
    // of up to 8 steps do (ttc's reviser drops earlier attempts that would not fit).
    let pairs: Vec<Pair> = pairs(PAIRS)
        .into_iter()
        .filter(|p| p.good.len() <= 9)
        .collect();
    assert!(pairs.len() >= 100, "{} short pairs", pairs.len());
    // One score per attempt, read at its last step, a probability.
    let Pair {
        question: q,
        good,
        bad,
        ..
    } = &pairs[0];
    let with_earlier = format!("{q}\nAttempt:\n{}", bad.join("\n"));
    let s = v
        .score(&[
            ScoreRequest {
                question: q,
                steps: good,
            },
            ScoreRequest {
                question: &with_earlier,
                steps: good,
            },
        ])
        .unwrap();
    for one in &s {
        assert_eq!(one.scores.len(), 1);
        assert!((0.0..=1.0).contains(&one.scores[0]));
    }
    // The earlier attempt in the verifier question is read (ttc's reviser lays it out
    // so with `verifier-context = "earlier-attempts"`), so the score changes.
    assert!(
        (s[0].scores[0] - s[1].scores[0]).abs() > 1e-6,
        "the earlier attempt does not change the ORM's score: {s:?}"
    );
    assert!(s[1].processed_tokens > s[0].processed_tokens);
    // On reference solutions against a copy with one step's result raised by one,
    // the ORM is at chance (0.509 and 0.500 of 114 pairs when measured): it was
    // trained on the reviser's attempts, whose errors look otherwise. Reported only.
    let plain = Preference::of(&wins(&v, &pairs, |p| p.question.clone())).last;
    let after = Preference::of(&wins(&v, &pairs, |p| {
        format!("{}\nAttempt:\n{}", p.question, p.bad.join("\n"))
    }))
    .last;
    eprintln!(
        "demo ORM: correct above corrupted on {plain:.3} (no earlier attempt) and {after:.3} (after one) of {} pairs",
        pairs.len()
    );
    // What it is for: telling a right attempt from a wrong one. On the generator's
    // samples of the sampled test questions (a first attempt: no earlier one).
    let Separation {
        pooled,
        within_mean,
        samples,
        mixed,
    } = separation(&v, |scores| scores[0]);
    eprintln!(
        "demo ORM on the generator's samples: AUROC {pooled:.3} over {} samples, {within_mean:.3} \
         within a question (mean over {} mixed questions)",
        samples, mixed
    );
    assert!(
        pooled >= ORM_POOLED_AUROC,
        "the ORM's AUROC over the sampled questions is {pooled:.3}"
    );
}

fn solve(args: &[&str]) -> serde_json::Value {
    for name in ["prm", "reviser", "orm"] {
        demo_model(name);
    }
    let config = root().join("config/demo-models-test.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .arg("solve")
        .arg("--config")
        .arg(&config)
        .args(args)
        .output()
        .expect("running ttc");
    assert!(
        out.status.success(),
        "ttc solve {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ttc solve --json prints one JSON object")
}

#[test]
fn reviser_and_orm_run_through_ttc_solve() {
    let question = "Start with 12. Add 5. Subtract 3. What is the result?";
    let out = solve(&[
        "--strategy",
        "revise",
        "--budget",
        "8",
        "--sequential-ratio",
        "2",
        "--seed",
        "3",
        "--json",
        question,
    ]);
    assert_eq!(out["split"]["chains"], 2);
    assert_eq!(out["split"]["length"], 4);
    assert_eq!(out["selector"], "weighted", "the ORM picks the answer");
    let attempts: Vec<&serde_json::Value> = out["chains"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["attempts"].as_array().unwrap())
        .collect();
    assert_eq!(attempts.len(), 8);
    // The reviser writes the documented format: steps, then `Answer: N`, then EOS.
    let graded = attempts
        .iter()
        .filter(|a| {
            a["answer"]
                .as_str()
                .is_some_and(|s| s.parse::<i64>().is_ok())
        })
        .count();
    assert!(
        graded >= 6,
        "only {graded} of 8 attempts end in `Answer: N`: {out}"
    );
    for a in &attempts {
        if let Some(score) = a["score"].as_f64() {
            assert!((0.0..=1.0).contains(&score), "{a}");
        }
    }
    assert_eq!(out["chains"][0]["attempts"][1]["context_attempts"], 1);
    // Every attempt was scored by the ORM, and the answer is the one the ORM-weighted
    // rule picks: per chain the answer whose scores sum highest (carried by its
    // best-scored attempt), then across chains the same vote over those.
    let chains: Vec<Vec<(Option<String>, f64)>> = out["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| votes(&c["attempts"]))
        .collect();
    let picks: Vec<(Option<String>, f64)> = chains
        .iter()
        .filter_map(|votes| {
            let key = weighted_vote(votes)?;
            let best = votes
                .iter()
                .filter(|v| v.0.as_deref() == Some(key.as_str()))
                .map(|v| v.1)
                .fold(f64::MIN, f64::max);
            Some((Some(key), best))
        })
        .collect();
    assert_eq!(
        out["answer"].as_str(),
        weighted_vote(&picks).as_deref(),
        "{out}"
    );
    let pick = &out["chosen"];
    let chosen = &out["chains"][pick["chain"].as_u64().unwrap() as usize]["attempts"]
        [pick["attempt"].as_u64().unwrap() as usize];
    assert_eq!(chosen["answer"], out["answer"], "{out}");
    let compute = &out["compute"];
    assert_eq!(compute["generations"], 8);
    assert_eq!(compute["sampled_steps"], 8, "one completion per attempt");
    let read: u64 = attempts
        .iter()
        .map(|a| a["generated_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(compute["generated_tokens"].as_u64(), Some(read));
    assert!(compute["verifier_tokens"].as_u64().unwrap() > 0);
}

/// `(answer, score)` of each candidate or attempt in a JSON list.
fn votes(list: &serde_json::Value) -> Vec<(Option<String>, f64)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let answer = c["answer"].as_str().map(String::from);
            let score = c["score"].as_f64();
            assert!(
                answer.is_none() || score.is_some_and(|s| (0.0..=1.0).contains(&s)),
                "an answered candidate without a probability: {c}"
            );
            (answer, score.unwrap_or(0.0))
        })
        .collect()
}

/// The answer whose scores sum highest (ties: the one seen first), as the paper's
/// weighted best-of-N chooses.
fn weighted_vote(votes: &[(Option<String>, f64)]) -> Option<String> {
    let mut totals: Vec<(&str, f64)> = Vec::new();
    for (answer, score) in votes {
        let Some(a) = answer.as_deref() else { continue };
        match totals.iter_mut().find(|t| t.0 == a) {
            Some(t) => t.1 += score,
            None => totals.push((a, *score)),
        }
    }
    let mut best: Option<(&str, f64)> = None;
    for t in totals {
        if best.is_none_or(|b| t.1 > b.1) {
            best = Some(t);
        }
    }
    best.map(|b| b.0.to_string())
}

#[test]
fn prm_search_runs_through_ttc_solve() {
    let question = "Start with 12. Add 5. Subtract 3. What is the result?";
    for strategy in ["best-of-n", "beam"] {
        let out = solve(&[
            "--strategy",
            strategy,
            "--budget",
            "8",
            "--seed",
            "1",
            "--json",
            question,
        ]);
        let compute = &out["compute"];
        assert!(
            compute["verifier_tokens"].as_u64().unwrap() > 0,
            "{strategy}: {out}"
        );
        assert_eq!(compute["generations"], 8, "{strategy}: {out}");
        // Best-of-N draws 8 whole solutions; beam search keeps 8 beams and expands
        // them step by step, ending with 8 candidates too.
        let candidates = votes(&out["candidates"]);
        assert_eq!(candidates.len(), 8, "{strategy}: {out}");
        let steps = compute["sampled_steps"].as_u64().unwrap();
        match strategy {
            "best-of-n" => assert_eq!(steps, 8, "one completion per sample"),
            _ => assert!(steps > 8, "beam search samples step by step: {steps}"),
        }
        // The answer is the PRM-weighted vote over the candidates (the run file's
        // final selector), not just any integer.
        assert_eq!(
            out["answer"].as_str(),
            weighted_vote(&candidates).as_deref(),
            "{strategy}: {out}"
        );
    }
}

/// Reference-solution pairs for the ORM test: the first 200 multi-step test problems.
const PAIRS: usize = 200;
/// The PRM's targets (docs/results.md), each a floor sized to this test's sample:
/// pair preference at the corrupted step (target 0.85; 0.936 of the 47 pairs here and
/// 0.941 of 304 pairs on all 500 test questions, card), within-question AUROC of the
/// last-step score (target 0.75; 0.764 here over the 49 mixed questions, 0.798
/// over 310 in the card) and pooled AUROC (0.893 over the 1,280 samples here, 0.861 over 8,000
/// in the card). With about 50 pairs and mixed questions, a floor 0.05-0.1 under the measured
/// value is two to three standard errors.
const PRM_PAIR_PREFERENCE: f64 = 0.85;
const PRM_WITHIN_AUROC: f64 = 0.7;
const PRM_POOLED_AUROC: f64 = 0.8;
/// The ORM's floor on the generator's samples (its card: AUROC 0.912 on the
/// reviser's attempts of 100 test questions): measured here 0.770 pooled over the
/// 1,280 samples; 0.07 under it is about three standard errors. Within a question it
/// does not rank the generator's samples (0.440 over 49 mixed questions), so that is
/// printed, not asserted.
const ORM_POOLED_AUROC: f64 = 0.7;

#[test]
fn the_shipped_demo_policy_applies_to_a_new_question() {
    const QUESTION: &str = "Start with 23. Add 41. Subtract 12. What is the result?";
    let policy = root().join("config/demo-policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (fit it with config/demo-validation.toml)",
            policy.display()
        )
    });
    assert!(
        text.contains("validation"),
        "the shipped policy is fitted on the validation split"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .args(["solve", "--config"])
        .arg(root().join("config/demo.toml"))
        .arg("--policy")
        .arg(&policy)
        .args(["--budget", "16", "--json", QUESTION])
        .output()
        .expect("running ttc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((1..=5).contains(&v["bin"].as_u64().unwrap()));
    // The file's probe of 4 samples, paid from N = 16; the cell is N = 16's (the
    // largest fitted budget not above N), and a non-best-of-N choice runs at its
    // fitted method budget within the 12 the probe left.
    let choices: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(v["probe_samples"].as_u64(), Some(4), "{v}");
    super::check_policy_choice(&v, &choices, 16, 16);
    // The generations spent: the probe's plus the method's, less the probe samples it
    // reused; at most N (a revision choice fitted at 4 leaves the rest unspent).
    let spent = v["split"]["probe"].as_u64().unwrap() + v["method_budget"].as_u64().unwrap()
        - v["split"]["reused"].as_u64().unwrap();
    assert!(spent <= 16, "{v}");
    assert_eq!(v["compute"]["generations"].as_u64(), Some(spent), "{v}");
    assert_eq!(v["split"]["total"].as_u64(), Some(spent), "{v}");
    // The answer is the chosen method's on its budget, with the same seed. (Whether
    // it is right depends on the bin the probe gives, so rightness is not asserted.)
    super::check_same_as_the_method_alone(&v, &root().join("config/demo.toml"), QUESTION, 0);
}
