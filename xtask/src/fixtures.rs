//! `cargo xtask fixtures`: the tiny committed test models under `models/fixtures/`.

use std::path::Path;

use anyhow::Result;

use crate::{pyenv, util};

pub(crate) fn run(root: &Path) -> Result<()> {
    let out = root.join("models").join("fixtures");
    for script in ["make_fixtures.py", "make_prm_fixtures.py"] {
        let mut make = pyenv::script(root, script)?;
        make.arg(&out);
        util::run(&mut make)?;
    }
    eprintln!("fixtures written to {}", out.display());
    Ok(())
}
