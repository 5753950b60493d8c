//! The models the generation bench runs on, each as a pair of folders holding the
//! same weights: an Optimum export and an ONNX Runtime GenAI folder.
//!
//! - The tiny fixture: the committed `models/fixtures/tiny-llama` and its GenAI twin.
//! - A real-shaped model: SmolLM2-135M's shape (Llama, 30 layers, hidden 576, 9
//!   heads, 3 KV heads, vocabulary 49,152), random weights from a fixed seed, made
//!   here from [`real_recipe`] (`xtask/python/bench_make_model.py`, transformers, no
//!   hub) and exported both ways, cached under `.ttc/bench/models/NAME-KEY/` where
//!   KEY hashes the recipe and every file that shapes the result (the scripts and the
//!   pinned environments), so a changed recipe makes a new model and the old one is
//!   removed.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::util::LOCAL_DIR;
use crate::{export, pyenv};

/// The committed tiny fixture (Optimum export).
const TINY_OPTIMUM: &str = "models/fixtures/tiny-llama";
/// Its GenAI twin, exported from the same checkpoint.
const TINY_GENAI: &str = "models/fixtures/tiny-llama-genai";

/// The cache of made models, under the workspace root.
const CACHE_DIR: &str = "bench/models";
/// Written last into a made model's folder: its presence means the folder is complete.
const RECIPE_FILE: &str = "recipe.json";
/// Files whose content shapes the made model, hashed into its key with the recipe.
const RECIPE_INPUTS: [&str; 5] = [
    "xtask/python/bench_make_model.py",
    "xtask/python/export.py",
    "xtask/python/requirements.txt",
    "xtask/python/export_genai.py",
    "xtask/python/requirements-genai.txt",
];

/// One model as the bench sees it.
#[derive(Debug)]
pub(super) struct ModelPair {
    /// The name in the table's headings.
    pub(super) name: String,
    /// The Optimum export (columns c and d).
    pub(super) optimum: PathBuf,
    /// The GenAI folder (columns a and b), or why there is none.
    pub(super) genai: Result<PathBuf, String>,
    /// Facts from the Optimum export's config.json.
    pub(super) facts: ModelFacts,
}

/// What the bench needs from config.json: the vocabulary for prompt ids, the
/// special tokens to keep out of them, and the longest sequence.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ModelFacts {
    pub(super) vocab_size: u32,
    pub(super) special_ids: Vec<u32>,
    pub(super) max_positions: Option<u32>,
}

impl ModelFacts {
    pub(super) fn read(dir: &Path) -> Result<ModelFacts> {
        let path = dir.join("config.json");
        let text = fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}; pass an Optimum export (`cargo xtask export`)",
                path.display()
            )
        })?;
        let config: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        Self::from_config(&config).with_context(|| format!("in {}", path.display()))
    }

    fn from_config(config: &Value) -> Result<ModelFacts> {
        let number = |field: &str| -> Result<Option<u32>> {
            match config.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .map(Some)
                    .with_context(|| format!("field {field} is {value}, not a token count")),
            }
        };
        let vocab_size = number("vocab_size")?.context("field vocab_size is missing")?;
        if vocab_size < 8 {
            bail!("field vocab_size is {vocab_size}; the bench needs at least 8 tokens");
        }
        let mut special_ids = Vec::new();
        for field in ["bos_token_id", "eos_token_id", "pad_token_id"] {
            // A list (several EOS ids) or one id.
            let ids = match config.get(field) {
                Some(Value::Array(ids)) => ids.clone(),
                Some(id) if !id.is_null() => vec![id.clone()],
                _ => Vec::new(),
            };
            for id in ids {
                let id = id
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .with_context(|| format!("field {field} holds {id}, not a token id"))?;
                special_ids.push(id);
            }
        }
        special_ids.sort_unstable();
        special_ids.dedup();
        Ok(ModelFacts {
            vocab_size,
            special_ids,
            max_positions: number("max_position_embeddings")?,
        })
    }
}

/// Deterministic prompts: `batch` rows of `len` token ids, different in every row,
/// spread over the vocabulary and never a special token (a stray EOS or BOS inside a
/// prompt means nothing to throughput but could to a runtime's bookkeeping).
pub(super) fn prompt_ids(facts: &ModelFacts, batch: u32, len: u32) -> Vec<Vec<u32>> {
    let vocab = u64::from(facts.vocab_size);
    (0..u64::from(batch))
        .map(|row| {
            (0..u64::from(len))
                .map(|i| {
                    let mut id = (row * 7_919 + i * 104_729 + 17) % vocab;
                    while facts.special_ids.contains(&(id as u32)) {
                        id = (id + 1) % vocab;
                    }
                    id as u32
                })
                .collect()
        })
        .collect()
}

