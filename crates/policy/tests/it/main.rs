//! Sweep files, policy files and the fitting's properties.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use ttc_core::{Family, MethodId, Param, Params};
use ttc_difficulty::{BinEdges, Statistic};
use ttc_policy::{
    Cost, FitOptions, Fold, Folds, POLICY_FORMAT, Policy, Provenance, Sweep, SweepRecord,
    efficiency, fit,
};

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ttc-policy-it");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn rec(q: &str, bin: usize, method: &str, budget: usize, seed: u64, ok: bool) -> SweepRecord {
    SweepRecord {
        question: q.into(),
        bin,
        method: id(method),
        budget,
        method_budget: None,
        seed,
        correct: ok,
        compute: Cost {
            generations: budget,
            tokens: 100 * budget,
            flops: 2.0e9 * budget as f64,
        },
    }
}

fn id(method: &str) -> MethodId {
    MethodId::new(method.parse().unwrap())
}

fn provenance() -> Provenance {
    Provenance {
        models: BTreeMap::from([
            ("generator".to_string(), "tiny-llama".to_string()),
            ("verifier".to_string(), "tiny-prm".to_string()),
        ]),
        dataset: "demo test".into(),
        sweep: "runs/sweep.jsonl".into(),
        created: "2025-01-31".into(),
        notes: None,
    }
}

fn edges() -> BinEdges {
    BinEdges::new(Statistic::MeanVerifierScore, vec![0.5]).unwrap()
}

/// A sweep where best-of-N wins on easy questions and beam search on hard ones, and
/// beam search at budget 4 matches best-of-N at budget 16.
fn demo_sweep() -> Sweep {
    let mut records = Vec::new();
    for i in 0..12 {
        let easy = format!("easy{i:02}");
        let hard = format!("hard{i:02}");
        for (budget, bon_easy, beam_easy, bon_hard, beam_hard) in
            [(4, 10, 8, 2, 4), (16, 11, 9, 4, 6), (64, 12, 10, 6, 7)]
        {
            records.push(rec(&easy, 1, "best-of-n-weighted", budget, 0, i < bon_easy));
            records.push(rec(&easy, 1, "beam-m4", budget, 0, i < beam_easy));
            records.push(rec(&hard, 2, "best-of-n-weighted", budget, 0, i < bon_hard));
            records.push(rec(&hard, 2, "beam-m4", budget, 0, i < beam_hard));
        }
    }
    Sweep::new(records).unwrap()
}

#[test]
fn sweep_files_round_trip() {
    let mut records = demo_sweep().into_records();
    records[0].method = records[0]
        .method
        .clone()
        .with_params(Params::from([("temperature".into(), Param::Float(0.8))]))
        .unwrap();
    let sweep = Sweep::new(records).unwrap();
    let path = tmp("round-trip/sweep.jsonl");
    sweep.write(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        r#"{"question":"easy00","bin":1,"method":"best-of-n-weighted","family":"best-of-n","params":{"temperature":0.8},"budget":4,"seed":0,"correct":true,"compute":{"generations":4,"tokens":400,"flops":8000000000.0}}"#
    );
    assert_eq!(
        text.lines().nth(1).unwrap(),
        r#"{"question":"easy00","bin":1,"method":"beam-m4","family":"search","budget":4,"seed":0,"correct":true,"compute":{"generations":4,"tokens":400,"flops":8000000000.0}}"#
    );
    assert_eq!(Sweep::read(&path).unwrap(), sweep);
}

#[test]
fn bad_sweep_lines_are_named_with_file_and_line() {
    let good = r#"{"question":"q1","bin":1,"method":"majority","budget":4,"seed":0,"correct":true,"compute":{"generations":4,"tokens":10,"flops":1.0}}"#;
    let cases = [
        (
            format!("{good}\n\n{{\"question\": 3}}\n"),
            ":3: ",
            "invalid type",
        ),
        (format!("{good}\nnot json\n"), ":2: ", "expected"),
        (
            good.replace("\"seed\":0,", "\"seed\":0,\"extra\":1,"),
            ":1: ",
            "unknown field `extra`",
        ),
        (
            good.replace("\"seed\":0,", ""),
            ":1: ",
            "missing field `seed`",
        ),
        (good.replace("\"bin\":1", "\"bin\":0"), ":1: ", "`bin` is 0"),
        (
            format!(
                "{good}\n{}\n",
                good.replace("\"bin\":1", "\"bin\":2")
                    .replace("majority", "beam-m4")
            ),
            ":2: ",
            "question `q1` is in bin 2 here but in bin 1 at sweep line",
        ),
        (
            format!("{good}\n\n{good}\n"),
            ":3: ",
            "setting `majority`, budget 4, seed 0 was already recorded at sweep line",
        ),
    ];
    for (i, (text, line, want)) in cases.iter().enumerate() {
        let path = tmp(&format!("bad-{i}.jsonl"));
        std::fs::write(&path, text).unwrap();
        let err = Sweep::read(&path).unwrap_err().to_string();
        let at = format!("{}{line}", path.display());
        assert!(err.contains(&at), "case {i}: want {at} in {err}");
        assert!(err.contains(want), "case {i}: want {want} in {err}");
    }
    let err = Sweep::read(tmp("missing.jsonl")).unwrap_err().to_string();
    assert!(err.contains("missing.jsonl"), "{err}");
}

