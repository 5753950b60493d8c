//! The demo's reward models and reviser: stages `prm-data`, `prm`, `reviser-data`,
//! `reviser` and `orm` of `cargo xtask train-demo` (docs/method.md §1 and §3).
//!
//! Every sample comes from the exported models through the `ttc` binary
//! (`ttc generate --json`); training, export and the metrics run in the pinned Python
//! environment (`xtask/python/demo/{prm,reviser,orm}_*.py`).
//!
//! | stage | does | outputs |
//! |---|---|---|
//! | `prm-data` | 16 samples per training question, 16 Monte Carlo rollouts per step prefix of questions with a correct sample, soft labels | `.ttc/demo/prm-data/prm_data.jsonl` |
//! | `prm` | a head over the `prm-trunk` LM's per-token surprise (`surprise_prm.py`), BCE on soft labels, early stop; export; AUROC, pair preference and best-of-N vs majority on test samples | `models/demo/prm/` |
//! | `reviser-data` | 32 samples per training question at T = 1.0, earlier incorrect attempts (closest one last) before each correct one | `.ttc/demo/reviser-data/reviser_data.jsonl` |
//! | `reviser` | fine-tune the generator on the final correct attempt; export; pass@1 after one incorrect attempt vs the generator | `models/demo/reviser/` |
//! | `orm` | reviser chains on training questions, one label per attempt at its last step; classifier from the reviser's weights; export; AUROC on test-question chains | `models/demo/orm/` |
//!
//! Each stage resumes: ttc calls are cached per chunk under its work folder, and a
//! finished training (`final/train_summary.json`), export or evaluation newer than
//! its input is not redone.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Value, json};

use super::{
    Export, MODELS, Paths, Stage, THREADS, build_ttc, export_if_stale, newer_than, read_json,
    require_file, run_logged,
};
use crate::pyenv;

/// Sizes of the data each stage samples (see the model cards for why they are
/// smaller than the paper's where they are).
struct Scale {
    /// Training questions for PRM labels and their offset in train.jsonl.
    prm_questions: usize,
    prm_offset: usize,
    /// Samples per question and rollouts per step prefix (paper: 16 and 16). With 4
    /// rollouts a clean step on a hard question (success rate 0.1 from there) is
    /// labelled 0 two times in three, like a slip; with 16, one time in five.
    prm_samples: usize,
    prm_rollouts: usize,
    /// Questions with fewer correct samples than this get no rollouts (their
    /// labels would all be 0).
    prm_min_correct: usize,
    /// Test questions and samples per question for the PRM / reviser evaluation.
    eval_questions: usize,
    eval_samples: usize,
    /// Training questions for revision data from the generator's own samples
    /// (`reviser_samples` each at T = 0.8), distinct wrong attempts kept per question.
    reviser_questions: usize,
    reviser_offset: usize,
    reviser_samples: usize,
    reviser_max_wrong: usize,
    /// Slipped copies paired with their references, and replayed generator examples
    /// (no earlier attempt), each from its own range of train.jsonl.
    reviser_slipped: usize,
    reviser_slipped_offset: usize,
    /// Slip-free copies as a right earlier attempt, kept (3,000, so that kept attempts
    /// are not far outnumbered by changed ones).
    reviser_clean: usize,
    reviser_clean_offset: usize,
    reviser_replay: usize,
    reviser_replay_offset: usize,
    /// The reviser's evaluation: test questions, generator samples per question
    /// (the earlier attempts) and revisions per question and condition.
    reviser_eval_questions: usize,
    reviser_eval_samples: usize,
    reviser_eval_revisions: usize,
    /// Training questions for the ORM, chains per question and chain length.
    orm_questions: usize,
    orm_offset: usize,
    orm_chains: usize,
    orm_length: usize,
    /// Held-out test questions for the ORM's AUROC.
    orm_eval_questions: usize,
}

