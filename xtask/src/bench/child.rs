//! The benchmark programs as child processes: building ttc's bench binary, and one
//! measurement: a program's JSON result line and its peak resident memory (the
//! kernel's `ru_maxrss` of that process, from `wait4`, so nothing else in this
//! process tree counts).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::util;

use super::table::Cell;

/// Lines of a failed child's stderr kept for the notes under the table.
const STDERR_TAIL: usize = 6;

/// Runs `command` (stderr shown live), finds its JSON line with `"impl":
/// implementation` and turns it into a cell: tokens/s with the peak RSS, the
/// program's refusal, or a failure with the end of its stderr. Only a child that
/// cannot be started is an error.
pub(super) fn measure(command: &mut Command, implementation: &str) -> Result<Cell> {
    let (status, stdout, stderr_tail, peak_rss_kib) = run(command)?;
    // The notes under the table give the reason; the command goes to stderr, once
    // per failure, so that equal reasons share one note.
    if !status.success() {
        eprintln!("`{}` failed ({status})", util::describe(command));
        return Ok(Cell::Failed(format!(
            "{status}: {}",
            stderr_tail.join(" / ")
        )));
    }
    Ok(
        cell_from_output(&stdout, implementation, peak_rss_kib).unwrap_or_else(|error| {
            eprintln!("`{}`: {error:#}", util::describe(command));
            Cell::Failed(format!("{error:#}"))
        }),
    )
}

/// The cell for a successful run's stdout.
pub(super) fn cell_from_output(
    stdout: &str,
    implementation: &str,
    peak_rss_kib: Option<u64>,
) -> Result<Cell> {
    let result = stdout
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .find(|value| value.get("impl").and_then(Value::as_str) == Some(implementation))
        .with_context(|| {
            format!("printed no JSON line with \"impl\":\"{implementation}\"; its output: {stdout}")
        })?;
    println!("{result}");
    if let Some(reason) = result.get("refused").and_then(Value::as_str) {
        return Ok(Cell::Refused(reason.to_string()));
    }
    let rate = result
        .get("tokens_per_s")
        .and_then(Value::as_f64)
        .filter(|rate| rate.is_finite() && *rate > 0.0)
        .with_context(|| format!("no positive number \"tokens_per_s\" in {result}"))?;
    Ok(Cell::Rate {
        tokens_per_s: rate,
        peak_rss_kib,
        generated: result.get("generated_tokens").and_then(Value::as_u64),
    })
}

/// Runs the child to its end: exit status, stdout, the last lines of stderr (which
/// is also echoed as it comes) and the peak RSS in KiB where the platform gives it.
fn run(command: &mut Command) -> Result<(ExitStatus, String, Vec<String>, Option<u64>)> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|error| anyhow!("could not start `{}`: {error}", util::describe(command)))?;
    let stderr = child
        .stderr
        .take()
        .context("the child's stderr was not piped")?;
    let echo = std::thread::spawn(move || {
        let mut tail: Vec<String> = Vec::new();
        for line in BufReader::new(stderr)
            .lines()
            .map_while(std::io::Result::ok)
        {
            // Best effort: the measurement does not depend on the echo.
            let _ = writeln!(std::io::stderr(), "{line}");
            if tail.len() == STDERR_TAIL {
                tail.remove(0);
            }
            tail.push(line);
        }
        tail
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .context("the child's stdout was not piped")?
        .read_to_string(&mut stdout)
        .context("cannot read the child's output")?;
    let (status, peak_rss_kib) = wait_with_peak_rss(&mut child)?;
    let tail = echo.join().unwrap_or_default();
    Ok((status, stdout, tail, peak_rss_kib))
}

/// `wait4` on the child: its exit status and `ru_maxrss` (KiB on Linux).
#[cfg(unix)]
fn wait_with_peak_rss(child: &mut std::process::Child) -> Result<(ExitStatus, Option<u64>)> {
    use std::os::unix::process::ExitStatusExt;
    let pid = libc::pid_t::try_from(child.id()).context("child pid out of range")?;
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own unreaped child, and both pointers are to live locals.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error).context("waiting for a benchmark process failed");
        }
    }
    Ok((
        ExitStatus::from_raw(status),
        u64::try_from(usage.ru_maxrss).ok(),
    ))
}

