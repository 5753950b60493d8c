//! `ttc data generate`: a split of the demo world written as MATH-500-style JSONL.

use std::path::Path;

use ttc_dataset::DifficultyMix;
use ttc_dataset::demo::{DemoWorld, FIXED_SPLIT_SIZE, Split};

use crate::error::{Error, Result, bail};

/// Writes `count` problems of `split` (all of a fixed split when `None`) to `out`,
/// with the difficulty mix of the TOML file `mix` (default: the built-in one);
/// `seed` chooses the training stream. Returns how many were written.
pub fn write_split(
    split: Split,
    count: Option<usize>,
    seed: Option<u64>,
    mix: Option<&Path>,
    out: &Path,
) -> Result<usize> {
    match (split, count, seed) {
        (Split::Train, None, _) => {
            bail!("--split train needs --count N: the training stream is endless")
        }
        (Split::Validation | Split::Test, _, Some(_)) => {
            bail!("the {split} set is fixed; --seed applies to --split train only")
        }
        (Split::Validation | Split::Test, Some(n), _) if n > FIXED_SPLIT_SIZE => bail!(
            "the {split} set has {FIXED_SPLIT_SIZE} problems; give --count {FIXED_SPLIT_SIZE} or less"
        ),
        _ => {}
    }
    let world = match mix {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ttc_core::Error::io(path, e))?;
            let mix: DifficultyMix = toml::from_str(&text).map_err(|e| {
                Error::Config(format!("invalid difficulty mix in {}: {e}", path.display()))
            })?;
            DemoWorld::new(mix).map_err(|e| Error::Config(format!("in {}: {e}", path.display())))?
        }
        None => DemoWorld::default(),
    };
    let seed = (split == Split::Train).then(|| seed.unwrap_or(0));
    Ok(world.write_split(out, split, count, seed)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_prefix_of_the_test_set_and_checks_flags() {
        let dir_tmp = tempfile::tempdir().unwrap();
        let dir = dir_tmp.path().to_path_buf();
        let out = dir.join("test.jsonl");
        assert_eq!(
            write_split(Split::Test, Some(4), None, None, &out).unwrap(),
            4
        );
        let problems = ttc_dataset::read_problems(&out).unwrap();
        let ids: Vec<&str> = problems.iter().map(|p| p.unique_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "demo/test/00000",
                "demo/test/00001",
                "demo/test/00002",
                "demo/test/00003"
            ]
        );
        let out = dir.join("train.jsonl");
        write_split(Split::Train, Some(3), Some(9), None, &out).unwrap();
        let expected = DemoWorld::default().train_problems(9, 3);
        assert_eq!(ttc_dataset::read_problems(&out).unwrap(), expected);
        let err = write_split(Split::Train, None, None, None, &out).unwrap_err();
        assert!(err.to_string().contains("--count"), "{err}");
        let err = write_split(Split::Validation, None, Some(1), None, &out).unwrap_err();
        assert!(err.to_string().contains("--seed"), "{err}");
    }
}
