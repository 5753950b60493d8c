//! Revision chains on the scripted generator of `ttc-core`'s test doubles (its
//! attempts are random characters), so no ONNX Runtime is needed. The verifiers and
//! answer formats here are simple rules, the inputs of the properties; end-to-end
//! runs with real models live in the CLI tests.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use proptest::prelude::*;
use ttc_core::testing::ScriptedGenerator;
use ttc_core::{
    AnswerFormat, Completion, Generator, ModelInfo, Prompt, Result, SamplingParams, ScoreRequest,
    Selector, Sequence, StepScores, StopCriteria, Verifier, Vote, select,
};
use ttc_reviser::{
    ChainSplit, Reviser, ReviserSettings, RevisionLayout, RevisionOutcome, Transitions,
    VerifierContext, chain_transitions, context_window, select_over_chains,
};

const QUESTION: &str = "12 + 7 =";

fn generator() -> &'static ScriptedGenerator {
    static G: OnceLock<ScriptedGenerator> = OnceLock::new();
    // As many positions as the tiny Llama fixture, which the limits below assume.
    G.get_or_init(|| ScriptedGenerator::default().with_max_positions(512))
}

fn info() -> ModelInfo {
    ModelInfo {
        name: "rule".into(),
        parameters: 1000,
        provider: Generator::info(generator()).provider.clone(),
        max_positions: None,
    }
}

/// An answer is the last character of an attempt of at least 4 characters, reduced
/// to one of three values, so attempts agree often enough for votes to matter.
struct LastChar;

impl AnswerFormat for LastChar {
    fn extract(&self, solution: &str) -> Option<String> {
        (solution.chars().count() >= 4)
            .then(|| solution.chars().last().map(|c| (c as u32 % 3).to_string()))
            .flatten()
    }
    fn key(&self, answer: &str) -> String {
        answer.to_string()
    }
}

/// Scores each step with a hash of the text so far, in [0, 1]; reads one token per
/// byte of the question and steps; records the questions it was given.
struct Hashed {
    info: ModelInfo,
    questions: Mutex<Vec<String>>,
}

impl Hashed {
    fn new() -> Self {
        Hashed {
            info: info(),
            questions: Mutex::new(Vec::new()),
        }
    }
}