#[cfg(not(unix))]
fn wait_with_peak_rss(child: &mut std::process::Child) -> Result<(ExitStatus, Option<u64>)> {
    Ok((
        child
            .wait()
            .context("waiting for a benchmark process failed")?,
        None,
    ))
}

/// Builds the generator bench binary and returns its path.
pub(super) fn build_ttc_bench(root: &Path) -> Result<PathBuf> {
    let mut build = util::cargo();
    build
        .current_dir(root)
        .args(["bench", "--no-run", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .args([
            "--package",
            "ttc-generator",
            "--bench",
            "generate",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit());
    let output = util::output(&mut build)?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}); see its output above",
            util::describe(&build),
            output.status
        );
    }
    bench_executable(&String::from_utf8_lossy(&output.stdout)).with_context(|| {
        format!(
            "`{}` named no executable for the bench target `generate`",
            util::describe(&build)
        )
    })
}

/// The executable of the `generate` bench target in cargo's JSON messages.
pub(super) fn bench_executable(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "generate")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bench"))
        })
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_line_becomes_a_rate_with_the_peak_memory() {
        let out = "warming up\n{\"impl\":\"ttc\",\"batch\":16,\"generated_tokens\":4096,\
                   \"tokens_per_s\":204.5}\n";
        match cell_from_output(out, "ttc", Some(1024)).unwrap() {
            Cell::Rate {
                tokens_per_s,
                peak_rss_kib,
                generated,
            } => {
                assert_eq!(tokens_per_s, 204.5);
                assert_eq!(peak_rss_kib, Some(1024));
                assert_eq!(generated, Some(4096));
            }
            other => panic!("expected a rate, got {other:?}"),
        }
    }

    #[test]
    fn a_refusal_is_kept_and_other_programs_lines_are_ignored() {
        let out = "{\"impl\":\"ttc\",\"tokens_per_s\":5.0}\n\
                   {\"impl\":\"onnxruntime-genai\",\"batch\":64,\"refused\":\"batch_size (64) must be in [1, 32]\"}\n";
        assert_eq!(
            cell_from_output(out, "onnxruntime-genai", Some(1)).unwrap(),
            Cell::Refused("batch_size (64) must be in [1, 32]".into())
        );
        assert!(cell_from_output(out, "python-onnxruntime", None).is_err());
        assert!(
            cell_from_output("{\"impl\":\"ttc\",\"tokens_per_s\":0}", "ttc", None).is_err(),
            "a zero rate is not a measurement"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_child_is_measured_and_a_failing_child_is_a_failed_cell() {
        let mut ok = Command::new("sh");
        ok.args([
            "-c",
            "echo note >&2; echo '{\"impl\":\"x\",\"tokens_per_s\":3.5}'",
        ]);
        match measure(&mut ok, "x").unwrap() {
            Cell::Rate {
                tokens_per_s,
                peak_rss_kib,
                ..
            } => {
                assert_eq!(tokens_per_s, 3.5);
                assert!(peak_rss_kib.is_some_and(|kib| kib > 0));
            }
            other => panic!("expected a rate, got {other:?}"),
        }
        let mut bad = Command::new("sh");
        bad.args(["-c", "echo 'error: no such model' >&2; exit 3"]);
        match measure(&mut bad, "x").unwrap() {
            Cell::Failed(message) => assert!(message.contains("error: no such model"), "{message}"),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn the_bench_executable_is_found_in_cargos_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"ttc_generator","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","target":{"name":"generate","kind":["bench"]},"executable":"/t/release/deps/generate-abc"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            bench_executable(messages),
            Some(PathBuf::from("/t/release/deps/generate-abc"))
        );
        assert_eq!(bench_executable(r#"{"reason":"build-finished"}"#), None);
    }
}
