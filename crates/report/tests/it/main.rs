//! The report on a small synthetic run whose numbers are known exactly.
//!
//! 50 questions, q00 (easiest) to q49, in oracle bins of ten (q00-q09 bin 1). A
//! method at budget N answers question i correctly iff i < t(method, N), so its
//! accuracy is t / 50 and its accuracy in bin b is clamp(t - 10 (b - 1), 0, 10) / 10.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ttc_core::{
    Compute, CostKind, CostPart, DifficultyRecord, EvalRecord, Family, MethodId, Param, Params,
    ReferenceRecord, TrainingCost,
};
use ttc_report::{
    AgreementRates, ArmOutcome, ArmPick, BinAssignment, BinReading, Bound, CellChoice,
    EfficiencyRow, FixedArm, FlopsMatched, FoldSetting, JudgedBudget, MatchedBudget, PolicyCurve,
    PolicyJudgement, PolicyPoint, QuestionFold, QuestionOutcome, ReportInput, Retest, RunModel,
    render_report, write_report,
};

const QUESTIONS: usize = 50;

fn q(i: usize) -> String {
    format!("q{i:02}")
}

/// The method `label` of family `family`, checked as a results file's would be.
fn id(label: &str, family: &str) -> MethodId {
    MethodId::from_fields(label, Family::from_name(family), Params::new()).unwrap()
}

/// `id` with params.
fn with(id: &MethodId, params: &[(&str, Param)]) -> MethodId {
    let mut all = id.params().clone();
    all.extend(params.iter().map(|(k, v)| (k.to_string(), v.clone())));
    id.clone().with_params(all).unwrap()
}

fn bin_of(i: usize) -> usize {
    i / 10 + 1
}

/// (budget N, t) pairs.
type Thresholds = Vec<(usize, usize)>;

/// t(method, N): how many of the questions (easiest first) it gets right.
fn thresholds() -> Vec<(&'static str, &'static str, Thresholds)> {
    vec![
        (
            "majority",
            "best-of-n",
            vec![(1, 10), (4, 13), (16, 16), (64, 18)],
        ),
        (
            "best-of-n-weighted",
            "best-of-n",
            vec![(1, 10), (4, 15), (16, 20), (64, 25)],
        ),
        ("beam-m4", "search", vec![(4, 20), (16, 25), (64, 27)]),
        // Sequential ratio length / chains: 4x1 and 16x1 are fully parallel, 2x2
        // and 4x4 ratio 1, 1x4 and 1x16 fully sequential.
        ("revise-r1/4", "revisions", vec![(4, 12)]),
        ("revise-r1", "revisions", vec![(4, 17), (16, 22)]),
        ("revise-r4", "revisions", vec![(4, 14)]),
        ("revise-r1/16", "revisions", vec![(16, 15)]),
        ("revise-r16", "revisions", vec![(16, 19)]),
    ]
}

fn records() -> Vec<EvalRecord> {
    let mut out = Vec::new();
    for (method, family, points) in thresholds() {
        for (budget, t) in points {
            for seed in 0..2u64 {
                for i in 0..QUESTIONS {
                    out.push(EvalRecord {
                        question: q(i),
                        level: bin_of(i) as u8,
                        method: id(method, family),
                        budget,
                        seed,
                        answer: Some("1".into()),
                        gold: "1".into(),
                        correct: i < t,
                        compute: Compute {
                            generations: budget,
                            generated_tokens: 100 * budget,
                            generator_processed_tokens: 150 * budget,
                            generator_flops: 2.0 * 1e8 * 150.0 * budget as f64,
                            verifier_tokens: 50 * budget,
                            verifier_reread_tokens: 10 * budget,
                            verifier_flops: 2.0 * 1e8 * 50.0 * budget as f64,
                            ..Compute::default()
                        },
                        seconds: 0.01 * budget as f64,
                        transitions: None,
                    });
                }
            }
        }
    }
    out
}

fn bin_accuracy(t: usize, bin: usize) -> f64 {
    (t.saturating_sub(10 * (bin - 1))).min(10) as f64 / 10.0
}

/// The search policy: beam search everywhere, as a fit over {best-of-N, beam} would
/// choose here; held-out outcomes are the questions' own.
fn search_policy() -> PolicyCurve {
    let mut points = Vec::new();
    for (budget, t) in [(4, 20), (16, 25), (64, 27)] {
        for bin in 1..=5 {
            points.push(PolicyPoint {
                bin,
                budget,
                method: "beam-m4".into(),
                questions: 10,
                held_out_accuracy: bin_accuracy(t, bin),
                held_out: (0..QUESTIONS)
                    .filter(|i| bin_of(*i) == bin)
                    .map(|i| QuestionOutcome {
                        question: q(i),
                        correct: f64::from(u8::from(i < t)),
                    })
                    .collect(),
                fold_choices: Vec::new(),
            });
        }
    }
    PolicyCurve {
        name: "compute-optimal search".into(),
        family: "search".into(),
        points,
        folds: Vec::new(),
    }
}

