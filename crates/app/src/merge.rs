//! `ttc merge`: shard folders checked against each other and joined into one run
//! folder, which then gets the post-sweep analysis an unsharded run gets.
//!
//! A merge is refused, with every problem named, unless the shards come from one
//! run file and one set of models (`run.toml`, `models.json`), every shard of the
//! split is there once, and every question of the dataset has each of its records
//! (every method, budget and seed, its difficulty samples and reference answer)
//! exactly once. Records are written in the dataset's order, as an unsharded run
//! writes them, so the merged folder is the run folder one machine would have made.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use ttc_core::{DifficultyRecord, EvalRecord, ReferenceRecord};
use ttc_orchestrator::{RunFiles, read_records};

use crate::error::{Error, Result, bail};
use crate::eval::Evaluated;
use crate::run_file::RunFile;
use crate::run_models;
use crate::shard::{MANIFEST, Machine, ShardManifest};

/// Questions named in one message before the rest are counted.
const NAMED: usize = 8;

/// One shard folder, read.
struct ShardDir {
    dir: PathBuf,
    manifest: ShardManifest,
    run_text: String,
    models: Value,
    results: Vec<EvalRecord>,
    difficulty: Vec<DifficultyRecord>,
    reference: Vec<ReferenceRecord>,
}

impl ShardDir {
    fn read(dir: &Path) -> Result<ShardDir> {
        let manifest = ShardManifest::read(dir)?;
        let text = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| {
                Error::Config(format!(
                    "{}: {e}; a shard folder keeps the run file and models it was made with",
                    path.display()
                ))
            })
        };
        let run_text = text("run.toml")?;
        let models_path = dir.join(run_models::NAME);
        let models = serde_json::from_str(&text(run_models::NAME)?).map_err(|e| {
            Error::Config(format!("{}: not a models.json: {e}", models_path.display()))
        })?;
        let files = RunFiles::in_dir(dir);
        Ok(ShardDir {
            dir: dir.to_path_buf(),
            manifest,
            run_text,
            models,
            results: read_records(&files.results)?,
            difficulty: read_records(&files.difficulty)?,
            reference: read_records(&files.reference)?,
        })
    }

    fn name(&self) -> String {
        format!("{} (shard {})", self.dir.display(), self.manifest.shard)
    }
}

