//! `ttc merge`: shard folders joined into one run folder, then analysed.

use std::path::PathBuf;

use anyhow::Result;

/// Join the shard folders of one sweep (`ttc eval --shard I/N`) into one run folder
/// and analyse it as `ttc eval` analyses an unsharded run (accuracy table on stdout,
/// report, bins and policy in the folder).
///
/// Refused, naming the shard and the questions, unless every shard comes from the
/// same run file and models, every shard of the split is given once and every
/// question has all its records once; `ttc eval RUN.toml --shard I/N` on a shard
/// that lacks records runs only what is missing. No model is loaded.
#[derive(clap::Args, Debug)]
pub(crate) struct MergeArgs {
    /// The shard folders (OUTPUT/shard-I-of-N), all N of them.
    #[arg(required = true, value_name = "SHARD_DIR")]
    shards: Vec<PathBuf>,
    /// The merged run folder (the shards' parent folder is the usual choice).
    #[arg(long, value_name = "DIR")]
    output: PathBuf,
}

pub(crate) fn run(args: MergeArgs) -> Result<()> {
    let merged = ttc_app::merge::merge(&args.shards, &args.output)?;
    crate::eval::finish(&merged)
}