#[test]
fn fit_write_read_apply() {
    let sweep = demo_sweep();
    let fitted = fit(&sweep, &FitOptions { fold_seed: 0 }).unwrap();
    let policy = fitted
        .to_policy(provenance(), edges(), Default::default())
        .unwrap();
    let path = tmp("policy/policy.toml");
    policy.write(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let back = Policy::read(&path).unwrap();
    assert_eq!(back, policy);

    let head: Vec<&str> = text
        .lines()
        .skip_while(|l| l.starts_with('#') || l.is_empty())
        .take(37)
        .collect();
    assert_eq!(
        head.join("\n"),
        r#"format = 3

[provenance]
dataset = "demo test"
sweep = "runs/sweep.jsonl"
created = "2025-01-31"

[provenance.models]
generator = "tiny-llama"
verifier = "tiny-prm"

[difficulty]
statistic = "mean-verifier-score"
bins = 2
edges = [0.5]

[probe]
samples = 4
charge = "within-budget"

[fit]
folds = 2
fold-seed = 0
records = 144
questions = 24

[[choice]]
bin = 1
budget = 4
method = "best-of-n-weighted"
family = "best-of-n"
method-budget = 4
accuracy = 0.8333333333333334
held-out-accuracy = 0.8333333333333334
questions = 12
mean-generations = 4.0
mean-flops = 8000000000.0
"#
        .trim_end()
    );
    let chosen: Vec<(usize, usize, String)> = back
        .choices
        .iter()
        .map(|c| (c.bin, c.budget, c.method.key()))
        .collect();
    let chosen: Vec<(usize, usize, &str)> = chosen
        .iter()
        .map(|(b, n, m)| (*b, *n, m.as_str()))
        .collect();
    assert_eq!(
        chosen,
        vec![
            (1, 4, "best-of-n-weighted"),
            (1, 16, "best-of-n-weighted"),
            (1, 64, "best-of-n-weighted"),
            (2, 4, "beam-m4"),
            (2, 16, "beam-m4"),
            (2, 64, "beam-m4"),
        ]
    );
    // Applying it: a hard question (low probe score) at N = 32 gets the N = 16 choice.
    let l = back.choose_for_value(0.2, 32).unwrap();
    assert_eq!(
        (l.choice.method.key().as_str(), l.choice.budget, l.exact()),
        ("beam-m4", 16, false)
    );
    let err = back.choose(1, 2).unwrap_err().to_string();
    assert!(err.contains("N = 2 is below the smallest budget"), "{err}");

    // Efficiency against best-of-N on the same sweep.
    let baseline = sweep.curve(&id("best-of-n-weighted")).unwrap();
    let in_sample = fitted.in_sample_curve().unwrap();
    // Policy at 4: (10 + 4) / 24. Best-of-N has (10 + 2) / 24 at 4 and (11 + 4) / 24 at
    // 16, so it gets there in between.
    let e = efficiency(&in_sample, &baseline, 4).unwrap();
    assert!((e.accuracy - 14.0 / 24.0).abs() < 1e-12);
    // (14 - 12) / (15 - 12) of the way from log2 4 to log2 16: 2^(2 + 4/3).
    let want = 2f64.powf(2.0 + 4.0 / 3.0);
    assert!((e.baseline_budget.value() - want).abs() < 1e-9, "{e:?}");
    assert!((e.ratio().value() - want / 4.0).abs() < 1e-9);
}

#[test]
fn policy_files_with_mistakes_name_file_and_line() {
    let policy = fit(&demo_sweep(), &FitOptions::default())
        .unwrap()
        .to_policy(provenance(), edges(), Default::default())
        .unwrap();
    let text = policy.to_toml().unwrap();
    let cases = [
        (
            text.replace("fold-seed = 0", "fold-seed = 0\nshuffle = true"),
            "unknown field `shuffle`",
            Some("line 30"),
        ),
        (
            text.replace("bins = 2", "bins = \"two\""),
            "invalid type",
            Some("line 20"),
        ),
        (
            text.replacen("budget = 16", "budget = 4", 1),
            "a second choice for this bin and budget",
            None,
        ),
    ];
    for (i, (bad, want, line)) in cases.iter().enumerate() {
        let path = tmp(&format!("bad-policy-{i}.toml"));
        std::fs::write(&path, bad).unwrap();
        let err = Policy::read(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("policy file {}", path.display())),
            "case {i}: {err}"
        );
        assert!(err.contains(want), "case {i}: {err}");
        if let Some(line) = line {
            assert!(err.contains(line), "case {i}: {err}");
        }
    }
    // The duplicate is the second [[choice]], whose header is on this line.
    let bad = text.replacen("budget = 16", "budget = 4", 1);
    let header = bad
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "[[choice]]")
        .nth(1)
        .unwrap()
        .0
        + 1;
    let err = Policy::from_toml(&bad, Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("x.toml:{header}: choice 2 (bin 1, budget 4)")),
        "{err}"
    );
}

