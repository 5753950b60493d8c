//! The `ttc` binary end to end, as a user runs it.

mod demo_models;
mod shard;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/fixtures")
        .join(name)
}

fn ttc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ttc"))
        .args(args)
        .output()
        .expect("running ttc")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn generate_samples_from_both_fixtures_as_json() {
    for model in [
        "tiny-llama",
        "tiny-qwen2",
        "tiny-llama-genai",
        "tiny-qwen2-genai",
    ] {
        let dir = fixture(model);
        let out = ttc(&[
            "generate",
            "--model",
            dir.to_str().unwrap(),
            "--prompt",
            "12 + 7 =",
            "--prompt",
            "The cat",
            "-n",
            "3",
            "--temperature",
            "0.8",
            "--seed",
            "1",
            "--max-new-tokens",
            "10",
            "--json",
        ]);
        assert!(out.status.success(), "{model}: {}", stderr(&out));
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 6);
        for (k, l) in lines.iter().enumerate() {
            assert_eq!(l["prompt_index"], k / 3);
            assert_eq!(l["sample"], k % 3);
            let n = l["token_ids"].as_array().unwrap().len();
            assert!((1..=10).contains(&n));
            assert_eq!(l["logprobs"].as_array().unwrap().len(), n);
            assert_eq!(l["provider"]["active"], "cpu");
            assert!(["eos", "stop", "length"].contains(&l["finish_reason"].as_str().unwrap()));
        }
    }
}

