//! `cargo xtask fuzz`: the cargo-fuzz target of ingest's webhook parser and validator
//! (`services/ingest/fuzz`), run for a bounded time and seeded with the hostile corpus
//! (`services/ingest/tests/corpus/bodies`). `cargo xtask test` runs it briefly, last.
//!
//! It runs on the stable toolchain: `--sanitizer none` needs no sanitizer runtime, and
//! `RUSTC_BOOTSTRAP=1` lets stable rustc take the few `-Z` flags cargo-fuzz passes. The
//! code under test forbids `unsafe`, so AddressSanitizer would add cost and no findings;
//! libFuzzer's coverage guidance is what matters here.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};

/// Pinned so that every machine fuzzes with the same driver.
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// The `[[bin]]` of `services/ingest/fuzz/Cargo.toml`.
const TARGET: &str = "webhook";
/// How long `cargo xtask test` fuzzes, after the build.
pub const SHORT_SECONDS: u64 = 30;

/// Builds the fuzz target and fuzzes for `seconds`; a panic, a hang or running out of
/// memory fails the run and leaves its input under `services/ingest/fuzz/artifacts/webhook/`.
/// (Without a sanitizer there is no leak check.)
pub fn run(seconds: u64) -> Result<ExitCode> {
    let root = crate::stack::workspace_root();
    ensure_cargo_fuzz()?;
    let ingest = root.join("services/ingest");
    // The working corpus grows between runs; the seeds are read only.
    let corpus = root.join("target/fuzz/corpus").join(TARGET);
    std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let seeds = ingest.join("tests/corpus/bodies");

    println!(
        "xtask fuzz: `{TARGET}` for {seconds} s (seeds: {})",
        seeds.display()
    );
    let status = crate::cargo_command()
        .current_dir(&ingest)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "--sanitizer", "none", "--target-dir"])
        .arg(root.join("target/fuzz/build"))
        .arg(TARGET)
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        // A single input that takes this long is a hang, reported as a failure.
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        // libFuzzer prints a line per new coverage point; the summary is enough.
        .arg("-print_final_stats=1")
        .arg("-close_fd_mask=1")
        .status()
        .context("running cargo fuzz")?;
    if status.success() {
        println!("xtask fuzz: `{TARGET}`: no panic, hang or out-of-memory in {seconds} s");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "xtask fuzz: `{TARGET}` failed ({status}); the input is under {}",
            ingest.join("fuzz/artifacts").join(TARGET).display()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Installs the pinned cargo-fuzz from crates.io unless it is already there.
fn ensure_cargo_fuzz() -> Result<()> {
    let installed = crate::cargo_command()
        .args(["fuzz", "--version"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    if installed.as_deref() == Some(&format!("cargo-fuzz {CARGO_FUZZ_VERSION}")) {
        return Ok(());
    }
    println!("xtask fuzz: installing cargo-fuzz {CARGO_FUZZ_VERSION}");
    let status = crate::cargo_command()
        .args([
            "install",
            "--locked",
            "cargo-fuzz",
            "--version",
            CARGO_FUZZ_VERSION,
        ])
        .status()
        .context("running cargo install cargo-fuzz")?;
    if !status.success() {
        bail!("cargo install cargo-fuzz {CARGO_FUZZ_VERSION} failed ({status})");
    }
    Ok(())
}

/// Parses `[--seconds N]`.
pub fn parse_seconds(args: &[&str]) -> Result<u64> {
    match args {
        [] => Ok(SHORT_SECONDS),
        ["--seconds", n] => n
            .parse()
            .with_context(|| format!("--seconds takes a whole number, not `{n}`")),
        other => bail!("fuzz takes [--seconds N], not `{}`", other.join(" ")),
    }
}
