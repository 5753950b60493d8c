//! `cargo xtask train-demo`: trains the demo models from scratch, in stages.
//!
//! Stages run in this order; each checks that its inputs exist, resumes what it
//! left half done (training checkpoints, finished sub-steps) and ends by writing a
//! stamp `.ttc/demo/stamps/<stage>.json`. A stage with a stamp counts as done and is
//! skipped unless `--force` is given.
//!
//! | stage | inputs | outputs |
//! |---|---|---|
//! | `data` | the `ttc-dataset` demo world | `.ttc/demo/data/{train,validation,test}.jsonl` |
//! | `tokenizer` | train.jsonl | `.ttc/demo/tokenizer/` |
//! | `generator` | data, tokenizer | `models/demo/generator/` (ONNX + model card) |
//! | `prm-data`, `reviser-data`, `reviser`, `orm` | generator (+ ttc sampling) | `models/demo/{reviser,orm}/` (see `demo_rewards.rs`) |
//! | `prm-trunk` | generator, train.jsonl | `.ttc/demo/prm-trunk/final/` (the generator trained on further on reference solutions), exported as a generator to `models/demo/prm-trunk/` (the "same size, more training" baseline) |
//! | `prm` | prm-data, prm-trunk | `models/demo/prm/` (see `demo_rewards.rs`) |
//! | `prm-paper` | prm-data | `models/demo/prm-paper/`: the paper's recipe, a token classifier fine-tuned from the generator on the Monte Carlo labels |
//! | `generator-large` | data, tokenizer | `models/demo/generator-large/` |
//!
//! Work files (checkpoints, logs, evaluation JSON) live in the git-ignored
//! `.ttc/demo/`; only exported models and their cards go to `models/demo/`.
//! Python steps run `xtask/python/demo/*.py` in the venv of `cargo xtask pyenv`.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use ttc_dataset::DifficultyMix;

use crate::{pyenv, util};

#[path = "demo_rewards.rs"]
mod rewards;

/// Work folder under the workspace root (git-ignored).
const WORK: &str = ".ttc/demo";
/// Exported models and cards (committed).
const MODELS: &str = "models/demo";
/// Seed of the training stream written by the `data` stage.
const DATA_SEED: u64 = 1;
/// Training problems written by the `data` stage (the generators draw their
/// token budgets from this file; each sees every problem about once).
const TRAIN_COUNT: usize = 150_000;
/// Slips in the generators' training solutions (`train-generator.jsonl`): a
/// forgotten carry or borrow, a multiplication off by one multiple, a units digit
/// off by one. A model trained on them slips now and then, so its pass@1 falls
/// smoothly with the length of the chain and its share of carries, and a verifier
/// has wrong steps to find. The other stages sample the trained model instead.
const SLIP_RATES: ttc_dataset::demo::SlipRates = ttc_dataset::demo::SlipRates {
    plain: 0.02,
    carry: 0.2,
    mul: 0.12,
};
/// BPE vocabulary size asked of the tokenizer trainer.
const VOCAB_SIZE: u32 = 384;
/// CPU threads for torch.
const THREADS: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum Stage {
    /// Training, validation and test JSONL from the ttc-dataset demo world.
    Data,
    /// Byte-level BPE tokenizer, one token per digit.
    Tokenizer,
    /// The base generator (~0.44M-parameter Llama), exported to models/demo/generator.
    Generator,
    /// The larger generator (~4.8M parameters, 11x) for the FLOPs-matched comparison.
    GeneratorLarge,
    /// PRM training data from Monte Carlo rollouts sampled through ttc.
    PrmData,
    /// The PRM's trunk: the generator trained on further on reference solutions.
    PrmTrunk,
    /// The process reward model (models/demo/prm).
    Prm,
    /// The paper-recipe PRM: a token classifier fine-tuned from the generator on the
    /// Monte Carlo labels (models/demo/prm-paper).
    PrmPaper,
    /// Revision training data (64 samples per question through ttc).
    ReviserData,
    /// The revision model (models/demo/reviser).
    Reviser,
    /// The outcome reward model on revision outputs (models/demo/orm).
    Orm,
}