impl Verifier for Hashed {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn score(&self, requests: &[ScoreRequest<'_>]) -> Result<Vec<StepScores>> {
        let mut seen = self.questions.lock().unwrap();
        Ok(requests
            .iter()
            .map(|r| {
                seen.push(r.question.to_string());
                let mut h = ttc_core::hash::FNV1A_OFFSET;
                let scores = r
                    .steps
                    .iter()
                    .map(|s| {
                        h = ttc_core::hash::fnv1a_extend(h, s.as_bytes());
                        (h >> 40) as f32 / (1u64 << 24) as f32
                    })
                    .collect();
                StepScores {
                    scores,
                    processed_tokens: r.question.len()
                        + r.steps.iter().map(String::len).sum::<usize>(),
                }
            })
            .collect())
    }
}

/// The scripted generator, recording what each generation call was asked to continue:
/// the full text of every sequence (the prompt it started on, then everything
/// appended and generated).
struct Recording {
    inner: &'static ScriptedGenerator,
    prompts: Mutex<HashMap<Vec<u32>, String>>,
    calls: Mutex<Vec<Vec<String>>>,
    appends: Mutex<usize>,
}

impl Recording {
    fn new() -> Self {
        Recording {
            inner: generator(),
            prompts: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
            appends: Mutex::new(0),
        }
    }
}

impl Generator for Recording {
    fn info(&self) -> &ModelInfo {
        Generator::info(self.inner)
    }
    fn start(&self, prompt: &Prompt, seed: u64) -> Result<Sequence> {
        let seq = self.inner.start(prompt, seed)?;
        let Prompt::Text(text) = prompt else {
            panic!("the reviser writes plain-text prompts")
        };
        self.prompts
            .lock()
            .unwrap()
            .insert(seq.tokens.clone(), text.clone());
        Ok(seq)
    }
    fn append(&self, seq: &mut Sequence, text: &str) -> Result<()> {
        *self.appends.lock().unwrap() += 1;
        self.inner.append(seq, text)
    }
    fn generate(
        &self,
        seqs: &mut [Sequence],
        sampling: &SamplingParams,
        stop: &StopCriteria,
    ) -> Result<Vec<Completion>> {
        let prompts = self.prompts.lock().unwrap();
        let texts = seqs
            .iter()
            .map(|s| format!("{}{}", prompts[&s.tokens[..s.prompt_len]], s.text))
            .collect();
        drop(prompts);
        self.calls.lock().unwrap().push(texts);
        self.inner.generate(seqs, sampling, stop)
    }
    fn decode(&self, tokens: &[u32]) -> Result<String> {
        self.inner.decode(tokens)
    }
}

/// Writes the attempt being revised the same way as the earlier ones, so the next
/// prompt extends the chain's sequence and it can be continued from its cache.
/// Earlier attempts under another header than the one being written.
fn two_header_layout() -> RevisionLayout {
    RevisionLayout {
        question: "Question: {question}\n".into(),
        attempt: "Previous attempt:\n{attempt}\n".into(),
        revision: "Revised solution:\n".into(),
    }
}

fn shared_header_layout() -> RevisionLayout {
    RevisionLayout {
        question: "Q: {question}\n".into(),
        attempt: "Attempt:\n{attempt}\n".into(),
        revision: "Attempt:\n".into(),
    }
}

fn settings() -> ReviserSettings {
    ReviserSettings {
        temperature: 1.0,
        max_attempt_tokens: 6,
        ..ReviserSettings::default()
    }
}

fn solve_with(
    g: &dyn Generator,
    v: Option<&dyn Verifier>,
    st: &ReviserSettings,
    split: ChainSplit,
    selector: Selector,
    seed: u64,
) -> RevisionOutcome {
    Reviser {
        generator: g,
        verifier: v,
        answers: &LastChar,
        settings: st,
    }
    .solve(QUESTION, split, selector, seed)
    .expect("revisions")
}

fn solve(split: ChainSplit, selector: Selector, seed: u64) -> RevisionOutcome {
    solve_with(
        generator(),
        Some(&Hashed::new()),
        &settings(),
        split,
        selector,
        seed,
    )
}

fn split(chains: usize, length: usize) -> ChainSplit {
    ChainSplit::new(chains, length).unwrap()
}

/// Each chain's votes as the outcome's answer format keys them.
fn keys(out: &RevisionOutcome) -> Vec<Vec<Option<String>>> {
    out.chains
        .iter()
        .map(|c| {
            c.attempts
                .iter()
                .map(|a| a.answer.as_deref().map(|x| LastChar.key(x)))
                .collect()
        })
        .collect()
}

fn votes<'a>(out: &RevisionOutcome, keys: &'a [Vec<Option<String>>]) -> Vec<Vec<Vote<'a>>> {
    out.chains
        .iter()
        .zip(keys)
        .map(|(c, k)| {
            c.attempts
                .iter()
                .zip(k)
                .map(|(a, k)| Vote {
                    key: k.as_deref(),
                    score: a.score.unwrap_or(0.0),
                })
                .collect()
        })
        .collect()
}

fn selectors() -> impl Strategy<Value = Selector> {
    prop_oneof![
        Just(Selector::Majority),
        Just(Selector::Naive),
        Just(Selector::Weighted)
    ]
}

/// A budget up to 16 and a sequential ratio from 1/16 to 16: the split is exact
/// or the nearest (12 at ratio 4 is 2 x 6).
fn budgets_and_ratios() -> impl Strategy<Value = (usize, f64)> {
    (1usize..=16, -4i32..=4).prop_map(|(n, k)| (n, f64::from(k).exp2()))
}

#[test]
fn every_round_is_one_batched_call_over_all_chains() {
    let g = Recording::new();
    let out = solve_with(&g, None, &settings(), split(4, 4), Selector::Majority, 5);
    let calls = g.calls.lock().unwrap();
    assert_eq!(calls.len(), 4, "one generation call per round");
    assert!(
        calls.iter().all(|c| c.len() == 4),
        "every chain in every call"
    );
    assert_eq!(out.chains.len(), 4);
    assert!(out.chains.iter().all(|c| c.attempts.len() == 4));
    // The first attempt of every chain is the reviser's own, on the same prompt.
    assert!(
        calls[0]
            .iter()
            .all(|t| t == "Question: 12 + 7 =\nSolution:\n")
    );
    assert!(
        out.chains
            .iter()
            .all(|c| c.attempts[0].context_attempts == 0)
    );
    // The shared first prompt is read once for all chains.
    let first: Vec<usize> = out
        .chains
        .iter()
        .map(|c| c.attempts[0].processed_tokens)
        .collect();
    let gen0: Vec<usize> = out
        .chains
        .iter()
        .map(|c| c.attempts[0].generated_tokens)
        .collect();
    let ctx = out.chains[0].attempts[0].context_tokens;
    assert_eq!(first[0], ctx + gen0[0] - 1);
    for i in 1..4 {
        assert_eq!(first[i], gen0[i] - 1, "chain {i} re-read the shared prompt");
    }
    // The chains sample differently.
    let texts: std::collections::HashSet<&str> = out
        .chains
        .iter()
        .map(|c| c.attempts[0].text.as_str())
        .collect();
    assert!(texts.len() > 1, "{texts:?}");
}

