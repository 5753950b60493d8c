//! Domain types, component traits and the shared error type of ttc.
//!
//! Every other crate depends on this one and on no sibling: the generator, the
//! verifiers, the search strategies and the policy all meet here. Nothing in this
//! crate runs a model or reads a file.

mod answer;
mod compute;
mod confidence;
mod error;
mod generation;
pub mod hash;
mod identity;
mod method;
mod record;
mod runtime;
mod seed;
mod select;
mod solver;
#[cfg(feature = "testing")]
pub mod testing;
mod training;
mod transitions;
mod verification;

pub use answer::AnswerFormat;
pub use compute::Compute;
pub use confidence::ConfidenceVerifier;
pub use error::{Error, Result};
pub use generation::{
    ChatMessage, Completion, FinishReason, Generator, ModelInfo, Prompt, SamplingParams, Sequence,
    SequenceCache, StopCriteria,
};
pub use identity::{MethodId, Param, Params};
pub use method::{BeamWidth, Family, MethodSpec, parse_ratio, ratio_text};
pub use record::{DifficultyRecord, EvalRecord, ReferenceRecord};
pub use runtime::{
    ActiveProvider, ExecutionProvider, FallbackPolicy, RuntimeSettings, ShapeProfile,
};
pub use seed::SeqRng;
pub use select::{Selector, Vote, select};
pub use solver::{Solved, Solver};
pub use training::{CostKind, CostPart, TrainingCost};
pub use transitions::Transitions;
pub use verification::{
    Continued, ScoreAggregation, ScoreRequest, StepScores, Verifier, VerifierState,
};
