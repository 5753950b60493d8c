//! The application layer of ttc: everything between the flags and the libraries.
//!
//! - [`run_file`]: the TOML run file, read once with unknown keys and bad values
//!   reported by file and line, its relative paths resolved against its folder.
//! - [`components`]: concrete models and questions built from a run file.
//! - [`solvers`]: the sweep's methods as core `Solver`s (best-of-N answering every
//!   budget from one run, revision rules sharing one set of chains).
//! - [`solve`]: answering one question with a method or with a fitted policy.
//! - [`score`]: a reward model on its own, over given solutions.
//! - [`data`]: demo-world datasets written as JSONL.
//! - [`grade`]: verdicts for a JSONL file of answer pairs.
//! - [`eval`]: a resumable sweep from a run file, whole or one shard of it.
//! - [`shard`]: which questions a shard runs and where its number comes from.
//! - [`merge`]: shard folders checked and joined into one run folder.
//! - [`analysis`]: what a finished sweep yields (difficulty bins, report, policy);
//!   [`report_inputs`]: the report's inputs beyond the records (the run's models and
//!   their one-time costs, how the bins read, the policy judged against fixed settings).
//!
//! The binary parses flags, calls these and prints; this crate prints nothing.

pub mod analysis;
pub mod components;
pub mod data;
mod error;
pub mod eval;
pub mod grade;
pub mod merge;
pub mod report_inputs;
pub mod run_file;
mod run_models;
pub mod score;
pub mod shard;
pub mod solve;
pub mod solvers;

pub use error::{Error, Result};