/// Checks that call r continued chain i on the layout's prompt for its attempts before r.
fn assert_prompts_follow(
    layout: &RevisionLayout,
    keep: usize,
    calls: &[Vec<String>],
    out: &RevisionOutcome,
) {
    for (r, call) in calls.iter().enumerate() {
        for (i, text) in call.iter().enumerate() {
            let earlier: Vec<&str> = out.chains[i].attempts[..r]
                .iter()
                .map(|a| a.text.as_str())
                .collect();
            let window = context_window(&earlier, keep);
            assert_eq!(
                text,
                &layout.render(QUESTION, window),
                "round {r}, chain {i}"
            );
            assert_eq!(out.chains[i].attempts[r].context_attempts, window.len());
        }
    }
}

#[test]
fn prompts_with_two_headers_are_read_afresh() {
    let st = ReviserSettings {
        layout: two_header_layout(),
        context_attempts: 2,
        ..settings()
    };
    let g = Recording::new();
    let out = solve_with(&g, None, &st, split(2, 4), Selector::Majority, 11);
    let calls = g.calls.lock().unwrap();
    assert_prompts_follow(&st.layout, 2, &calls, &out);
    let a = &out.chains[0].attempts;
    assert_eq!(
        calls[1][0],
        format!(
            "Question: 12 + 7 =\nPrevious attempt:\n{}\nRevised solution:\n",
            a[0].text.trim_end_matches(['\n', '\r'])
        )
    );
    // This layout writes an attempt under another header than the one it was
    // generated after: no prompt extends the previous sequence.
    assert!(
        out.chains
            .iter()
            .flat_map(|c| &c.attempts)
            .all(|a| !a.continued)
    );
    assert_eq!(*g.appends.lock().unwrap(), 0);
    for c in &out.chains {
        for a in &c.attempts[1..] {
            assert_eq!(
                a.processed_tokens,
                a.context_tokens + a.generated_tokens - 1
            );
        }
    }
}

#[test]
fn chains_are_continued_until_truncation_drops_an_attempt() {
    let st = ReviserSettings {
        layout: shared_header_layout(),
        context_attempts: 2,
        ..settings()
    };
    let mut continued = 0;
    for seed in 0..4 {
        let g = Recording::new();
        let out = solve_with(&g, None, &st, split(2, 4), Selector::Majority, seed);
        let calls = g.calls.lock().unwrap();
        assert_prompts_follow(&st.layout, 2, &calls, &out);
        for c in &out.chains {
            assert!(!c.attempts[0].continued);
            for j in 1..c.attempts.len() {
                let (p, a) = (&c.attempts[j - 1], &c.attempts[j]);
                // Continued exactly when no attempt was dropped (attempt 3 on drops
                // one) and the next prompt extends the sequence: its text ends with at
                // most one line break. An EOS does not stop it: append drops the EOS.
                let extends = format!("{}\nAttempt:\n", p.text.trim_end_matches(['\n', '\r']))
                    .starts_with(&p.text);
                let expected = j <= 2 && extends;
                assert_eq!(a.continued, expected, "seed {seed}, attempt {j}: {p:?}");
                continued += usize::from(a.continued);
            }
        }
    }
    assert!(continued > 0, "the shared-header layout continues chains");
}

