//! Integration tests of ttc-dataset: one binary, one module per area.

mod answers;
mod files;
mod generator;
mod grading;
