//! Splitting a sweep across machines: which questions a shard runs, where it takes
//! its number from (a flag, or a Slurm job array's or a Kubernetes Indexed Job's
//! environment), and the `shard.json` a shard folder keeps for `ttc merge`.
//!
//! The dataset's limit applies first; then question `p` (0-based, in the dataset's
//! order) belongs to shard `p mod N`. The split is balanced (shard sizes differ by
//! at most one) and depends only on the dataset, so every question is in exactly
//! one shard whatever machine runs it; a record depends only on its question,
//! method, budget and seed, so a shard's records equal an unsharded run's.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, bail};

/// Shard `index` of `count` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// A shard, or an error for a count of 0 or an index past the count.
    pub fn new(index: usize, count: usize) -> Result<Shard> {
        if count == 0 {
            bail!("a sweep splits into 1 or more shards, not 0");
        }
        if index >= count {
            bail!(
                "shard {index}/{count}: shards are numbered 0 to {} (0-based)",
                count - 1
            );
        }
        Ok(Shard { index, count })
    }

    /// Whether the question at `position` of the (limited) dataset is this shard's.
    pub fn holds(&self, position: usize) -> bool {
        position % self.count == self.index
    }

    /// The shard's folder inside the run's output folder.
    pub fn folder_name(&self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `I/N`, 0-based: `0/3`, `1/3`, `2/3`.
    fn from_str(s: &str) -> Result<Shard> {
        let parsed = s
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) => Shard::new(index, count),
            None => bail!("shard {s:?}: expected I/N with 0 <= I < N (0-based), or `auto`"),
        }
    }
}

/// What `--shard` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardRequest {
    /// `--shard I/N`.
    Given(Shard),
    /// `--shard auto`: from the scheduler's environment.
    Auto,
}

impl FromStr for ShardRequest {
    type Err = Error;

    fn from_str(s: &str) -> Result<ShardRequest> {
        if s == "auto" {
            Ok(ShardRequest::Auto)
        } else {
            s.parse().map(ShardRequest::Given)
        }
    }
}

/// Reads an environment variable; tests pass their own.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The shard a run is, and where that came from.
///
/// Sharding is opt-in: without `--shard` the environment is not read, so a job
/// array that runs one run file per task is never split. `--shard I/N` wins over
/// the environment (a scheduler that says otherwise gets a warning);
/// `--shard auto` reads a Slurm job array (`SLURM_ARRAY_TASK_ID` minus
/// `SLURM_ARRAY_TASK_MIN` of `SLURM_ARRAY_TASK_COUNT`) or a Kubernetes Indexed Job
/// (`JOB_COMPLETION_INDEX` of `--shards N`). `--shards N` must agree with both.
pub fn resolve(
    request: Option<ShardRequest>,
    shards: Option<usize>,
    env: Env<'_>,
) -> Result<Option<(Shard, String)>> {
    let Some(request) = request else {
        if let Some(n) = shards {
            bail!("--shards {n} goes with --shard auto (or give --shard I/{n})");
        }
        return Ok(None);
    };
    match request {
        ShardRequest::Given(shard) => {
            if let Some(n) = shards.filter(|&n| n != shard.count) {
                bail!("--shard {shard} and --shards {n} disagree on the number of shards");
            }
            if let Ok(Some((from_env, source))) = scheduler(shards, env)
                && from_env != shard
            {
                tracing::warn!(
                    "--shard {shard} given while {source} says shard {from_env}: the flag wins"
                );
            }
            Ok(Some((shard, "--shard".to_string())))
        }
        ShardRequest::Auto => match scheduler(shards, env)? {
            Some(found) => Ok(Some(found)),
            None => bail!(
                "--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor \
                 JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; give --shard I/N"
            ),
        },
    }
}

