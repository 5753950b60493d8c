use serde::{Deserialize, Serialize};
use ttc_core::{BeamWidth, Error, MethodSpec, Result, SamplingParams, ScoreAggregation};

use crate::Selector;

/// A search method and its hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Strategy {
    /// One greedy (temperature 0) sample, no verifier; always N = 1.
    Greedy,
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
            Strategy::Greedy => 1,
            _ => budget,
        }
    }

    /// Whether it scores with a verifier (majority voting and greedy decoding do not).
    pub fn needs_verifier(&self) -> bool {
        !matches!(
            self,
            Strategy::Greedy
                | Strategy::BestOfN {
                    selector: Selector::Majority
                }
        )
    }

    /// Its name in the method grammar, e.g. `lookahead-m4-k1` (see [`MethodSpec`]).
    pub fn label(&self) -> String {
        MethodSpec::from(*self).to_string()
    }

    /// The strategy a method names; `None` for revisions.
    pub fn from_spec(spec: MethodSpec) -> Option<Strategy> {
        match spec {
            MethodSpec::Greedy => Some(Strategy::Greedy),
            MethodSpec::BestOfN { selector } => Some(Strategy::BestOfN { selector }),
            MethodSpec::Beam { width, lookahead } => Some(Strategy::Beam { width, lookahead }),
            MethodSpec::Dvts { width } => Some(Strategy::Dvts { width }),
            MethodSpec::Revise { .. } => None,
        }
    }
}

impl From<Strategy> for MethodSpec {
    fn from(s: Strategy) -> MethodSpec {
        match s {
            Strategy::Greedy => MethodSpec::Greedy,
            Strategy::BestOfN { selector } => MethodSpec::BestOfN { selector },
            Strategy::Beam { width, lookahead } => MethodSpec::Beam { width, lookahead },
            Strategy::Dvts { width } => MethodSpec::Dvts { width },
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
