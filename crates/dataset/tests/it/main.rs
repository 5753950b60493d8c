//! Integration tests of ttc-dataset: one binary, one module per area.

mod files;
mod generator;