#[test]
fn continued_chains_do_not_reread_their_prefix() {
    let reuse = ReviserSettings {
        layout: shared_header_layout(),
        context_attempts: 8,
        ..settings()
    };
    let fresh = ReviserSettings {
        reuse_cache: false,
        ..reuse.clone()
    };
    let mut saved = 0;
    for seed in 0..3 {
        let out = solve_with(
            generator(),
            None,
            &reuse,
            split(2, 4),
            Selector::Majority,
            seed,
        );
        for c in &out.chains {
            for j in 1..c.attempts.len() {
                let (p, a) = (&c.attempts[j - 1], &c.attempts[j]);
                if a.continued {
                    // Read: the previous attempt's last token and the appended prompt rest.
                    let appended = a.context_tokens - p.context_tokens - p.generated_tokens;
                    assert_eq!(a.processed_tokens, appended + a.generated_tokens);
                    assert!(a.processed_tokens < a.context_tokens, "{a:?}");
                    saved += a.context_tokens - appended;
                } else {
                    assert_eq!(
                        a.processed_tokens,
                        a.context_tokens + a.generated_tokens - 1
                    );
                }
            }
        }
        let c = &out.compute;
        let sum: usize = out
            .chains
            .iter()
            .flat_map(|c| &c.attempts)
            .map(|a| a.processed_tokens)
            .sum();
        assert_eq!(c.generator_processed_tokens, sum);

        let off = solve_with(
            generator(),
            None,
            &fresh,
            split(2, 4),
            Selector::Majority,
            seed,
        );
        for c in &off.chains {
            for a in &c.attempts[1..] {
                assert!(!a.continued);
                assert_eq!(
                    a.processed_tokens,
                    a.context_tokens + a.generated_tokens - 1
                );
            }
        }
    }
    assert!(saved > 0, "no attempt was continued");
}

#[test]
fn chain_i_does_not_depend_on_how_many_chains_run() {
    let two = solve(split(2, 4), Selector::Majority, 3);
    let four = solve(split(4, 4), Selector::Majority, 3);
    assert_eq!(two.chains[..], four.chains[..2]);
    let other = solve(split(2, 4), Selector::Majority, 4);
    assert_ne!(two.chains, other.chains, "another seed, other attempts");
}

#[test]
fn the_verifier_sees_earlier_attempts_when_asked() {
    for context in [VerifierContext::Question, VerifierContext::EarlierAttempts] {
        let st = ReviserSettings {
            verifier_context: context,
            context_attempts: 2,
            ..settings()
        };
        let v = Hashed::new();
        let out = solve_with(
            generator(),
            Some(&v),
            &st,
            split(2, 4),
            Selector::Weighted,
            2,
        );
        let mut expected = Vec::new();
        for c in &out.chains {
            for (j, a) in c.attempts.iter().enumerate() {
                if a.answer.is_none() {
                    assert_eq!(a.score, None, "attempts without an answer are not scored");
                    continue;
                }
                assert!(a.score.is_some());
                let earlier: Vec<&str> = c.attempts[j - a.context_attempts..j]
                    .iter()
                    .map(|e| e.text.as_str())
                    .collect();
                expected.push(match context {
                    VerifierContext::Question => QUESTION.to_string(),
                    VerifierContext::EarlierAttempts => {
                        st.layout.verifier_question(QUESTION, &earlier)
                    }
                });
            }
        }
        assert!(!expected.is_empty());
        assert_eq!(*v.questions.lock().unwrap(), expected);
        if context == VerifierContext::EarlierAttempts {
            assert!(expected.iter().any(|q| q.contains("\nAttempt:\n")));
        }
    }
}

#[test]
fn transitions_are_counted_with_demo_grading() {
    use ttc_math_grade::{GradeMode, grade};
    let st = settings();
    let out = Reviser {
        generator: generator(),
        verifier: None,
        answers: &GradeMode::Integer,
        settings: &st,
    }
    .solve(QUESTION, split(2, 4), Selector::Majority, 0)
    .unwrap();
    let t = chain_transitions(&out.chains, |a| {
        a.answer
            .as_deref()
            .is_some_and(|p| grade("19", p, GradeMode::Integer).is_ok_and(|v| v.correct))
    });
    assert_eq!(t.total(), out.budget - out.split.chains);
    // By the correctness the rule assigns, counted directly.
    let by_rule = chain_transitions(&out.chains, |a| a.text.len() % 2 == 0);
    let direct = Transitions::of_sequences(out.chains.iter().map(|c| {
        c.attempts
            .iter()
            .map(|a| a.text.len() % 2 == 0)
            .collect::<Vec<_>>()
    }));
    assert_eq!(by_rule, direct);
}

#[test]
fn the_outcome_round_trips_through_json() {
    let out = solve(split(2, 2), Selector::Weighted, 1);
    let json = serde_json::to_string(&out).unwrap();
    assert!(
        json.contains("\"finish_reason\"") && json.contains("\"selector\":\"weighted\""),
        "{json}"
    );
    let back: RevisionOutcome = serde_json::from_str(&json).unwrap();
    assert_eq!(back, out);
}

