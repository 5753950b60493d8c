//! `cargo xtask fixtures`: the tiny committed test models under `models/fixtures/`.

use std::path::Path;

use anyhow::Result;

use crate::{pyenv, util};

pub(crate) fn run(root: &Path) -> Result<()> {
    let out = root.join("models").join("fixtures");
    let mut make = pyenv::script(root, "make_fixtures.py")?;
    make.arg(&out);
    util::run(&mut make)?;
    eprintln!("fixtures written to {}", out.display());
    Ok(())
}
