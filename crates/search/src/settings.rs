use serde::{Deserialize, Serialize};
use ttc_core::{Error, Result, SamplingParams, ScoreAggregation};

use crate::Selector;

/// Beam width M: fixed, or sqrt(N) as the paper also sweeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BeamWidth {
    Fixed(usize),
    Sqrt,
}

impl BeamWidth {
    /// M for budget N: at least 1, at most N.
    pub fn resolve(self, budget: usize) -> usize {
        let m = match self {
            BeamWidth::Fixed(m) => m,
            BeamWidth::Sqrt => (budget as f64).sqrt().round() as usize,
        };
        m.clamp(1, budget.max(1))
    }
}

/// A search method and its hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Strategy {
    /// N full samples, then one answer by `selector` (majority needs no verifier).
    BestOfN { selector: Selector },
    /// Step-level beam search: N beams, keep the top N/M prefixes, expand each by M.
    /// `lookahead` > 0 scores a step by rolling out that many more steps greedily.
    Beam { width: BeamWidth, lookahead: usize },
    /// Diverse verifier tree search: N/M independent subtrees, each keeping its best step.
    Dvts { width: BeamWidth },
}

impl Strategy {
    /// Generations this method spends at budget N (see [`crate::Compute`]).
    pub fn generations(&self, budget: usize) -> usize {
        match self {
            Strategy::Beam { lookahead, .. } => budget * (lookahead + 1),
            _ => budget,
        }
    }

    /// A short name for reports, e.g. `beam-m4-k1`.
    pub fn label(&self) -> String {
        let w = |w: &BeamWidth| match w {
            BeamWidth::Fixed(m) => format!("m{m}"),
            BeamWidth::Sqrt => "msqrt".to_string(),
        };
        match self {
            Strategy::BestOfN {
                selector: Selector::Majority,
            } => "majority".into(),
            Strategy::BestOfN {
                selector: Selector::Naive,
            } => "best-of-n-naive".into(),
            Strategy::BestOfN {
                selector: Selector::Weighted,
            } => "best-of-n-weighted".into(),
            Strategy::Beam {
                width,
                lookahead: 0,
            } => format!("beam-{}", w(width)),
            Strategy::Beam { width, lookahead } => format!("lookahead-{}-k{lookahead}", w(width)),
            Strategy::Dvts { width } => format!("dvts-{}", w(width)),
        }
    }
}

/// Settings every strategy shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchSettings {
    /// Generator prompt; `{question}` is replaced by the question.
    pub prompt_template: String,
    /// Render the prompt as a user turn through the generator's chat template.
    pub chat: bool,
    /// What ends a step ("\n" for the demo; real instruct models often use "\n\n").
    pub step_delimiter: String,
    pub sampling: SamplingParams,
    /// Most tokens in one step.
    pub max_step_tokens: usize,
    /// Most tokens in a full solution.
    pub max_solution_tokens: usize,
    /// Most expansion rounds of beam search and DVTS (the paper: 40).
    pub max_rounds: usize,
    /// Step scores to an answer score.
    pub aggregation: ScoreAggregation,
    /// How the finished candidates of beam search and DVTS are combined.
    pub final_selector: Selector,
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings {
            prompt_template: "{question}".into(),
            chat: false,
            step_delimiter: "\n".into(),
            sampling: SamplingParams::with_temperature(0.8),
            max_step_tokens: 128,
            max_solution_tokens: 1024,
            max_rounds: 40,
            aggregation: ScoreAggregation::Last,
            final_selector: Selector::Weighted,
        }
    }
}

impl SearchSettings {
    /// Checks the values, naming the bad one.
    pub fn validate(&self) -> Result<()> {
        self.sampling.validate()?;
        if self.step_delimiter.is_empty() {
            return Err(Error::invalid(
                "step delimiter",
                "it is empty; use \"\\n\" or \"\\n\\n\"",
            ));
        }
        if !self.prompt_template.contains("{question}") {
            return Err(Error::invalid(
                "prompt template",
                format!("{:?} has no {{question}} placeholder", self.prompt_template),
            ));
        }
        for (name, v) in [
            ("max step tokens", self.max_step_tokens),
            ("max solution tokens", self.max_solution_tokens),
            ("max rounds", self.max_rounds),
        ] {
            if v == 0 {
                return Err(Error::invalid(name, "0 (use a positive number)"));
            }
        }
        Ok(())
    }
}