#[test]
fn bad_requests_are_named() {
    let st = settings();
    let r = Reviser {
        generator: generator(),
        verifier: None,
        answers: &LastChar,
        settings: &st,
    };
    let err = r
        .solve(QUESTION, split(2, 2), Selector::Weighted, 0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("needs a verifier") && err.contains("majority"),
        "{err}"
    );
    let err = r
        .solve(
            QUESTION,
            ChainSplit {
                chains: 0,
                length: 2,
            },
            Selector::Majority,
            0,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("chains") && err.contains('0'), "{err}");
    // Three chains of two is a split like any other.
    let out = r
        .solve(
            QUESTION,
            ChainSplit {
                chains: 3,
                length: 2,
            },
            Selector::Majority,
            0,
        )
        .unwrap();
    assert_eq!((out.chains.len(), out.compute.generations), (3, 6));
    let bad = ReviserSettings {
        layout: RevisionLayout {
            attempt: "no placeholder".into(),
            ..RevisionLayout::demo()
        },
        ..settings()
    };
    let err = Reviser {
        settings: &bad,
        ..r
    }
    .solve(QUESTION, split(1, 2), Selector::Majority, 0)
    .unwrap_err()
    .to_string();
    assert!(err.contains("{attempt}"), "{err}");
    // The generator takes 512 positions: an attempt of up to 512 tokens leaves no room.
    let long = ReviserSettings {
        max_attempt_tokens: 512,
        ..settings()
    };
    let err = Reviser {
        settings: &long,
        ..r
    }
    .solve(QUESTION, split(1, 2), Selector::Majority, 0)
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("max-attempt-tokens") && err.contains("512 positions"),
        "{err}"
    );
}

/// The keys of `[revision]` (a run file's table is this struct; the documented
/// table itself is parsed through the real run-file reader in ttc-app's tests).
#[test]
fn revision_settings_take_partial_tables_and_reject_unknown_keys() {
    let partial: ReviserSettings =
        toml::from_str("context-attempts = 2\n[layout]\nrevision = \"Fix:\\n\"\n").unwrap();
    assert_eq!(partial.context_attempts, 2);
    assert_eq!(partial.layout.revision, "Fix:\n");
    assert_eq!(partial.layout.attempt, RevisionLayout::demo().attempt);
    assert_eq!(partial.temperature, ReviserSettings::default().temperature);
    assert_eq!(
        toml::from_str::<ReviserSettings>("").unwrap(),
        ReviserSettings::default()
    );

    let err = toml::from_str::<ReviserSettings>("\ncontext-atempts = 2\n")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("context-atempts") && err.contains("line 2"),
        "{err}"
    );
    let err = toml::from_str::<ReviserSettings>("verifier-context = \"all\"\n")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("earlier-attempts"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn the_budget_is_kept((budget, ratio) in budgets_and_ratios(), selector in selectors(), seed in 0u64..1000) {
        let s = ChainSplit::from_ratio(budget, ratio).unwrap();
        prop_assert_eq!(s.chains * s.length, budget);
        let st = settings();
        let v = Hashed::new();
        let out = solve_with(generator(), Some(&v), &st, s, selector, seed);
        prop_assert_eq!(out.budget, budget);
        prop_assert_eq!(out.chains.len(), s.chains);
        let attempts: Vec<_> = out.chains.iter().flat_map(|c| &c.attempts).collect();
        prop_assert_eq!(attempts.len(), budget);
        prop_assert!(out.chains.iter().all(|c| c.attempts.len() == s.length));
        let c = &out.compute;
        prop_assert_eq!(c.generations, budget);
        prop_assert_eq!(c.sampled_steps, budget);
        prop_assert_eq!(c.generated_tokens, attempts.iter().map(|a| a.generated_tokens).sum::<usize>());
        prop_assert_eq!(c.context_tokens, attempts.iter().map(|a| a.context_tokens).sum::<usize>());
        prop_assert_eq!(c.generator_processed_tokens, attempts.iter().map(|a| a.processed_tokens).sum::<usize>());
        let params = Generator::info(generator()).parameters as f64;
        prop_assert!((c.generator_flops - 2.0 * params * c.generator_processed_tokens as f64).abs() < 1.0);
        for ch in &out.chains {
            for (j, a) in ch.attempts.iter().enumerate() {
                prop_assert_eq!(a.context_attempts, j.min(st.context_attempts));
                prop_assert!(a.generated_tokens <= st.max_attempt_tokens);
            }
        }
        // The verifier runs only when the selector needs scores, on answered attempts.
        let scored: Vec<_> = attempts.iter().filter(|a| a.score.is_some()).collect();
        if selector == Selector::Majority {
            prop_assert!(scored.is_empty());
            prop_assert_eq!(c.verifier_tokens, 0);
        } else {
            prop_assert_eq!(scored.len(), attempts.iter().filter(|a| a.answer.is_some()).count());
            let read: usize = scored.iter().map(|a| QUESTION.len() + a.steps.iter().map(String::len).sum::<usize>()).sum();
            prop_assert_eq!(c.verifier_tokens, read);
        }
        // The choice is the selection rule's.
        let k = keys(&out);
        let votes = votes(&out, &k);
        prop_assert_eq!(out.chosen, select_over_chains(&votes, selector));
        prop_assert_eq!(&out.answer, &out.chosen_attempt().and_then(|a| a.answer.clone()));
        if selector == Selector::Majority {
            let flat: Vec<Vote<'_>> = votes.iter().flatten().copied().collect();
            prop_assert_eq!(
                out.answer.as_deref().map(|a| LastChar.key(a)),
                select(&flat, Selector::Majority).and_then(|i| flat[i].key.map(str::to_string))
            );
        }
        prop_assert_eq!(out.strategy, format!("revise-{}x{}", s.chains, s.length));
    }

    #[test]
    fn same_seed_same_result((budget, ratio) in budgets_and_ratios(), selector in selectors(), seed in 0u64..1000) {
        let s = ChainSplit::from_ratio(budget, ratio).unwrap();
        prop_assert_eq!(solve(s, selector, seed), solve(s, selector, seed));
    }
}