const SCALE: Scale = Scale {
    prm_questions: 384,
    prm_offset: 0,
    prm_samples: 16,
    prm_rollouts: 16,
    prm_min_correct: 1,
    eval_questions: 500,
    eval_samples: 16,
    reviser_questions: 512,
    reviser_offset: 10_000,
    reviser_samples: 16,
    reviser_max_wrong: 4,
    reviser_slipped: 4_000,
    reviser_slipped_offset: 30_000,
    reviser_clean: 3_000,
    reviser_clean_offset: 60_000,
    reviser_replay: 2_000,
    reviser_replay_offset: 50_000,
    reviser_eval_questions: 500,
    reviser_eval_samples: 8,
    reviser_eval_revisions: 4,
    orm_questions: 128,
    orm_offset: 20_000,
    orm_chains: 4,
    orm_length: 4,
    orm_eval_questions: 100,
};

/// Learning rates (docs/method.md gives 3e-5 for the PRM and 1e-5 for the reviser on
/// billion-parameter models; these small models need larger steps, and the PRM's
/// head starts from scratch over a frozen trunk).
const PRM_LR: f64 = 1e-3;
const REVISER_LR: f64 = 5e-4;
/// The paper-recipe PRM's lr: the whole classifier is fine-tuned from the generator.
const PRM_PAPER_LR: f64 = 5e-4;
const ORM_LR: f64 = 5e-4;
const BATCH: u32 = 32;
/// Decoder layers of the PRM's head over its frozen trunk (surprise_prm.py).
const PRM_HEAD_LAYERS: u32 = 2;

/// The generator's torch checkpoint: the `generator` stage's, or, on a checkout that
/// did not run that stage, rebuilt from the shipped ONNX graph (the same weights,
/// checked against onnxruntime by checkpoint_from_onnx.py).
pub(super) fn generator_hf(paths: &Paths) -> Result<PathBuf> {
    let trained = paths.work.join("generator").join("final");
    if trained.join("config.json").is_file() {
        return Ok(trained);
    }
    let shipped = paths.root.join(MODELS).join("generator");
    let rebuilt = paths.work.join("generator").join("from-onnx");
    if !newer_than(
        &rebuilt.join("model.safetensors"),
        &shipped.join("model.onnx"),
    ) {
        let mut cmd = script(paths, "checkpoint_from_onnx.py")?;
        cmd.arg(&shipped).arg(&rebuilt);
        run_logged(&mut cmd, &paths.log(Stage::Reviser))?;
    }
    Ok(rebuilt)
}

fn model_dir(paths: &Paths, stage: Stage) -> PathBuf {
    paths.root.join(MODELS).join(stage.name())
}

fn stage_work(paths: &Paths, stage: Stage) -> PathBuf {
    paths.work.join(stage.name())
}

fn script(paths: &Paths, name: &str) -> Result<std::process::Command> {
    pyenv::script(&paths.root, &format!("demo/{name}"))
}

fn threads() -> String {
    THREADS.to_string()
}

/// The generator's test-set samples shared by the PRM and reviser evaluations
/// (`ttc generate`, T = 0.8, cached), written to `.ttc/demo/test-samples/test_samples.json`.
fn test_samples(paths: &Paths, ttc: &Path, log: &Path) -> Result<PathBuf> {
    test_samples_in(
        paths,
        ttc,
        log,
        "test-samples",
        SCALE.eval_questions,
        SCALE.eval_samples,
    )
}

/// Whether a samples file written by `prm_common.py test-samples` holds exactly
/// `questions` questions of `samples` samples each: a file from a run at another scale
/// is stale even when it is newer than the generator.
fn samples_file_holds(path: &Path, questions: usize, samples: usize) -> bool {
    let Ok(file) = read_json(path) else {
        return false;
    };
    let held = file["questions"].as_array().map(Vec::len);
    let per_question = file["samples_per_question"].as_u64();
    held == Some(questions) && per_question == Some(samples as u64)
}

