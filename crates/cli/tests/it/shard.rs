//! `ttc eval --shard` and `ttc merge`: the fixture sweep in three shards, each
//! taken from a flag or a scheduler's environment, merges to the unsharded run;
//! merges that would miscount are refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{config, stderr, ttc};

/// `ttc eval` of the fixture sweep with extra arguments and environment.
fn eval(out: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let run = config("fixtures-eval.toml");
    Command::new(env!("CARGO_BIN_EXE_ttc"))
        .args([
            "eval",
            run.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("running ttc")
}

/// Record files' lines in order, without wall-clock fields.
fn records(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for name in ["results.jsonl", "difficulty.jsonl", "reference.jsonl"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        for line in text.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            lines.push(format!("{name} {v}"));
        }
    }
    lines
}

/// A report or policy with the wall-time column, the run folder's path and the
/// date masked.
fn masked(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    let mut wall: Option<usize> = None;
    text.replace(dir.to_str().unwrap(), "<RUN>")
        .lines()
        .map(|line| {
            if !line.starts_with('|') {
                wall = None;
                return line.to_string();
            }
            let mut cells: Vec<&str> = line.split('|').collect();
            if let Some(i) = cells.iter().position(|c| c.contains("seconds")) {
                wall = Some(i);
            } else if let Some(i) = wall.filter(|&i| i < cells.len() && !line.starts_with("|--")) {
                cells[i] = " <s> ";
            }
            cells.join("|")
        })
        .filter(|l| !l.starts_with("created ="))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A copy of a shard folder, to damage.
fn copy(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
    to.to_path_buf()
}

fn merge(shards: &[&Path], out: &Path) -> Output {
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(|s| s.to_str().unwrap()));
    args.extend(["--output", out.to_str().unwrap()]);
    ttc(&args)
}

/// A refused merge: its error, after checking nothing was written.
fn refused(shards: &[&Path], out: &Path) -> String {
    let o = merge(shards, out);
    assert!(!o.status.success(), "merged: {}", stderr(&o));
    assert!(!out.exists(), "a refused merge writes nothing");
    stderr(&o)
}

#[test]
fn three_shards_merge_to_the_unsharded_run_and_bad_merges_are_refused() {
    let base_tmp = tempfile::tempdir().unwrap();
    let base = base_tmp.path().join("run");
    let whole = base.join("whole");
    let single = eval(&whole, &[], &[]);
    assert!(single.status.success(), "{}", stderr(&single));

    // Shard 0 from the flag, 1 from a Slurm array (--array=10-12, task 11), 2 from a
    // Kubernetes Indexed Job (completion index 2 of --shards 3).
    let out = base.join("sharded");
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "11"),
        ("SLURM_ARRAY_TASK_MIN", "10"),
        ("SLURM_ARRAY_TASK_MAX", "12"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
        ("SLURM_ARRAY_TASK_STEP", "1"),
    ];
    for (args, env, said) in [
        (
            &["--shard", "0/3"][..],
            &[][..],
            "shard 0/3 (--shard): 2 of 6 questions",
        ),
        (
            &["--shard", "auto"][..],
            &slurm[..],
            "shard 1/3 (Slurm array task 11): 2 of 6 questions",
        ),
        (
            &["--shard", "auto", "--shards", "3"][..],
            &[("JOB_COMPLETION_INDEX", "2")][..],
            "shard 2/3 (Kubernetes completion index 2): 2 of 6 questions",
        ),
    ] {
        let o = eval(&out, args, env);
        let log = stderr(&o);
        assert!(o.status.success(), "{log}");
        // The shard's number and share are in the log at the default level, and its
        // progress reaches the end.
        assert!(log.contains(said), "{log}");
        assert!(log.contains("16/16 units (100%)"), "{log}");
    }
    let shards: Vec<PathBuf> = (0..3)
        .map(|i| out.join(format!("shard-{i}-of-3")))
        .collect();
    for s in &shards {
        assert!(s.join("shard.json").is_file() && !s.join("report.md").exists());
    }
    let s: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();

    let merged = merge(&s, &out);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(merged.stdout, single.stdout, "the accuracy table");
    assert_eq!(records(&out), records(&whole));
    for name in [
        "report.md",
        "report.json",
        "bins.json",
        "sweep.jsonl",
        "policy.toml",
    ] {
        assert_eq!(masked(&out, name), masked(&whole, name), "{name}");
    }
    // The mask hides the wall-time column only.
    assert!(masked(&out, "report.md").contains("| <s> |"));

    // A shard that ran on another CPU merges, with a warning.
    let bad = base.join("bad");
    let moved = copy(s[2], &bad.join("moved"));
    let manifest = std::fs::read_to_string(moved.join("shard.json")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    m["machines"][0]["cpu"] = "Another CPU".into();
    std::fs::write(moved.join("shard.json"), m.to_string()).unwrap();
    let o = merge(&[s[0], s[1], &moved], &bad.join("moved-out"));
    let log = stderr(&o);
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains("WARN")
            && log.contains("2 different machines")
            && log.contains("CPU Another CPU"),
        "{log}"
    );
    assert_eq!(records(&bad.join("moved-out")), records(&whole));
    // A missing shard, named with its questions.
    let err = refused(&[s[0], s[2]], &bad.join("out"));
    assert!(
        err.contains("shard 1/3 is missing: its 2 questions (demo/test/00001, demo/test/00004)"),
        "{err}"
    );
    // A question twice: another shard's record, and a record of its own again.
    let dup = copy(s[1], &bad.join("dup"));
    let theirs = std::fs::read_to_string(s[0].join("results.jsonl")).unwrap();
    let ours = std::fs::read_to_string(s[1].join("results.jsonl")).unwrap();
    let first_line = |t: &str| t.lines().next().unwrap().to_string() + "\n";
    std::fs::write(
        dup.join("results.jsonl"),
        ours.clone() + &first_line(&theirs) + &first_line(&ours),
    )
    .unwrap();
    let err = refused(&[s[0], &dup, s[2]], &bad.join("out"));
    assert!(
        err.contains("holds question demo/test/00000, which is shard 0/3's")
            && err.contains("holds records of 1 questions twice: demo/test/00001"),
        "{err}"
    );
    // A shard made with another run file, or with another model.
    let other_run = copy(s[2], &bad.join("run"));
    let text = std::fs::read_to_string(other_run.join("run.toml")).unwrap();
    std::fs::write(
        other_run.join("run.toml"),
        text.replace("limit = 6", "limit = 5"),
    )
    .unwrap();
    let err = refused(&[s[0], s[1], &other_run], &bad.join("out"));
    assert!(
        err.contains("run (shard 2/3) was made with another run file"),
        "{err}"
    );
    let other_model = copy(s[2], &bad.join("model"));
    let mut models: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(other_model.join("models.json")).unwrap())
            .unwrap();
    models["models"]["verifier"]["model.onnx"]["digest"] = "0".into();
    std::fs::write(other_model.join("models.json"), models.to_string()).unwrap();
    let err = refused(&[s[0], s[1], &other_model], &bad.join("out"));
    assert!(
        err.contains("was made with other models") && err.contains("(verifier differ"),
        "{err}"
    );
    // Shard 1 given twice, shard 2 not at all.
    let err = refused(&[s[0], s[1], &dup], &bad.join("out"));
    assert!(
        err.contains("shard 1/3 is given 2 times") && err.contains("shard 2/3 is missing"),
        "{err}"
    );
}

