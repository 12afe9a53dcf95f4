//! Fetching Kafka and Apicurio Registry with Maven, once, into a cache outside the repository.
//!
//! Each fetched directory gets a marker file written last; a directory without it is a
//! half-done fetch and is redone from scratch.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// Apicurio Registry release run by the stack.
///
/// 3.0.9 is the newest 3.x on Maven Central that runs on Java 17: the 3.3.x app jar is built
/// for Java 21 (class file version 65) and fails at start-up with `UnsupportedClassVersionError`.
/// When Java 21 is the baseline, bumping this is enough: [`super::registry::launcher`] handles
/// both the legacy-jar (3.0.x) and fast-jar (3.3.x) layouts.
pub(super) const APICURIO_VERSION: &str = "3.0.9";
/// Written last into a fetched directory; its content says what was fetched.
const MARKER: &str = ".fetched";

/// The cache root: `$SURVEY_ALERTS_CACHE`, else `$HOME/.cache/survey-alerts`.
pub(super) fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SURVEY_ALERTS_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither SURVEY_ALERTS_CACHE nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache").join("survey-alerts"))
}

/// The pom that pins the Kafka version and its runtime dependencies.
fn kafka_pom(root: &Path) -> PathBuf {
    root.join("xtask").join("stack").join("pom.xml")
}

/// Reads the pom and the Kafka version it pins (`<kafka.version>`).
fn read_kafka_pom(root: &Path) -> Result<(PathBuf, String, String)> {
    let pom = kafka_pom(root);
    let text =
        std::fs::read_to_string(&pom).with_context(|| format!("reading {}", pom.display()))?;
    let version = text
        .split_once("<kafka.version>")
        .and_then(|(_, rest)| rest.split_once("</kafka.version>"))
        .map(|(v, _)| v.trim().to_owned())
        .with_context(|| format!("no <kafka.version> in {}", pom.display()))?;
    Ok((pom, version, text))
}

/// Kafka's jar directory if it is fetched and matches the current pom.
pub(super) fn kafka_libs_if_fetched(root: &Path, cache: &Path) -> Result<PathBuf> {
    let (_, version, pom_text) = read_kafka_pom(root)?;
    let dir = cache.join(format!("kafka-{version}"));
    if !is_fetched(&dir, &pom_text) {
        bail!("kafka {version} is not fetched");
    }
    Ok(dir.join("libs"))
}

/// Kafka's jar directory (broker, tools, log4j2), fetching it first if needed.
///
/// The marker holds the pom's text, so editing the pom (e.g. bumping Kafka or log4j) refetches
/// into a clean directory instead of mixing old and new jars.
pub(super) fn kafka_libs(root: &Path, cache: &Path) -> Result<PathBuf> {
    let (pom, version, pom_text) = read_kafka_pom(root)?;
    let dir = cache.join(format!("kafka-{version}"));
    let libs = dir.join("libs");
    if is_fetched(&dir, &pom_text) {
        return Ok(libs);
    }
    println!(
        "kafka: fetching {version} with Maven into {} (once)",
        dir.display()
    );
    let since = Instant::now();
    reset_dir(&dir)?;
    run_mvn(
        Command::new("mvn")
            .arg("-f")
            .arg(&pom)
            .arg("dependency:copy-dependencies")
            .arg("-DincludeScope=runtime")
            .arg(format!("-DoutputDirectory={}", libs.display())),
    )?;
    write_marker(&dir, &pom_text)?;
    println!("kafka: fetched in {:.1}s", since.elapsed().as_secs_f64());
    Ok(libs)
}

/// Apicurio Registry's unpacked distribution, fetching it first if needed.
pub(super) fn apicurio_home(cache: &Path) -> Result<PathBuf> {
    let dir = cache.join(format!("apicurio-{APICURIO_VERSION}"));
    let artifact = format!("io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all");
    if is_fetched(&dir, &artifact) {
        return Ok(dir);
    }
    println!(
        "registry: fetching Apicurio Registry {APICURIO_VERSION} with Maven into {} (once)",
        dir.display()
    );
    let since = Instant::now();
    reset_dir(&dir)?;
    let tarball = cache.join(format!(
        "apicurio-registry-app-{APICURIO_VERSION}-all.tar.gz"
    ));
    run_mvn(
        Command::new("mvn")
            .arg("dependency:copy")
            .arg(format!("-Dartifact={artifact}"))
            .arg(format!("-DoutputDirectory={}", cache.display())),
    )?;
    // The archive has no top-level directory: it is the Quarkus application layout itself.
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&dir)
        .status()
        .context("running tar")?;
    if !status.success() {
        bail!("unpacking {} failed ({status})", tarball.display());
    }
    // Maven keeps its own copy in the local repository; this one is no longer needed.
    std::fs::remove_file(&tarball).with_context(|| format!("removing {}", tarball.display()))?;
    super::registry::launcher(&dir)?;
    write_marker(&dir, &artifact)?;
    println!("registry: fetched in {:.1}s", since.elapsed().as_secs_f64());
    Ok(dir)
}

fn is_fetched(dir: &Path, what: &str) -> bool {
    std::fs::read_to_string(dir.join(MARKER)).is_ok_and(|m| m == what)
}

fn write_marker(dir: &Path, what: &str) -> Result<()> {
    let marker = dir.join(MARKER);
    std::fs::write(&marker, what).with_context(|| format!("writing {}", marker.display()))
}

/// Empties `dir` (left over from an interrupted or outdated fetch) and creates it.
fn reset_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("deleting {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Runs a Maven goal quietly and non-interactively; its output is shown only if it fails
/// (even with `-q -B`, Maven 3.8 prints stray ANSI reset codes).
fn run_mvn(cmd: &mut Command) -> Result<()> {
    cmd.args(["-q", "-B", "-Dstyle.color=never"]);
    let output = cmd
        .output()
        .context("running mvn (is Maven installed and on PATH?)")?;
    if !output.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
