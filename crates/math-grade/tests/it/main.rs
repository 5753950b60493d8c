//! Integration tests of ttc-math-grade: one binary, one module per area.

mod answers;
mod grading;