#[test]
fn the_documented_policy_example_reads_and_applies() {
    // The TOML example in `Policy`'s docs, taken from the source so it cannot drift.
    let source = include_str!("../../src/file.rs");
    let example: String = source
        .lines()
        .skip_while(|l| l.trim() != "/// ```toml")
        .skip(1)
        .take_while(|l| l.trim() != "/// ```")
        .map(|l| format!("{}\n", l.trim().trim_start_matches("///").trim_start()))
        .collect();
    assert!(example.contains("[[choice]]"), "{example}");
    let policy = Policy::from_toml(&example, Path::new("docs")).unwrap();
    assert_eq!(
        policy.provenance.models["generator"],
        "Qwen2.5-0.5B-Instruct"
    );
    assert_eq!(policy.difficulty.edges(), [0.81, 0.66, 0.43, 0.2]);
    let l = policy.choose_for_value(0.9, 8).unwrap();
    assert_eq!(
        (l.choice.method.key().as_str(), l.choice.budget),
        ("best-of-n-weighted", 4)
    );
    assert_eq!(l.choice.held_out_accuracy, Some(0.9));
}

/// The policy the last release shipped, in format 1 (no `family`), kept as it was
/// written.
const FORMAT_1_POLICY: &str = include_str!("format-1-policy.toml");

#[test]
fn format_1_policies_load_with_the_family_of_each_method() {
    assert_eq!(POLICY_FORMAT, 3);
    let policy = Policy::from_toml(FORMAT_1_POLICY, Path::new("format-1-policy.toml")).unwrap();
    assert_eq!(policy.format, 1);
    assert_eq!(policy.choices.len(), 15);
    assert_eq!(policy.difficulty.statistic(), Statistic::MeanVerifierScore);
    assert_eq!(policy.difficulty.bins(), 5);
    let first = &policy.choices[0];
    assert_eq!(
        (
            first.bin,
            first.budget,
            first.method.key(),
            first.method.family()
        ),
        (1, 1, "beam-m4".to_string(), Family::Search)
    );
    let families: BTreeSet<Family> = policy.choices.iter().map(|c| c.method.family()).collect();
    assert!(!families.contains(&Family::Diagnostic), "{families:?}");
    for c in &policy.choices {
        assert_eq!(c.method.family(), c.method.method().family());
    }
    // Written again, it is a format-3 file with the same choices and the documented
    // defaults made explicit: a 4-sample probe, each choice run at its budget.
    let mut now = policy.clone();
    now.format = POLICY_FORMAT;
    let text = now.to_toml().unwrap();
    assert!(text.contains("format = 3\n"), "{text}");
    assert!(text.contains("[probe]\nsamples = 4\n"), "{text}");
    assert!(text.contains("family = \"search\""), "{text}");
    let back = Policy::from_toml(&text, Path::new("p.toml")).unwrap();
    assert_eq!(back.choices, policy.choices);
}