/// The generator's samples of the first `questions` test questions, `samples` each,
/// in `.ttc/demo/<dir>/test_samples.json`.
fn test_samples_in(
    paths: &Paths,
    ttc: &Path,
    log: &Path,
    dir: &str,
    questions: usize,
    samples: usize,
) -> Result<PathBuf> {
    let dir = paths.work.join(dir);
    let out = dir.join("test_samples.json");
    let generator = require_file(&paths.root.join(MODELS).join("generator").join("model.onnx"))?;
    if newer_than(&out, &generator) && samples_file_holds(&out, questions, samples) {
        return Ok(out);
    }
    let mut cmd = script(paths, "prm_common.py")?;
    cmd.arg("test-samples")
        .arg("--ttc")
        .arg(ttc)
        .arg("--generator")
        .arg(generator.parent().unwrap_or(&generator))
        .arg("--data")
        .arg(require_file(&paths.data("test"))?)
        .arg("--work")
        .arg(&dir)
        .args(["--questions", &questions.to_string()])
        .args(["--samples", &samples.to_string()])
        .args(["--threads", &threads()]);
    run_logged(&mut cmd, log)?;
    require_file(&out)
}

pub(super) fn prm_data(paths: &Paths) -> Result<Value> {
    let stage = Stage::PrmData;
    let ttc = build_ttc(paths)?;
    let work = stage_work(paths, stage);
    let generator = require_file(&paths.root.join(MODELS).join("generator").join("model.onnx"))?;
    let mut cmd = script(paths, "prm_data.py")?;
    cmd.arg("--ttc")
        .arg(&ttc)
        .arg("--model")
        .arg(generator.parent().unwrap_or(&generator))
        .arg("--train")
        .arg(require_file(&paths.data("train"))?)
        .arg("--work")
        .arg(&work)
        .args(["--offset", &SCALE.prm_offset.to_string()])
        .args(["--questions", &SCALE.prm_questions.to_string()])
        .args(["--samples", &SCALE.prm_samples.to_string()])
        .args(["--rollouts", &SCALE.prm_rollouts.to_string()])
        .args(["--min-correct", &SCALE.prm_min_correct.to_string()])
        .args(["--temperature", "0.8"])
        .args(["--threads", &threads()]);
    run_logged(&mut cmd, &paths.log(stage))?;
    require_file(&work.join("prm_data.jsonl"))?;
    read_json(&work.join("prm_data_summary.json"))
}

/// Train (resumes to a no-op once `final/train_summary.json` exists), export with
/// `task`, and return the summary path.
fn train_and_export(
    paths: &Paths,
    stage: Stage,
    mut train: std::process::Command,
    export: Export,
    input: &Path,
) -> Result<PathBuf> {
    let work = stage_work(paths, stage);
    let final_dir = work.join("final");
    let summary = final_dir.join("train_summary.json");
    let log = paths.log(stage);
    if newer_than(&summary, input) {
        eprintln!("  training: done ({})", summary.display());
    } else {
        eprintln!("  training: log in {}", log.display());
        run_logged(&mut train, &log)?;
        require_file(&summary)?;
    }
    export_if_stale(paths, &final_dir, &model_dir(paths, stage), export, &log)?;
    Ok(summary)
}

fn write_card(paths: &Paths, stage: Stage, inputs: &[(&str, &Path)]) -> Result<()> {
    let mut cmd = script(paths, "prm_card.py")?;
    cmd.args(["--kind", stage.name()]);
    for (flag, path) in inputs {
        cmd.arg(format!("--{flag}")).arg(path);
    }
    cmd.arg("--out")
        .arg(model_dir(paths, stage).join("README.md"));
    run_logged(&mut cmd, &paths.log(stage))
}

fn stamp_info(paths: &Paths, stage: Stage, summary: &Path, eval: &Path) -> Result<Value> {
    let s = read_json(summary)?;
    let out = model_dir(paths, stage);
    Ok(json!({
        "model": out.strip_prefix(&paths.root).unwrap_or(&out).display().to_string(),
        "parameters": s["parameters"],
        "tokens": s["tokens"],
        "train_wall_s": s["wall_s"],
        "eval": read_json(eval)?,
    }))
}