/// The tiny fixture pair (committed; nothing to make).
pub(super) fn tiny(root: &Path) -> Result<ModelPair> {
    let optimum = root.join(TINY_OPTIMUM);
    let genai = root.join(TINY_GENAI);
    let genai = if genai.join("genai_config.json").is_file() {
        Ok(genai)
    } else {
        Err(format!(
            "no GenAI fixture folder {TINY_GENAI} (`cargo xtask fixtures` writes it)"
        ))
    };
    Ok(ModelPair {
        name: format!("tiny fixture ({TINY_OPTIMUM})"),
        facts: ModelFacts::read(&optimum)?,
        optimum,
        genai,
    })
}

/// A pair given on the command line; `genai` may be absent.
pub(super) fn custom(optimum: &Path, genai: Option<&Path>) -> Result<ModelPair> {
    let genai = match genai {
        Some(dir) if dir.join("genai_config.json").is_file() => Ok(dir.to_path_buf()),
        Some(dir) => bail!(
            "{} has no genai_config.json, so it is not an ONNX Runtime GenAI folder",
            dir.display()
        ),
        None => Err("no GenAI folder given (--genai-model DIR)".to_string()),
    };
    Ok(ModelPair {
        name: optimum.display().to_string(),
        facts: ModelFacts::read(optimum)?,
        optimum: optimum.to_path_buf(),
        genai,
    })
}

/// The real-shaped model's recipe: SmolLM2-135M's configuration with random
/// weights from a fixed seed and a word-level tokenizer over the whole vocabulary.
pub(super) fn real_recipe() -> Value {
    json!({
        "name": "smollm2-135m-shape",
        "architecture": "LlamaForCausalLM",
        "seed": 135,
        "config": {
            "vocab_size": 49152,
            "hidden_size": 576,
            "intermediate_size": 1536,
            "num_hidden_layers": 30,
            "num_attention_heads": 9,
            "num_key_value_heads": 3,
            "head_dim": 64,
            "max_position_embeddings": 8192,
            "rope_theta": 100000.0,
            "rms_norm_eps": 1e-5,
            "hidden_act": "silu",
            "initializer_range": 0.041666666666666664,
            "tie_word_embeddings": true,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "pad_token_id": 0,
            "dtype": "float32"
        },
        "tokenizer": {"pad": "<pad>", "bos": "<s>", "eos": "</s>"}
    })
}

/// 64-bit FNV-1a, stable across Rust versions and platforms (unlike std's hasher).
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The cache key of a recipe: 16 hex digits over the recipe text and each named
/// input (name, length and content, so no two different lists collide by
/// concatenation).
pub(super) fn recipe_key(recipe: &str, inputs: &[(&str, Vec<u8>)]) -> String {
    let mut hash = fnv1a(0xcbf2_9ce4_8422_2325, recipe.as_bytes());
    for (name, content) in inputs {
        hash = fnv1a(hash, &(name.len() as u64).to_le_bytes());
        hash = fnv1a(hash, name.as_bytes());
        hash = fnv1a(hash, &(content.len() as u64).to_le_bytes());
        hash = fnv1a(hash, content);
    }
    format!("{hash:016x}")
}

