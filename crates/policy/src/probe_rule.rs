//! The one rule for the difficulty probe (docs/method.md §5), shared by the fit and
//! by `ttc solve --policy` so that both make the same choice and the same split.
//!
//! A question's budget N pays for the probe (P best-of-N samples scored by the
//! verifier, `ttc_difficulty::ProbeSettings`, charged within N by default) and for
//! the setting the policy chose for the probe's bin:
//!
//! - a setting that draws independent full samples at the run's temperature
//!   (majority, best-of-N: [`MethodSpec::reuses_probe_samples`]) takes the P probe
//!   samples as its first samples and draws N - P more: it runs at N;
//! - any other setting (greedy, beam search, lookahead, DVTS, revisions) runs on what
//!   the probe left, N - P: at the largest budget it was swept at that fits in
//!   N - P (greedy: its fixed N = 1).
//!
//! Policy cells are keyed by the total budget N. In the sweep, a question's probe is
//! its first P difficulty samples (their mean score gives its predicted bin, their
//! cost is its probe cost), and a reusing setting's record at N stands for "the
//! probe's P samples and N - P new ones": the difficulty samples and the setting's
//! samples are independent draws of the same sampler, so the accuracy is the same
//! in distribution though the samples are not literally shared.

use std::collections::{BTreeMap, BTreeSet};

use ttc_core::{Error, MethodSpec, Result};
use ttc_difficulty::{BudgetSplit, ProbeSettings};

use crate::sweep::{Cost, Sweep, SweepRecord};

/// How total budget `budget` is shared between the probe and `method`, for a policy
/// cell fitted at total budget `fitted` where the method ran with `method_budget`.
///
/// A reusing method runs at `budget` (the probe's samples are its first). Any other
/// gets what its cell gave it plus whatever `budget` exceeds the cell's, within what
/// the probe left: `min(method_budget + budget - fitted, budget - P)` (greedy: 1).
/// At `budget == fitted` this is exactly the split the fit scored.
pub fn probe_split(
    probe: &ProbeSettings,
    method: MethodSpec,
    budget: usize,
    fitted: usize,
    method_budget: usize,
) -> Result<BudgetSplit> {
    let reuse = method.reuses_probe_samples();
    let mut split = probe.split_budget(budget, reuse)?;
    if !reuse {
        let want = method
            .fixed_budget()
            .unwrap_or(method_budget + budget.saturating_sub(fitted));
        let run = want.min(split.strategy_budget);
        if run == 0 {
            return Err(Error::invalid(
                "budget",
                format!("N = {budget} leaves nothing for {method} after the probe"),
            ));
        }
        split.strategy_budget = run;
        split.new = run;
        split.total = split.probe + run;
    }
    Ok(split)
}

