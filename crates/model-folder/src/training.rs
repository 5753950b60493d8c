//! The optional `training.json` of a model folder: the model's one-time cost
//! (`ttc_core::TrainingCost`), which the report lists beside the inference cost.

use std::path::Path;

use ttc_core::{Error, Result, TrainingCost};

/// The file name read from a model folder.
pub const TRAINING_FILE: &str = "training.json";

/// Reads `dir/training.json`: `None` when the folder has none, an error naming the
/// file when it is there but unreadable, malformed or fails
/// [`TrainingCost::check`].
pub fn training_cost(dir: &Path) -> Result<Option<TrainingCost>> {
    let path = dir.join(TRAINING_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let cost: TrainingCost = serde_json::from_str(&text).map_err(|e| {
        Error::model(
            dir,
            format!(
                "{}: {e}; fields: source, parameters, training_tokens, parts [{{part, kind \
                 (training, labels or data), tokens (optional), flops, basis (optional)}}]",
                path.display()
            ),
        )
    })?;
    cost.check()
        .map_err(|e| Error::model(dir, format!("{}: {e}", path.display())))?;
    Ok(Some(cost))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_given_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(training_cost(dir.path()).unwrap(), None);
        let path = dir.path().join(TRAINING_FILE);
        std::fs::write(
            &path,
            r#"{"source":"card","parameters":10,"training_tokens":5,"parts":[{"part":"all","kind":"training","flops":300.0}]}"#,
        )
        .unwrap();
        let cost = training_cost(dir.path()).unwrap().unwrap();
        assert_eq!((cost.parameters, cost.total_flops()), (10, 300.0));
        std::fs::write(&path, r#"{"source":"card","parameters":10}"#).unwrap();
        let err = training_cost(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("training.json") && err.contains("training_tokens"),
            "{err}"
        );
        std::fs::write(
            &path,
            r#"{"source":"card","parameters":10,"training_tokens":5,"parts":[{"part":"all","kind":"training","flops":-1.0}]}"#,
        )
        .unwrap();
        let err = training_cost(dir.path()).unwrap_err().to_string();
        assert!(err.contains("parts[0].flops (all)"), "{err}");
    }

    #[test]
    fn the_shipped_demo_models_state_their_costs() {
        // Every shipped demo model has one, and they check.
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/demo");
        for name in [
            "generator",
            "prm",
            "reviser",
            "orm",
            "prm-trunk",
            "prm-paper",
        ] {
            let cost = training_cost(&demo.join(name))
                .unwrap()
                .unwrap_or_else(|| panic!("models/demo/{name} has no training.json"));
            assert!(
                cost.source
                    .contains(&format!("models/demo/{name}/README.md")),
                "{name}"
            );
            assert!(cost.total_flops() > 1e12, "{name}");
        }
    }
}