fn full_input() -> ReportInput {
    ReportInput {
        title: "Synthetic run".into(),
        generator_parameters: Some(100_000_000),
        results: records(),
        difficulty: (0..QUESTIONS)
            .map(|i| DifficultyRecord {
                question: q(i),
                level: 1,
                samples: 10,
                correct: 10 - i / 5,
                scores: vec![1.0 - i as f64 / 50.0; 4],
                outcomes: Vec::new(),
                compute: Compute {
                    generations: 10,
                    generated_tokens: 1000,
                    ..Compute::default()
                },
            })
            .collect(),
        reference: (0..QUESTIONS)
            .map(|i| ReferenceRecord {
                question: q(i),
                model: "big".into(),
                parameters: 1_400_000_000,
                answer: None,
                correct: i < 22,
                // 150 tokens per question: 2 x 1.4e9 x 150 FLOPs.
                compute: Compute {
                    generator_processed_tokens: 150,
                    generator_flops: 2.0 * 1.4e9 * 150.0,
                    ..Compute::default()
                },
            })
            .collect(),
        bins: (0..QUESTIONS)
            .map(|i| BinAssignment {
                question: q(i),
                oracle_bin: bin_of(i),
                // Every fifth question is predicted one bin harder.
                predicted_bin: Some(if i % 5 == 4 && i < 40 {
                    bin_of(i) + 1
                } else {
                    bin_of(i)
                }),
            })
            .collect(),
        bin_count: 5,
        policies: vec![search_policy()],
        flops_matched: Some(FlopsMatched {
            policy: "compute-optimal search".into(),
            model_ratio: 14.0,
            budgets: vec![
                MatchedBudget {
                    data_ratio: 0.16,
                    multiplier: 257.75,
                    budget: 257,
                },
                MatchedBudget {
                    data_ratio: 0.79,
                    multiplier: 63.367,
                    budget: 63,
                },
                MatchedBudget {
                    data_ratio: 22.0,
                    multiplier: 15.773,
                    budget: 15,
                },
            ],
        }),
        options: Default::default(),
        notes: Vec::new(),
        models: vec![
            RunModel {
                role: "generator".into(),
                model: "models/small".into(),
                training: Some(cost(
                    100_000_000,
                    1_000_000_000,
                    &[("training", CostKind::Training, 6e17)],
                )),
            },
            RunModel {
                role: "verifier".into(),
                model: "models/prm".into(),
                training: Some(cost(
                    100_000_000,
                    10_000_000,
                    &[
                        ("trunk", CostKind::Training, 6e18),
                        ("labels", CostKind::Labels, 4e18),
                    ],
                )),
            },
            RunModel {
                role: "reference".into(),
                model: "models/big".into(),
                training: None,
            },
        ],
        judged: vec![judgement(&records(), bin_of, "oracle")],
        bin_reading: Some(BinReading {
            oracle_samples: (10, 10),
            probe_samples: 4,
            oracle_sizes: vec![10; 5],
            predicted_sizes: vec![8, 10, 10, 10, 12],
            agreement: Some(AgreementRates {
                questions: 50,
                same_bin: 0.84,
                within_one: 1.0,
                ceiling: 1.0,
                chance: 0.2,
            }),
            retest: Some(Retest {
                half_samples: 5,
                rates: AgreementRates {
                    questions: 50,
                    same_bin: 0.6,
                    within_one: 0.9,
                    ceiling: 1.0,
                    chance: 0.2,
                },
            }),
        }),
    }
}

fn cost(parameters: u64, tokens: u64, parts: &[(&str, CostKind, f64)]) -> TrainingCost {
    TrainingCost {
        source: "a card".into(),
        parameters,
        training_tokens: tokens,
        parts: parts
            .iter()
            .map(|(part, kind, flops)| CostPart {
                part: part.to_string(),
                kind: *kind,
                tokens: None,
                flops: *flops,
                basis: None,
            })
            .collect(),
    }
}

/// The policy fitted on `results` (no probe: the sweep is its own plain sweep) and
/// judged with `ttc-policy`, as the application hands it to the report.
fn judgement(results: &[EvalRecord], bin: impl Fn(usize) -> usize, bins: &str) -> PolicyJudgement {
    let records: Vec<ttc_policy::SweepRecord> = results
        .iter()
        .map(|r| ttc_policy::SweepRecord {
            question: r.question.clone(),
            bin: bin(r.question[1..].parse().unwrap()),
            method: r.method.clone(),
            budget: r.budget,
            method_budget: None,
            seed: r.seed,
            correct: r.correct,
            compute: (&r.compute).into(),
        })
        .collect();
    let sweep = ttc_policy::Sweep::new(records).unwrap();
    let fit = ttc_policy::fit(&sweep, &ttc_policy::FitOptions { fold_seed: 0 }).unwrap();
    let named = MethodId::new("beam-m4".parse().unwrap());
    let judged = ttc_policy::judge(&fit, &sweep, &sweep, Some(&named), 0).unwrap();
    let outcome = |o: &ttc_policy::HeldOut| ArmOutcome {
        question: o.question.clone(),
        method: o.setting.key(),
        budget: o.budget,
        correct: o.correct,
        generations: o.generations,
        flops: o.flops,
    };
    let arm = |a: &Option<ttc_policy::Arm>| {
        a.as_ref().map(|a| FixedArm {
            picks: a
                .picks
                .iter()
                .map(|p| ArmPick {
                    chosen_on: p.chosen_on.map(|f| f.to_string()),
                    method: p.setting.key(),
                    budget: p.budget,
                })
                .collect(),
            outcomes: a.outcomes.iter().map(outcome).collect(),
        })
    };
    PolicyJudgement {
        bins: bins.into(),
        probe_samples: 0,
        named: Some("beam-m4".into()),
        budgets: judged
            .iter()
            .map(|j| JudgedBudget {
                budget: j.budget,
                policy: j.policy.iter().map(outcome).collect(),
                cells: j
                    .cells
                    .iter()
                    .map(|(bin, m, b)| CellChoice {
                        bin: *bin,
                        method: m.key(),
                        method_budget: *b,
                    })
                    .collect(),
                fixed: arm(&j.fixed),
                fixed_flops: arm(&j.fixed_flops),
                named: arm(&j.named),
                named_flops: arm(&j.named_flops),
            })
            .collect(),
    }
}

fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every opened tag is closed in order and there is one root.
fn balanced(svg: &str) -> bool {
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0;
    for piece in svg.split('<').skip(1) {
        let Some(end) = piece.find('>') else {
            return false;
        };
        let tag = &piece[..end];
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop() != Some(name) {
                return false;
            }
        } else {
            if stack.is_empty() {
                roots += 1;
            }
            if !tag.ends_with('/') {
                stack.push(tag.split_whitespace().next().unwrap_or(""));
            }
        }
    }
    stack.is_empty() && roots == 1
}

fn line_with<'a>(md: &'a str, prefix: &str) -> &'a str {
    md.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in\n{md}"))
}