#[test]
fn several_selection_rules_share_one_set_of_chains() {
    let st = settings();
    let verifier = Hashed::new();
    let reviser = Reviser {
        generator: generator(),
        verifier: Some(&verifier),
        answers: &LastChar,
        settings: &st,
    };
    let rules = [Selector::Majority, Selector::Weighted, Selector::Naive];
    let together = reviser
        .solve_selections(QUESTION, split(2, 4), &rules, 5)
        .unwrap();
    assert_eq!(together.len(), rules.len());
    for (rule, out) in rules.iter().zip(&together) {
        // The same outcome, compute included, as solving with that rule alone.
        assert_eq!(out, &solve(split(2, 4), *rule, 5), "{rule:?}");
    }
    assert_eq!(together[0].compute.verifier_flops, 0.0);
    assert!(together[1].compute.verifier_flops > 0.0);
    // Without a verifier, a rule that needs one is refused.
    let bare = Reviser {
        verifier: None,
        ..reviser
    };
    let err = bare
        .solve_selections(
            QUESTION,
            split(2, 2),
            &[Selector::Majority, Selector::Weighted],
            0,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs a verifier"), "{err}");
}

#[test]
fn earlier_attempts_are_dropped_when_the_prompt_would_not_leave_room() {
    // The generator takes 512 positions: with attempts of up to 300 tokens, a prompt may
    // hold at most 212 tokens, so long earlier attempts cannot all be shown.
    let st = ReviserSettings {
        temperature: 1.0,
        max_attempt_tokens: 300,
        context_attempts: 4,
        ..ReviserSettings::default()
    };
    let out = solve_with(generator(), None, &st, split(1, 4), Selector::Majority, 3);
    let limit = 512 - st.max_attempt_tokens;
    let tokens = |window: &[&str]| {
        generator()
            .start(&Prompt::Text(st.layout.render(QUESTION, window)), 0)
            .unwrap()
            .tokens
            .len()
    };
    let texts: Vec<&str> = out.chains[0]
        .attempts
        .iter()
        .map(|a| a.text.as_str())
        .collect();
    let mut dropped = 0;
    for (j, a) in out.chains[0].attempts.iter().enumerate() {
        let shown = &texts[j - a.context_attempts..j];
        assert!(
            shown.is_empty() || tokens(shown) <= limit,
            "attempt {j}: {} tokens",
            tokens(shown)
        );
        // One more earlier attempt would not have fitted.
        if a.context_attempts < j.min(st.context_attempts) {
            assert!(tokens(&texts[j - a.context_attempts - 1..j]) > limit);
            dropped += 1;
        }
    }
    assert!(
        dropped > 0,
        "the random model's attempts should be long enough to drop some"
    );
}
