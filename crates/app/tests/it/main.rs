//! The application's `eval`, analysis and `solve --policy` paths on core's test
//! doubles, through the [`Loader`] seam: no ONNX Runtime, no model folder.
//!
//! The scripted generator answers `Answer: 7` to every question (then the end
//! token), and the questions' gold answers are 7 for the first four and 3 for
//! the last two, so every method is right on exactly the first four questions and
//! every number below follows from that.

mod shard;

use std::path::{Path, PathBuf};

use ttc_app::components::Loader;
use ttc_app::eval::{EvalOptions, run_with};
use ttc_app::run_file::{RunFile, VerifierSection};
use ttc_app::solve::{Setup, with_policy};
use ttc_core::testing::{ConstantVerifier, HashVerifier, Next, ScriptedGenerator};
use ttc_core::{DifficultyRecord, EvalRecord, Family, Generator, RuntimeSettings, Verifier};

/// What the scripted generator writes, whatever the question.
const ANSWER: &str = "Answer: 7";

/// Core's test doubles by folder name: every generator answers `7`; the verifier
/// `high` scores every step 0.9, `low` 0.1, any other hashes the steps.
#[derive(Debug)]
struct Doubles;

impl Loader for Doubles {
    fn generator(
        &self,
        _model: &Path,
        _max_batch: Option<usize>,
        _runtime: &RuntimeSettings,
    ) -> ttc_app::Result<Box<dyn Generator>> {
        Ok(Box::new(ScriptedGenerator::new(|text, _| {
            match ANSWER.chars().nth(text.chars().count()) {
                Some(c) => Next::Char(c),
                None => Next::Eos,
            }
        })))
    }

