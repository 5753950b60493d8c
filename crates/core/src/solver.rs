use crate::{Compute, MethodId, Result};

/// One answer to one question and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Solved {
    pub answer: Option<String>,
    pub compute: Compute,
    /// For methods that revise: each chain's attempt answers in order, so the
    /// evaluation can count how often a revision turns a correct answer wrong
    /// ([`crate::Transitions`]). Empty for the others.
    pub chains: Vec<Vec<Option<String>>>,
    /// Wall seconds, when the solver measured them itself because its work is
    /// shared with other answers (budgets answered from one run, selection rules
    /// over the same chains): each gets what answering it alone would have taken.
    /// `None`: the caller times the call.
    pub seconds: Option<f64>,
}

/// A test-time method with its settings fixed: search, best-of-N or revisions. The
/// evaluation orchestrator runs methods only through this trait.
pub trait Solver: Send + Sync {
    /// The setting's identity across budgets and seeds, as its records carry it:
    /// `beam-m4`, `revise-r4`, `beam-m4@demo-step-checker` (family `diagnostic`),
    /// with params beyond the method's text (a temperature).
    fn method(&self) -> MethodId;

    /// Whether a sweep runs the method at `budget` from its shared budget list
    /// (revisions: where the ratio has an exact split). Sweeps skip the others.
    fn supports(&self, budget: usize) -> bool {
        budget > 0
    }

    /// Answers `question` with a budget of `budget` generations.
    fn solve(&self, question: &str, budget: usize, seed: u64) -> Result<Solved>;

    /// Answers at several budgets from one run, for methods whose smaller budgets
    /// are prefixes of the largest one (N independent samples), with each answer's
    /// share of the run's time in [`Solved::seconds`]. `None` (the default): the
    /// method shares nothing across budgets, and the caller solves them one by one.
    fn solve_budgets(
        &self,
        question: &str,
        budgets: &[usize],
        seed: u64,
    ) -> Option<Result<Vec<Solved>>> {
        let _ = (question, budgets, seed);
        None
    }
}