/// Up to [`NAMED`] questions by name, then how many more.
fn list(questions: &[&str]) -> String {
    let mut out = questions
        .iter()
        .take(NAMED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if questions.len() > NAMED {
        out.push_str(&format!(" and {} more", questions.len() - NAMED));
    }
    out
}

/// Checks that the shards agree with the first on the run file, the models and the
/// sweep; one line per disagreement.
fn check_same_sweep(shards: &[ShardDir], problems: &mut Vec<String>) {
    let first = &shards[0];
    for s in &shards[1..] {
        if s.run_text != first.run_text {
            problems.push(format!(
                "{} was made with another run file than {} (their run.toml differ)",
                s.name(),
                first.name()
            ));
            continue;
        }
        let (changed, _) = run_models::changed(&first.models, &s.models);
        if !changed.is_empty() {
            problems.push(format!(
                "{} was made with other models than {} ({} differ in models.json)",
                s.name(),
                first.name(),
                changed.join(", ")
            ));
            continue;
        }
        let (a, b) = (&first.manifest, &s.manifest);
        if a.shard.count != b.shard.count {
            problems.push(format!(
                "{} splits the sweep into {} shards, {} into {}",
                s.name(),
                b.shard.count,
                first.name(),
                a.shard.count
            ));
        } else if a.dataset != b.dataset {
            problems.push(format!(
                "{} ran another dataset (or --limit) than {}",
                s.name(),
                first.name()
            ));
        } else if (
            a.records_per_question,
            &a.methods,
            a.difficulty,
            a.reference,
        ) != (
            b.records_per_question,
            &b.methods,
            b.difficulty,
            b.reference,
        ) || a.generator_parameters != b.generator_parameters
        {
            problems.push(format!(
                "{} ran another sweep than {}",
                s.name(),
                first.name()
            ));
        }
    }
}

/// Checks that every shard of the split is there exactly once.
fn check_every_shard_once(shards: &[ShardDir], problems: &mut Vec<String>) {
    let first = &shards[0].manifest;
    let mut by_index: BTreeMap<usize, Vec<&ShardDir>> = BTreeMap::new();
    for s in shards {
        by_index.entry(s.manifest.shard.index).or_default().push(s);
    }
    for index in 0..first.shard.count {
        match by_index.get(&index).map(Vec::as_slice) {
            None | Some([]) => {
                let shard = crate::shard::Shard {
                    index,
                    count: first.shard.count,
                };
                let questions: Vec<&str> = first
                    .dataset
                    .iter()
                    .enumerate()
                    .filter(|(p, _)| shard.holds(*p))
                    .map(|(_, q)| q.as_str())
                    .collect();
                problems.push(format!(
                    "shard {shard} is missing: its {} questions ({}) have no records; run \
                     `ttc eval RUN.toml --shard {shard}` and merge again",
                    questions.len(),
                    list(&questions)
                ));
            }
            Some([_]) => {}
            Some(twice) => problems.push(format!(
                "shard {index}/{} is given {} times: {}",
                first.shard.count,
                twice.len(),
                twice
                    .iter()
                    .map(|s| s.dir.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// Checks one shard's records: only its own questions, none twice, none missing.
/// `units` is the set of (method, budget, seed) keys every question must have.
fn check_records<K: Ord + Clone>(
    s: &ShardDir,
    owner: &HashMap<&str, usize>,
    units: &BTreeSet<K>,
    unit_of: impl Fn(&EvalRecord) -> K,
    problems: &mut Vec<String>,
) {
    let m = &s.manifest;
    let mine: BTreeSet<&str> = m.questions().collect();
    // Per question: its result units, and questions seen twice.
    let mut held: HashMap<&str, BTreeSet<K>> = HashMap::new();
    let mut twice: BTreeSet<&str> = BTreeSet::new();
    let mut foreign: BTreeMap<&str, Option<usize>> = BTreeMap::new();
    for r in &s.results {
        let q = r.question.as_str();
        if !mine.contains(q) {
            foreign.insert(q, owner.get(q).copied());
            continue;
        }
        if !held.entry(q).or_default().insert(unit_of(r)) {
            twice.insert(q);
        }
    }
    let others: [(&str, Vec<&str>, bool); 2] = [
        (
            "difficulty samples",
            s.difficulty.iter().map(|d| d.question.as_str()).collect(),
            m.difficulty,
        ),
        (
            "reference answers",
            s.reference.iter().map(|d| d.question.as_str()).collect(),
            m.reference,
        ),
    ];
    for (kind, questions, wanted) in others {
        let mut seen = BTreeSet::new();
        for q in questions {
            if !mine.contains(q) {
                foreign.insert(q, owner.get(q).copied());
            } else if !seen.insert(q) {
                twice.insert(q);
            }
        }
        let missing: Vec<&str> = mine
            .iter()
            .copied()
            .filter(|q| wanted && !seen.contains(q))
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{} lacks the {kind} of {} questions: {}",
                s.name(),
                missing.len(),
                list(&missing)
            ));
        }
    }
    let incomplete: Vec<&str> = m
        .questions()
        .filter(|q| held.get(q).is_none_or(|u| u != units))
        .collect();
    if !incomplete.is_empty() {
        problems.push(format!(
            "{} lacks results of {} questions (each needs {} records: {} at every budget and \
             seed): {}; run `ttc eval RUN.toml --shard {}` on it again to finish them",
            s.name(),
            incomplete.len(),
            m.records_per_question,
            m.methods.join(", "),
            list(&incomplete),
            m.shard
        ));
    }
    if !twice.is_empty() {
        let twice: Vec<&str> = twice.into_iter().collect();
        problems.push(format!(
            "{} holds records of {} questions twice: {}",
            s.name(),
            twice.len(),
            list(&twice)
        ));
    }
    for (q, owner) in foreign {
        problems.push(match owner {
            Some(i) => format!(
                "{} holds question {q}, which is shard {i}/{}'s: it would be counted twice",
                s.name(),
                m.shard.count
            ),
            None => format!(
                "{} holds question {q}, which is not in the dataset",
                s.name()
            ),
        });
    }
}

/// Writes `records` as a JSONL file, through a temporary file so that an
/// interrupted merge leaves no half-written one; no records, no file.
fn write_jsonl<T: Serialize>(path: &Path, records: &[&T]) -> Result<()> {
    if records.is_empty() {
        if path.exists() {
            std::fs::remove_file(path).map_err(|e| ttc_core::Error::io(path, e))?;
        }
        return Ok(());
    }
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    let partial = path.with_extension("jsonl.merging");
    std::fs::write(&partial, text).map_err(|e| ttc_core::Error::io(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| ttc_core::Error::io(path, e))?;
    Ok(())
}

/// The records of each question in dataset order, each question's in its shard's
/// order (an unsharded run's order).
fn in_dataset_order<'a, T>(
    dataset: &[String],
    shards: &'a [ShardDir],
    records: impl Fn(&'a ShardDir) -> &'a [T],
    question: impl Fn(&T) -> &str,
) -> Vec<&'a T> {
    let mut by_question: HashMap<&str, Vec<&'a T>> = HashMap::new();
    for s in shards {
        for r in records(s) {
            by_question.entry(question(r)).or_default().push(r);
        }
    }
    dataset
        .iter()
        .flat_map(|q| by_question.remove(q.as_str()).unwrap_or_default())
        .collect()
}

/// Checks the shard folders and joins them into `output`, ready for the analysis.
pub fn merge(shard_dirs: &[PathBuf], output: &Path) -> Result<Evaluated> {
    if shard_dirs.is_empty() {
        bail!("give the shard folders to merge (OUTPUT/shard-*-of-N)");
    }
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if shard_dirs.iter().any(|d| canonical(d) == canonical(output)) {
        bail!(
            "--output {} is one of the shards: merge into another folder (the shards' parent, \
             say)",
            output.display()
        );
    }
    if output.join(MANIFEST).exists() {
        bail!(
            "--output {} is a shard folder: merge into another folder",
            output.display()
        );
    }
    let shards: Vec<ShardDir> = shard_dirs
        .iter()
        .map(|d| ShardDir::read(d))
        .collect::<Result<_>>()?;
    let mut problems = Vec::new();
    check_same_sweep(&shards, &mut problems);
    if problems.is_empty() {
        check_every_shard_once(&shards, &mut problems);
        let first = &shards[0].manifest;
        let owner: HashMap<&str, usize> = first
            .dataset
            .iter()
            .enumerate()
            .map(|(p, q)| (q.as_str(), p % first.shard.count))
            .collect();
        // A record's unit: its key with the question left out.
        let unit_of = |r: &EvalRecord| {
            EvalRecord {
                question: String::new(),
                ..r.clone()
            }
            .key()
        };
        let units: BTreeSet<_> = shards
            .iter()
            .flat_map(|s| s.results.iter().map(unit_of))
            .collect();
        if units.len() != first.records_per_question {
            problems.push(format!(
                "the shards hold {} distinct (method, budget, seed) settings, the sweep has {}",
                units.len(),
                first.records_per_question
            ));
        }
        for s in &shards {
            check_records(s, &owner, &units, unit_of, &mut problems);
        }
    }
    if !problems.is_empty() {
        bail!(
            "cannot merge {} shard folders:\n  - {}",
            shards.len(),
            problems.join("\n  - ")
        );
    }
    warn_on_machines(&shards);

    let first = &shards[0];
    let kept = output.join("run.toml");
    match std::fs::read_to_string(&kept) {
        Ok(old) if old != first.run_text => bail!(
            "{} holds a run of a different run file ({}); use another --output folder",
            output.display(),
            kept.display()
        ),
        _ => {}
    }
    std::fs::create_dir_all(output).map_err(|e| ttc_core::Error::io(output, e))?;
    std::fs::write(&kept, &first.run_text).map_err(|e| ttc_core::Error::io(&kept, e))?;
    let models = output.join(run_models::NAME);
    let text = serde_json::to_string_pretty(&first.models)? + "\n";
    std::fs::write(&models, text).map_err(|e| ttc_core::Error::io(&models, e))?;
    let dataset = &first.manifest.dataset;
    let files = RunFiles::in_dir(output);
    let results = in_dataset_order(dataset, &shards, |s| &s.results, |r| &r.question);
    write_jsonl(&files.results, &results)?;
    let difficulty = in_dataset_order(dataset, &shards, |s| &s.difficulty, |r| &r.question);
    write_jsonl(&files.difficulty, &difficulty)?;
    let reference = in_dataset_order(dataset, &shards, |s| &s.reference, |r| &r.question);
    write_jsonl(&files.reference, &reference)?;
    tracing::info!(
        shards = shards.len(),
        questions = dataset.len(),
        records = results.len(),
        output = %output.display(),
        "shards merged"
    );
    let run_file = first.manifest.run_file.clone();
    Ok(Evaluated {
        out_dir: output.to_path_buf(),
        records: results.into_iter().cloned().collect(),
        generator_parameters: first.manifest.generator_parameters,
        file: RunFile::parse(&first.run_text, &run_file)?,
        run_file,
        files,
        shard: None,
        interrupted: false,
    })
}

/// Warns when the shards ran on machines that may compute different floats.
fn warn_on_machines(shards: &[ShardDir]) {
    let mut machines: Vec<&Machine> = Vec::new();
    for s in shards {
        for m in &s.manifest.machines {
            if !machines.contains(&m) {
                machines.push(m);
            }
        }
    }
    if machines.len() > 1 {
        let lines: Vec<String> = shards
            .iter()
            .map(|s| {
                let ms: Vec<String> = s.manifest.machines.iter().map(Machine::to_string).collect();
                format!("shard {}: {}", s.manifest.shard, ms.join("; then "))
            })
            .collect();
        tracing::warn!(
            "the shards ran on {} different machines (provider, ONNX Runtime build or CPU): \
             their floats, and so a few samples, may differ from one machine's run. {}",
            machines.len(),
            lines.join(". ")
        );
    }
}