#[test]
fn full_report_has_every_section_and_the_expected_numbers() {
    let dir = out_dir("full");
    let summary = write_report(&dir, &full_input()).unwrap();
    let names: Vec<String> = summary
        .files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "report.md",
            "report.json",
            "accuracy-by-budget.svg",
            "accuracy-by-flops.svg",
            "accuracy-by-bin.svg",
            "policy-compute-optimal-search.svg",
            "policy-against-fixed-oracle.svg",
            "revisions-ratio.svg",
            "flops-matched.svg",
            "difficulty-agreement.svg",
        ]
    );
    assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
    assert_eq!((summary.questions, summary.methods), (50, 8));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for (method, _, _) in thresholds() {
        assert!(md.contains(&format!("| {method} |")), "{method}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["questions"], 50);
    assert_eq!(
        json["efficiency"][0]["ratio"],
        serde_json::json!({"reached": 4.0})
    );
    assert!(json.get("files").is_none());
    for name in &names[2..] {
        assert!(md.contains(&format!("]({name})")), "{name} not linked");
        let svg = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(balanced(&svg), "{name} is not well formed");
    }

    // Summary: 20 of 50 right, 2 seeds, N x 100 generated and N x 50 verifier tokens
    // (N x 10 of them re-read), 2e8 x 150 x N generator and 2e8 x 50 x N verifier FLOPs.
    let row = line_with(&md, "| best-of-n-weighted | best-of-n | 16 |");
    assert!(
        row.starts_with("| best-of-n-weighted | best-of-n | 16 | 50 | 100 | 40.0% ["),
        "{row}"
    );
    assert!(
        row.ends_with("| 16.0 | 1600.0 | 800.0 (160.0 re-read) | 4.800e11 | 1.600e11 | 0.160 |"),
        "{row}"
    );
    let acc = summary
        .accuracy
        .iter()
        .find(|a| a.method == "beam-m4" && a.budget == 64)
        .unwrap();
    assert!((acc.accuracy.value - 0.54).abs() < 1e-12);
    assert!(acc.accuracy.lo < 0.54 && acc.accuracy.hi > 0.54);
    assert!(acc.accuracy.hi - acc.accuracy.lo > 0.1);

    // Per bin: beam at 16 gets bin 3 half right; best of all at 64 in bin 3 is beam (70%).
    let row = line_with(&md, "| 3 | best-of-n-weighted (0.0%)");
    assert_eq!(
        row,
        "| 3 | best-of-n-weighted (0.0%) | best-of-n-weighted (0.0%) | beam-m4 (50.0%) | beam-m4 (70.0%) |"
    );

    // Efficiency: beam at 4 (40%) = best-of-N at 16; at 16 (50%) = best-of-N at 64.
    let eff: Vec<(usize, Bound)> = summary
        .efficiency
        .iter()
        .map(|e| (e.budget, e.ratio))
        .collect();
    assert_eq!(
        eff,
        [
            (4, Bound::Reached(4.0)),
            (16, Bound::Reached(4.0)),
            (64, Bound::Beyond(1.0))
        ]
    );
    assert!(md.contains("| 4 | 40.0% ["), "{md}");
    assert!(md.contains("| 16.0 | 4.00x |"), "{md}");
    assert!(md.contains("| > 64.0 | > 1.00x |"), "{md}");
    // The same in total inference FLOPs: every record costs 2e8 x (150 + 50) x N, so
    // beam at 4 (1.6e11 FLOPs) matches best-of-N at 16 (6.4e11): 4x here too.
    assert!(
        md.contains("| 16.0 | 4.00x | 1.600e11 | 6.400e11 | 4.00x |"),
        "{md}"
    );
    assert!(
        md.contains("| > 64.0 | > 1.00x | 2.560e12 | > 2.560e12 | > 1.00x |"),
        "{md}"
    );
    assert!(md.contains("| 1 | beam-m4 (100.0%) | beam-m4 (100.0%) | beam-m4 (100.0%) |"));

    // Revisions: at N = 4 the square split wins (17 > 14 > 12); bin 2 at N = 16 too.
    let row = line_with(&md, "| all | 2x2");
    assert_eq!(row, "| all | 2x2 (ratio 1): 34.0% | 4x4 (ratio 1): 44.0% |");
    // Ties go to the more sequential split.
    let row = line_with(&md, "| 1 | 1x4 (ratio 4)");
    assert_eq!(
        row,
        "| 1 | 1x4 (ratio 4): 100.0% | 1x16 (ratio 16): 100.0% |"
    );
    let row = line_with(&md, "| 2 | 2x2");
    assert_eq!(row, "| 2 | 2x2 (ratio 1): 70.0% | 4x4 (ratio 1): 100.0% |");

    // FLOPs-matched, never above k: 257 -> 64, 63 -> 16, 15 -> 4, and how far below.
    // Total accounting: k x F_L / M with F_L = 4.2e11; the policy (beam) spends
    // 4e10 x N per question. With the verifier's 1e19 FLOPs spread as
    // V x 150 tokens / (R x 1e9): 1.5e12 / R less, which leaves R = 0.79 and 0.16 nothing.
    let row = line_with(&md, "| 0.16 | 257.75 |");
    assert!(
        row.starts_with("| 0.16 | 257.75 | 64 | 75.2% | 7.73"),
        "{row}"
    );
    // The verifier's training leaves nothing: no budget.
    assert!(row.ends_with("| - |"), "{row}");
    let row = line_with(&md, "| 0.79 | 63.37 |");
    assert!(
        row.starts_with("| 0.79 | 63.37 | 16 | 74.8% | 1.90"),
        "{row}"
    );
    assert!(row.ends_with("| - |"), "{row}");
    let row = line_with(&md, "| 22 | 15.77 |");
    assert!(row.starts_with("| 22 | 15.77 | 4 | 74.6% | 4.73"), "{row}");
    assert!(row.contains("| 4 | 4.05"), "{row}");
    assert!(row.ends_with("| 4 |"), "{row}");
    let allowed = json["flops_matched"][2]["allowed_flops"].as_f64().unwrap();
    assert!((allowed - 15.773 * 4.2e11 / 14.0).abs() < 1.0, "{allowed}");
    let with_training = json["flops_matched"][2]["allowed_flops_with_training"]
        .as_f64()
        .unwrap();
    assert!(
        (with_training - (allowed - 1e19 * 150.0 / (22.0 * 1e9))).abs() < 1.0,
        "{with_training}"
    );
    assert!(
        md.contains("R = 22 (paper and total and with training, N = 4)"),
        "{md}"
    );
    assert!(
        md.contains("Small: generator `models/small` with verifier `models/prm`"),
        "{md}"
    );
    let matched = &json["flops_matched"][2];
    assert_eq!(matched["budget"], 4);
    assert_eq!(matched["flops_budget_with_training"], 4);
    assert!(json["flops_matched"][0]["flops_budget_with_training"].is_null());
    let row = line_with(&md, "| 3 | 20.0% [");
    assert!(
        row.contains("70.0% [") && row.contains("(small wins)"),
        "{row}"
    );
    let row = line_with(&md, "| all | 44.0% [");
    assert!(row.contains("54.0% ["), "{row}");
    assert!(md.contains("M = 14.00 times the generator"), "{md}");

    // One-time costs: the verifier's 1e19 is 16.67 times the generator's 6e17.
    assert!(
        md.contains("| verifier | models/prm | 1.000e8 | trunk | training | - | 6.000e18 | 1.000e19 | 16.67 | a card |"),
        "{md}"
    );
    assert!(
        md.contains("|  |  |  | labels | labels | - | 4.000e18 |"),
        "{md}"
    );
    assert!(
        md.contains("| reference | models/big | - | not given |"),
        "{md}"
    );
    assert_eq!(json["one_time_costs"][1]["total_flops"], 1e19);
    assert!(json["one_time_costs"][2]["training"].is_null());

    // The policy judged: beam is best in every cell but bin 1 at N = 1 (where
    // best-of-N and majority tie and the name decides), so the policy is always-beam:
    // it ties the best fixed setting everywhere and the target is missed.
    assert!(
        md.contains(
            "MISSED.** The policy is not shown more accurate than the best fixed setting at any budget (ties within the intervals)"
        ),
        "{md}"
    );
    let judged = &json["policy_against_fixed"];
    assert_eq!(judged[0]["bins"], "oracle");
    assert_eq!(judged[0]["accounting"], "generations");
    assert_eq!(judged[0]["verdict"], "missed");
    assert_eq!(judged[1]["accounting"], "flops");
    let row16 = &judged[0]["rows"][2];
    assert_eq!(row16["budget"], 16);
    assert_eq!(row16["policy"]["value"], 0.5);
    assert_eq!(row16["fixed"]["difference"]["value"], 0.0);
    assert_eq!(row16["named"]["accuracy"]["value"], 0.5);
    // Best-of-N needs 64 to reach beam's 50% at 16: ratio 4, in FLOPs too.
    assert_eq!(row16["ratio"], serde_json::json!({"reached": 4.0}));
    let flops_ratio = row16["flops_ratio"]["reached"].as_f64().unwrap();
    assert!((flops_ratio - 4.0).abs() < 1e-9, "{flops_ratio}");

    // Best-of-N against search, per bin: in bin 2 best-of-N is 50 points behind at 4
    // and level at 16 (both right on all ten).
    let row = line_with(&md, "| bin 2 | -50.0 [");
    assert!(row.ends_with("| N = 16 | - |"), "{row}");
    let catch: Vec<&serde_json::Value> = json["best_of_n_against_search"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["bin"] == 2)
        .collect();
    assert_eq!(catch[0]["catches_up_at"], 16);
    // In bin 3 it is level at 4 but behind at 16 and 64: it never catches up.
    let row = line_with(&md, "| bin 3 | +0.0 | -50.0 [");
    assert!(row.ends_with("| not by the largest budget | - |"), "{row}");

    // Reading the bins.
    assert!(md.contains("| 5 | 10 | 12 |"), "{md}");
    assert!(
        md.contains("same bin 84.0% (within one 100.0%); by chance (bins of these sizes drawn independently) 20.0%; a perfect predictor (the pass@1 ranking without ties) 100.0%."),
        "{md}"
    );
    assert!(
        md.contains("two disjoint halves of 5 and binned apart agree on 60.0% of 50"),
        "{md}"
    );
    assert_eq!(json["difficulty"]["retest"]["half_samples"], 5);

    // Agreement: 8 of 50 predicted one bin harder.
    assert!(md.contains("| 1 | 8 | 2 | 0 | 0 | 0 |"), "{md}");
    assert!(md.contains("Same bin: 84.0%; within one bin: 100.0% (50 questions)."));
    // Bin statistics: bin 1 has pass@1 1.0 and 0.9.
    assert!(
        md.contains("| 1 | 10 | 0.900 | 0.950 | 1.000 | 0.910 |"),
        "{md}"
    );

    // Axes name their units.
    let budget = std::fs::read_to_string(dir.join("accuracy-by-budget.svg")).unwrap();
    assert!(budget.contains("budget N (generations per question, log2)"));
    assert!(budget.contains("accuracy (fraction correct)"));
    let flops = std::fs::read_to_string(dir.join("accuracy-by-flops.svg")).unwrap();
    assert!(flops.contains("mean FLOPs per question (log10)") && flops.contains(">1e11<"));
    let ratio = std::fs::read_to_string(dir.join("revisions-ratio.svg")).unwrap();
    assert!(ratio.contains("sequential ratio (length / chains, log2)") && ratio.contains(">1/4<"));
}

#[test]
fn the_ratio_agrees_with_the_policy_crate() {
    let (_, summary) = render_report(&full_input()).unwrap();
    let acc = |m: &str| -> ttc_policy::Curve {
        ttc_policy::Curve::new(
            summary
                .accuracy
                .iter()
                .filter(|a| a.method == m)
                .map(|a| (a.budget, a.accuracy.value))
                .collect(),
        )
        .unwrap()
    };
    let (policy, baseline) = (acc("beam-m4"), acc("best-of-n-weighted"));
    for row in &summary.efficiency {
        let e = ttc_policy::efficiency(&policy, &baseline, row.budget).unwrap();
        assert!((e.accuracy - row.accuracy).abs() < 1e-12);
        assert!(
            (e.ratio().value() - row.ratio.value()).abs() < 1e-9,
            "{row:?}"
        );
    }
}

#[test]
fn output_is_byte_identical_across_runs() {
    let (a, b) = (out_dir("same-a"), out_dir("same-b"));
    let sa = write_report(&a, &full_input()).unwrap();
    let mut shuffled = full_input();
    shuffled.results.reverse();
    shuffled.bins.reverse();
    let sb = write_report(&b, &shuffled).unwrap();
    assert_eq!(sa.files.len(), sb.files.len());
    for (fa, fb) in sa.files.iter().zip(&sb.files) {
        let (x, y) = (std::fs::read(fa).unwrap(), std::fs::read(fb).unwrap());
        assert!(x == y, "{} and {} differ", fa.display(), fb.display());
    }
}

#[test]
fn missing_inputs_skip_sections_with_a_note() {
    let input = ReportInput {
        results: records()
            .into_iter()
            .filter(|r| r.method.family() != Family::Revisions)
            .collect(),
        ..Default::default()
    };
    let dir = out_dir("bare");
    let summary = write_report(&dir, &input).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.starts_with("# ttc evaluation report\n"));
    assert_eq!(summary.files.len(), 4, "{:?}", summary.files);
    let skipped = summary.skipped.join("\n");
    for what in [
        "accuracy per difficulty bin: no difficulty bins",
        "compute-optimal policy: no fitted policy",
        "revisions: no revision records",
        "FLOPs-matched comparison: no FLOPs-matched budgets",
        "difficulty bins: no difficulty bins",
        "one-time costs: the run's model folders were not given",
        "policy against the best fixed method: no policy was judged",
    ] {
        assert!(skipped.contains(what), "{what} not in {skipped}");
    }
    assert!(md.contains("*Skipped: no revision records"), "{md}");
    assert!(md.contains("## Skipped sections"));

    // A policy without its reference file, and one without held-out outcomes.
    let mut input = full_input();
    input.reference.clear();
    for p in &mut input.policies[0].points {
        p.held_out.clear();
    }
    let (files, summary) = render_report(&input).unwrap();
    assert!(files.iter().all(|(n, _)| n != "flops-matched.svg"));
    assert_eq!(
        summary.skipped,
        ["FLOPs-matched comparison: no reference model records (reference.jsonl missing or empty)"]
    );
    // No outcomes: the policy's points have no interval.
    assert!(
        files[0].1.contains("| 4 | 40.0% | 30.0% ["),
        "{}",
        files[0].1
    );
}