impl Stage {
    /// Run order. `generator-large` comes last: nothing depends on it and it is by
    /// far the longest (hours on two CPU cores).
    const ALL: [Stage; 11] = [
        Stage::Data,
        Stage::Tokenizer,
        Stage::Generator,
        Stage::PrmData,
        Stage::PrmTrunk,
        Stage::Prm,
        Stage::PrmPaper,
        Stage::ReviserData,
        Stage::Reviser,
        Stage::Orm,
        Stage::GeneratorLarge,
    ];

    fn name(self) -> &'static str {
        match self {
            Stage::Data => "data",
            Stage::Tokenizer => "tokenizer",
            Stage::Generator => "generator",
            Stage::GeneratorLarge => "generator-large",
            Stage::PrmData => "prm-data",
            Stage::PrmTrunk => "prm-trunk",
            Stage::Prm => "prm",
            Stage::PrmPaper => "prm-paper",
            Stage::ReviserData => "reviser-data",
            Stage::Reviser => "reviser",
            Stage::Orm => "orm",
        }
    }

    /// Stages whose stamps must exist before this one runs.
    fn needs(self) -> &'static [Stage] {
        match self {
            Stage::Data => &[],
            Stage::Tokenizer => &[Stage::Data],
            Stage::Generator | Stage::GeneratorLarge => &[Stage::Data, Stage::Tokenizer],
            Stage::PrmData | Stage::PrmTrunk | Stage::ReviserData => {
                &[Stage::Data, Stage::Generator]
            }
            Stage::Prm => &[Stage::PrmData, Stage::PrmTrunk],
            Stage::PrmPaper => &[Stage::PrmData],
            Stage::Reviser => &[Stage::ReviserData],
            Stage::Orm => &[Stage::Reviser],
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct TrainDemoArgs {
    /// Run this stage only (its inputs must exist). Without it, every
    /// stage runs in order and finished ones are skipped.
    #[arg(long, value_enum)]
    stage: Option<Stage>,
    /// Run the stage even if its stamp says it is done. Training still resumes
    /// from its last checkpoint; delete `.ttc/demo/<stage>/` to retrain from scratch.
    #[arg(long)]
    force: bool,
    /// Print the stages and their state, run nothing.
    #[arg(long)]
    list: bool,
}

struct Paths {
    root: PathBuf,
    work: PathBuf,
}

impl Paths {
    fn data(&self, split: &str) -> PathBuf {
        self.work.join("data").join(format!("{split}.jsonl"))
    }
    fn tokenizer(&self) -> PathBuf {
        self.work.join("tokenizer")
    }
    fn stamp(&self, stage: Stage) -> PathBuf {
        self.work
            .join("stamps")
            .join(format!("{}.json", stage.name()))
    }
    fn log(&self, stage: Stage) -> PathBuf {
        self.work.join("logs").join(format!("{}.log", stage.name()))
    }
}

pub(crate) fn run(root: &Path, args: &TrainDemoArgs) -> Result<()> {
    let paths = Paths {
        root: root.to_path_buf(),
        work: root.join(WORK),
    };
    if args.list {
        for stage in Stage::ALL {
            let state = if paths.stamp(stage).is_file() {
                "done"
            } else {
                "to do"
            };
            println!("{:<16} {state}", stage.name());
        }
        return Ok(());
    }
    match args.stage {
        Some(stage) => run_stage(&paths, stage, args.force),
        None => {
            for stage in Stage::ALL {
                run_stage(&paths, stage, args.force)?;
            }
            eprintln!("every stage is done");
            Ok(())
        }
    }
}

fn run_stage(paths: &Paths, stage: Stage, force: bool) -> Result<()> {
    if paths.stamp(stage).is_file() && !force {
        eprintln!(
            "stage {}: done ({} exists; --force reruns it)",
            stage.name(),
            paths.stamp(stage).display()
        );
        return Ok(());
    }
    for &need in stage.needs() {
        // The shipped generator stands in for the `generator` stage: its consumers
        // sample the shipped ONNX and rebuild its checkpoint from it when needed.
        let shipped = need == Stage::Generator
            && paths
                .root
                .join(MODELS)
                .join(need.name())
                .join("model.onnx")
                .is_file();
        if !paths.stamp(need).is_file() && !shipped {
            bail!(
                "stage `{}` needs stage `{}` first ({} is missing); run `cargo xtask train-demo \
                 --stage {}`",
                stage.name(),
                need.name(),
                paths.stamp(need).display(),
                need.name()
            );
        }
    }
    eprintln!("stage {}: running", stage.name());
    let start = Instant::now();
    let mut info = match stage {
        Stage::Data => stage_data(paths)?,
        Stage::Tokenizer => stage_tokenizer(paths)?,
        Stage::Generator => stage_generator(paths, stage, &GENERATOR)?,
        Stage::GeneratorLarge => stage_generator(paths, stage, &GENERATOR_LARGE)?,
        Stage::PrmData => rewards::prm_data(paths)?,
        Stage::PrmTrunk => stage_prm_trunk(paths)?,
        Stage::Prm => rewards::prm(paths)?,
        Stage::PrmPaper => rewards::prm_paper(paths)?,
        Stage::ReviserData => rewards::reviser_data(paths)?,
        Stage::Reviser => rewards::reviser(paths)?,
        Stage::Orm => rewards::orm(paths)?,
    };
    info["stage"] = json!(stage.name());
    info["stage_wall_s_this_run"] = json!(start.elapsed().as_secs_f64());
    write_json(&paths.stamp(stage), &info)?;
    eprintln!(
        "stage {}: done in {:.1} min",
        stage.name(),
        start.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

fn stage_data(paths: &Paths) -> Result<Value> {
    use ttc_dataset::demo::{DemoWorld, Split, write_fixed};
    // Every model trains on the training split of the evaluation mix.
    let train = paths.data("train");
    let mix = DifficultyMix::default();
    let world = DemoWorld::new(mix.clone()).context("the demo mix is invalid")?;
    let n_train = world
        .write_split(&train, Split::Train, Some(TRAIN_COUNT), Some(DATA_SEED))
        .with_context(|| format!("writing {}", train.display()))?;
    let slipped = paths.data("train-generator");
    let problems = world.slipped_train_problems(DATA_SEED, TRAIN_COUNT, &SLIP_RATES)?;
    ttc_dataset::write_problems(&slipped, &problems)
        .with_context(|| format!("writing {}", slipped.display()))?;
    let slipped_solutions = problems
        .iter()
        .filter(|p| p.extra.get("slips").and_then(Value::as_u64).unwrap_or(0) > 0)
        .count();
    let slips = json!({
        "rates": serde_json::to_value(SLIP_RATES)?,
        "solutions": problems.len(),
        "slipped_solutions": slipped_solutions,
        "slips": problems.iter().filter_map(|p| p.extra.get("slips").and_then(Value::as_u64)).sum::<u64>(),
    });
    write_json(&paths.work.join("data").join("slips.json"), &slips)?;
    let mut counts = json!({ "train": n_train, "train-generator": problems.len() });
    for split in [Split::Validation, Split::Test] {
        let path = paths.data(split.name());
        let n = write_fixed(&path, split, None)
            .with_context(|| format!("writing {}", path.display()))?;
        counts[split.name()] = json!(n);
    }
    let mix = serde_json::to_value(&mix)?;
    write_json(&paths.work.join("data").join("train_mix.json"), &mix)?;
    eprintln!(
        "wrote {counts} problems to {}",
        train.parent().unwrap_or(&train).display()
    );
    Ok(json!({ "seed": DATA_SEED, "records": counts, "train_mix": mix, "slips": slips }))
}

fn stage_tokenizer(paths: &Paths) -> Result<Value> {
    let train = require_file(&paths.data("train"))?;
    let mut cmd = pyenv::script(&paths.root, "demo/train_tokenizer.py")?;
    cmd.arg("--train")
        .arg(&train)
        .arg("--out")
        .arg(paths.tokenizer())
        .args(["--vocab-size", &VOCAB_SIZE.to_string()]);
    run_logged(&mut cmd, &paths.log(Stage::Tokenizer))?;
    require_file(&paths.tokenizer().join("tokenizer.json"))?;
    Ok(json!({ "vocab_size_asked": VOCAB_SIZE }))
}

/// One training run of a generator. The first phase starts from a random
/// initialisation, each later one from the previous phase's final weights with a
/// fresh optimizer and schedule (warm-up, cosine decay).
struct Phase {
    /// Training tokens D of this phase (prompt + completion, no padding).
    tokens: f64,
    /// Peak learning rate.
    lr: f64,
    warmup_steps: u32,
    /// Seed of the initialisation and of the batch order.
    seed: u64,
}

/// How one causal LM is trained by train_lm.py.
struct LmTraining {
    /// `--size` of train_lm.py.
    size: &'static str,
    phases: &'static [Phase],
    batch_tokens: u32,
    /// bfloat16 autocast in training (about 1.5x the fp32 speed on this CPU).
    bf16: bool,
}

/// Training and evaluation settings of one generator.
struct GeneratorSpec {
    training: LmTraining,
    /// Samples per test question for the pass@1 spread (through ttc).
    samples: u32,
    /// Samples per test question in the torch cross-check (0: greedy only; the
    /// greedy answers must match ttc's).
    torch_samples: u32,
    /// The generator whose parameter count the card compares against.
    compare_with: Option<Stage>,
    /// A committed run summary's `bins.json` (oracle bins of the test questions) and
    /// where it comes from, for the card's per-bin table (skipped when absent).
    bins: Option<(&'static str, &'static str)>,
}

/// One phase of 12M tokens (each training problem seen about once).
const GENERATOR: GeneratorSpec = GeneratorSpec {
    training: LmTraining {
        size: "base",
        phases: &[Phase {
            tokens: 12e6,
            lr: 3e-3,
            warmup_steps: 200,
            seed: 1,
        }],
        batch_tokens: 4096,
        bf16: true,
    },
    samples: 64,
    torch_samples: 0,
    compare_with: None,
    bins: None,
};

/// The same data and number of tokens as the base generator, in one phase.
const GENERATOR_LARGE: GeneratorSpec = GeneratorSpec {
    training: LmTraining {
        size: "large",
        phases: &[Phase {
            tokens: 12e6,
            lr: 1.5e-3,
            warmup_steps: 200,
            seed: 1,
        }],
        batch_tokens: 4096,
        bf16: true,
    },
    // Its role is the greedy reference; 4 samples a question (2,000 on the test set)
    // give its pass@1 for the card at a sixteenth of the sampling time of a 64-sample
    // run, which at 11x the generator's size would take as long as its training.
    samples: 4,
    torch_samples: 0,
    compare_with: Some(Stage::Generator),
    bins: Some((
        "docs/runs/demo-flops-matched/bins.json",
        "the generator's oracle bins from 64 samples on the first 200 test questions, \
         `cargo xtask eval config/demo-flops-matched.toml`",
    )),
};

/// The PRM's trunk: the base generator trained on for 12M more tokens of the
/// reference solutions (no slips), at a lower peak lr, so it knows the arithmetic
/// the generator slips on. The PRM reads its next-token probabilities
/// (xtask/python/demo/surprise_prm.py).
const PRM_TRUNK: LmTraining = LmTraining {
    size: "base",
    phases: &[Phase {
        tokens: 12e6,
        lr: 5e-4,
        warmup_steps: 50,
        seed: 2,
    }],
    batch_tokens: 4096,
    bf16: true,
};

/// The work folder of phase `i` (0-based) of a generator stage: `phase<i+1>/` in
/// the stage folder. The last phase's `final/` is copied to the stage folder's
/// `final/`, the trained generator that later stages start from.
fn phase_dir(stage_dir: &Path, i: usize) -> PathBuf {
    stage_dir.join(format!("phase{}", i + 1))
}

/// Copies the files of folder `from` into folder `to` (created if needed).
fn copy_dir_files(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let path = entry?.path();
        if path.is_file() {
            let target = to.join(path.file_name().unwrap_or_default());
            fs::copy(&path, &target).with_context(|| {
                format!("cannot copy {} to {}", path.display(), target.display())
            })?;
        }
    }
    Ok(())
}

/// Trains `spec`'s phases on `train` (the first from `init`, or from a random
/// initialisation), each resuming from its `work/last.pt` and a no-op once its
/// `final/` is complete, and copies the last phase's `final/` to the stage folder's
/// `final/`, which it returns.
fn train_phases(
    paths: &Paths,
    stage: Stage,
    spec: &LmTraining,
    train: &Path,
    mut init: Option<PathBuf>,
) -> Result<PathBuf> {
    let valid = require_file(&paths.data("validation"))?;
    let tokenizer = require_file(&paths.tokenizer().join("tokenizer.json"))?;
    let tokenizer = tokenizer.parent().unwrap_or(&tokenizer).to_path_buf();
    let stage_dir = paths.work.join(stage.name());
    let log = paths.log(stage);
    let train_cmd = format!("cargo xtask train-demo --stage {}", stage.name());
    for (i, phase) in spec.phases.iter().enumerate() {
        let work = phase_dir(&stage_dir, i);
        let summary = work.join("final").join("train_summary.json");
        if summary.is_file() {
            eprintln!("  training phase {}: done ({})", i + 1, summary.display());
        } else {
            eprintln!(
                "  training phase {}: log in {} (re-run `{train_cmd}` to resume)",
                i + 1,
                log.display()
            );
            let mut cmd = pyenv::script(&paths.root, "demo/train_lm.py")?;
            cmd.arg("--train")
                .arg(train)
                .arg("--valid")
                .arg(&valid)
                .arg("--tokenizer")
                .arg(&tokenizer)
                .arg("--work")
                .arg(&work)
                .args(["--size", spec.size])
                .args(["--tokens", &phase.tokens.to_string()])
                .args(["--lr", &phase.lr.to_string()])
                .args(["--warmup-steps", &phase.warmup_steps.to_string()])
                .args(["--seed", &phase.seed.to_string()])
                .args(["--batch-tokens", &spec.batch_tokens.to_string()])
                .args(["--threads", &THREADS.to_string()]);
            if let Some(init) = &init {
                cmd.arg("--init").arg(init);
            }
            if spec.bf16 {
                cmd.arg("--bf16");
            }
            run_logged(&mut cmd, &log)?;
            require_file(&summary)?;
        }
        init = Some(work.join("final"));
    }
    let last = phase_dir(&stage_dir, spec.phases.len() - 1).join("final");
    let final_dir = stage_dir.join("final");
    if !newer_than(
        &final_dir.join("train_summary.json"),
        &last.join("train_summary.json"),
    ) {
        copy_dir_files(&last, &final_dir)?;
    }
    Ok(final_dir)
}

fn stage_generator(paths: &Paths, stage: Stage, spec: &GeneratorSpec) -> Result<Value> {
    let train = require_file(&paths.data("train-generator"))?;
    let test = require_file(&paths.data("test"))?;
    let log = paths.log(stage);
    let train_cmd = format!("cargo xtask train-demo --stage {}", stage.name());

    // 1. Train, phase by phase.
    let final_dir = train_phases(paths, stage, &spec.training, &train, None)?;
    let summary = final_dir.join("train_summary.json");
    let work = paths.work.join(stage.name());

    // 2. Export to ONNX (through xtask/python/export.py, like `cargo xtask export`).
    let out = paths.root.join(MODELS).join(stage.name());
    let onnx = export_if_stale(
        paths,
        &final_dir,
        &out,
        Export::Task("text-generation-with-past"),
        &log,
    )?;

    // 3. Evaluate the exported model through ttc (ONNX Runtime): greedy accuracy and
    //    the pass@1 spread at T = 0.8 on the test set. These are the card's numbers.
    let ttc_eval = work.join("eval_test_ttc.json");
    if newer_than(&ttc_eval, &onnx) {
        eprintln!("  evaluation through ttc: done ({})", ttc_eval.display());
    } else {
        let ttc = build_ttc(paths)?;
        let mut cmd = pyenv::script(&paths.root, "demo/eval_ttc.py")?;
        cmd.arg("--ttc")
            .arg(&ttc)
            .arg("--model")
            .arg(&out)
            .arg("--data")
            .arg(&test)
            .arg("--out")
            .arg(&ttc_eval)
            .args(["--samples", &spec.samples.to_string()])
            .args(["--temperature", "0.8", "--seed", "1"])
            .arg(format!("--ttc-arg=--threads={THREADS}"));
        run_logged(&mut cmd, &log)?;
    }

    // 4. Cross-check with torch on the trained checkpoint (greedy by default).
    let eval = work.join("eval_test.json");
    if newer_than(&eval, &summary) {
        eprintln!("  evaluation with torch: done ({})", eval.display());
    } else {
        let mut cmd = pyenv::script(&paths.root, "demo/eval_lm.py")?;
        cmd.arg("--model")
            .arg(&final_dir)
            .arg("--data")
            .arg(&test)
            .arg("--out")
            .arg(&eval)
            .args(["--samples", &spec.torch_samples.to_string()])
            .args(["--temperature", "0.8", "--seed", "1"])
            .args(["--threads", &THREADS.to_string()]);
        run_logged(&mut cmd, &log)?;
    }

    // 5. Model card.
    let mut cmd = pyenv::script(&paths.root, "demo/write_card.py")?;
    cmd.args(["--name", stage.name()])
        .arg("--summary")
        .arg(&summary)
        .arg("--eval")
        .arg(&eval)
        .arg("--ttc-eval")
        .arg(&ttc_eval)
        .arg("--out")
        .arg(out.join("README.md"))
        .arg("--train-mix")
        .arg(paths.work.join("data").join("train_mix.json"))
        .arg("--slips")
        .arg(paths.work.join("data").join("slips.json"))
        .args(["--command", &train_cmd]);
    if let Some(base) = spec.compare_with {
        // The shipped model's training.json (its `parameters`), so that the card can be
        // written on a fresh checkout that never trained the base generator.
        cmd.arg("--compare").arg(
            paths
                .root
                .join(MODELS)
                .join(base.name())
                .join("training.json"),
        );
    }
    if let Some((bins, source)) = spec.bins {
        cmd.arg("--bins")
            .arg(paths.root.join(bins))
            .args(["--bins-source", source]);
    }
    run_logged(&mut cmd, &log)?;

    let summary = read_json(&summary)?;
    Ok(json!({
        "model": out.strip_prefix(&paths.root).unwrap_or(&out).display().to_string(),
        "parameters": summary["parameters"],
        "tokens": summary.get("total_tokens").unwrap_or(&summary["tokens"]),
        "train_wall_s": summary.get("total_wall_s").unwrap_or(&summary["wall_s"]),
    }))
}

fn stage_prm_trunk(paths: &Paths) -> Result<Value> {
    let stage = Stage::PrmTrunk;
    let train = require_file(&paths.data("train"))?;
    let init = rewards::generator_hf(paths)?;
    let final_dir = train_phases(paths, stage, &PRM_TRUNK, &train, Some(init))?;
    // The trunk as a generator of its own: the "same size, twice the training
    // tokens" baseline beside the generator (its card: models/demo/prm-trunk).
    let out = paths.root.join(MODELS).join(stage.name());
    export_if_stale(
        paths,
        &final_dir,
        &out,
        Export::Task("text-generation-with-past"),
        &paths.log(stage),
    )?;
    let summary = read_json(&final_dir.join("train_summary.json"))?;
    Ok(json!({
        "checkpoint": final_dir.display().to_string(),
        "model": out.strip_prefix(&paths.root).unwrap_or(&out).display().to_string(),
        "parameters": summary["parameters"],
        "tokens": summary["tokens"],
        "train_wall_s": summary["wall_s"],
        "history": summary["history"],
    }))
}

/// Builds the ttc CLI (release), installs ONNX Runtime if it is missing, and
/// returns the CLI's path.
fn build_ttc(paths: &Paths) -> Result<PathBuf> {
    crate::setup::ensure(&paths.root)?;
    let mut cmd = util::cargo();
    cmd.current_dir(&paths.root)
        .args(["build", "--release", "--quiet", "-p", "ttc-cli"]);
    util::run(&mut cmd).context("building the ttc CLI for the evaluation")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| paths.root.join("target"));
    require_file(
        &target
            .join("release")
            .join(format!("ttc{}", std::env::consts::EXE_SUFFIX)),
    )
}

/// How a trained checkpoint becomes `model.onnx`.
#[derive(Clone, Copy, Debug)]
enum Export {
    /// `xtask/python/export.py --task TASK`, what `cargo xtask export` runs.
    Task(&'static str),
    /// `xtask/python/demo/surprise_prm.py export`: the demo PRM's own graph.
    SurprisePrm,
}

/// Exports the trained `final_dir` to `out/model.onnx` the `export` way unless the
/// export is newer than the training summary; returns the ONNX file.
fn export_if_stale(
    paths: &Paths,
    final_dir: &Path,
    out: &Path,
    export: Export,
    log: &Path,
) -> Result<PathBuf> {
    let onnx = out.join("model.onnx");
    if newer_than(&onnx, &final_dir.join("train_summary.json")) {
        eprintln!("  export: done ({})", onnx.display());
    } else {
        let mut cmd = match export {
            Export::Task(task) => {
                let mut cmd = pyenv::script(&paths.root, "export.py")?;
                cmd.arg(final_dir).arg(out).args(["--task", task]);
                cmd
            }
            Export::SurprisePrm => {
                let mut cmd = pyenv::script(&paths.root, "demo/surprise_prm.py")?;
                cmd.arg("export").arg(final_dir).arg(out);
                cmd
            }
        };
        run_logged(&mut cmd, log)?;
        require_file(&onnx)?;
    }
    Ok(onnx)
}

fn read_json(path: &Path) -> Result<Value> {
    serde_json::from_str(
        &fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("cannot parse {}", path.display()))
}

fn require_file(path: &Path) -> Result<PathBuf> {
    if !path.is_file() {
        bail!(
            "{} is missing; run the stage that makes it (`cargo xtask train-demo --list` shows them)",
            path.display()
        );
    }
    Ok(path.to_path_buf())
}

/// Whether `path` exists and was modified after `than`.
fn newer_than(path: &Path, than: &Path) -> bool {
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(path), modified(than)) {
        (Some(a), Some(b)) => a >= b,
        _ => false,
    }
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(value)? + "\n";
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Runs `cmd`, copying its stderr and stdout lines to our stderr and appending
/// them to `log`; a non-zero exit is an error that names the log.
fn run_logged(cmd: &mut Command, log: &Path) -> Result<()> {
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open the log {}", log.display()))?;
    writeln!(file, "$ {}", util::describe(cmd))?;
    cmd.env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start `{}`", util::describe(cmd)))?;
    let stdout = child.stdout.take().context("child stdout")?;
    let stderr = child.stderr.take().context("child stderr")?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let forward = |stream: Box<dyn std::io::Read + Send>, tx: std::sync::mpsc::Sender<String>| {
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    };
    let t1 = forward(Box::new(stdout), tx.clone());
    let t2 = forward(Box::new(stderr), tx);
    for line in rx {
        eprintln!("    {line}");
        writeln!(file, "{line}")?;
    }
    let _ = (t1.join(), t2.join());
    let status = child.wait()?;
    if !status.success() {
        bail!(
            "`{}` failed ({status}); its output is in {}",
            util::describe(cmd),
            log.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn every_stage_runs_after_the_stages_it_needs() {
        for (i, stage) in Stage::ALL.iter().enumerate() {
            for need in stage.needs() {
                let j = Stage::ALL.iter().position(|s| s == need).unwrap();
                assert!(j < i, "{} runs before {}", stage.name(), need.name());
            }
        }
    }

    #[test]
    fn stage_names_match_the_command_line_values() {
        for stage in Stage::ALL {
            let value = stage.to_possible_value().unwrap();
            assert_eq!(value.get_name(), stage.name());
        }
        let mut names: Vec<_> = Stage::ALL.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Stage::value_variants().len());
    }

    #[test]
    fn the_slip_rates_are_probabilities() {
        SLIP_RATES.validate().unwrap();
    }
}