/// The real-shaped pair, made and exported on first use (minutes; needs the
/// exporter environments: `cargo xtask pyenv`'s and the GenAI builder's) and reused
/// while its key holds.
pub(super) fn real(root: &Path) -> Result<ModelPair> {
    let recipe = real_recipe();
    let name = recipe["name"].as_str().context("the recipe has no name")?;
    let text = serde_json::to_string_pretty(&recipe)?;
    let inputs = RECIPE_INPUTS
        .iter()
        .map(|path| {
            fs::read(root.join(path))
                .map(|content| (*path, content))
                .with_context(|| format!("cannot read {path}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let cache = root.join(LOCAL_DIR).join(CACHE_DIR);
    let dir = cache.join(format!("{name}-{}", recipe_key(&text, &inputs)));
    if !dir.join(RECIPE_FILE).is_file() {
        make(root, &dir, &text)?;
        remove_stale(&cache, name, &dir)?;
    }
    let optimum = dir.join("optimum");
    Ok(ModelPair {
        name: format!(
            "real-shaped ({name}, random weights, seed {})",
            recipe["seed"]
        ),
        facts: ModelFacts::read(&optimum)?,
        optimum,
        genai: Ok(dir.join("genai")),
    })
}

/// Makes the checkpoint and its exports in `dir`, then writes the recipe as the
/// mark of a complete folder. A folder left half made by an interrupted run is
/// started over.
fn make(root: &Path, dir: &Path, recipe: &str) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)
            .with_context(|| format!("cannot remove the unfinished {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    eprintln!(
        "making the real-shaped benchmark model in {} (once per recipe; minutes)",
        dir.display()
    );
    let recipe_input = dir.join("recipe-input.json");
    fs::write(&recipe_input, recipe)
        .with_context(|| format!("cannot write {}", recipe_input.display()))?;
    let checkpoint = dir.join("checkpoint");
    let mut maker = pyenv::script(root, "bench_make_model.py")?;
    maker.arg(&recipe_input).arg(&checkpoint);
    crate::util::run(&mut maker)?;
    export::text_generation(root, &checkpoint, &dir.join("optimum"))?;
    // The same weights as an ONNX Runtime GenAI folder (onnxruntime-genai's builder).
    export::genai(root, &checkpoint, &dir.join("genai"), None)?;
    // The checkpoint is only the exports' source; the recipe re-makes it.
    fs::remove_dir_all(&checkpoint)
        .with_context(|| format!("cannot remove {}", checkpoint.display()))?;
    fs::rename(&recipe_input, dir.join(RECIPE_FILE))
        .with_context(|| format!("cannot finish {}", dir.display()))?;
    Ok(())
}

/// Removes other keys' folders of the same model (older recipes).
fn remove_stale(cache: &Path, name: &str, keep: &Path) -> Result<()> {
    let prefix = format!("{name}-");
    for entry in fs::read_dir(cache).with_context(|| format!("cannot list {}", cache.display()))? {
        let path = entry?.path();
        let stale = path != keep
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix));
        if stale {
            eprintln!("removing {} (made from an older recipe)", path.display());
            fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("a.py", b"print(1)".to_vec()),
            ("req.txt", b"torch==2".to_vec()),
        ]
    }

    #[test]
    fn the_key_follows_the_recipe_and_every_input() {
        let recipe = serde_json::to_string_pretty(&real_recipe()).unwrap();
        let key = recipe_key(&recipe, &inputs());
        assert_eq!(key.len(), 16);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(key, recipe_key(&recipe, &inputs()), "deterministic");

        let mut other = real_recipe();
        other["seed"] = json!(136);
        let other = serde_json::to_string_pretty(&other).unwrap();
        assert_ne!(
            key,
            recipe_key(&other, &inputs()),
            "a new seed is a new model"
        );
        let mut changed = inputs();
        changed[1].1 = b"torch==3".to_vec();
        assert_ne!(
            key,
            recipe_key(&recipe, &changed),
            "a new pin is a new model"
        );
        // Moving bytes between a name and its content is a different key.
        let split = vec![
            ("a.pyprint(1)", Vec::new()),
            ("req.txt", b"torch==2".to_vec()),
        ];
        assert_ne!(key, recipe_key(&recipe, &split));
        // FNV-1a 64 of "a" (a published test vector): the hash is the standard one.
        assert_eq!(fnv1a(0xcbf2_9ce4_8422_2325, b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_real_recipe_has_smollm2_135ms_shape() {
        let config = &real_recipe()["config"];
        let facts = ModelFacts::from_config(config).unwrap();
        assert_eq!(facts.vocab_size, 49_152);
        assert_eq!(facts.special_ids, [0, 1, 2]);
        assert_eq!(facts.max_positions, Some(8192));
        assert_eq!(config["num_hidden_layers"], 30);
        assert_eq!(config["hidden_size"], 576);
        assert_eq!(
            config["num_attention_heads"].as_u64().unwrap() * config["head_dim"].as_u64().unwrap(),
            576
        );
    }

    #[test]
    fn config_facts_name_a_bad_field() {
        let err = ModelFacts::from_config(&json!({"vocab_size": "many"})).unwrap_err();
        assert!(err.to_string().contains("vocab_size"), "{err}");
        let err = ModelFacts::from_config(&json!({"hidden_size": 4})).unwrap_err();
        assert!(err.to_string().contains("vocab_size is missing"), "{err}");
        let err = ModelFacts::from_config(&json!({"vocab_size": 512, "eos_token_id": [2, -1]}))
            .unwrap_err();
        assert!(err.to_string().contains("eos_token_id"), "{err}");
        let facts = ModelFacts::from_config(
            &json!({"vocab_size": 512, "eos_token_id": [2, 7], "pad_token_id": null}),
        )
        .unwrap();
        assert_eq!(facts.special_ids, [2, 7]);
        assert_eq!(facts.max_positions, None);
    }

    #[test]
    fn prompts_are_distinct_rows_of_ordinary_tokens() {
        let facts = ModelFacts {
            vocab_size: 512,
            special_ids: vec![0, 1, 2],
            max_positions: Some(512),
        };
        let rows = prompt_ids(&facts, 64, 64);
        assert_eq!(rows.len(), 64);
        assert!(rows.iter().all(|row| row.len() == 64));
        assert!(rows.iter().flatten().all(|&id| (3..512).contains(&id)));
        let mut distinct = rows.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 64, "every row differs");
        assert_eq!(rows, prompt_ids(&facts, 64, 64), "deterministic");
        assert_eq!(
            prompt_ids(&facts, 16, 64)[..],
            rows[..16],
            "a smaller batch is a prefix"
        );
        // The first id of row 0 is 17; a special token there is stepped over.
        assert_eq!(rows[0][0], 17);
        let special = ModelFacts {
            special_ids: vec![17, 18],
            ..facts
        };
        assert_eq!(prompt_ids(&special, 1, 1), [[19]]);
    }
}