/// `ttc generate` stops a sample at the model's last position and says so; a
/// prompt that fills the model is refused.
#[test]
fn generate_stops_at_the_models_positions_and_says_so() {
    let dir = fixture("tiny-llama");
    let max = 512; // max_position_embeddings in the fixture's config.json
    let out = ttc(&[
        "generate",
        "--model",
        dir.to_str().unwrap(),
        "--prompt",
        "The cat sat on",
        "--temperature",
        "0",
        "--ignore-eos",
        "--max-new-tokens",
        "600",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let new = v["token_ids"].as_array().unwrap().len();
    let prompt = v["context_tokens"].as_u64().unwrap() as usize;
    assert_eq!(prompt + new, max, "{v}");
    assert_eq!(v["finish_reason"], "length");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("prompt 1 is {prompt} tokens"))
            && err.contains("512 positions")
            && err.contains(&format!("at most {new} new tokens")),
        "{err}"
    );
    // Within the limit: no warning.
    let quiet = ttc(&[
        "generate",
        "--model",
        dir.to_str().unwrap(),
        "--prompt",
        "The cat sat on",
        "--max-new-tokens",
        "4",
    ]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(
        !stderr(&quiet).contains("max_position_embeddings"),
        "{}",
        stderr(&quiet)
    );
    let long = "one two three four five ".repeat(200);
    let refused = ttc(&[
        "generate",
        "--model",
        dir.to_str().unwrap(),
        "--prompt",
        "short",
        "--prompt",
        &long,
    ]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains("prompt 2 is") && err.contains("512 positions") && err.contains("shorten"),
        "{err}"
    );
}

#[test]
fn logs_on_a_pipe_carry_no_colour_codes() {
    let dir = fixture("tiny-llama");
    let out = ttc(&[
        "-v",
        "generate",
        "--model",
        dir.to_str().unwrap(),
        "--prompt",
        "12 + 7 =",
        "--max-new-tokens",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("session ready"), "{err}");
    assert!(!err.contains('\u{1b}'), "escape codes on a pipe: {err:?}");
}

#[test]
fn same_seed_same_output_and_text_mode() {
    let dir = fixture("tiny-llama");
    let args = [
        "generate",
        "--model",
        dir.to_str().unwrap(),
        "--prompt",
        "7 x 8 =",
        "-n",
        "4",
        "--seed",
        "9",
        "--max-new-tokens",
        "8",
    ];
    let a = ttc(&args);
    let b = ttc(&args);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    assert!(String::from_utf8_lossy(&a.stdout).contains("--- prompt 1, sample 4"));
}

#[test]
fn missing_runtime_library_is_a_clear_error() {
    let dir = fixture("tiny-llama");
    let out = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .args([
            "generate",
            "--model",
            dir.to_str().unwrap(),
            "--prompt",
            "hi",
        ])
        .env("ORT_DYLIB_PATH", "/nowhere/libonnxruntime.so.1.31.1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("/nowhere/libonnxruntime.so.1.31.1"), "{err}");
    assert!(err.contains("cargo xtask setup"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn unreadable_or_bogus_library_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let bogus = tmp.path().join("ttc-bogus.so");
    std::fs::write(&bogus, b"not a shared library").unwrap();
    let dir = fixture("tiny-llama");
    let out = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .args([
            "generate",
            "--model",
            dir.to_str().unwrap(),
            "--prompt",
            "hi",
            "--ort-library",
            bogus.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    std::fs::remove_file(&bogus).ok();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(bogus.to_str().unwrap()) && err.contains("cargo xtask setup"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn cuda_fallback_policy_from_flags() {
    let dir = fixture("tiny-llama");
    let base = [
        "generate",
        "--model",
        dir.to_str().unwrap(),
        "--prompt",
        "hi",
        "--max-new-tokens",
        "2",
        "--json",
        "--provider",
        "cuda",
    ];
    let gpu_build = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ttc/onnxruntime/INSTALLED"),
    )
    .is_ok_and(|s| s.contains("gpu"));
    if Path::new("/dev/nvidia0").exists() && gpu_build {
        // A GPU machine with the GPU build: CUDA must really be used.
        let out = ttc(&base);
        assert!(out.status.success(), "{}", stderr(&out));
        let line: serde_json::Value =
            serde_json::from_slice(out.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
        assert_eq!(line["provider"]["active"], "cuda");
        return;
    }
    let fallback = ttc(&[&base[..], &["--fallback", "cpu"]].concat());
    assert!(fallback.status.success(), "{}", stderr(&fallback));
    let line: serde_json::Value =
        serde_json::from_slice(fallback.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["provider"]["requested"], "cuda");
    assert_eq!(line["provider"]["active"], "cpu");
    assert!(stderr(&fallback).contains("falling back to cpu"));
    let strict = ttc(&[&base[..], &["--fallback", "error"]].concat());
    assert!(!strict.status.success());
    let err = stderr(&strict);
    assert!(
        err.contains("`cuda`") && err.contains("setup --gpu"),
        "{err}"
    );
}

#[test]
fn bad_prompts_file_names_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ttc-prompts.jsonl");
    std::fs::write(&path, "{\"prompt\": \"ok\"}\n{\"text\": \"no prompt\"}\n").unwrap();
    let dir = fixture("tiny-llama");
    let out = ttc(&[
        "generate",
        "--model",
        dir.to_str().unwrap(),
        "--prompts",
        path.to_str().unwrap(),
    ]);
    std::fs::remove_file(&path).ok();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:2", path.display())), "{err}");
}

#[test]
fn every_subcommand_has_help() {
    let out = ttc(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let subcommands: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // Wrapped descriptions are indented further than command names.
        .filter(|l| !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(subcommands.contains(&"generate"), "{text}");
    for sub in subcommands {
        let out = ttc(&[sub, "--help"]);
        assert!(out.status.success(), "{sub} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{sub} --help"
        );
    }
}

fn config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config")
        .join(name)
}

#[test]
fn solve_runs_every_strategy_and_writes_a_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let run = config("fixtures.toml");
    for strategy in [
        "majority",
        "best-of-n",
        "best-of-n-naive",
        "beam",
        "lookahead",
        "dvts",
    ] {
        let trace = tmp.path().join(format!("ttc-trace-{strategy}.json"));
        let out = ttc(&[
            "solve",
            "--config",
            run.to_str().unwrap(),
            "--strategy",
            strategy,
            "--budget",
            "8",
            "--width",
            "sqrt",
            "--trace",
            trace.to_str().unwrap(),
            "--json",
            "Start with 3. Add 4. What is the result?",
        ]);
        assert!(out.status.success(), "{strategy}: {}", stderr(&out));
        let brief: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(brief["budget"], 8);
        assert!(
            brief["trace"].as_array().unwrap().is_empty(),
            "--json leaves the tree to --trace"
        );
        let full: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
        std::fs::remove_file(&trace).ok();
        let nodes = full["trace"].as_array().unwrap();
        assert!(!nodes.is_empty());
        for node in nodes {
            for key in ["id", "round", "step", "status"] {
                assert!(
                    node.get(key).is_some(),
                    "{strategy}: node without {key}: {node}"
                );
            }
        }
        let gens = full["compute"]["generations"].as_u64().unwrap();
        assert_eq!(
            gens,
            if strategy == "lookahead" { 16 } else { 8 },
            "{strategy}"
        );
        assert!(full["candidates"].as_array().unwrap().len() <= 8);
        let verifier_tokens = full["compute"]["verifier_tokens"].as_u64().unwrap();
        assert_eq!(
            verifier_tokens == 0,
            strategy == "majority",
            "{strategy}: {verifier_tokens}"
        );
    }
}

/// The fixtures' run file with its generator and reviser as ONNX Runtime GenAI
/// folders, written into `dir`.
fn genai_run_file(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(config("fixtures.toml")).unwrap();
    let fixtures = fixture("");
    let text = text
        .replace(
            "\"../models/fixtures/tiny-llama\"",
            &format!("\"{}\"", fixtures.join("tiny-llama-genai").display()),
        )
        .replace(
            "\"../models/fixtures/tiny-prm-value\"",
            &format!("\"{}\"", fixtures.join("tiny-prm-value").display()),
        );
    assert_eq!(text.matches("tiny-llama-genai").count(), 2, "{text}");
    let path = dir.join("genai.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn search_and_revisions_run_on_a_genai_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let run = genai_run_file(tmp.path());
    for strategy in ["beam", "lookahead", "dvts", "revise"] {
        let trace = tmp.path().join(format!("trace-{strategy}.json"));
        let out = ttc(&[
            "solve",
            "--config",
            run.to_str().unwrap(),
            "--strategy",
            strategy,
            "--budget",
            "8",
            // Revisions: two chains of four attempts (search ignores it).
            "--sequential-ratio",
            "2",
            "--trace",
            trace.to_str().unwrap(),
            "--json",
            "Start with 3. Add 4. What is the result?",
        ]);
        assert!(out.status.success(), "{strategy}: {}", stderr(&out));
        let full: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
        let gens = full["compute"]["generations"].as_u64().unwrap();
        assert_eq!(
            gens,
            if strategy == "lookahead" { 16 } else { 8 },
            "{strategy}"
        );
        assert!(
            full["compute"]["generated_tokens"].as_u64().unwrap() > 0,
            "{strategy}"
        );
    }
    // The same run on the Optimum export of the same weights gives the same answer
    // and the same generated tokens: only how the cache is held differs.
    let optimum = config("fixtures.toml");
    let solve = |run: &Path| {
        let out = ttc(&[
            "solve",
            "--config",
            run.to_str().unwrap(),
            "--strategy",
            "beam",
            "--budget",
            "4",
            "--json",
            "Start with 3. Add 4. What is the result?",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["answer"].clone(),
            v["compute"]["generated_tokens"].clone(),
        )
    };
    assert_eq!(solve(&run), solve(&optimum));
}

#[test]
fn solve_reports_bad_run_files() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ttc-bad-run.toml");
    std::fs::write(
        &path,
        "[generator]\nmodel = \"x\"\n[search]\nfinal-selector = \"best\"\n",
    )
    .unwrap();
    let out = ttc(&["solve", "--config", path.to_str().unwrap(), "q"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("line 4") && err.contains("`weighted`"),
        "{err}"
    );
    std::fs::write(&path, "[search]\nstep-delimiter = \"\\n\"\n").unwrap();
    let out = ttc(&["solve", "--config", path.to_str().unwrap(), "q"]);
    assert!(
        stderr(&out).contains("no [generator] table"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(&path).ok();
    let out = ttc(&["solve", "q"]);
    assert!(stderr(&out).contains("--config"), "{}", stderr(&out));
}

#[test]
fn solve_with_revisions_splits_the_budget_into_chains() {
    let tmp = tempfile::tempdir().unwrap();
    let run = config("fixtures.toml");
    let trace = tmp.path().join("ttc-trace-revise.json");
    let out = ttc(&[
        "solve",
        "--config",
        run.to_str().unwrap(),
        "--strategy",
        "revise",
        "--budget",
        "16",
        "--sequential-ratio",
        "4",
        "--trace",
        trace.to_str().unwrap(),
        "Start with 3. Add 4. What is the result?",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let full: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    std::fs::remove_file(&trace).ok();
    assert_eq!(full["split"]["chains"], 2);
    assert_eq!(full["split"]["length"], 8);
    assert_eq!(full["selector"], "weighted", "an ORM is configured");
    assert_eq!(full["compute"]["generations"], 16);
    let chains = full["chains"].as_array().unwrap();
    assert!(
        chains
            .iter()
            .all(|c| c["attempts"].as_array().unwrap().len() == 8)
    );
    let bad = ttc(&[
        "solve",
        "--config",
        run.to_str().unwrap(),
        "--strategy",
        "revise",
        "--budget",
        "16",
        "--sequential-ratio",
        "3",
        "q",
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("power of two"), "{}", stderr(&bad));
}

/// A revision record's consecutive attempt pairs: the sum of its four transition
/// counts (chains x (length - 1) for a chains x length split).
fn transition_pairs(t: &serde_json::Value) -> u64 {
    [
        "correct_to_correct",
        "correct_to_incorrect",
        "incorrect_to_correct",
        "incorrect_to_incorrect",
    ]
    .iter()
    .map(|k| t[k].as_u64().unwrap())
    .sum()
}

/// Records of a run folder with wall-clock fields removed, sorted.
fn run_records(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for name in ["results.jsonl", "difficulty.jsonl", "reference.jsonl"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        for line in text.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).expect("whole JSON lines");
            v.as_object_mut().unwrap().remove("seconds");
            lines.push(format!("{name} {v}"));
        }
    }
    lines.sort();
    lines
}

#[test]
fn an_eval_does_not_resume_with_a_model_changed_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    // The fixture sweep with its model folders copied, so one can be changed.
    let base = tmp.path().join("ttc-eval-models");
    std::fs::create_dir_all(&base).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fixtures");
    let mut text = std::fs::read_to_string(config("fixtures-eval.toml")).unwrap();
    for name in ["tiny-llama", "tiny-prm-value", "tiny-qwen2"] {
        let copy = base.join(name);
        std::fs::create_dir_all(&copy).unwrap();
        for entry in std::fs::read_dir(fixtures.join(name)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
        text = text.replace(
            &format!("../models/fixtures/{name}"),
            copy.to_str().unwrap(),
        );
    }
    let run = base.join("run.toml");
    std::fs::write(&run, text).unwrap();
    let out_dir = base.join("out");
    let eval = || {
        ttc(&[
            "eval",
            run.to_str().unwrap(),
            "--output",
            out_dir.to_str().unwrap(),
            "--limit",
            "1",
        ])
    };
    let out = eval();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out_dir.join("models.json").is_file());
    let again = eval();
    assert!(again.status.success(), "{}", stderr(&again));
    // The reward model exported again in place: the run folder is not mixed.
    let config_json = base.join("tiny-prm-value").join("config.json");
    let edited = std::fs::read_to_string(&config_json).unwrap() + "\n";
    std::fs::write(&config_json, edited).unwrap();
    let refused = eval();
    assert!(!refused.status.success());
    let msg = stderr(&refused);
    let error = msg
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(
        error.contains("other models")
            && error.contains("verifier changed")
            && !error.contains("generator"),
        "{msg}"
    );
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn an_interrupted_eval_resumes_to_the_same_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let run = config("fixtures-eval.toml");
    let base = tmp.path().join("ttc-eval");
    let whole = base.join("whole");
    let out = ttc(&[
        "eval",
        run.to_str().unwrap(),
        "--output",
        whole.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reference = run_records(&whole);
    assert!(reference.len() > 50, "{} records", reference.len());
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(table.contains("| best-of-n-weighted |"), "{table}");
    let report = std::fs::read_to_string(whole.join("report.md")).unwrap();
    for section in [
        "## 1. Accuracy against budget",
        "## 2. Compute-optimal policy",
        "accuracy-by-budget.svg",
        "## One-time costs",
        "## Best-of-N against search as the budget grows",
        "## Compute-optimal policy against the best fixed method",
        "### predicted bins (a probe of 1 sample paid from N)",
        "Test-retest of the oracle bins: each question's samples",
    ] {
        assert!(report.contains(section), "report.md lacks {section}");
    }
    // report.json carries the judgement with its verdict, per bins and accounting.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("report.json")).unwrap()).unwrap();
    let judged = json["policy_against_fixed"].as_array().unwrap();
    assert_eq!(judged.len(), 4, "{judged:?}");
    for j in judged {
        let verdict = j["verdict"].as_str().unwrap();
        assert!(["met", "missed", "not measured"].contains(&verdict), "{j}");
        assert!(!j["rows"].as_array().unwrap().is_empty(), "{j}");
    }
    assert_eq!(json["difficulty"]["retest"]["half_samples"], 2);
    assert!(whole.join("accuracy-by-budget.svg").is_file() && whole.join("bins.json").is_file());
    // Revision records carry their attempt-to-attempt transitions: a chains x length
    // split has chains x (length - 1) consecutive pairs (revise-r1: 1x1, 2x2).
    let results = std::fs::read_to_string(whole.join("results.jsonl")).unwrap();
    let mut revision_records = 0;
    for line in results.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let method = v["method"].as_str().unwrap();
        let t = &v["transitions"];
        if !method.starts_with("revise-") {
            assert!(t.is_null(), "{line}");
            continue;
        }
        revision_records += 1;
        let pairs = transition_pairs(t);
        let expected = match v["budget"].as_u64().unwrap() {
            1 => 0,
            4 => 2,
            b => panic!("revise-r1 at budget {b}"),
        };
        assert_eq!(pairs, expected, "{line}");
        let selector = v["params"]["selector"].as_str().unwrap();
        match method {
            "revise-r1" => assert_eq!(selector, "weighted"),
            "revise-r1-majority" => assert_eq!(selector, "majority"),
            m => panic!("{m}"),
        }
    }
    assert_eq!(
        revision_records,
        2 * 2 * 6,
        "2 methods x 2 budgets x 6 questions"
    );
    let by_key = |method: &str| -> Vec<serde_json::Value> {
        results
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["method"] == method)
            .collect()
    };
    // Majority samples once at N = 4 for all budgets: its time is split pro rata to N.
    let majority = by_key("majority");
    for q in majority.chunks(3) {
        let s: Vec<f64> = q.iter().map(|v| v["seconds"].as_f64().unwrap()).collect();
        assert_eq!(q[0]["budget"], 1);
        assert!((s[0] * 4.0 - s[2]).abs() <= 1e-9 * s[2].max(1.0), "{s:?}");
        assert!((s[1] * 2.0 - s[2]).abs() <= 1e-9 * s[2].max(1.0), "{s:?}");
    }
    // The two selection rules ran on the same chains: equal transitions and
    // generator compute, and the majority rule did not pay for the ORM.
    for (w, m) in by_key("revise-r1").iter().zip(by_key("revise-r1-majority")) {
        assert_eq!(
            (&w["question"], &w["budget"]),
            (&m["question"], &m["budget"])
        );
        assert_eq!(w["transitions"], m["transitions"]);
        assert_eq!(
            w["compute"]["generator_flops"],
            m["compute"]["generator_flops"]
        );
        assert_eq!(m["compute"]["verifier_flops"].as_f64(), Some(0.0));
    }
    assert!(report.contains("### Attempt to attempt"), "{report}");
    assert!(report.contains("| revise-r1-majority{"), "{report}");
    // Kill once a share of the sweep's records is on disk (a hard kill, as a crash or
    // a pre-empted job would be), check that the run was cut mid-way, resume, compare.
    let results_of = |d: &Path| {
        std::fs::read_to_string(d.join("results.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let total = results.lines().count();
    let policy = |d: &Path| {
        // The fit's date is the day it ran: a resume after midnight may differ.
        std::fs::read_to_string(d.join("policy.toml"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("sweep =") && !l.starts_with("created ="))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (i, share) in [0.15, 0.45, 0.75].iter().enumerate() {
        let dir = base.join(format!("cut{i}"));
        let at = ((total as f64 * share) as usize).max(1);
        let mut child = Command::new(env!("CARGO_BIN_EXE_ttc"))
            .args([
                "eval",
                run.to_str().unwrap(),
                "--output",
                dir.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let began = std::time::Instant::now();
        while results_of(&dir) < at {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended before {at} records"
            );
            assert!(began.elapsed().as_secs() < 120, "no {at} records in 2 min");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let partial = results_of(&dir);
        assert!(
            (at..total).contains(&partial),
            "cut {i}: {partial} of {total} records when killed; the kill must fall mid-sweep"
        );
        assert!(
            !dir.join("report.md").exists(),
            "cut {i}: the run had finished"
        );
        let out = ttc(&[
            "eval",
            run.to_str().unwrap(),
            "--output",
            dir.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "resume {i} after {partial} records: {}",
            stderr(&out)
        );
        assert_eq!(
            run_records(&dir),
            reference,
            "resumed after {partial} of {total} records"
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), table);
        assert_eq!(policy(&dir), policy(&whole));
    }
    std::fs::remove_dir_all(&base).ok();
}

/// `method-budgets` runs every budget it lists for a revision setting, with the
/// nearest split where the ratio has none exactly (ratio 1 at 2 and 3: 2x1 and
/// 3x1, the more parallel of two equally near); from `budgets` the same setting
/// runs only where its split is exact.
#[test]
fn listed_revision_budgets_run_the_nearest_split() {
    let tmp = tempfile::tempdir().unwrap();
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let text = std::fs::read_to_string(config("fixtures-eval.toml"))
        .unwrap()
        .replace("\"../models/", &format!("\"{}/", models.display()))
        .replace(
            "budgets = [1, 2, 4]",
            "budgets = [1, 2, 4]\nmethod-budgets = { \"revise-r1\" = [2, 3, 4] }",
        );
    let run = tmp.path().join("run.toml");
    std::fs::write(&run, text).unwrap();
    let out_dir = tmp.path().join("out");
    let out = ttc(&[
        "eval",
        run.to_str().unwrap(),
        "--output",
        out_dir.to_str().unwrap(),
        "--limit",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let results = std::fs::read_to_string(out_dir.join("results.jsonl")).unwrap();
    let mut at: std::collections::BTreeMap<(String, u64), (u64, u64)> = Default::default();
    for line in results.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let method = v["method"].as_str().unwrap().to_string();
        if !method.starts_with("revise-") {
            continue;
        }
        let t = &v["transitions"];
        let pairs = transition_pairs(t);
        let budget = v["budget"].as_u64().unwrap();
        assert_eq!(v["compute"]["generations"].as_u64(), Some(budget), "{line}");
        let e = at.entry((method, budget)).or_default();
        e.0 += 1;
        e.1 += pairs;
    }
    // Two questions each; a chains x length split has chains x (length - 1) pairs.
    let want: std::collections::BTreeMap<(String, u64), (u64, u64)> = [
        (("revise-r1".to_string(), 2), (2, 0)),
        (("revise-r1".to_string(), 3), (2, 0)),
        (("revise-r1".to_string(), 4), (2, 2 * 2)),
        (("revise-r1-majority".to_string(), 1), (2, 0)),
        (("revise-r1-majority".to_string(), 4), (2, 2 * 2)),
    ]
    .into_iter()
    .collect();
    assert_eq!(at, want);
}

#[test]
fn eval_refuses_verifier_selection_without_an_orm() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ttc-no-orm.toml");
    let out_dir = tmp.path().join("ttc-no-orm");
    let model = fixture("tiny-llama");
    let model = model.to_str().unwrap();
    std::fs::write(
        &path,
        format!(
            "[generator]\nmodel = {model:?}\n[reviser]\nmodel = {model:?}\n[dataset]\n\
             demo-split = \"test\"\nlimit = 1\n[sweep]\nmethods = [\"revise-r1-weighted\"]\n\
             budgets = [1]\n[output]\ndir = {out_dir:?}\n"
        ),
    )
    .unwrap();
    let out = ttc(&["eval", path.to_str().unwrap()]);
    std::fs::remove_file(&path).ok();
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        !out_dir.exists(),
        "a refused run must not create its output folder"
    );
    assert!(
        err.contains("\"revise-r1-weighted\" selects with a verifier") && err.contains("-majority"),
        "{err}"
    );
}

#[test]
fn eval_refuses_to_mix_two_run_files_in_one_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ttc-eval-mix");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("run.toml"), "# another run\n").unwrap();
    let run = config("fixtures-eval.toml");
    let out = ttc(&[
        "eval",
        run.to_str().unwrap(),
        "--output",
        dir.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("different run file"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `ttc solve --policy --json`'s output `v` ran the method the policy chose for
/// its bin at the fitted budget `cell`, under the probe rule (docs/method.md §5): a
/// best-of-N choice runs at the whole budget `budget` on the probe's samples and new
/// ones, any other at its fitted `method-budget` plus what `budget` exceeds `cell`,
/// within `budget` less the probe (a revision split has any budget:
/// `ChainSplit::from_ratio`).
fn check_policy_choice(v: &serde_json::Value, policy: &toml::Value, cell: u64, budget: u64) {
    let bin = v["bin"].as_u64().unwrap();
    let chosen: Vec<&toml::Value> = policy["choice"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["bin"].as_integer() == Some(bin as i64))
        .filter(|c| c["budget"].as_integer() == Some(cell as i64))
        .collect();
    assert_eq!(chosen.len(), 1, "one choice for bin {bin} at N = {cell}");
    let method = v["method"].as_str().unwrap();
    assert_eq!(
        Some(method),
        chosen[0]["method"].as_str(),
        "bin {bin}, N = {cell}: {v}"
    );
    // Format 1 and 2 files have neither: a probe of 4, each choice run at its budget.
    let probe = policy
        .get("probe")
        .and_then(|p| p["samples"].as_integer())
        .unwrap_or(4) as u64;
    let fitted = chosen[0]
        .get("method-budget")
        .and_then(toml::Value::as_integer)
        .unwrap_or(cell as i64) as u64;
    let reuses = method == "majority" || method.starts_with("best-of-n");
    let want = if reuses {
        budget
    } else {
        (fitted + budget - cell).min(budget - probe)
    };
    assert_eq!(v["method_budget"].as_u64(), Some(want), "{v}");
    let reused = if reuses { probe } else { 0 };
    assert_eq!(v["split"]["reused"].as_u64(), Some(reused), "{v}");
    assert_eq!(v["split"]["probe"].as_u64(), Some(probe), "{v}");
}

/// The policy's answer is that of its chosen method run alone by `ttc solve
/// --strategy METHOD` on the same budget and seed; its generations are the probe's
/// plus the method's, less the probe samples the method reused.
fn check_same_as_the_method_alone(v: &serde_json::Value, run: &Path, question: &str, seed: u64) {
    let method = v["method"].as_str().unwrap();
    let budget = v["method_budget"].as_u64().unwrap().to_string();
    let seed = seed.to_string();
    let out = ttc(&[
        "solve",
        "--config",
        run.to_str().unwrap(),
        "--strategy",
        method,
        "--budget",
        &budget,
        "--seed",
        &seed,
        "--json",
        question,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let alone: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["answer"], alone["answer"],
        "{method}: {v}\nalone: {alone}"
    );
    let generations = |x: &serde_json::Value| x["compute"]["generations"].as_u64().unwrap();
    let probe = v["split"]["probe"].as_u64().unwrap();
    let reused = v["split"]["reused"].as_u64().unwrap();
    assert_eq!(generations(v), probe + generations(&alone) - reused, "{v}");
    if reused == 0 {
        assert_eq!(
            v["outcome"]["compute"], alone["compute"],
            "{method}: the chosen run's compute"
        );
    }
}

#[test]
fn solve_applies_a_fitted_policy_after_a_probe() {
    let tmp = tempfile::tempdir().unwrap();
    let run = config("fixtures-eval.toml");
    let dir = tmp.path().join("ttc-eval-policy");
    let out = ttc(&[
        "eval",
        run.to_str().unwrap(),
        "--output",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let policy = dir.join("policy.toml");
    let choices: toml::Value = toml::from_str(&std::fs::read_to_string(&policy).unwrap()).unwrap();
    let out = ttc(&[
        "solve",
        "--config",
        run.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--budget",
        "8",
        "--json",
        "Start with 3. Add 4. What is the result?",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((1..=2).contains(&v["bin"].as_u64().unwrap()));
    // The probe the policy was fitted with ([difficulty] probe-samples = 1), and
    // the cell of the largest fitted budget (1, 2, 4) not above N = 8.
    assert_eq!(choices["probe"]["samples"].as_integer(), Some(1));
    assert_eq!(v["probe_samples"].as_u64(), Some(1));
    check_policy_choice(&v, &choices, 4, 8);
    check_same_as_the_method_alone(&v, &run, "Start with 3. Add 4. What is the result?", 0);
    let too_small = ttc(&[
        "solve",
        "--config",
        run.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--budget",
        "2",
        "--probe-samples",
        "3",
        "q",
    ]);
    assert!(
        stderr(&too_small).contains("at most --budget"),
        "{}",
        stderr(&too_small)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `ttc score` over a JSONL file: one line per solution, lines that extend earlier
/// ones read fewer tokens than with `--no-cache` and score the same, bad lines named.
#[test]
fn score_reads_a_jsonl_file_and_continues_lines_that_extend_earlier_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ttc-cli-score");
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.jsonl");
    std::fs::write(
        &input,
        "{\"problem\": \"Start with 3. Add 4. What is the result?\", \"steps\": [\"3 + 4 = 7\"]}\n\
         {\"problem\": \"Start with 3. Add 4. What is the result?\", \"steps\": [\"3 + 4 = 7\", \"Answer: 7\"]}\n\
         {\"problem\": \"Start with 5. What is the result?\", \"steps\": [\"Answer: 5\"]}\n",
    )
    .unwrap();
    let model = fixture("tiny-prm-value");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "score",
            "--model",
            model.to_str().unwrap(),
            "--adapter",
            "demo",
            "--input",
            input.to_str().unwrap(),
            "--aggregation",
            "min",
        ];
        args.extend_from_slice(extra);
        let out = ttc(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("one JSON object per line")
            })
            .collect::<Vec<_>>()
    };
    let cached = run(&[]);
    let full = run(&["--no-cache"]);
    assert_eq!(cached.len(), 3);
    for (k, (c, f)) in cached.iter().zip(&full).enumerate() {
        assert_eq!(c["line"], k + 1);
        let (cs, fs) = (
            c["step_scores"].as_array().unwrap(),
            f["step_scores"].as_array().unwrap(),
        );
        assert_eq!(cs.len(), fs.len());
        for (a, b) in cs.iter().zip(fs) {
            assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-5);
        }
        let min = cs
            .iter()
            .map(|x| x.as_f64().unwrap())
            .fold(f64::INFINITY, f64::min);
        assert!((c["score"].as_f64().unwrap() - min).abs() < 1e-6);
    }
    let read = |rows: &[serde_json::Value], k: usize| rows[k]["verifier_tokens"].as_u64().unwrap();
    assert!(
        read(&cached, 1) < read(&full, 1),
        "line 2 continues from line 1"
    );
    assert_eq!(read(&cached, 2), read(&full, 2), "line 3 starts afresh");

    std::fs::write(
        &input,
        "{\"problem\": \"q\", \"steps\": [\"a\"]}\n{\"problem\": \"q\", \"steps\": \"a\"}\n",
    )
    .unwrap();
    let out = ttc(&[
        "score",
        "--model",
        model.to_str().unwrap(),
        "--adapter",
        "demo",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("in.jsonl:2:"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_high_budget_run_file_runs_on_fixtures() {
    // config/demo-high-budget.toml as shipped, on the tiny fixtures and two
    // questions: search at 4, 16 and 64, best-of-N and majority on to 256, two seeds.
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(config("demo-high-budget.toml"))
        .unwrap()
        .replace(
            "../models/demo/generator",
            fixture("tiny-llama").to_str().unwrap(),
        )
        .replace(
            "../models/demo/prm",
            fixture("tiny-prm-value").to_str().unwrap(),
        )
        .replace("max-step-tokens = 32", "max-step-tokens = 4")
        .replace("max-solution-tokens = 256", "max-solution-tokens = 12")
        .replace("max-rounds = 18", "max-rounds = 3")
        .replace("limit = 200", "limit = 2")
        .replace("samples = 64", "samples = 4");
    assert!(!text.contains("models/demo"), "{text}");
    let run = tmp.path().join("high.toml");
    std::fs::write(&run, text).unwrap();
    let out_dir = tmp.path().join("out");
    let out = ttc(&[
        "eval",
        run.to_str().unwrap(),
        "--output",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut at: std::collections::BTreeMap<String, std::collections::BTreeSet<u64>> =
        Default::default();
    let mut records = 0;
    let results = std::fs::read_to_string(out_dir.join("results.jsonl")).unwrap();
    for line in results.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        at.entry(v["method"].as_str().unwrap().to_string())
            .or_default()
            .insert(v["budget"].as_u64().unwrap());
        records += 1;
    }
    let list = |m: &str| at[m].iter().copied().collect::<Vec<_>>();
    for m in ["beam-m4", "beam-msqrt", "dvts-m4", "lookahead-m4-k1"] {
        assert_eq!(list(m), [4, 16, 64], "{m}");
    }
    for m in ["majority", "best-of-n-weighted"] {
        assert_eq!(list(m), [4, 16, 64, 128, 256], "{m}");
    }
    // 2 questions x 2 seeds x (4 x 3 + 2 x 5) settings and budgets.
    assert_eq!(records, 2 * 2 * 22);
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        report
            .contains("### `best-of-n-weighted{temperature=0.8}` minus `beam-m4{temperature=0.8}`"),
        "{report}"
    );
    assert!(
        report
            .contains("best-of-n-weighted{temperature=0.8}@256 minus beam-m4{temperature=0.8}@64"),
        "{report}"
    );
}