/// The shard the scheduler's environment describes, if any.
fn scheduler(shards: Option<usize>, env: Env<'_>) -> Result<Option<(Shard, String)>> {
    let slurm = env("SLURM_ARRAY_TASK_ID");
    let k8s = env("JOB_COMPLETION_INDEX");
    let number = |name: &str| -> Result<Option<usize>> {
        match env(name) {
            None => Ok(None),
            Some(v) => match v.trim().parse() {
                Ok(n) => Ok(Some(n)),
                Err(_) => bail!("{name}={v:?} is not a non-negative whole number"),
            },
        }
    };
    match (slurm, k8s) {
        (Some(_), Some(_)) => bail!(
            "both SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX are set: which scheduler \
             runs this? Give --shard I/N"
        ),
        (Some(_), None) => {
            let id = number("SLURM_ARRAY_TASK_ID")?.unwrap_or_default();
            let (Some(min), Some(count)) = (
                number("SLURM_ARRAY_TASK_MIN")?,
                number("SLURM_ARRAY_TASK_COUNT")?,
            ) else {
                bail!(
                    "SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_MIN and \
                     SLURM_ARRAY_TASK_COUNT; give --shard I/N"
                );
            };
            if let Some(step) = number("SLURM_ARRAY_TASK_STEP")?.filter(|&s| s != 1) {
                bail!(
                    "the Slurm job array has step {step}: shards need consecutive task ids \
                     (--array=0-{} with no step)",
                    count.saturating_sub(1)
                );
            }
            let max = number("SLURM_ARRAY_TASK_MAX")?.unwrap_or(min + count.saturating_sub(1));
            if count == 0 || max < min || max - min + 1 != count {
                bail!(
                    "the Slurm job array's ids {min}..={max} hold {count} tasks: shards need \
                     consecutive task ids without gaps (--array=0-{})",
                    count.saturating_sub(1)
                );
            }
            if id < min || id > max {
                bail!("SLURM_ARRAY_TASK_ID={id} lies outside the array's {min}..={max}");
            }
            if let Some(n) = shards.filter(|&n| n != count) {
                bail!("--shards {n} disagrees with the Slurm job array's {count} tasks");
            }
            let shard = Shard::new(id - min, count)?;
            Ok(Some((shard, format!("Slurm array task {id}"))))
        }
        (None, Some(_)) => {
            let index = number("JOB_COMPLETION_INDEX")?.unwrap_or_default();
            let Some(count) = shards else {
                bail!(
                    "JOB_COMPLETION_INDEX={index} (a Kubernetes Indexed Job) gives no count: \
                     pass --shards N, the Job's completions"
                );
            };
            let shard = Shard::new(index, count)
                .map_err(|e| Error::Config(format!("JOB_COMPLETION_INDEX: {e}")))?;
            Ok(Some((
                shard,
                format!("Kubernetes completion index {index}"),
            )))
        }
        (None, None) => Ok(None),
    }
}

/// Where a shard ran: what can make its floats differ from another machine's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// The execution provider the generator runs on.
    pub provider: String,
    /// ONNX Runtime's build (version, commit).
    pub onnxruntime: String,
    pub cpu: String,
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "provider {}, {}, CPU {}",
            self.provider, self.onnxruntime, self.cpu
        )
    }
}

/// The CPU's model name (Linux), else the architecture.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// A shard folder's `shard.json`: which shard it is, what the whole sweep is, and
/// what the post-sweep analysis needs from the models, so that `ttc merge` checks
/// completeness and analyses without loading a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardManifest {
    pub shard: Shard,
    /// The run file as given to `ttc eval` (the report's title).
    pub run_file: PathBuf,
    /// Every question id of the limited dataset, in order: shard `i` holds those at
    /// positions `p` with `p mod count = i`.
    pub dataset: Vec<String>,
    /// Result records per question (methods x supported budgets x seeds).
    pub records_per_question: usize,
    /// The sweep's method labels, for messages.
    pub methods: Vec<String>,
    /// Whether each question gets a difficulty record and a reference answer.
    pub difficulty: bool,
    pub reference: bool,
    /// The generator's parameter count (the FLOPs-matched comparison).
    pub generator_parameters: Option<u64>,
    /// Each machine that worked on the shard, in order (a resumed shard may have
    /// moved).
    pub machines: Vec<Machine>,
}