#[test]
fn shard_flags_are_checked_before_any_work() {
    let out_tmp = tempfile::tempdir().unwrap();
    let out = out_tmp.path().join("run");
    for (args, env, wanted) in [
        (&["--shard", "3/3"][..], &[][..], "numbered 0 to 2"),
        (
            &["--shard", "auto"][..],
            &[][..],
            "neither SLURM_ARRAY_TASK_ID",
        ),
        (
            &["--shard", "auto"][..],
            &[("JOB_COMPLETION_INDEX", "0")][..],
            "pass --shards N",
        ),
        (
            &["--shard", "auto"][..],
            &[
                ("SLURM_ARRAY_TASK_ID", "2"),
                ("SLURM_ARRAY_TASK_MIN", "0"),
                ("SLURM_ARRAY_TASK_MAX", "4"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
                ("SLURM_ARRAY_TASK_STEP", "2"),
            ][..],
            "step 2",
        ),
        (&["--shards", "3"][..], &[][..], "--shard"),
    ] {
        let o = eval(&out, args, env);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(wanted), "{args:?}: {}", stderr(&o));
        assert!(!out.exists(), "{args:?} created the output folder");
    }
}

#[test]
fn eval_takes_only_the_runtime_table_of_a_config_beside_its_run_file() {
    let out_tmp = tempfile::tempdir().unwrap();
    let out = out_tmp.path().join("run");
    let other = config("fixtures.toml");
    let o = eval(&out, &["--config", other.to_str().unwrap()], &[]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("fixtures.toml")
            && err.contains("runtime settings only")
            && err.contains("[generator]"),
        "{err}"
    );
    assert!(!out.exists());
}
