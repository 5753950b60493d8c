//! What `ttc eval` makes of a finished sweep: the accuracy table, difficulty bins,
//! and the compute-optimal policy fitted on them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use ttc_core::{DifficultyRecord, EvalRecord, Family, ReferenceRecord};
use ttc_difficulty::{
    Binned, PassRate, ProbeCharge, ProbeSettings, QuestionScores, oracle_bins, predicted_bins,
};
use ttc_orchestrator::RunFiles;
use ttc_policy::{
    Cost, Fit, FitOptions, Folds, Provenance, Sweep, SweepRecord, fit, flops_match, under_probe,
};
use ttc_report::{
    BinAssignment, BinReading, FlopsMatched, FoldSetting, MatchedBudget, PolicyCurve,
    PolicyJudgement, PolicyPoint, QuestionFold, ReportInput, RunModel,
};

use crate::error::Result;
use crate::eval::Evaluated;
use crate::report_inputs::{self, probe_costs};

/// Accuracy per method (rows, by label: one run file gives every setting of a label
/// the same params) and budget (columns), over questions and seeds.
pub fn accuracy_table(records: &[EvalRecord]) -> String {
    let budgets: BTreeSet<usize> = records.iter().map(|r| r.budget).collect();
    let mut cells: BTreeMap<(String, usize), (usize, usize)> = BTreeMap::new();
    let mut methods: Vec<String> = Vec::new();
    for r in records {
        let key = r.method.label();
        if !methods.contains(&key) {
            methods.push(key.clone());
        }
        let c = cells.entry((key, r.budget)).or_default();
        c.0 += usize::from(r.correct);
        c.1 += 1;
    }
    let mut out = String::from("| method |");
    for b in &budgets {
        let _ = write!(out, " N={b} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(budgets.len()));
    out.push('\n');
    for m in &methods {
        let _ = write!(out, "| {m} |");
        for b in &budgets {
            match cells.get(&(m.clone(), *b)) {
                Some((c, n)) => {
                    let _ = write!(out, " {:.3} ({c}/{n}) |", *c as f64 / *n as f64);
                }
                None => out.push_str(" - |"),
            }
        }
        out.push('\n');
    }
    out
}

/// Oracle bins from all the difficulty samples and predicted bins from the mean
/// score of each question's first `probe` samples (the inference-time probe the
/// policy is fitted for), when there are any.
pub fn bins(
    difficulty: &[DifficultyRecord],
    bins: usize,
    probe: usize,
) -> Result<Option<(Binned, Binned)>> {
    if difficulty.is_empty() {
        return Ok(None);
    }
    let rates: Vec<PassRate> = difficulty
        .iter()
        .map(|d| PassRate {
            question: d.question.clone(),
            correct: d.correct,
            samples: d.samples,
        })
        .collect();
    // A sample without a parsable answer scores 0 here and at inference alike.
    let scores: Vec<QuestionScores> = difficulty
        .iter()
        .map(|d| QuestionScores {
            question: d.question.clone(),
            scores: if d.scores.is_empty() {
                vec![0.0]
            } else {
                d.scores[..probe.clamp(1, d.scores.len())].to_vec()
            },
        })
        .collect();
    Ok(Some((
        oracle_bins(&rates, bins)?,
        predicted_bins(&scores, bins)?,
    )))
}

/// Today's date as YYYY-MM-DD (UTC), for provenance.
fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    civil_date(days)
}

/// The date `days` after 1970-01-01 as YYYY-MM-DD (Howard Hinnant's algorithm).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The data ratios R = inference / pretraining tokens of the FLOPs-matched comparison.
const DATA_RATIOS: [f64; 3] = [0.16, 0.79, 22.0];

fn sweep_records(
    records: &[EvalRecord],
    bins: &Binned,
    keep: impl Fn(&EvalRecord) -> bool,
) -> Vec<SweepRecord> {
    records
        .iter()
        .filter(|r| keep(r))
        .filter_map(|r| {
            bins.bin_of(&r.question).map(|bin| SweepRecord {
                question: r.question.clone(),
                bin,
                method: r.method.clone(),
                budget: r.budget,
                method_budget: None,
                seed: r.seed,
                correct: r.correct,
                compute: Cost::from(&r.compute),
            })
        })
        .collect()
}

const FOLD_SEED: u64 = 0;

/// The probe the policy is fitted for: `[difficulty] probe-samples`, paid from N.
fn probe_settings(file: &crate::run_file::RunFile) -> ProbeSettings {
    ProbeSettings {
        samples: file.difficulty.as_ref().map_or(4, |d| d.probe_samples),
        charge: ProbeCharge::WithinBudget,
    }
}

/// A fitted policy as the report draws it, with the folds that let it score each
/// held-out question itself.
fn policy_curve(name: &str, family: Family, sweep: &Sweep, fitted: &Fit) -> Result<PolicyCurve> {
    let folds = Folds::split(
        sweep.records().iter().map(|r| (r.question.as_str(), r.bin)),
        FOLD_SEED,
    )?;
    let mut seen = BTreeSet::new();
    let question_folds = sweep
        .records()
        .iter()
        .filter(|r| seen.insert(r.question.clone()))
        .filter_map(|r| {
            folds.fold_of(&r.question).map(|f| QuestionFold {
                question: r.question.clone(),
                fold: f.to_string(),
                bin: r.bin,
            })
        })
        .collect();
    Ok(PolicyCurve {
        name: name.into(),
        family: family.name().into(),
        points: fitted
            .cells
            .iter()
            .filter_map(|c| {
                Some(PolicyPoint {
                    bin: c.bin,
                    budget: c.budget,
                    method: c.best().setting.key(),
                    questions: c.questions,
                    held_out_accuracy: c.held_out_accuracy?,
                    held_out: Vec::new(),
                    fold_choices: c
                        .folds
                        .iter()
                        .map(|f| FoldSetting {
                            chosen_on: f.chosen_on.to_string(),
                            method: f.setting.key(),
                        })
                        .collect(),
                })
            })
            .collect(),
        folds: question_folds,
    })
}

/// The report's policies: compute-optimal search (best-of-N and search methods)
/// and compute-optimal revisions, each fitted on oracle bins as the paper analyses.
fn report_policies(records: &[EvalRecord], oracle: &Binned) -> Result<Vec<PolicyCurve>> {
    let mut curves = Vec::new();
    for (name, family, families) in [
        (
            "compute-optimal search",
            Family::Search,
            &[Family::BestOfN, Family::Search][..],
        ),
        (
            "compute-optimal revisions",
            Family::Revisions,
            &[Family::Revisions][..],
        ),
    ] {
        let recs = sweep_records(records, oracle, |r| families.contains(&r.method.family()));
        if recs.is_empty() {
            continue;
        }
        let sweep = Sweep::new(recs)?;
        let fitted = fit(
            &sweep,
            &FitOptions {
                fold_seed: FOLD_SEED,
            },
        )?;
        curves.push(policy_curve(name, family, &sweep, &fitted)?);
    }
    Ok(curves)
}

/// Why a run has no difficulty bins, and what to do about it.
fn no_bins_note(file: &crate::run_file::RunFile) -> String {
    let what = "so there are no difficulty bins, no per-bin analysis and no fitted policy";
    match (&file.difficulty, &file.verifier) {
        (None, _) => format!(
            "the run file has no [difficulty] table: no difficulty samples were drawn, {what}; \
             add `[difficulty]` (e.g. `samples = 16`, `bins = 5`) to get them"
        ),
        (Some(d), _) if d.samples == 0 => format!(
            "[difficulty] samples = 0: no difficulty samples were drawn, {what}; give \
             `samples` > 0 to get them"
        ),
        (Some(_), None) => format!(
            "the run file has no [verifier] to score difficulty samples, {what}; add one to \
             get them"
        ),
        (Some(_), Some(_)) => format!("the run folder holds no difficulty samples, {what}"),
    }
}

/// What the analysis adds to the records for the report.
struct Extras {
    models: Vec<RunModel>,
    judged: Vec<PolicyJudgement>,
    bin_reading: Option<BinReading>,
}

/// Writes report.md and its figures from the run folder's records.
#[allow(clippy::too_many_arguments)]
fn report(
    out_dir: &Path,
    files: &RunFiles,
    records: &[EvalRecord],
    difficulty: &[DifficultyRecord],
    binned: Option<&(Binned, Binned)>,
    generator_parameters: Option<u64>,
    title: String,
    notes: Vec<String>,
    extras: Extras,
) -> Result<()> {
    let reference: Vec<ReferenceRecord> = ttc_orchestrator::read_records(&files.reference)?;
    let mut input = ReportInput {
        title,
        notes,
        generator_parameters,
        results: records.to_vec(),
        difficulty: difficulty.to_vec(),
        reference: reference.clone(),
        models: extras.models,
        judged: extras.judged,
        bin_reading: extras.bin_reading,
        ..ReportInput::default()
    };
    if let Some((oracle, predicted)) = binned {
        input.bin_count = oracle.edges.bins();
        input.bins = oracle
            .questions
            .iter()
            .map(|q| BinAssignment {
                question: q.question.clone(),
                oracle_bin: q.bin,
                predicted_bin: predicted.bin_of(&q.question),
            })
            .collect();
        input.policies = report_policies(records, oracle)?;
        if let (Some(first), Some(small)) = (reference.first(), generator_parameters) {
            let m = first.parameters as f64 / small as f64;
            if m > 1.0 {
                let budgets = DATA_RATIOS
                    .iter()
                    .map(|&r| {
                        // Never above the matched compute: floor(k) generations.
                        let f = flops_match(m, r)?;
                        Ok(MatchedBudget {
                            data_ratio: r,
                            multiplier: f.multiplier,
                            budget: f.budget_within,
                        })
                    })
                    .collect::<ttc_core::Result<Vec<_>>>()?;
                input.flops_matched = Some(FlopsMatched {
                    policy: "compute-optimal search".into(),
                    model_ratio: m,
                    budgets,
                });
            }
        }
    }
    let summary = ttc_report::write_report(out_dir, &input)?;
    for note in &summary.skipped {
        tracing::info!(%note, "report section skipped");
    }
    tracing::info!(report = %out_dir.join("report.md").display(), figures = summary.files.len(), "report written");
    Ok(())
}

/// Fits the policy on predicted bins (usable at inference) and writes `policy.toml`,
/// `sweep.jsonl` and `bins.json` into the run folder, after writing the report.
pub fn analyse(run: &Evaluated) -> Result<()> {
    let (out_dir, files, file, run_file, records, generator_parameters) = (
        run.out_dir.as_path(),
        &run.files,
        &run.file,
        run.run_file.as_path(),
        run.records.as_slice(),
        run.generator_parameters,
    );
    let difficulty: Vec<DifficultyRecord> = ttc_orchestrator::read_records(&files.difficulty)?;
    let binned = match &file.difficulty {
        Some(d) => bins(&difficulty, d.bins, d.probe_samples)?,
        None => None,
    };
    let title = format!("ttc evaluation: {}", run_file.display());
    let notes = binned
        .is_none()
        .then(|| no_bins_note(file))
        .into_iter()
        .collect();
    // The one probe rule (ttc_policy::probe_rule): the probe is each question's first
    // probe-samples difficulty samples, paid from N, reused by best-of-N settings.
    let probe = probe_settings(file);
    let costs = probe_costs(&difficulty, probe.samples);
    let mut extras = Extras {
        models: report_inputs::run_models(file)?,
        judged: Vec::new(),
        bin_reading: None,
    };
    // The policy on predicted bins is the deployable one: policy.toml.
    let mut deployable = None;
    if let Some((oracle, predicted)) = &binned {
        extras.bin_reading = Some(report_inputs::bin_reading(
            &difficulty,
            oracle,
            predicted,
            probe.samples,
        )?);
        for (name, bins) in [("oracle", oracle), ("predicted", predicted)] {
            // A diagnostic verifier is not deployable, so the policy never chooses its runs.
            let plain = sweep_records(records, bins, |r| r.method.family() != Family::Diagnostic);
            if plain.is_empty() {
                continue;
            }
            let plain = Sweep::new(plain)?;
            let under = under_probe(&plain, &probe, &costs)?;
            if under.records().is_empty() {
                tracing::info!(
                    probe = probe.samples,
                    bins = name,
                    "no budget leaves room for a setting after the probe: no policy fitted"
                );
                continue;
            }
            let fitted = fit(
                &under,
                &FitOptions {
                    fold_seed: FOLD_SEED,
                },
            )?;
            extras.judged.push(report_inputs::judgement(
                name, &fitted, &under, &plain, &probe, FOLD_SEED,
            )?);
            if name == "predicted" {
                deployable = Some((under, fitted));
            }
        }
    }
    report(
        out_dir,
        files,
        records,
        &difficulty,
        binned.as_ref(),
        generator_parameters,
        title,
        notes,
        extras,
    )?;
    let Some((oracle, predicted)) = binned else {
        tracing::info!("{}", no_bins_note(file));
        return Ok(());
    };
    let bin_rows: Vec<serde_json::Value> = oracle
        .questions
        .iter()
        .map(|q| {
            serde_json::json!({
                "question": q.question,
                "oracle_bin": q.bin,
                "pass_at_1": q.value,
                "predicted_bin": predicted.bin_of(&q.question),
            })
        })
        .collect();
    let bins_path = out_dir.join("bins.json");
    std::fs::write(&bins_path, serde_json::to_string_pretty(&bin_rows)?)
        .map_err(|e| ttc_core::Error::io(&bins_path, e))?;
    let Some((sweep, fitted)) = deployable else {
        return Ok(());
    };
    let sweep_path = out_dir.join("sweep.jsonl");
    sweep.write(&sweep_path)?;
    let mut models = BTreeMap::new();
    if let Some(g) = &file.generator {
        models.insert("generator".to_string(), g.model.display().to_string());
    }
    if let Some(v) = &file.verifier {
        models.insert("verifier".to_string(), v.describe());
    }
    if let Some(r) = &file.reviser {
        models.insert("reviser".to_string(), r.model.display().to_string());
    }
    let provenance = Provenance {
        models,
        dataset: format!(
            "{} questions of {}",
            records
                .iter()
                .map(|r| &r.question)
                .collect::<BTreeSet<_>>()
                .len(),
            run_file.display()
        ),
        sweep: sweep_path.display().to_string(),
        created: today(),
        notes: Some(format!(
            "fitted by `ttc eval` on predicted difficulty bins (mean verifier score of {} probe samples, paid from the budget, reused by best-of-N), two-fold cross-validation",
            probe.samples
        )),
    };
    let policy = fitted.to_policy(provenance, predicted.edges.clone(), probe)?;
    let policy_path = out_dir.join("policy.toml");
    policy.write(&policy_path)?;
    tracing::info!(policy = %policy_path.display(), "compute-optimal policy written");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_the_calendars() {
        // Days since 1970-01-01 and their dates (Python's datetime), across month
        // ends, leap days, a century that is not leap, and before the epoch.
        for (days, date) in [
            (0, "1970-01-01"),
            (-1, "1969-12-31"),
            (59, "1970-03-01"),
            (11_016, "2000-02-29"),
            (11_017, "2000-03-01"),
            (19_782, "2024-02-29"),
            (20_088, "2024-12-31"),
            (20_792, "2026-12-05"),
            (47_540, "2100-02-28"),
            (47_541, "2100-03-01"),
        ] {
            assert_eq!(civil_date(days), date, "day {days}");
        }
        // Every day from 1900 to 2400 follows the one before by the Gregorian rules.
        let parse = |s: &str| -> (i64, i64, i64) {
            let p: Vec<i64> = s.split('-').map(|x| x.parse().unwrap()).collect();
            (p[0], p[1], p[2])
        };
        let month_days = |y: i64, m: i64| match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut last = parse(&civil_date(-25_567));
        assert_eq!(last, (1900, 1, 1));
        for days in -25_566..157_000 {
            let (y, m, d) = parse(&civil_date(days));
            let expected = if last.2 < month_days(last.0, last.1) {
                (last.0, last.1, last.2 + 1)
            } else if last.1 < 12 {
                (last.0, last.1 + 1, 1)
            } else {
                (last.0 + 1, 1, 1)
            };
            assert_eq!((y, m, d), expected, "day {days}");
            last = (y, m, d);
        }
        // Today's date is the clock's day, whatever day the test runs.
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let t = today();
        let days = (secs / 86_400) as i64;
        assert!(
            t == civil_date(days) || t == civil_date(days + 1),
            "{t} on day {days}"
        );
    }
}