#[test]
fn bad_inputs_are_named() {
    let err = render_report(&ReportInput::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no evaluation records"), "{err}");
    let mut input = full_input();
    input.bins[3].oracle_bin = 6;
    let err = render_report(&input).unwrap_err().to_string();
    assert!(
        err.contains("oracle bin of question q03") && err.contains("1..=5"),
        "{err}"
    );
    let mut input = full_input();
    input.bins.push(input.bins[0].clone());
    let err = render_report(&input).unwrap_err().to_string();
    assert!(err.contains("q00 is listed twice"), "{err}");
    let mut input = full_input();
    input.results[0].budget = 0;
    let err = render_report(&input).unwrap_err().to_string();
    assert!(err.contains("budget is 0"), "{err}");
}

#[test]
fn params_tell_methods_apart_and_the_baseline_is_found_by_label() {
    let mut input = full_input();
    let mut extra = Vec::new();
    for r in &mut input.results {
        if r.method.key() == "best-of-n-weighted" {
            r.method = with(&r.method, &[("temperature", Param::Float(0.8))]);
            // The same label at another temperature, always wrong.
            let mut hot = r.clone();
            hot.method = with(&hot.method, &[("temperature", Param::Float(1.2))]);
            hot.correct = false;
            extra.push(hot);
        }
    }
    input.results.extend(extra);
    let (files, summary) = render_report(&input).unwrap();
    let md = &files[0].1;
    assert_eq!(summary.methods, 9);
    assert!(
        md.contains("| best-of-n-weighted{temperature=0.8} | best-of-n | 16 | 50 | 100 | 40.0% [")
    );
    assert!(
        md.contains("| best-of-n-weighted{temperature=1.2} | best-of-n | 16 | 50 | 100 | 0.0% |")
    );
    // The first method labelled `best-of-n-weighted` is the baseline: the 0.8 one.
    let eff: Vec<Bound> = summary.efficiency.iter().map(|e| e.ratio).collect();
    assert_eq!(eff[..2], [Bound::Reached(4.0), Bound::Reached(4.0)]);
}

/// The policy as the CLI builds it from `ttc-policy`'s fit: cells to points, fold
/// choices and folds, no per-question outcomes.
fn fitted_policy(input: &ReportInput) -> (PolicyCurve, ttc_policy::Curve) {
    let bins: BTreeMap<&str, usize> = input
        .bins
        .iter()
        .map(|b| (b.question.as_str(), b.oracle_bin))
        .collect();
    let records: Vec<ttc_policy::SweepRecord> = input
        .results
        .iter()
        .filter(|r| r.method.family() != Family::Revisions && r.budget >= 4)
        .map(|r| ttc_policy::SweepRecord {
            question: r.question.clone(),
            bin: bins[r.question.as_str()],
            method: r.method.clone(),
            budget: r.budget,
            method_budget: None,
            seed: r.seed,
            correct: r.correct,
            compute: (&r.compute).into(),
        })
        .collect();
    let sweep = ttc_policy::Sweep::new(records).unwrap();
    let options = ttc_policy::FitOptions { fold_seed: 7 };
    let fit = ttc_policy::fit(&sweep, &options).unwrap();
    let folds = ttc_policy::Folds::split(
        sweep.records().iter().map(|r| (r.question.as_str(), r.bin)),
        options.fold_seed,
    )
    .unwrap();
    let policy = PolicyCurve {
        name: "fitted search".into(),
        family: "search".into(),
        points: fit
            .cells
            .iter()
            .map(|c| PolicyPoint {
                bin: c.bin,
                budget: c.budget,
                method: c.best().setting.key(),
                questions: c.questions,
                held_out_accuracy: c.held_out_accuracy.unwrap(),
                held_out: Vec::new(),
                fold_choices: c
                    .folds
                    .iter()
                    .map(|f| FoldSetting {
                        chosen_on: format!("{:?}", f.chosen_on),
                        method: f.setting.key(),
                    })
                    .collect(),
            })
            .collect(),
        folds: bins
            .iter()
            .map(|(q, bin)| QuestionFold {
                question: q.to_string(),
                fold: format!("{:?}", folds.fold_of(q).unwrap()),
                bin: *bin,
            })
            .collect(),
    };
    (policy, fit.held_out_curve().unwrap())
}

#[test]
fn a_real_fit_reproduces_its_held_out_curve_with_intervals() {
    let mut input = full_input();
    let (policy, curve) = fitted_policy(&input);
    input.policies = vec![policy];
    input.flops_matched = None;
    let (files, summary) = render_report(&input).unwrap();
    let md = &files[0].1;
    assert!(!md.contains("Warning"), "{md}");
    let rows: Vec<&EfficiencyRow> = summary.efficiency.iter().collect();
    assert_eq!(rows.len(), curve.points().len());
    for (row, (budget, acc)) in rows.iter().zip(curve.points()) {
        assert_eq!(row.budget, *budget);
        assert!((row.accuracy - acc).abs() < 1e-12, "{row:?} vs {acc}");
        // An interval around it, from the derived held-out outcomes.
        let line = line_with(md, &format!("| {budget} | {}% [", pct(*acc)));
        assert!(line.contains("] |"), "{line}");
    }

    // Fold choices that name no evaluated method are flagged.
    let (mut policy, _) = fitted_policy(&input);
    for pt in &mut policy.points {
        for c in &mut pt.fold_choices {
            c.method = "beam-m4{temperature=0.8}".into();
        }
    }
    input.policies = vec![policy];
    let (files, _) = render_report(&input).unwrap();
    assert!(
        files[0]
            .1
            .contains("Warning: fold choices name settings with no evaluation records at their budget (`beam-m4{temperature=0.8}`)"),
        "{}",
        files[0].1
    );
    // No outcomes, no interval.
    assert!(
        files[0].1.contains("| 4 | 40.0% | 30.0% ["),
        "{}",
        files[0].1
    );

    // Outcomes that disagree with the fit are flagged.
    let (mut policy, _) = fitted_policy(&input);
    policy.points[0].held_out_accuracy = 0.123;
    input.policies = vec![policy];
    let (files, _) = render_report(&input).unwrap();
    assert!(
        files[0].1.contains("Warning: bin 1 budget 4"),
        "{}",
        files[0].1
    );
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

mod any_input {
    use super::*;
    use proptest::prelude::*;

    const METHODS: [(&str, &str); 6] = [
        ("majority", "best-of-n"),
        ("best-of-n-weighted", "best-of-n"),
        ("beam-m4", "search"),
        ("revise-r1", "revisions"),
        ("revise-r4", "revisions"),
        ("revise-r1/4", "revisions"),
    ];

    /// (question, method, budget exponent, seed, correct)
    fn runs() -> impl Strategy<Value = Vec<(usize, usize, u32, u64, bool)>> {
        prop::collection::vec(
            (0..12usize, 0..6usize, 0..9u32, 0..2u64, any::<bool>()),
            1..120,
        )
    }

    fn input(
        runs: &[(usize, usize, u32, u64, bool)],
        bins: &[Option<(usize, Option<usize>)>],
        with_policy: bool,
    ) -> ReportInput {
        let results = runs
            .iter()
            .map(|&(qi, m, e, seed, correct)| {
                let (method, family) = METHODS[m];
                // Revision labels must fit their budget: put them at 4.
                let budget = if family == "revisions" { 4 } else { 1 << e };
                EvalRecord {
                    question: q(qi),
                    level: 1,
                    method: id(method, family),
                    budget,
                    seed,
                    answer: None,
                    gold: "1".into(),
                    correct,
                    compute: Compute {
                        generations: budget,
                        generator_flops: 1e9 * budget as f64,
                        ..Compute::default()
                    },
                    seconds: 0.5,
                    transitions: None,
                }
            })
            .collect();
        let bins: Vec<BinAssignment> = bins
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                b.map(|(o, p)| BinAssignment {
                    question: q(i),
                    oracle_bin: o,
                    predicted_bin: p,
                })
            })
            .collect();
        let policies = if with_policy {
            vec![PolicyCurve {
                name: "p".into(),
                family: "search".into(),
                points: bins
                    .iter()
                    .map(|b| PolicyPoint {
                        bin: b.oracle_bin,
                        budget: 4,
                        method: "beam-m4".into(),
                        questions: 1,
                        held_out_accuracy: 0.5,
                        held_out: Vec::new(),
                        fold_choices: vec![FoldSetting {
                            chosen_on: "A".into(),
                            method: "beam-m4".into(),
                        }],
                    })
                    .collect(),
                folds: bins
                    .iter()
                    .map(|b| QuestionFold {
                        question: b.question.clone(),
                        fold: "B".into(),
                        bin: b.oracle_bin,
                    })
                    .collect(),
            }]
        } else {
            Vec::new()
        };
        ReportInput {
            results,
            reference: (0..12)
                .map(|i| ReferenceRecord {
                    question: q(i),
                    model: "big".into(),
                    parameters: 10,
                    answer: None,
                    correct: i % 3 == 0,
                    compute: Compute::default(),
                })
                .collect(),
            bins,
            bin_count: 3,
            policies,
            flops_matched: Some(FlopsMatched {
                policy: "p".into(),
                model_ratio: 14.0,
                budgets: vec![MatchedBudget {
                    data_ratio: 22.0,
                    multiplier: 15.8,
                    budget: 16,
                }],
            }),
            options: ttc_report::ReportOptions {
                bootstrap: ttc_report::Bootstrap {
                    resamples: 50,
                    ..Default::default()
                },
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// `NaN` or `inf` as a number (not the start of a word like "inference").
    fn non_finite(text: &str) -> bool {
        ["NaN", "inf"].iter().any(|w| {
            text.match_indices(w).any(|(i, _)| {
                !text[i + w.len()..]
                    .chars()
                    .next()
                    .is_some_and(char::is_alphabetic)
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn any_run_gives_a_well_formed_deterministic_report(
            runs in runs(),
            bins in prop::collection::vec(
                prop::option::of((1..=3usize, prop::option::of(1..=3usize))),
                12,
            ),
            with_policy in any::<bool>(),
        ) {
            let input = input(&runs, &bins, with_policy);
            let (files, summary) = render_report(&input).unwrap();
            prop_assert_eq!(&files[0].0, "report.md");
            for (name, content) in &files[2..] {
                prop_assert!(balanced(content), "{} is not well formed", name);
                prop_assert!(!non_finite(content), "{}", name);
            }
            prop_assert!(!non_finite(&files[0].1));
            for a in &summary.accuracy {
                let e = a.accuracy;
                prop_assert!(e.lo <= e.value && e.value <= e.hi, "{:?}", a);
                prop_assert!((0.0..=1.0).contains(&e.lo) && e.hi <= 1.0);
            }
            let (again, _) = render_report(&input).unwrap();
            prop_assert_eq!(files, again);
        }
    }
}

#[test]
fn revisions_labelled_by_ratio_as_the_cli_writes_them() {
    // `revise-r<R>` with params {ratio, selector}: chains x length follow from N.
    let mut results = Vec::new();
    let settings: [(&str, f64, usize, usize); 6] = [
        ("revise-r1/4", 0.25, 4, 12),
        ("revise-r1", 1.0, 4, 17),
        ("revise-r4", 4.0, 4, 14),
        ("revise-r1/4", 0.25, 64, 20),
        ("revise-r4", 4.0, 64, 30),
        ("revise-r2", 2.0, 16, 16),
    ];
    for (label, ratio, budget, t) in settings {
        for i in 0..QUESTIONS {
            results.push(EvalRecord {
                question: q(i),
                level: 1,
                method: with(
                    &id(label, "revisions"),
                    &[
                        ("ratio", Param::Float(ratio)),
                        ("selector", Param::from("weighted")),
                    ],
                ),
                budget,
                seed: 0,
                answer: None,
                gold: "1".into(),
                correct: i < t,
                compute: Compute::default(),
                seconds: 0.0,
                transitions: None,
            });
        }
    }
    let input = ReportInput {
        results,
        ..Default::default()
    };
    let (files, summary) = render_report(&input).unwrap();
    let md = &files[0].1;
    assert!(summary.skipped.iter().all(|s| !s.starts_with("revisions")));
    assert!(
        md.contains("### `revise-r{ratio}{selector=\"weighted\"}`"),
        "{md}"
    );
    assert!(md.contains("| revise-r1/4{ratio=0.25,selector=\"weighted\"} | revisions | 64 |"));
    // Ratio 2 has no exact split of 16: the sweep ran the nearest, 4x4, and says so.
    assert_eq!(
        line_with(md, "| all |"),
        "| all | 2x2 (ratio 1): 34.0% | 4x4 (nearest to ratio 2): 32.0% | 4x16 (ratio 4): 60.0% |"
    );
    let svg = &files
        .iter()
        .find(|(n, _)| n == "revisions-ratio.svg")
        .unwrap()
        .1;
    assert!(balanced(svg));
    assert!(svg.contains(">N = 64<") && svg.contains(">1/4<"));
}

#[test]
fn diagnostic_methods_are_reported_beside_their_base_method() {
    let mut input = full_input();
    let base: Vec<EvalRecord> = input
        .results
        .iter()
        .filter(|r| r.method.key() == "beam-m4" && r.budget <= 16)
        .cloned()
        .collect();
    // The same method against a perfect verifier: t = 30 at N = 4, 35 at N = 16.
    for mut r in base {
        let t = if r.budget == 4 { 30 } else { 35 };
        let i: usize = r.question[1..].parse().unwrap();
        r.method = r.method.diagnostic("demo-step-checker").unwrap();
        r.correct = i < t;
        input.results.push(r);
    }
    let (files, summary) = render_report(&input).unwrap();
    assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
    let md = &files[0].1;
    assert!(md.contains("## 6. Diagnostic"), "{md}");
    // beam-m4 at N = 4 gets 20 of 50 right with the run's verifier, 30 with the checker.
    let row = line_with(md, "| beam-m4 | demo-step-checker | 4 |");
    assert!(
        row.contains("| 40.0% [") && row.contains("| 60.0% [") && row.ends_with("| +20.0 |"),
        "{row}"
    );
    let row = line_with(md, "| beam-m4 | demo-step-checker | 16 |");
    assert!(row.ends_with("| +20.0 |"), "{row}");
    // Bin 3 (q20-q29): none with the run's verifier at N = 4, all with the checker.
    assert_eq!(
        line_with(md, "| beam-m4@demo-step-checker | 4 |"),
        "| beam-m4@demo-step-checker | 4 | 100.0 / 100.0 | 100.0 / 100.0 | 0.0 / 100.0 | 0.0 / 0.0 | 0.0 / 0.0 |"
    );
    // Without diagnostic methods there is no section and no note.
    let (files, _) = render_report(&full_input()).unwrap();
    assert!(!files[0].1.contains("Diagnostic"));
}

#[test]
fn paired_comparisons_are_differences_on_the_same_questions() {
    let (files, _) = render_report(&full_input()).unwrap();
    let md = &files[0].1;
    assert!(md.contains("## Paired comparisons"), "{md}");
    // Weighted best-of-N gets the first 15 of 50 right at N = 4, majority the first
    // 13: +4 points overall, all of it in bin 2 (q10-q19: 5 against 3 right).
    let row = line_with(md, "| best-of-n-weighted minus majority | 4 |");
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert!(cells[3].starts_with("+4.0 ["), "{row}");
    assert!(cells[5].starts_with("+20.0 ["), "{row}");
    for bin in [4, 6, 7, 8] {
        assert_eq!(cells[bin], "+0.0", "{row}");
    }
    // Beam search against weighted best-of-N at N = 16: 25 against 20 right.
    let row = line_with(md, "| beam-m4 minus best-of-n-weighted | 16 |");
    assert!(
        row.split('|').nth(3).unwrap().trim().starts_with("+10.0 ["),
        "{row}"
    );
    // Beam search has no N = 1 run, so there is no row for it.
    assert!(!md.contains("| beam-m4 minus best-of-n-weighted | 1 |"));
    // Revision settings against the most parallel one swept (ratio 1/16), at the
    // budgets both ran: 19 and 22 against 15 right at N = 16 (r16's four more all in
    // bin 2).
    let row = line_with(md, "| revise-r16 minus revise-r1/16 | 16 |");
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert!(cells[3].starts_with("+8.0 ["), "{row}");
    assert!(cells[5].starts_with("+40.0 ["), "{row}");
    let row = line_with(md, "| revise-r1 minus revise-r1/16 | 16 |");
    assert!(
        row.split('|').nth(3).unwrap().trim().starts_with("+14.0 ["),
        "{row}"
    );
    // r1/16 has no N = 4 run; the most parallel setting has no row of its own.
    assert!(!md.contains("| revise-r1 minus revise-r1/16 | 4 |"));
    assert!(!md.contains("| revise-r1/16 minus"));

    // Labels with params (as ttc eval writes them) pair up when the params agree.
    let mut input = full_input();
    for r in &mut input.results {
        r.method = with(&r.method, &[("temperature", Param::Float(0.8))]);
    }
    let (files, _) = render_report(&input).unwrap();
    let md = &files[0].1;
    let row = line_with(
        md,
        "| best-of-n-weighted{temperature=0.8} minus majority{temperature=0.8} | 4 |",
    );
    assert!(
        row.split('|').nth(3).unwrap().trim().starts_with("+4.0 ["),
        "{row}"
    );
}

/// 20 questions: majority is right on the easy half (bin 1) and beam search on the
/// hard half (bin 2), at N = 4 and 16. Any one setting gets half right; the policy,
/// choosing per bin, all of them.
fn split_world() -> Vec<EvalRecord> {
    let mut out = Vec::new();
    for i in 0..20 {
        for (method, family, right) in [
            ("majority", "best-of-n", i < 10),
            ("best-of-n-weighted", "best-of-n", false),
            ("beam-m4", "search", i >= 10),
        ] {
            for budget in [4, 16] {
                out.push(EvalRecord {
                    question: q(i),
                    level: 1,
                    method: id(method, family),
                    budget,
                    seed: 0,
                    answer: None,
                    gold: "1".into(),
                    correct: right,
                    compute: Compute {
                        generations: budget,
                        generator_flops: 1e9 * budget as f64,
                        verifier_flops: if method == "majority" {
                            0.0
                        } else {
                            1e9 * budget as f64
                        },
                        ..Compute::default()
                    },
                    seconds: 0.0,
                    transitions: None,
                });
            }
        }
    }
    out
}

#[test]
fn a_policy_that_chooses_by_difficulty_meets_the_target_and_says_so() {
    let results = split_world();
    let bin = |i: usize| if i < 10 { 1 } else { 2 };
    let input = ReportInput {
        judged: vec![judgement(&results, bin, "predicted")],
        bins: (0..20)
            .map(|i| BinAssignment {
                question: q(i),
                oracle_bin: bin(i),
                predicted_bin: Some(bin(i)),
            })
            .collect(),
        bin_count: 2,
        results,
        ..Default::default()
    };
    let (files, summary) = render_report(&input).unwrap();
    let md = &files[0].1;
    let generations = &summary.policy_against_fixed[0];
    assert_eq!(
        (generations.bins.as_str(), generations.accounting.as_str()),
        ("predicted", "generations")
    );
    assert_eq!(generations.verdict, "met", "{md}");
    assert_eq!(generations.significant_at, vec![4, 16]);
    assert_eq!(generations.same_everywhere, None);
    for row in &generations.rows {
        assert_eq!(row.policy.value, 1.0);
        let fixed = row.fixed.as_ref().unwrap();
        // Each fold ties majority and beam at 50%; majority is cheaper in FLOPs.
        assert_eq!(fixed.accuracy.value, 0.5);
        assert_eq!(fixed.difference.value, 0.5);
        assert!(fixed.difference.lo > 0.0, "{fixed:?}");
        assert_eq!(
            fixed.picks,
            vec![
                format!("majority@{} (chosen on A)", row.budget),
                format!("majority@{} (chosen on B)", row.budget)
            ]
        );
        let named = row.named.as_ref().unwrap();
        assert_eq!((named.accuracy.value, named.difference.value), (0.5, 0.5));
        // The policy spends (1 + 2) / 2 x 1e9 x N per question.
        assert_eq!(row.policy_flops, 1.5e9 * row.budget as f64);
    }
    assert!(md.contains("**Target (policy >= best fixed setting at every budget, > at one or more), predicted bins, in generations: MET.**"), "{md}");
    assert!(
        md.contains("the interval lies above 0 at N = 4, 16"),
        "{md}"
    );
    // In FLOPs: at N = 4 the policy spends 6e9, within which beam runs at 4 only if
    // it costs no more than that (8e9: no), so always-beam has nothing within.
    let flops = &summary.policy_against_fixed[1];
    assert_eq!(flops.accounting, "flops");
    assert!(flops.rows[0].named.is_none());
    assert!(
        md.contains("| 4 | 6.000e9 | 100.0% | majority@4 | 4.000e9 |"),
        "{md}"
    );

    // The same world where beam is right everywhere and majority nowhere: the policy
    // picks beam in every cell, says so, and ties the best fixed setting (missed).
    let mut results = split_world();
    for r in &mut results {
        r.correct = r.method.label() == "beam-m4";
    }
    let input = ReportInput {
        judged: vec![judgement(&results, bin, "predicted")],
        results,
        ..Default::default()
    };
    let (files, summary) = render_report(&input).unwrap();
    assert_eq!(summary.policy_against_fixed[0].verdict, "missed");
    assert_eq!(
        summary.policy_against_fixed[0].same_everywhere.as_deref(),
        Some("beam-m4")
    );
    assert!(
        files[0]
            .1
            .contains("The fitted policy picks `beam-m4` in every cell at every budget"),
        "{}",
        files[0].1
    );
}