    fn verifier(
        &self,
        section: &VerifierSection,
        _runtime: &RuntimeSettings,
        _config: &Path,
    ) -> ttc_app::Result<Box<dyn Verifier>> {
        if section.builtin.is_some() {
            // Built-in verifiers run no model: the production loader's own.
            return ttc_app::components::load_verifier(section, _runtime, _config);
        }
        let name = section
            .model
            .as_ref()
            .and_then(|m| m.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        Ok(match name {
            "high" => Box::new(ConstantVerifier::new(0.9)),
            "low" => Box::new(ConstantVerifier::new(0.1)),
            _ => Box::new(HashVerifier::default()),
        })
    }
}

/// A fresh folder for one test, with the six questions as `questions.jsonl`.
fn workspace(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ttc-app-it")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lines: Vec<String> = (0..6)
        .map(|i| {
            let gold = if i < 4 { 7 } else { 3 };
            format!(
                r#"{{"problem":"What is {i} + {}?","solution":"Answer: {gold}","answer":"{gold}","level":1,"unique_id":"q{i}"}}"#,
                gold - i
            )
        })
        .collect();
    std::fs::write(dir.join("questions.jsonl"), lines.join("\n") + "\n").unwrap();
    dir
}

const RUN: &str = r#"
[generator]
model = "models/generator"
prompt-template = "Question: {question}\nSolution:\n"

[verifier]
model = "models/hash"
adapter = { preset = "demo" }

[search]
step-delimiter = "\n"
temperature = 0.8
max-step-tokens = 12
max-solution-tokens = 24
max-rounds = 2

[answers]
format = "integer"

[dataset]
path = "questions.jsonl"

[sweep]
methods = ["majority", "best-of-n-weighted", "beam-m2"]
budgets = [1, 2, 4]
seeds = [0]

[output]
dir = "out"
"#;

const DIFFICULTY: &str = "\n[difficulty]\nsamples = 4\nbins = 2\n";

fn eval(dir: &Path, run: &str) -> ttc_app::eval::Evaluated {
    let path = dir.join("run.toml");
    std::fs::write(&path, run).unwrap();
    let options = EvalOptions {
        run_file: path,
        ..EvalOptions::default()
    };
    run_with(&options, &Doubles, &mut |_| {}).unwrap()
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Records without their wall time, in a fixed order.
fn comparable(records: &[EvalRecord]) -> Vec<EvalRecord> {
    let mut out: Vec<EvalRecord> = records
        .iter()
        .cloned()
        .map(|mut r| {
            r.seconds = 0.0;
            r
        })
        .collect();
    out.sort_by_key(|r| (r.question.clone(), r.method.key(), r.budget, r.seed));
    out
}

#[test]
fn a_sweep_records_every_setting_and_the_analysis_bins_fits_and_reports() {
    let dir = workspace("sweep");
    let run = eval(&dir, &format!("{RUN}{DIFFICULTY}"));
    let out = dir.join("out");
    assert_eq!(run.out_dir, out);

    // 6 questions x 3 methods x 3 budgets x 1 seed, right on exactly q0-q3.
    assert_eq!(run.records.len(), 54);
    for r in &run.records {
        let i: usize = r.question[1..].parse().unwrap();
        assert_eq!(r.answer.as_deref(), Some("7"), "{r:?}");
        assert_eq!(r.correct, i < 4, "{r:?}");
        assert_eq!(r.compute.generations, r.budget, "{r:?}");
        let family = match r.method.label().as_str() {
            "beam-m2" => Family::Search,
            _ => Family::BestOfN,
        };
        assert_eq!(r.method.family(), family);
        assert_eq!(
            r.method.key(),
            format!("{}{{temperature=0.8}}", r.method.label())
        );
    }
    let table = ttc_app::analysis::accuracy_table(&run.records);
    for method in ["majority", "best-of-n-weighted", "beam-m2"] {
        assert!(
            table.contains(&format!(
                "| {method} | 0.667 (4/6) | 0.667 (4/6) | 0.667 (4/6) |"
            )),
            "{table}"
        );
    }
    // The file holds exactly what the run returned.
    let on_disk: Vec<EvalRecord> = read_lines(&out.join("results.jsonl"));
    assert_eq!(comparable(&on_disk), comparable(&run.records));

    // Difficulty: 4 samples a question, all `7`: pass@1 1 on q0-q3, 0 on q4-q5.
    let difficulty: Vec<DifficultyRecord> = read_lines(&out.join("difficulty.jsonl"));
    assert_eq!(difficulty.len(), 6);
    for d in &difficulty {
        let i: usize = d.question[1..].parse().unwrap();
        assert_eq!(
            (d.samples, d.correct),
            (4, if i < 4 { 4 } else { 0 }),
            "{d:?}"
        );
        assert_eq!(d.scores.len(), 4);
    }

    ttc_app::analysis::analyse(&run).unwrap();
    // Oracle bins: the solved questions are the easy bin.
    let bins: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("bins.json")).unwrap()).unwrap();
    let oracle: Vec<(String, u64)> = bins
        .iter()
        .map(|b| {
            (
                b["question"].as_str().unwrap().to_string(),
                b["oracle_bin"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        oracle,
        (0..6)
            .map(|i| (format!("q{i}"), if i < 4 { 1 } else { 2 }))
            .collect::<Vec<_>>()
    );
    // Every sample is the same text, so every question has the same mean verifier
    // score: one tie group, all in predicted bin 1.
    assert!(bins.iter().all(|b| b["predicted_bin"] == 1), "{bins:?}");

    // The sweep the policy was fitted on, under the probe rule with the default probe
    // of 4 samples paid from N: only N = 4 can pay for it, and there only the
    // best-of-N settings run (on the probe's samples); beam search has nothing left.
    let sweep = ttc_policy::Sweep::read(out.join("sweep.jsonl")).unwrap();
    assert_eq!(sweep.records().len(), 12);
    assert!(sweep.records().iter().all(|r| r.bin == 1
        && r.budget == 4
        && r.strategy_budget() == 4
        && r.compute.generations == 4
        && r.method.label() != "beam-m2"));
    // The policy: all settings equally accurate (4/6) at every budget, so the
    // cheapest wins: majority, which pays for no verifier.
    let policy = ttc_policy::Policy::read(out.join("policy.toml")).unwrap();
    assert_eq!(policy.format, ttc_policy::POLICY_FORMAT);
    assert_eq!(policy.difficulty.bins(), 2);
    let chosen: Vec<(usize, usize, String, f64)> = policy
        .choices
        .iter()
        .map(|c| (c.bin, c.budget, c.method.key(), c.accuracy))
        .collect();
    assert_eq!(policy.probe.samples, 4);
    let want: Vec<(usize, usize, String, f64)> = [4]
        .into_iter()
        .map(|n| (1, n, "majority{temperature=0.8}".to_string(), 4.0 / 6.0))
        .collect();
    assert_eq!(chosen, want);

    // The report: every method, its accuracy, and the per-bin section on the
    // oracle bins (bin 1 all right, bin 2 all wrong).
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("54 evaluation records: 6 questions, 3 methods"),
        "{md}"
    );
    assert!(!md.contains("*Note:"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let accuracy = json["accuracy"].as_array().unwrap();
    assert_eq!(accuracy.len(), 9);
    for a in accuracy {
        let v = a["accuracy"]["value"].as_f64().unwrap();
        assert!((v - 4.0 / 6.0).abs() < 1e-12, "{a}");
    }
    assert!(std::fs::metadata(out.join("accuracy-by-bin.svg")).is_ok());

    // The policy judged against fixed settings, on oracle and on predicted bins, in
    // generations and in FLOPs: every setting is right on q0-q3 alone, so the policy
    // (majority everywhere, under the probe) ties the best fixed setting (majority,
    // cheapest of the tied), and the report says the target is missed and why.
    let judged = json["policy_against_fixed"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = judged
        .iter()
        .map(|j| {
            (
                j["bins"].as_str().unwrap(),
                j["accounting"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("oracle", "generations"),
            ("oracle", "flops"),
            ("predicted", "generations"),
            ("predicted", "flops")
        ]
    );
    for j in judged {
        assert_eq!(j["verdict"], "missed", "{j}");
        assert_eq!(j["same_everywhere"], "majority{temperature=0.8}", "{j}");
    }
    let row = &judged[0]["rows"][0];
    assert_eq!(row["budget"], 4);
    assert!((row["policy"]["value"].as_f64().unwrap() - 4.0 / 6.0).abs() < 1e-12);
    assert_eq!(row["fixed"]["difference"]["value"], 0.0);
    assert_eq!(
        row["named"]["picks"][0], "beam-m2{temperature=0.8}@4",
        "{row}"
    );
    assert!(md.contains("The fitted policy picks `majority{temperature=0.8}` in every cell"));
    // The bins read: sizes 4 and 2, and a test-retest from halves of 2 samples that
    // agree (every sample of a question is alike).
    let reading = &json["difficulty"];
    assert_eq!(reading["oracle_sizes"], serde_json::json!([4, 2]));
    assert_eq!(reading["oracle_samples"], serde_json::json!([4, 4]));
    assert_eq!(reading["retest"]["half_samples"], 2);
    assert_eq!(reading["retest"]["rates"]["same_bin"], 1.0);
    // The models have no training.json: not given.
    let costs = json["one_time_costs"].as_array().unwrap();
    assert_eq!(costs[0]["role"], "generator");
    assert!(costs.iter().all(|c| c["training"].is_null()), "{costs:?}");
    assert!(
        md.contains("| generator | ") && md.contains("| not given |"),
        "{md}"
    );
}

#[test]
fn a_run_folder_without_per_sample_outcomes_still_loads_and_reports() {
    // Difficulty records written before per-sample outcomes were kept: the run
    // resumes with nothing to do, the analysis reports everything but the bins'
    // test-retest, and says why.
    let dir = workspace("older-folder");
    eval(&dir, &format!("{RUN}{DIFFICULTY}"));
    let path = dir.join("out").join("difficulty.jsonl");
    let older: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v.as_object_mut().unwrap().remove("outcomes").is_some());
            serde_json::to_string(&v).unwrap()
        })
        .collect();
    std::fs::write(&path, older.join("\n") + "\n").unwrap();
    let run = eval(&dir, &format!("{RUN}{DIFFICULTY}"));
    assert_eq!(run.records.len(), 54);
    let difficulty: Vec<DifficultyRecord> = read_lines(&path);
    assert!(
        difficulty
            .iter()
            .all(|d| d.outcomes.is_empty() && d.samples == 4)
    );
    ttc_app::analysis::analyse(&run).unwrap();
    let out = dir.join("out");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("Test-retest of the oracle bins: not available"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert!(json["difficulty"]["retest"].is_null());
    assert_eq!(
        json["difficulty"]["oracle_sizes"],
        serde_json::json!([4, 2])
    );
    assert_eq!(json["policy_against_fixed"].as_array().unwrap().len(), 4);
}

#[test]
fn method_budgets_give_some_methods_their_own_budgets() {
    let dir = workspace("method-budgets");
    let run_text = RUN.replace(
        "budgets = [1, 2, 4]",
        "budgets = [1, 2]\nmethod-budgets = { \"majority\" = [8, 1, 2, 4] }",
    );
    let run = eval(&dir, &run_text);
    let mut at: std::collections::BTreeMap<String, std::collections::BTreeSet<usize>> =
        Default::default();
    for r in &run.records {
        at.entry(r.method.label()).or_default().insert(r.budget);
    }
    let list = |m: &str| at[m].iter().copied().collect::<Vec<_>>();
    assert_eq!(list("majority"), [1, 2, 4, 8]);
    assert_eq!(list("best-of-n-weighted"), [1, 2]);
    assert_eq!(list("beam-m2"), [1, 2]);
    // 6 questions x (4 + 2 + 2) budgets.
    assert_eq!(run.records.len(), 48);
    // Majority at 8 sampled once for all four budgets: its compute is pro rata.
    let m8 = run
        .records
        .iter()
        .find(|r| r.method.label() == "majority" && r.budget == 8)
        .unwrap();
    assert_eq!(m8.compute.generations, 8);

    // Entries are checked against `methods`, with the file and the entry named.
    let path = dir.join("bad.toml");
    for (entry, want) in [
        ("{ \"dvts-m4\" = [4] }", "not in `methods`"),
        ("{ \"beam-4x\" = [4] }", "method-budgets key \"beam-4x\""),
        (
            "{ \"majority\" = [] }",
            "non-empty list of positive budgets",
        ),
        (
            "{ \"majority\" = [0, 4] }",
            "non-empty list of positive budgets",
        ),
    ] {
        let text = RUN.replace(
            "budgets = [1, 2, 4]",
            &format!("budgets = [1, 2]\nmethod-budgets = {entry}"),
        );
        let err = RunFile::parse(&text, &path).unwrap_err().to_string();
        assert!(
            err.contains("bad.toml") && err.contains(want),
            "{entry}: {err}"
        );
    }
    let text = RUN.replace(
        "methods = [\"majority\", \"best-of-n-weighted\", \"beam-m2\"]",
        "methods = [\"greedy\", \"majority\"]\nmethod-budgets = { \"greedy\" = [4] }",
    );
    let err = RunFile::parse(&text, &path).unwrap_err().to_string();
    assert!(err.contains("always runs at N = 1"), "{err}");
}

#[test]
fn an_interrupted_sweep_resumes_to_the_records_of_an_uninterrupted_one() {
    let dir = workspace("resume");
    let whole = eval(&dir, &format!("{RUN}{DIFFICULTY}"));
    let results = dir.join("out").join("results.jsonl");
    let text = std::fs::read_to_string(&results).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 54);
    // Killed after 20 records, the 21st half written.
    let torn = format!(
        "{}\n{}",
        lines[..20].join("\n"),
        &lines[20][..lines[20].len() / 2]
    );
    std::fs::write(&results, torn).unwrap();
    let resumed = eval(&dir, &format!("{RUN}{DIFFICULTY}"));
    assert_eq!(comparable(&resumed.records), comparable(&whole.records));
    // The 20 kept records are kept as they were (wall time included).
    let again = std::fs::read_to_string(&results).unwrap();
    assert_eq!(again.lines().take(20).collect::<Vec<_>>(), lines[..20]);
    assert_eq!(again.lines().count(), 54);
}

#[test]
fn without_a_difficulty_table_nothing_is_sampled_and_the_report_says_why() {
    let dir = workspace("no-difficulty");
    let run = eval(&dir, RUN);
    let out = dir.join("out");
    let file = RunFile::load(&dir.join("run.toml")).unwrap();
    assert_eq!(file.difficulty_samples(), 0);
    assert_eq!(run.records.len(), 54);
    let difficulty: Vec<DifficultyRecord> = read_lines(&out.join("difficulty.jsonl"));
    assert!(difficulty.is_empty(), "{difficulty:?}");
    // Each record's generations are its own method's: no probe samples either.
    let generations: usize = run.records.iter().map(|r| r.compute.generations).sum();
    assert_eq!(generations, 6 * 3 * (1 + 2 + 4));

    ttc_app::analysis::analyse(&run).unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains(
            "*Note: the run file has no [difficulty] table: no difficulty samples were drawn, \
             so there are no difficulty bins, no per-bin analysis and no fitted policy"
        ),
        "{md}"
    );
    for absent in [
        "bins.json",
        "sweep.jsonl",
        "policy.toml",
        "accuracy-by-bin.svg",
    ] {
        assert!(!out.join(absent).exists(), "{absent}");
    }
    // With the table but `samples = 0`, the note says that instead.
    let dir = workspace("zero-samples");
    let run = eval(&dir, &format!("{RUN}\n[difficulty]\nsamples = 0\n"));
    ttc_app::analysis::analyse(&run).unwrap();
    let md = std::fs::read_to_string(dir.join("out").join("report.md")).unwrap();
    assert!(md.contains("*Note: [difficulty] samples = 0"), "{md}");
}

/// A format-2 policy over two predicted bins split at a mean score of 0.5: the easy
/// bin runs majority, the hard one beam search, each fitted at N = 2.
const POLICY: &str = r#"format = 2

[provenance]
dataset = "six questions"
sweep = "sweep.jsonl"
created = "2025-01-31"

[provenance.models]
generator = "scripted"

[difficulty]
statistic = "mean-verifier-score"
bins = 2
edges = [0.5]

[fit]
folds = 2
fold-seed = 0
records = 12
questions = 6

[[choice]]
bin = 1
budget = 2
method = "majority"
family = "best-of-n"
accuracy = 0.75
questions = 3
mean-generations = 2.0
mean-flops = 100.0

[[choice]]
bin = 2
budget = 2
method = "beam-m2"
family = "search"
accuracy = 0.5
questions = 3
mean-generations = 2.0
mean-flops = 200.0
"#;

#[test]
fn solve_with_a_policy_probes_bins_and_runs_the_cells_choice_on_what_is_left() {
    let dir = workspace("policy");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let runtime = RuntimeSettings::default();
    for (verifier, bin, method) in [("high", 1, "majority"), ("low", 2, "beam-m2")] {
        let run = RUN.replace("models/hash", &format!("models/{verifier}"));
        std::fs::write(dir.join("run.toml"), &run).unwrap();
        let file = RunFile::load(&dir.join("run.toml")).unwrap();
        let setup = Setup {
            file: &file,
            path: &dir.join("run.toml"),
            runtime: &runtime,
            loader: &Doubles,
        };
        // N = 4: the 2 probe samples are paid from it (a format-2 file, fitted at
        // N = 2): majority takes them as its first and runs at 4, beam search runs
        // at the 2 the probe left.
        let out = with_policy(&setup, &policy, "What is 3 + 4?", 4, Some(2), 0).unwrap();
        assert_eq!(out.probe_samples, 2);
        let score = if verifier == "high" { 0.9 } else { 0.1 };
        assert!(
            (out.probe_mean_score - score).abs() < 1e-6,
            "{}",
            out.probe_mean_score
        );
        let (run, reused) = if method == "majority" { (4, 2) } else { (2, 0) };
        assert_eq!(
            (out.bin, out.method.as_str(), out.method_budget),
            (bin, method, run)
        );
        assert_eq!(
            (out.split.probe, out.split.reused, out.split.total),
            (2, reused, 4)
        );
        assert_eq!(out.compute.generations, 4, "probe and method together");
        assert_eq!(out.answer.as_deref(), Some("7"));
    }

    // Below the probe plus the smallest fitted budget: refused with what to do.
    let file = RunFile::load(&dir.join("run.toml")).unwrap();
    let setup = Setup {
        file: &file,
        path: &dir.join("run.toml"),
        runtime: &runtime,
        loader: &Doubles,
    };
    let err = with_policy(&setup, &policy, "q", 1, Some(1), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("N = 1 is below the smallest budget"), "{err}");
    // Without --probe-samples, the policy's own probe: a format-2 file has none, so
    // the documented default of 4, which N = 3 cannot pay for.
    let err = with_policy(&setup, &policy, "q", 3, None, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("N = 3 leaves nothing"), "{err}");

    // A mistyped method is refused when the file is read, at its line.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, POLICY.replace("\"beam-m2\"", "\"beam-2\"")).unwrap();
    let line = 1 + POLICY
        .lines()
        .position(|l| l == "method = \"beam-m2\"")
        .unwrap();
    let err = with_policy(&setup, &bad, "q", 4, Some(2), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&bad.display().to_string()), "{err}");
    assert!(err.contains(&format!("line {line}")), "{err}");
    assert!(err.contains("\"beam-2\""), "{err}");
}

#[test]
fn greedy_runs_once_at_n_1_whatever_the_sweeps_budgets() {
    let dir = workspace("greedy");
    let run = eval(
        &dir,
        &RUN.replace(
            r#"methods = ["majority", "best-of-n-weighted", "beam-m2"]"#,
            r#"methods = ["greedy", "majority"]"#,
        )
        .replace("budgets = [1, 2, 4]", "budgets = [2, 4]"),
    );
    let greedy: Vec<&EvalRecord> = run
        .records
        .iter()
        .filter(|r| r.method.label() == "greedy")
        .collect();
    // One record a question, at N = 1, beside majority's 2 x 6.
    assert_eq!(greedy.len(), 6);
    assert_eq!(run.records.len(), 6 + 2 * 6);
    for r in greedy {
        assert_eq!((r.budget, r.compute.generations), (1, 1), "{r:?}");
        // No params: greedy decoding does not use the run's temperature.
        assert_eq!(r.method.key(), "greedy");
        assert_eq!(r.method.family(), Family::BestOfN);
        assert_eq!(r.compute.verifier_tokens, 0);
        assert!(r.compute.generator_flops > 0.0);
        let i: usize = r.question[1..].parse().unwrap();
        assert_eq!(r.correct, i < 4);
    }
    let table = ttc_app::analysis::accuracy_table(&run.records);
    assert!(
        table.contains("| greedy | 0.667 (4/6) | - | - |"),
        "{table}"
    );
}

/// The sweep's evaluation of the policy (its cells, fitted on the sweep under the
/// probe rule) and `ttc solve --policy` make the same choice with the same budget
/// split for the same question: a best-of-N choice reuses the probe's samples and
/// runs at N, a search choice runs at what the probe left.
#[test]
fn the_sweep_and_solve_with_its_policy_choose_and_split_alike() {
    let runtime = RuntimeSettings::default();
    for (name, methods, method, method_budget, reused) in [
        (
            "probe-reuse",
            r#"["majority", "beam-m2"]"#,
            "majority",
            4,
            2,
        ),
        ("probe-search", r#"["beam-m2"]"#, "beam-m2", 2, 0),
    ] {
        let dir = workspace(name);
        let text = format!(
            "{}\n[difficulty]\nsamples = 4\nbins = 2\nprobe-samples = 2\n",
            RUN.replace(
                r#"methods = ["majority", "best-of-n-weighted", "beam-m2"]"#,
                &format!("methods = {methods}")
            )
            .replace("models/hash", "models/high")
        );
        let run = eval(&dir, &text);
        ttc_app::analysis::analyse(&run).unwrap();
        let out = dir.join("out");
        let policy_path = out.join("policy.toml");
        let policy = ttc_policy::Policy::read(&policy_path).unwrap();
        assert_eq!(policy.probe.samples, 2, "the probe size is stored");
        // The sweep's cell at N = 4 for q0's predicted bin, and its record there.
        let bins: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(out.join("bins.json")).unwrap()).unwrap();
        let bin = bins.iter().find(|b| b["question"] == "q0").unwrap()["predicted_bin"]
            .as_u64()
            .unwrap() as usize;
        let cell = policy
            .choices
            .iter()
            .find(|c| c.bin == bin && c.budget == 4)
            .unwrap();
        assert_eq!(
            (cell.method.label().as_str(), cell.method_budget),
            (method, method_budget),
            "{name}"
        );
        let sweep = ttc_policy::Sweep::read(out.join("sweep.jsonl")).unwrap();
        let record = sweep
            .records()
            .iter()
            .find(|r| r.question == "q0" && r.budget == 4 && r.method == cell.method)
            .unwrap();
        assert_eq!(record.strategy_budget(), method_budget);
        assert_eq!(record.compute.generations, 4, "probe and method within N");
        // ttc solve --policy on the same question, the probe size from the policy.
        let file = RunFile::load(&dir.join("run.toml")).unwrap();
        let setup = Setup {
            file: &file,
            path: &dir.join("run.toml"),
            runtime: &runtime,
            loader: &Doubles,
        };
        let solved = with_policy(&setup, &policy_path, "What is 0 + 7?", 4, None, 0).unwrap();
        assert_eq!(solved.probe_samples, 2);
        assert_eq!(solved.bin, bin);
        assert_eq!(
            (solved.method.as_str(), solved.method_budget),
            (method, method_budget)
        );
        assert_eq!(
            (solved.split.probe, solved.split.reused, solved.split.total),
            (2, reused, 4)
        );
        assert_eq!(solved.compute.generations, record.compute.generations);
        assert_eq!(solved.answer.as_deref(), Some("7"));
    }
}

/// The built-in `confidence` verifier, selected from a run file: as `[verifier]` it
/// scores weighted best-of-N and beam search from the generator's log-probabilities
/// (no verifier tokens), and as a `[diagnostic]` verifier its runs read
/// `METHOD@confidence`.
#[test]
fn the_confidence_verifier_is_selected_from_run_files() {
    let dir = workspace("confidence");
    let text =
        RUN.replace(
            "model = \"models/hash\"\nadapter = { preset = \"demo\" }",
            "builtin = \"confidence\"",
        )
        .replace(
            r#"methods = ["majority", "best-of-n-weighted", "beam-m2"]"#,
            r#"methods = ["best-of-n-weighted", "beam-m2"]"#,
        ) + "\n[diagnostic]\nmethods = [\"beam-m2\"]\nverifier = { builtin = \"confidence\" }\n";
    let run = eval(&dir, &text);
    let labels: std::collections::BTreeSet<String> =
        run.records.iter().map(|r| r.method.label()).collect();
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        ["beam-m2", "beam-m2@confidence", "best-of-n-weighted"]
    );
    for r in &run.records {
        assert_eq!(r.compute.verifier_tokens, 0, "{r:?}");
        assert_eq!(r.compute.verifier_flops, 0.0, "{r:?}");
        assert_eq!(r.correct, r.question[1..].parse::<usize>().unwrap() < 4);
        if r.method.label() == "beam-m2@confidence" {
            assert_eq!(r.method.family(), Family::Diagnostic);
        }
    }
    // The scores themselves: `ttc solve` on the same run file, weighted best-of-N.
    let file = RunFile::load(&dir.join("run.toml")).unwrap();
    let runtime = RuntimeSettings::default();
    let setup = Setup {
        file: &file,
        path: &dir.join("run.toml"),
        runtime: &runtime,
        loader: &Doubles,
    };
    let out = ttc_app::solve::search(
        &setup,
        "What is 3 + 4?",
        &ttc_search::Strategy::BestOfN {
            selector: ttc_core::Selector::Weighted,
        },
        2,
        0,
    )
    .unwrap();
    // Every sample is `Answer: 7` then EOS, one step: its score is the geometric
    // mean of the scripted log-probabilities of those characters and the EOS.
    let mut lps: Vec<f32> = ANSWER
        .chars()
        .map(|c| ttc_core::testing::scripted_logprob(Next::Char(c)))
        .collect();
    lps.push(ttc_core::testing::scripted_logprob(Next::Eos));
    let want = ttc_core::ConfidenceVerifier::step_score(&lps);
    for c in &out.candidates {
        assert_eq!(c.step_scores.len(), 1);
        assert!((c.step_scores[0] - want).abs() < 1e-6, "{c:?} vs {want}");
    }
    // A diagnostic run of a method that uses no verifier is refused before any work.
    let path = dir.join("greedy-diagnostic.toml");
    std::fs::write(
        &path,
        format!("{RUN}\n[diagnostic]\nmethods = [\"greedy\"]\nverifier = {{ builtin = \"confidence\" }}\n"),
    )
    .unwrap();
    let options = EvalOptions {
        run_file: path,
        ..EvalOptions::default()
    };
    let err = run_with(&options, &Doubles, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"greedy\" uses no verifier"), "{err}");
    // Not as the reviser's ORM: refused when the run file is read.
    std::fs::write(
        dir.join("bad.toml"),
        format!("{RUN}\n[reviser]\nmodel = \"models/reviser\"\nverifier = {{ builtin = \"confidence\" }}\n"),
    )
    .unwrap();
    let err = RunFile::load(&dir.join("bad.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[reviser.verifier] builtin = \"confidence\" cannot select revisions"),
        "{err}"
    );
}