pub(super) fn prm(paths: &Paths) -> Result<Value> {
    let stage = Stage::Prm;
    let data = require_file(&stage_work(paths, Stage::PrmData).join("prm_data.jsonl"))?;
    // The head reads the next-token probabilities of the generator trained on further
    // on reference solutions (stage prm-trunk), which knows the arithmetic the
    // generator slips on.
    let trunk = require_file(
        &stage_work(paths, Stage::PrmTrunk)
            .join("final")
            .join("config.json"),
    )?;
    let mut train = script(paths, "prm_train.py")?;
    train
        .arg("--data")
        .arg(&data)
        .arg("--init")
        .arg(trunk.parent().unwrap_or(&trunk))
        .arg("--work")
        .arg(stage_work(paths, stage))
        .args([
            "--arch",
            "surprise",
            "--head-layers",
            &PRM_HEAD_LAYERS.to_string(),
        ])
        .args([
            "--mode",
            "prm",
            "--lr",
            &PRM_LR.to_string(),
            "--batch",
            &BATCH.to_string(),
        ])
        // Early stopping on validation loss; the epoch cap is only a backstop.
        .args(["--max-epochs", "20", "--patience", "2", "--dropout", "0.05"])
        .args(["--threads", &threads()]);
    let summary = train_and_export(paths, stage, train, Export::SurprisePrm, &data)?;

    let eval = evaluate_prm(paths, stage)?;
    let data_summary = stage_work(paths, Stage::PrmData).join("prm_data_summary.json");
    let trunk_summary = trunk.with_file_name("train_summary.json");
    write_card(
        paths,
        stage,
        &[
            ("summary", &summary),
            ("eval", &eval),
            ("data-summary", &data_summary),
            ("trunk-summary", &trunk_summary),
        ],
    )?;
    stamp_info(paths, stage, &summary, &eval)
}

/// Scores the generator's test samples with the stage's exported PRM
/// (`prm_eval.py`) unless the evaluation is newer than the model and the samples;
/// returns the evaluation JSON.
fn evaluate_prm(paths: &Paths, stage: Stage) -> Result<PathBuf> {
    let ttc = build_ttc(paths)?;
    let log = paths.log(stage);
    let samples = test_samples(paths, &ttc, &log)?;
    let eval = stage_work(paths, stage).join("eval_test.json");
    let onnx = model_dir(paths, stage).join("model.onnx");
    if newer_than(&eval, &onnx) && newer_than(&eval, &samples) {
        eprintln!("  evaluation: done ({})", eval.display());
    } else {
        let mut cmd = script(paths, "prm_eval.py")?;
        cmd.arg("--samples")
            .arg(&samples)
            .arg("--prm")
            .arg(model_dir(paths, stage))
            .arg("--out")
            .arg(&eval)
            .args(["--threads", &threads()]);
        run_logged(&mut cmd, &log)?;
    }
    Ok(eval)
}

/// The paper's PRM recipe on this world: a token classifier fine-tuned from the
/// generator (all of its weights) on the Monte Carlo labels of `prm-data`, exported
/// with its continuing cache. Shipped beside the `prm` stage's model so that search
/// with a verifier from the policy's own base can be measured.
pub(super) fn prm_paper(paths: &Paths) -> Result<Value> {
    let stage = Stage::PrmPaper;
    let data = require_file(&stage_work(paths, Stage::PrmData).join("prm_data.jsonl"))?;
    let init = require_file(&generator_hf(paths)?.join("config.json"))?;
    let mut train = script(paths, "prm_train.py")?;
    train
        .arg("--data")
        .arg(&data)
        .arg("--init")
        .arg(init.parent().unwrap_or(&init))
        .arg("--work")
        .arg(stage_work(paths, stage))
        .args([
            "--mode",
            "prm",
            "--lr",
            &PRM_PAPER_LR.to_string(),
            "--batch",
            &BATCH.to_string(),
        ])
        // Early stopping on validation loss; the epoch cap is only a backstop.
        .args(["--max-epochs", "20", "--patience", "2", "--dropout", "0.05"])
        .args(["--threads", &threads()]);
    let summary = train_and_export(
        paths,
        stage,
        train,
        Export::Task("token-classification-with-past"),
        &data,
    )?;
    let eval = evaluate_prm(paths, stage)?;
    stamp_info(paths, stage, &summary, &eval)
}

