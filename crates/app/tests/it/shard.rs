//! A shard stopped mid-run at a chosen record (as a kill between two writes would)
//! and resumed merges to the same records and report as one machine's run; while it
//! is unfinished, the merge is refused and names what is missing.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use ttc_app::components::OnnxLoader;
use ttc_app::eval::{EvalEvent, EvalOptions, Evaluated};
use ttc_app::shard::Shard;

fn fixtures_eval() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/fixtures-eval.toml")
}

fn options(out: &Path, shard: Option<Shard>) -> EvalOptions {
    EvalOptions {
        run_file: fixtures_eval(),
        output: Some(out.to_path_buf()),
        // Four questions, two per shard.
        limit: Some(4),
        shard,
        ..EvalOptions::default()
    }
}

fn eval(out: &Path, shard: Option<Shard>) -> Evaluated {
    ttc_app::eval::run(&options(out, shard), &mut |_| {}).unwrap()
}

/// The lines of a run folder's record files, in order, without wall-clock fields.
fn records(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for name in ["results.jsonl", "difficulty.jsonl", "reference.jsonl"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        for line in text.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            lines.push(format!("{name} {v}"));
        }
    }
    lines
}

/// A run folder's file with its own path and the policy's date masked.
fn masked(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap()
        .replace(dir.to_str().unwrap(), "<RUN>")
        .lines()
        .filter(|l| !l.starts_with("created ="))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_shard_stopped_mid_run_and_resumed_merges_to_the_unsharded_run() {
    let base_tmp = tempfile::tempdir().unwrap();
    let base = base_tmp.path().join("run");
    let whole = eval(&base.join("whole"), None);
    ttc_app::analysis::analyse(&whole).unwrap();
    let shards = base.join("shards");
    let (s0, s1) = (Shard::new(0, 2).unwrap(), Shard::new(1, 2).unwrap());
    let first = eval(&shards, Some(s0));
    assert!(first.shard == Some(s0) && !first.interrupted);
    assert!(
        !first.out_dir.join("report.md").exists(),
        "a shard is not analysed"
    );
    let dirs = [shards.join("shard-0-of-2"), shards.join("shard-1-of-2")];
    // Shard 1 holds questions 1 and 3: 18 records each (16 results, one difficulty
    // record, one reference answer). Stop it after 7 (inside the first question's
    // second method), resume, stop again after 13 more (inside the second question).
    let full = 2 * 18;
    let mut on_disk = 0;
    for stop in [7, 13] {
        let cut = ttc_app::eval::run_with_hook(
            &options(&shards, Some(s1)),
            &OnnxLoader,
            &mut |_| {},
            &mut |n| {
                if n == stop {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .unwrap();
        on_disk += stop;
        assert!(cut.interrupted);
        assert_eq!(records(&dirs[1]).len(), on_disk);
        assert!(on_disk < full, "the stop fell mid-run");
        let err = ttc_app::merge::merge(&dirs, &base.join("refused"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("shard-1-of-2 (shard 1/2) lacks results of")
                && err.contains("--shard 1/2")
                && !err.contains("shard 0/2"),
            "{err}"
        );
        assert!(
            !base.join("refused").exists(),
            "a refused merge writes nothing"
        );
    }
    // The resumed shard runs only what is missing.
    let mut last = None;
    let resumed = ttc_app::eval::run(&options(&shards, Some(s1)), &mut |e| {
        if let EvalEvent::Progress(p) = e {
            last = Some(p);
        }
    })
    .unwrap();
    assert!(!resumed.interrupted);
    let last = last.unwrap();
    assert_eq!(last.done, last.total);
    assert!(last.resumed > 0 && last.resumed < last.total, "{last:?}");
    let merged_dir = base.join("merged");
    let merged = ttc_app::merge::merge(&dirs, &merged_dir).unwrap();
    ttc_app::analysis::analyse(&merged).unwrap();
    assert_eq!(records(&merged_dir), records(&whole.out_dir));
    assert_eq!(merged.records.len(), whole.records.len());
    assert_eq!(merged.generator_parameters, whole.generator_parameters);
    assert_eq!(
        ttc_app::analysis::accuracy_table(&merged.records),
        ttc_app::analysis::accuracy_table(&whole.records)
    );
    for name in ["report.json", "bins.json", "sweep.jsonl", "policy.toml"] {
        assert_eq!(
            masked(&merged_dir, name),
            masked(&whole.out_dir, name),
            "{name}"
        );
    }
}