#[test]
fn other_formats_are_refused_by_their_format_line_with_what_to_do() {
    // A later format may have keys this reader does not know: the format is read first.
    let later = FORMAT_1_POLICY
        .replace("format = 1", "format = 4")
        .replace("[fit]", "[later]\nkey = 16\n\n[fit]");
    let err = Policy::from_toml(&later, Path::new("later.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("policy file later.toml"), "{err}");
    assert!(err.contains("`format = 4` is not supported"), "{err}");
    assert!(err.contains("refit the policy with this ttc"), "{err}");
    // A format-1 file with a method outside the grammar fails at its line.
    let bad = FORMAT_1_POLICY.replacen("method = \"beam-m4\"", "method = \"revise-4x4\"", 1);
    let line = 1 + bad
        .lines()
        .position(|l| l == "method = \"revise-4x4\"")
        .unwrap();
    let err = Policy::from_toml(&bad, Path::new("old.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("line {line}")), "{err}");
    assert!(err.contains("\"revise-4x4\""), "{err}");
}

#[test]
fn sweep_lines_without_a_family_take_the_methods() {
    let path = tmp("no-family.jsonl");
    std::fs::write(
        &path,
        r#"{"question":"q1","bin":1,"method":"dvts-m4","budget":4,"seed":0,"correct":true,"compute":{"generations":4,"tokens":10,"flops":1.0}}"#,
    )
    .unwrap();
    let sweep = Sweep::read(&path).unwrap();
    assert_eq!(sweep.records()[0].method.family(), Family::Search);
}

// ---- properties ----

const METHODS: [&str; 4] = ["best-of-n-weighted", "beam-m4", "dvts-m4", "majority"];
const BUDGETS: [usize; 3] = [1, 4, 16];

/// A random, possibly incomplete sweep: up to 4 settings x 3 budgets x 2 seeds per
/// question, each run present or not and correct or not.
fn sweeps(max_methods: usize) -> impl Strategy<Value = Vec<SweepRecord>> {
    let runs = max_methods * BUDGETS.len() * 2;
    prop::collection::vec(
        (
            1usize..=3,
            prop::collection::vec((any::<bool>(), any::<bool>(), 1usize..5), runs),
        ),
        2..16,
    )
    .prop_map(move |questions| {
        let mut records = Vec::new();
        for (i, (bin, runs)) in questions.iter().enumerate() {
            let mut runs = runs.iter();
            for method in &METHODS[..max_methods] {
                for budget in BUDGETS {
                    for seed in 0..2 {
                        let (present, ok, gens) = runs.next().unwrap();
                        if *present || seed == 0 && *method == METHODS[0] {
                            let mut r = rec(&format!("q{i}"), *bin, method, budget, seed, *ok);
                            r.compute.generations = budget * gens;
                            records.push(r);
                        }
                    }
                }
            }
        }
        records
    })
}

/// Accuracy of each setting in a cell over the questions `keep` accepts.
fn accuracies(
    records: &[SweepRecord],
    bin: usize,
    budget: usize,
    keep: &dyn Fn(&str) -> bool,
) -> BTreeMap<String, f64> {
    let mut per: BTreeMap<String, BTreeMap<String, (usize, usize)>> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.bin == bin && r.budget == budget && keep(&r.question))
    {
        let e = per
            .entry(r.setting_key())
            .or_default()
            .entry(r.question.clone())
            .or_default();
        e.0 += usize::from(r.correct);
        e.1 += 1;
    }
    per.into_iter()
        .map(|(k, qs)| {
            let acc =
                qs.values().map(|(c, n)| *c as f64 / *n as f64).sum::<f64>() / qs.len() as f64;
            (k, acc)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_policy_only_picks_settings_the_sweep_ran(records in sweeps(4), seed in 0u64..4) {
        let sweep = Sweep::new(records.clone()).unwrap();
        let fitted = fit(&sweep, &FitOptions { fold_seed: seed }).unwrap();
        for cell in &fitted.cells {
            let ran: BTreeSet<String> = records
                .iter()
                .filter(|r| r.bin == cell.bin && r.budget == cell.budget)
                .map(|r| r.setting_key())
                .collect();
            prop_assert!(ran.contains(&cell.best().setting.key()));
            for f in &cell.folds {
                prop_assert!(ran.contains(&f.setting.key()));
            }
            // The choice is at least as accurate as every other candidate.
            for c in &cell.candidates {
                prop_assert!(cell.best().accuracy >= c.accuracy - 1e-12);
            }
        }
        let policy = fitted.to_policy(provenance(), BinEdges::new(Statistic::PassAt1, vec![0.7, 0.3]).unwrap(), Default::default()).unwrap();
        for c in &policy.choices {
            prop_assert!(records.iter().any(|r| r.bin == c.bin && r.budget == c.budget && r.setting_key() == c.method.key()));
        }
    }

    #[test]
    fn one_candidate_is_always_chosen(records in sweeps(1)) {
        let fitted = fit(&Sweep::new(records).unwrap(), &FitOptions::default()).unwrap();
        for cell in &fitted.cells {
            prop_assert_eq!(cell.candidates.len(), 1);
            prop_assert_eq!(cell.best().setting.key(), METHODS[0]);
            for f in &cell.folds {
                prop_assert_eq!(f.setting.key(), METHODS[0]);
            }
        }
    }

    #[test]
    fn folds_are_disjoint_cover_every_question_and_balance_each_bin(records in sweeps(2), seed in any::<u64>()) {
        let folds = Folds::split(records.iter().map(|r| (r.question.as_str(), r.bin)), seed).unwrap();
        let a: BTreeSet<&str> = folds.questions(Fold::A).collect();
        let b: BTreeSet<&str> = folds.questions(Fold::B).collect();
        let all: BTreeSet<&str> = records.iter().map(|r| r.question.as_str()).collect();
        prop_assert!(a.is_disjoint(&b));
        prop_assert_eq!(a.union(&b).copied().collect::<BTreeSet<_>>(), all);
        for bin in 1..=3 {
            let in_bin: BTreeSet<&str> = records.iter().filter(|r| r.bin == bin).map(|r| r.question.as_str()).collect();
            let na = in_bin.iter().filter(|q| a.contains(*q)).count();
            prop_assert!(na.abs_diff(in_bin.len() - na) <= 1);
        }
    }

    #[test]
    fn held_out_accuracy_lies_within_the_per_fold_accuracies(records in sweeps(4), seed in 0u64..4) {
        let fitted = fit(&Sweep::new(records.clone()).unwrap(), &FitOptions { fold_seed: seed }).unwrap();
        let folds = Folds::split(records.iter().map(|r| (r.question.as_str(), r.bin)), seed).unwrap();
        for cell in &fitted.cells {
            let Some(held_out) = cell.held_out_accuracy else { continue };
            let on = |f: Fold| accuracies(&records, cell.bin, cell.budget, &|q| folds.fold_of(q) == Some(f));
            let (acc_a, acc_b) = (on(Fold::A), on(Fold::B));
            let lo = acc_a.values().chain(acc_b.values()).copied().fold(f64::INFINITY, f64::min);
            let hi = acc_a.values().chain(acc_b.values()).copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(lo - 1e-12 <= held_out && held_out <= hi + 1e-12, "{} not in [{}, {}]", held_out, lo, hi);
            // Never better than picking the best on each held-out fold in hindsight.
            let best = |m: &BTreeMap<String, f64>| m.values().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(held_out <= (best(&acc_a) + best(&acc_b)) / 2.0 + 1e-12);
            // Each direction's choice is the best on its own fold, and scored right on the other.
            for f in &cell.folds {
                let (own, other) = if f.chosen_on == Fold::A { (&acc_a, &acc_b) } else { (&acc_b, &acc_a) };
                prop_assert!((f.fold_accuracy - best(own)).abs() < 1e-12);
                prop_assert!((f.held_out_accuracy - other[&f.setting.key()]).abs() < 1e-12);
            }
            // The policy's own choice is the best on all questions.
            let overall = accuracies(&records, cell.bin, cell.budget, &|_| true);
            prop_assert!((cell.best().accuracy - best(&overall)).abs() < 1e-12);
        }
    }

    #[test]
    fn the_fit_does_not_depend_on_record_order(
        (records, shuffled) in sweeps(3).prop_flat_map(|r| (Just(r.clone()), Just(r).prop_shuffle())),
    ) {
        let a = fit(&Sweep::new(records).unwrap(), &FitOptions::default()).unwrap();
        let b = fit(&Sweep::new(shuffled).unwrap(), &FitOptions::default()).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn choose_takes_the_largest_fitted_budget_not_above(records in sweeps(2), asked in 0usize..40) {
        let policy = fit(&Sweep::new(records).unwrap(), &FitOptions::default())
            .unwrap()
            .to_policy(provenance(), BinEdges::new(Statistic::PassAt1, vec![0.7, 0.3]).unwrap(), Default::default())
            .unwrap();
        for bin in 1..=3 {
            let fitted: Vec<usize> = policy.choices.iter().filter(|c| c.bin == bin).map(|c| c.budget).collect();
            match (policy.choose(bin, asked), fitted.iter().filter(|b| **b <= asked).max()) {
                (Ok(l), Some(want)) => prop_assert_eq!(l.choice.budget, *want),
                (Err(_), None) => {}
                (got, want) => prop_assert!(false, "bin {} asked {}: {:?} vs {:?}", bin, asked, got.map(|l| l.choice.budget), want),
            }
        }
    }
}