/// The file's name in a shard folder.
pub const MANIFEST: &str = "shard.json";

impl ShardManifest {
    /// The question ids this shard holds, in dataset order.
    pub fn questions(&self) -> impl Iterator<Item = &str> {
        self.dataset
            .iter()
            .enumerate()
            .filter(|(p, _)| self.shard.holds(*p))
            .map(|(_, q)| q.as_str())
    }

    /// Reads `DIR/shard.json`.
    pub fn read(dir: &Path) -> Result<ShardManifest> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "{} is not a shard folder (no {MANIFEST}); shards are made by `ttc eval RUN.toml \
                 --shard I/N`",
                dir.display()
            ),
            Err(e) => return Err(ttc_core::Error::io(&path, e).into()),
        };
        serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: not a shard manifest: {e}", path.display())))
    }

    fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(self)? + "\n";
        std::fs::write(&path, text).map_err(|e| ttc_core::Error::io(&path, e))?;
        Ok(())
    }

    /// Writes the manifest into a new shard folder; in a resumed one, checks that it
    /// describes the same shard of the same sweep (a larger limit extends it), and
    /// adds `self`'s machine when it is a new one.
    pub(crate) fn check_or_record(self, dir: &Path) -> Result<ShardManifest> {
        let path = dir.join(MANIFEST);
        if !path.exists() {
            self.write(dir)?;
            return Ok(self);
        }
        let mut kept = ShardManifest::read(dir)?;
        let what = if kept.shard != self.shard {
            Some(format!("shard {}, not {}", kept.shard, self.shard))
        } else if !self.dataset.starts_with(&kept.dataset) {
            // A larger limit extends a shard as it extends a run: positions, and so
            // the shards of the questions already run, stay.
            Some(format!(
                "another dataset, or a smaller limit ({} questions, not {})",
                kept.dataset.len(),
                self.dataset.len()
            ))
        } else if (
            kept.records_per_question,
            &kept.methods,
            kept.difficulty,
            kept.reference,
        ) != (
            self.records_per_question,
            &self.methods,
            self.difficulty,
            self.reference,
        ) {
            Some("another sweep".to_string())
        } else {
            None
        };
        if let Some(what) = what {
            bail!(
                "{} holds {what}; use another --output folder, or delete it to start over",
                dir.display()
            );
        }
        kept.dataset = self.dataset;
        for m in self.machines {
            if !kept.machines.contains(&m) {
                tracing::warn!(
                    "shard {} resumes on another machine ({m}); `ttc merge` will say so",
                    kept.shard
                );
                kept.machines.push(m);
            }
        }
        kept.write(dir)?;
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn auto(vars: &[(&str, &str)], shards: Option<usize>) -> Result<Shard> {
        let env = env(vars);
        resolve(Some(ShardRequest::Auto), shards, &env).map(|s| s.unwrap().0)
    }

    #[test]
    fn shards_parse_and_split_the_dataset_by_position() {
        let s: Shard = "1/3".parse().unwrap();
        assert_eq!(s, Shard { index: 1, count: 3 });
        assert_eq!(s.to_string(), "1/3");
        assert_eq!(s.folder_name(), "shard-1-of-3");
        for bad in ["3/3", "1/0", "1", "a/3", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        // Every position in exactly one shard, sizes within one of each other.
        let n = 10;
        let sizes: Vec<usize> = (0..3)
            .map(|i| {
                (0..n)
                    .filter(|&p| Shard::new(i, 3).unwrap().holds(p))
                    .count()
            })
            .collect();
        assert_eq!(sizes, [4, 3, 3]);
        for p in 0..n {
            let owners = (0..3).filter(|&i| Shard::new(i, 3).unwrap().holds(p));
            assert_eq!(owners.count(), 1);
        }
    }

    #[test]
    fn the_scheduler_environment_gives_the_same_shard_as_the_flag() {
        // Slurm `--array=4-6`: task 5 is the second of three.
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_MAX", "6"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_STEP", "1"),
        ];
        let given: Shard = "1/3".parse().unwrap();
        assert_eq!(auto(&slurm, None).unwrap(), given);
        assert_eq!(auto(&slurm, Some(3)).unwrap(), given);
        assert!(auto(&slurm, Some(4)).is_err());
        assert_eq!(
            auto(&[("JOB_COMPLETION_INDEX", "1")], Some(3)).unwrap(),
            given
        );
        let err = auto(&[("JOB_COMPLETION_INDEX", "1")], None).unwrap_err();
        assert!(err.to_string().contains("--shards N"), "{err}");
        assert!(auto(&[("JOB_COMPLETION_INDEX", "3")], Some(3)).is_err());
        assert!(auto(&[], None).is_err());
    }

    #[test]
    fn slurm_arrays_with_a_step_or_gaps_are_refused() {
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
        ];
        let err = auto(&stepped, None).unwrap_err().to_string();
        assert!(err.contains("step 2"), "{err}");
        // `--array=0,1,5`: three tasks over ids 0..=5.
        let gaps = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        let err = auto(&gaps, None).unwrap_err().to_string();
        assert!(err.contains("without gaps"), "{err}");
    }

    #[test]
    fn sharding_is_opt_in_and_the_flag_wins() {
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        // A job array running one run file per task is not split.
        assert_eq!(resolve(None, None, &slurm).unwrap(), None);
        let given = ShardRequest::Given("0/2".parse().unwrap());
        let (shard, source) = resolve(Some(given), None, &slurm).unwrap().unwrap();
        assert_eq!(
            (shard.to_string(), source.as_str()),
            ("0/2".into(), "--shard")
        );
        assert!(resolve(Some(given), Some(3), &slurm).is_err());
        assert!(resolve(None, Some(3), &slurm).is_err());
        assert!(matches!("auto".parse(), Ok(ShardRequest::Auto)));
    }

    #[test]
    fn a_resumed_shard_keeps_its_manifest_and_grows_with_the_limit() {
        let dir_tmp = tempfile::tempdir().unwrap();
        let dir = dir_tmp.path().join("run");
        std::fs::create_dir_all(&dir).unwrap();
        let machine = |cpu: &str| Machine {
            provider: "cpu".into(),
            onnxruntime: "ONNX Runtime 1.31.1".into(),
            cpu: cpu.into(),
        };
        let manifest = |count: usize, questions: usize, cpu: &str| ShardManifest {
            shard: Shard::new(1, count).unwrap(),
            run_file: "run.toml".into(),
            dataset: (0..questions).map(|q| format!("q{q}")).collect(),
            records_per_question: 3,
            methods: vec!["majority".into()],
            difficulty: true,
            reference: false,
            generator_parameters: Some(10),
            machines: vec![machine(cpu)],
        };
        manifest(2, 4, "a").check_or_record(&dir).unwrap();
        let kept = manifest(2, 6, "b").check_or_record(&dir).unwrap();
        assert_eq!(kept.questions().collect::<Vec<_>>(), ["q1", "q3", "q5"]);
        assert_eq!(kept.machines, [machine("a"), machine("b")]);
        assert_eq!(ShardManifest::read(&dir).unwrap(), kept);
        let err = manifest(2, 5, "a").check_or_record(&dir).unwrap_err();
        assert!(err.to_string().contains("smaller limit"), "{err}");
        let err = manifest(3, 6, "a").check_or_record(&dir).unwrap_err();
        assert!(err.to_string().contains("shard 1/2, not 1/3"), "{err}");
    }
}