pub(super) fn reviser_data(paths: &Paths) -> Result<Value> {
    let stage = Stage::ReviserData;
    let ttc = build_ttc(paths)?;
    let work = stage_work(paths, stage);
    let generator = require_file(&paths.root.join(MODELS).join("generator").join("model.onnx"))?;
    let mut cmd = script(paths, "reviser_data.py")?;
    cmd.arg("--ttc")
        .arg(&ttc)
        .arg("--model")
        .arg(generator.parent().unwrap_or(&generator))
        .arg("--train")
        .arg(require_file(&paths.data("train"))?)
        .arg("--train-generator")
        .arg(require_file(&paths.data("train-generator"))?)
        .arg("--work")
        .arg(&work)
        .args(["--offset", &SCALE.reviser_offset.to_string()])
        .args(["--questions", &SCALE.reviser_questions.to_string()])
        .args(["--samples", &SCALE.reviser_samples.to_string()])
        .args(["--temperature", "0.8"])
        .args(["--max-wrong", &SCALE.reviser_max_wrong.to_string()])
        .args(["--slipped", &SCALE.reviser_slipped.to_string()])
        .args([
            "--slipped-offset",
            &SCALE.reviser_slipped_offset.to_string(),
        ])
        .args(["--clean", &SCALE.reviser_clean.to_string()])
        .args(["--clean-offset", &SCALE.reviser_clean_offset.to_string()])
        .args(["--replay", &SCALE.reviser_replay.to_string()])
        .args(["--replay-offset", &SCALE.reviser_replay_offset.to_string()])
        .args(["--threads", &threads()]);
    run_logged(&mut cmd, &paths.log(stage))?;
    require_file(&work.join("reviser_data.jsonl"))?;
    read_json(&work.join("reviser_data_summary.json"))
}

pub(super) fn reviser(paths: &Paths) -> Result<Value> {
    let stage = Stage::Reviser;
    let data = require_file(&stage_work(paths, Stage::ReviserData).join("reviser_data.jsonl"))?;
    let init = require_file(&generator_hf(paths)?.join("config.json"))?;
    let mut train = script(paths, "reviser_train.py")?;
    train
        .arg("--data")
        .arg(&data)
        .arg("--init")
        .arg(init.parent().unwrap_or(&init))
        .arg("--work")
        .arg(stage_work(paths, stage))
        .args([
            "--lr",
            &REVISER_LR.to_string(),
            "--batch",
            &BATCH.to_string(),
        ])
        // One epoch left the copy of a right attempt unlearned (validation loss on kept
        // attempts 0.10 a token, still falling); early stopping ends it sooner if flat.
        .args(["--max-epochs", "4", "--eval-every", "50", "--patience", "4"])
        .args(["--valid-frac", "0.05"])
        .args(["--threads", &threads()]);
    let summary = train_and_export(
        paths,
        stage,
        train,
        Export::Task("text-generation-with-past"),
        &data,
    )?;

    let ttc = build_ttc(paths)?;
    let log = paths.log(stage);
    let samples = test_samples_in(
        paths,
        &ttc,
        &log,
        "reviser-test-samples",
        SCALE.reviser_eval_questions,
        SCALE.reviser_eval_samples,
    )?;
    let eval = stage_work(paths, stage).join("eval_test.json");
    let onnx = model_dir(paths, stage).join("model.onnx");
    if newer_than(&eval, &onnx) && newer_than(&eval, &samples) {
        eprintln!("  evaluation: done ({})", eval.display());
    } else {
        let mut cmd = script(paths, "reviser_eval.py")?;
        cmd.arg("--ttc")
            .arg(&ttc)
            .arg("--reviser")
            .arg(model_dir(paths, stage))
            .arg("--samples")
            .arg(&samples)
            .arg("--test")
            .arg(require_file(&paths.data("test"))?)
            .arg("--work")
            .arg(stage_work(paths, stage))
            .arg("--out")
            .arg(&eval)
            .args(["--revisions", &SCALE.reviser_eval_revisions.to_string()])
            .args(["--threads", &threads()]);
        run_logged(&mut cmd, &log)?;
    }
    let data_summary = stage_work(paths, Stage::ReviserData).join("reviser_data_summary.json");
    write_card(
        paths,
        stage,
        &[
            ("summary", &summary),
            ("eval", &eval),
            ("data-summary", &data_summary),
        ],
    )?;
    stamp_info(paths, stage, &summary, &eval)
}