/// The sweep as the policy sees it under the probe rule: one record per (question,
/// setting, total budget N, seed), `budget` = N, `method_budget` = what the setting
/// ran with, and `compute` = the setting's run plus the probe's samples it did not
/// reuse. `probe_costs` holds each question's probe cost (P samples, drawn and
/// scored). Budgets N where the probe leaves a setting nothing it was swept at get
/// no record of that setting; budgets below P (charged within) get none at all.
pub fn under_probe(
    sweep: &Sweep,
    probe: &ProbeSettings,
    probe_costs: &BTreeMap<String, Cost>,
) -> Result<Sweep> {
    if probe.samples == 0 {
        return Err(Error::invalid(
            "difficulty probe",
            "`samples = 0`; the probe needs at least one scored sample",
        ));
    }
    let records = sweep.records();
    let totals: BTreeSet<usize> = records.iter().map(|r| r.budget).collect();
    let mut swept: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for r in records {
        swept.entry(r.setting_key()).or_default().insert(r.budget);
    }
    let mut out = Vec::new();
    for &n in &totals {
        for r in records {
            let method = r.method.method();
            let reuse = method.reuses_probe_samples();
            let Ok(split) = probe.split_budget(n, reuse) else {
                continue;
            };
            let run = if reuse {
                n
            } else {
                let room = split.strategy_budget;
                match swept[&r.setting_key()].range(..=room).next_back() {
                    Some(&b) => b,
                    None => continue,
                }
            };
            if r.budget != run {
                continue;
            }
            let unused = probe.samples - split.reused.min(probe.samples);
            let probe_cost = probe_costs.get(&r.question).ok_or_else(|| {
                Error::invalid(
                    "difficulty probe",
                    format!(
                        "question `{}` has no probe cost (no difficulty samples); draw \
                         difficulty samples for every question of the sweep",
                        r.question
                    ),
                )
            })?;
            let share = unused as f64 / probe.samples as f64;
            out.push(SweepRecord {
                budget: n,
                method_budget: Some(run),
                compute: Cost {
                    generations: r.compute.generations + unused,
                    tokens: r.compute.tokens + (probe_cost.tokens as f64 * share).round() as usize,
                    flops: r.compute.flops + probe_cost.flops * share,
                },
                ..r.clone()
            });
        }
    }
    Sweep::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ttc_core::MethodId;
    use ttc_difficulty::ProbeCharge;

    fn rec(q: &str, method: &str, budget: usize) -> SweepRecord {
        SweepRecord {
            question: q.into(),
            bin: 1,
            method: MethodId::new(method.parse().unwrap()),
            budget,
            method_budget: None,
            seed: 0,
            correct: true,
            compute: Cost {
                generations: budget,
                tokens: 10 * budget,
                flops: 100.0 * budget as f64,
            },
        }
    }

    fn within(samples: usize) -> ProbeSettings {
        ProbeSettings {
            samples,
            charge: ProbeCharge::WithinBudget,
        }
    }

    #[test]
    fn reusers_run_at_n_and_the_others_on_what_the_probe_left() {
        let mut records = Vec::new();
        for n in [4, 8, 16] {
            records.push(rec("q", "majority", n));
            records.push(rec("q", "beam-m4", n));
        }
        records.push(rec("q", "greedy", 1));
        let sweep = Sweep::new(records).unwrap();
        let costs = BTreeMap::from([(
            "q".to_string(),
            Cost {
                generations: 4,
                tokens: 40,
                flops: 400.0,
            },
        )]);
        let out = under_probe(&sweep, &within(4), &costs).unwrap();
        let got: Vec<(usize, String, usize, usize, f64)> = out
            .records()
            .iter()
            .map(|r| {
                (
                    r.budget,
                    r.method.key(),
                    r.strategy_budget(),
                    r.compute.generations,
                    r.compute.flops,
                )
            })
            .collect();
        let want: Vec<(usize, String, usize, usize, f64)> = vec![
            // N = 1 is below the probe: nothing.
            // N = 4: the probe's 4 samples are majority's; nothing left for the rest.
            (4, "majority".into(), 4, 4, 400.0),
            // N = 8: beam runs at 4 (the largest swept budget <= 8 - 4), greedy at 1.
            (8, "majority".into(), 8, 8, 800.0),
            (8, "beam-m4".into(), 4, 8, 800.0),
            (8, "greedy".into(), 1, 5, 500.0),
            // N = 16: beam at 8 (12 was not swept), plus the probe.
            (16, "majority".into(), 16, 16, 1600.0),
            (16, "beam-m4".into(), 8, 12, 1200.0),
            (16, "greedy".into(), 1, 5, 500.0),
        ];
        let mut got = got;
        got.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut want = want;
        want.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        assert_eq!(got, want);
        // And the split `ttc solve --policy` makes for those cells is the same.
        for r in out.records() {
            let s = probe_split(
                &within(4),
                r.method.method(),
                r.budget,
                r.budget,
                r.strategy_budget(),
            )
            .unwrap();
            assert_eq!(s.strategy_budget, r.strategy_budget(), "{r:?}");
            assert_eq!(s.total, r.compute.generations, "{r:?}");
        }
    }

    #[test]
    fn a_missing_probe_cost_is_named() {
        let sweep = Sweep::new(vec![rec("q7", "beam-m4", 4), rec("q7", "beam-m4", 8)]).unwrap();
        let err = under_probe(&sweep, &within(4), &BTreeMap::new()).unwrap_err();
        assert!(
            err.to_string().contains("question `q7` has no probe cost"),
            "{err}"
        );
    }

    #[test]
    fn above_the_fitted_budget_the_extra_goes_to_the_setting() {
        let beam: MethodSpec = "beam-m4".parse().unwrap();
        // Fitted at 16 with beam at 8: at N = 20 beam gets 12, capped by N - P = 16.
        let s = probe_split(&within(4), beam, 20, 16, 8).unwrap();
        assert_eq!((s.strategy_budget, s.reused, s.total), (12, 0, 16));
        let s = probe_split(&within(4), beam, 40, 16, 12).unwrap();
        assert_eq!((s.strategy_budget, s.total), (36, 40));
        let maj: MethodSpec = "majority".parse().unwrap();
        let s = probe_split(&within(4), maj, 20, 16, 16).unwrap();
        assert_eq!(
            (s.strategy_budget, s.reused, s.new, s.total),
            (20, 4, 16, 20)
        );
        let err = probe_split(&within(4), beam, 4, 4, 4).unwrap_err();
        assert!(err.to_string().contains("N = 4 leaves nothing"), "{err}");
    }
}
