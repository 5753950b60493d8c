//! `cargo xtask fixtures`: the tiny committed test models under `models/fixtures/`.
//!
//! The Optimum fixtures come first (`make_fixtures.py`, `make_prm_fixtures.py`, in
//! the training environment), keeping the Hugging Face checkpoints of tiny-llama and
//! tiny-qwen2 under `.ttc/cache/fixture-checkpoints`; those are then exported again as
//! ONNX Runtime GenAI folders (`<name>-genai`, in the GenAI export environment), with
//! the same golden.json, which onnxruntime-genai's greedy search is checked to
//! reproduce.

use std::path::Path;

use anyhow::{Context, Result};

use crate::{export, pyenv, util};

/// The causal-LM fixtures that also get a GenAI folder.
const GENAI_FIXTURES: [&str; 2] = ["tiny-llama", "tiny-qwen2"];
/// Where the fixtures' checkpoints are kept, under `.ttc/`.
const CHECKPOINTS: &str = "cache/fixture-checkpoints";

pub(crate) fn run(root: &Path) -> Result<()> {
    let out = root.join("models").join("fixtures");
    let checkpoints = root.join(util::LOCAL_DIR).join(CHECKPOINTS);
    for script in ["make_fixtures.py", "make_prm_fixtures.py"] {
        let mut make = pyenv::script(root, script)?;
        make.arg(&out);
        if script == "make_fixtures.py" {
            make.arg("--checkpoints").arg(&checkpoints);
        }
        util::run(&mut make)?;
    }
    for name in GENAI_FIXTURES {
        let golden = out.join(name).join("golden.json");
        let folder = out.join(format!("{name}-genai"));
        if folder.exists() {
            std::fs::remove_dir_all(&folder)
                .with_context(|| format!("cannot remove {}", folder.display()))?;
        }
        export::genai(root, &checkpoints.join(name), &folder, Some(&golden))?;
        std::fs::copy(&golden, folder.join("golden.json")).with_context(|| {
            format!("cannot copy {} into {}", golden.display(), folder.display())
        })?;
    }
    eprintln!("fixtures written to {}", out.display());
    Ok(())
}
