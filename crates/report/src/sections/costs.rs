//! The one-time costs of the run's models (their folders' `training.json`), beside
//! the per-question inference FLOPs of the summary table.

use std::fmt::Write;

use super::{Rendered, md, sci};
use crate::input::{OneTimeCost, ReportInput};

pub(super) fn costs_section(r: &mut Rendered, input: &ReportInput) {
    r.markdown.push_str("## One-time costs\n\n");
    if input.models.is_empty() {
        r.skip("one-time costs", "the run's model folders were not given");
        return;
    }
    let generator = input
        .models
        .iter()
        .find(|m| m.role == "generator")
        .and_then(|m| m.training.as_ref())
        .map(|t| t.total_flops())
        .filter(|f| *f > 0.0);
    r.markdown.push_str(
        "What making each model cost, from the `training.json` in its folder (a folder \
         without one: not given). Inference FLOPs per question are in the summary table; \
         these are paid once, whatever the number of questions. A total counts only the \
         parts its source states.\n\n\
         | role | model | parameters | part | kind | tokens | FLOPs | total FLOPs | x the generator's | source |\n\
         |---|---|---:|---|---|---:|---:|---:|---:|---|\n",
    );
    for m in &input.models {
        let Some(t) = &m.training else {
            let _ = writeln!(
                r.markdown,
                "| {} | {} | - | not given | - | - | - | - | - | - |",
                md(&m.role),
                md(&m.model)
            );
            r.one_time_costs.push(OneTimeCost {
                role: m.role.clone(),
                model: m.model.clone(),
                training: None,
                total_flops: None,
            });
            continue;
        };
        let total = t.total_flops();
        for (i, p) in t.parts.iter().enumerate() {
            let first = i == 0;
            let _ = writeln!(
                r.markdown,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if first { md(&m.role) } else { String::new() },
                if first { md(&m.model) } else { String::new() },
                if first {
                    sci(t.parameters as f64)
                } else {
                    String::new()
                },
                md(&p.part),
                p.kind.name(),
                p.tokens.map_or("-".into(), |x| x.to_string()),
                sci(p.flops),
                if first { sci(total) } else { String::new() },
                match (first, generator) {
                    (true, Some(g)) => format!("{:.2}", total / g),
                    _ => String::new(),
                },
                if first { md(&t.source) } else { String::new() },
            );
        }
        r.one_time_costs.push(OneTimeCost {
            role: m.role.clone(),
            model: m.model.clone(),
            training: Some(t.clone()),
            total_flops: Some(total),
        });
    }
    r.markdown.push('\n');
}