pub(super) fn orm(paths: &Paths) -> Result<Value> {
    let stage = Stage::Orm;
    let ttc = build_ttc(paths)?;
    let work = stage_work(paths, stage);
    let log = paths.log(stage);
    let reviser = model_dir(paths, Stage::Reviser);
    require_file(&reviser.join("model.onnx"))?;
    let reviser_hf = require_file(
        &stage_work(paths, Stage::Reviser)
            .join("final")
            .join("config.json"),
    )?;
    // Chains on training questions (training data) and on test questions (held out).
    let chains =
        |split: &str, offset: usize, questions: usize, seed: u32, out: &Path| -> Result<()> {
            let mut cmd = script(paths, "orm_data.py")?;
            cmd.arg("--ttc")
                .arg(&ttc)
                .arg("--reviser")
                .arg(&reviser)
                .arg("--data")
                .arg(require_file(&paths.data(split))?)
                .arg("--out")
                .arg(out)
                .arg("--work")
                .arg(&work)
                .args(["--offset", &offset.to_string()])
                .args(["--questions", &questions.to_string()])
                .args(["--chains", &SCALE.orm_chains.to_string()])
                .args(["--length", &SCALE.orm_length.to_string()])
                .args(["--temperature", "0.8", "--seed", &seed.to_string()])
                .args(["--threads", &threads()]);
            run_logged(&mut cmd, &log)
        };
    let train_data = work.join("orm_train.jsonl");
    let test_data = work.join("orm_test.jsonl");
    for (split, offset, questions, seed, out) in [
        (
            "train",
            SCALE.orm_offset,
            SCALE.orm_questions,
            31,
            &train_data,
        ),
        ("test", 0, SCALE.orm_eval_questions, 41, &test_data),
    ] {
        if newer_than(out, &reviser.join("model.onnx")) {
            eprintln!("  reviser chains: done ({})", out.display());
        } else {
            chains(split, offset, questions, seed, out)?;
        }
    }
    let mut train = script(paths, "prm_train.py")?;
    train
        .arg("--data")
        .arg(&train_data)
        .arg("--init")
        .arg(reviser_hf.parent().unwrap_or(&reviser_hf))
        .arg("--work")
        .arg(&work)
        .args([
            "--mode",
            "orm",
            "--lr",
            &ORM_LR.to_string(),
            "--batch",
            &BATCH.to_string(),
        ])
        .args(["--max-epochs", "4", "--patience", "2", "--dropout", "0.05"])
        .args(["--threads", &threads()]);
    let summary = train_and_export(
        paths,
        stage,
        train,
        Export::Task("token-classification-with-past"),
        &train_data,
    )?;
    let eval = work.join("eval_test.json");
    let onnx = model_dir(paths, stage).join("model.onnx");
    // The card compares the ORM with the base PRM on the same attempts.
    let prm = model_dir(paths, Stage::Prm);
    let prm_onnx = prm.join("model.onnx");
    let prm_current = !prm_onnx.is_file() || newer_than(&eval, &prm_onnx);
    if newer_than(&eval, &onnx) && newer_than(&eval, &test_data) && prm_current {
        eprintln!("  evaluation: done ({})", eval.display());
    } else {
        let mut cmd = script(paths, "orm_eval.py")?;
        cmd.arg("--orm")
            .arg(model_dir(paths, stage))
            .arg("--records")
            .arg(&test_data)
            .arg("--out")
            .arg(&eval)
            .args(["--threads", &threads()]);
        if prm_onnx.is_file() {
            cmd.arg("--prm").arg(&prm);
        }
        run_logged(&mut cmd, &log)?;
    }
    write_card(
        paths,
        stage,
        &[
            ("summary", &summary),
            ("eval", &eval),
            ("data-summary", &work.join("orm_train_summary.json")),
            ("eval-data-summary", &work.join("orm_test_summary.json")),
        ],
    )?;
    stamp_info(paths, stage, &summary, &eval)
}
